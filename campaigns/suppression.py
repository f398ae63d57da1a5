"""The suppression list: addresses the association's mail no longer goes to.

Kept as pseudonyms (countersign.pseudonyms), so it survives re-imports of the roster and the
purge of member data. Which reasons stop which kind of campaign is decided here, once: an
unsubscribe stops newsletters only; a hard bounce, a spam complaint, an erasure or a manual
entry stops everything. A new suppression takes effect at once: the address's pending
messages in campaigns under way are skipped in the same transaction.
"""

from django.db import transaction
from django.db.models import QuerySet

import audit
from campaigns.actions import Action
from campaigns.models import Campaign, Delivery, Kind
from campaigns.states import State
from countersign.pseudonyms import pseudonym as pseudonym_of
from roster.models import Suppression

Reason = Suppression.Reason

# Campaigns that have not finished: a new suppression reaches their pending messages.
_UNFINISHED = (State.DRAFT, State.SUBMITTED, State.APPROVED, State.RELEASED, State.SENDING,
               State.HELD, State.PAUSED)


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


@transaction.atomic
def suppress(*, reason: str, source: str, address: str = "", pseudonym: str = "",
             campaign_id: int | None = None, actor=None, system: str = "") -> bool:
    """Put an address (or its pseudonym) on the list for `reason`; skip its pending messages
    in unfinished campaigns the reason applies to. Audited without the address. Returns
    False when it was already on the list for that reason (nothing changes then)."""
    if reason not in Reason.values:
        raise ValueError(f"unknown suppression reason {reason!r}")
    key = pseudonym or pseudonym_of(address)
    _entry, created = Suppression.objects.get_or_create(
        pseudonym=key, reason=reason, defaults={"source": source, "campaign_id": campaign_id})
    if not created:
        return False
    kinds = [kind for kind in Kind.values if reason in reasons_for(kind)]
    skipped = Delivery.objects.filter(
        address_pseudonym=key, state=Delivery.State.PENDING, campaign__kind__in=kinds,
        campaign__state__in=_UNFINISHED).update(state=Delivery.State.SKIPPED,
                                                skip_reason=skip_reason(reason))
    target = Campaign.objects.filter(pk=campaign_id).first() if campaign_id else None
    audit.record(Action.ADDRESS_SUPPRESSED, actor=actor, system=system or (
        "" if actor else source), target=target, payload={
            "reason": reason, "source": source, "pending_skipped": skipped})
    return True
