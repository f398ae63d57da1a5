"""The audit log's actions about people and access: every writer and reader uses these."""

from enum import StrEnum


class Action(StrEnum):
    ACCOUNT_CREATED = "account.created"
    ACCOUNT_CHANGED = "account.changed"
    ROLES_CHANGED = "account.roles_changed"
    TWO_FACTOR_ADDED = "account.two_factor_added"
    TWO_FACTOR_REMOVED = "account.two_factor_removed"
    TWO_FACTOR_ON = "account.two_factor_on"
    TWO_FACTOR_OFF = "account.two_factor_off"
    SECOND_FACTOR = "account.second_factor"
    ACCESS_DENIED = "access.denied"
    # Changes to the association's people that wait for another observer (countersign.people)
    CHANGE_REQUESTED = "account.change_requested"
    CHANGE_COUNTERSIGNED = "account.change_countersigned"
    CHANGE_REFUSED = "account.change_refused"
    CHANGE_DENIED = "account.change_denied"  # a countersign or refusal that was not theirs
    CHANGE_NOTICE_MAILED = "account.change_notice_mailed"
    # The association's key (countersign.association_key): fingerprints only
    ASSOCIATION_KEY_REGISTERED = "association_key.registered"
    ASSOCIATION_KEY_NOTICE_MAILED = "association_key.notice_mailed"
    ASSOCIATION_KEY_REFUSED = "association_key.refused"  # not as registered: nothing sealed
    ASSOCIATION_KEY_DESTROYED = "association_key.destroyed"  # the association says it did
    KEY_SLOT_ADDED = "association_key.slot_added"  # a passkey unlocks it in a browser
    KEY_SLOT_REVOKED = "association_key.slot_revoked"
