"""The audit log's actions about rosters: every writer and every reader uses these names."""

from enum import StrEnum


class Action(StrEnum):
    CHECK_PASSED = "roster.check_passed"
    IMPORTED = "roster.imported"
    IMPORT_REFUSED = "roster.import_refused"
    UPLOAD_CANCELLED = "roster.upload_cancelled"
    DERIVED = "roster.derived"  # a part of a roster, for a follow-up campaign
    NAMED_ADDED = "roster.named_member_added"  # the guard may let this member's name pass
    NAMED_REVOKED = "roster.named_member_revoked"
    RESEALED = "roster.data_keys_resealed"  # sealed to the association's new key too
    PREVIEW_GRANTED = "roster.preview_granted"  # a few held members shown in previews
    PREVIEW_ENDED = "roster.preview_ended"  # revoked or past its deadline: wiped
