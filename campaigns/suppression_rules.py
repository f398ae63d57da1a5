"""Which suppressions keep which campaigns from an address: decided here, once.

An unsubscribe stops newsletters only; a hard bounce, a spam complaint, an erasure or a
manual entry stops everything. Reads only (the list itself is roster.models.Suppression,
kept as pseudonyms): campaigns.suppression puts an address on it.
"""

from django.db.models import QuerySet

from campaigns.states import Kind
from countersign.pseudonyms import pseudonym as pseudonym_of
from roster.models import Suppression

Reason = Suppression.Reason


def reasons_for(kind: str) -> list[str]:
    """The suppression reasons that keep a campaign of `kind` from an address."""
    if kind == Kind.NEWSLETTER:
        return list(Reason.values)
    return [r for r in Reason.values if r not in Suppression.NEWSLETTER_ONLY]


def active_pseudonyms(kind: str, before=None) -> QuerySet:
    entries = Suppression.objects.filter(reason__in=reasons_for(kind))
    if before is not None:
        entries = entries.filter(created_at__lt=before)
    return entries.values("pseudonym")


# Pseudonyms looked up per query: SQLite takes at most 32,766 parameters.
_LOOKUP_CHUNK = 10_000


def suppressed_numbers(roster, kind: str, before=None) -> list[str]:
    """Member numbers of the roster a campaign of `kind` skips (suppressed before `before`).
    The suppression list (short) drives: each pseudonym is one probe of the (roster,
    pseudonym) index, where a subquery had SQLite walk every member of a big roster."""
    keys = list(active_pseudonyms(kind, before).values_list("pseudonym", flat=True))
    numbers = []
    for start in range(0, len(keys), _LOOKUP_CHUNK):
        numbers += roster.members.filter(email_pseudonym__in=keys[start:start + _LOOKUP_CHUNK]
                                         ).values_list("member_number", flat=True)
    return numbers


def is_suppressed(address: str, kind: str) -> bool:
    return Suppression.objects.filter(pseudonym=pseudonym_of(address),
                                      reason__in=reasons_for(kind)).exists()


def skip_reason(reason: str) -> str:
    return f"suppressed:{reason}"
