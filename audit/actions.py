"""The audit log's actions about itself: every writer and every reader uses these names."""

from enum import StrEnum


class Action(StrEnum):
    VERIFIED = "audit.verified"
    EXPORTED = "audit.exported"
