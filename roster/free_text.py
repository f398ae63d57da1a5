"""Free texts the roster app keeps in the audit log and shows to people (why a member may be
named, why a member may be shown): never a member's data. The check is the content guard's
(campaigns.guard.member_data_in, every value of every roster held in every reading),
registered as the campaigns app starts: roster imports nothing above it."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _

_registered: dict[str, Callable[[str], object]] = {}


def register(member_data_in: Callable[[str], object]) -> None:
    _registered["member_data_in"] = member_data_in


def problem(text: str) -> str:
    """What is wrong with keeping `text` ("" if nothing). No check registered: refused
    (a process that cannot look is not told that all is well)."""
    if "member_data_in" not in _registered:
        raise ImproperlyConfigured("no check of free texts for member data is registered")
    if _registered["member_data_in"](text):
        return _("This text carries a member's data (an address, a name, a telephone number "
                 "or another value of theirs). Refer to members by their member number only: "
                 "it is kept in the audit log.")
    return ""
