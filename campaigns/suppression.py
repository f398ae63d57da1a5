"""The suppression list: addresses the association's mail no longer goes to.

Kept as pseudonyms (countersign.pseudonyms), so it survives re-imports of the roster and the
purge of member data. Which reasons stop which kind of campaign: campaigns.suppression_rules.
A new suppression takes effect at once: the address's pending messages in campaigns under
way are skipped in the same transaction.
"""

from django.db import transaction

import audit
from campaigns import deliveries
from campaigns.actions import Action
from campaigns.models import Campaign, Delivery, Kind
from campaigns.states import State
from campaigns.suppression_rules import (  # noqa: F401 - the rules, read through here too
    Reason,
    active_pseudonyms,
    is_suppressed,
    reasons_for,
    skip_reason,
    suppressed_numbers,
)
from countersign.pseudonyms import pseudonym as pseudonym_of
from roster.models import Suppression

# Campaigns that have not finished: a new suppression reaches their pending messages.
_UNFINISHED = (State.DRAFT, State.SUBMITTED, State.APPROVED, State.RELEASED, State.SENDING,
               State.HELD, State.PAUSED)


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
    skipped = deliveries.move("suppress", Delivery.objects.filter(
        address_pseudonym=key, campaign__kind__in=kinds, campaign__state__in=_UNFINISHED),
        skip_reason=skip_reason(reason))
    target = Campaign.objects.filter(pk=campaign_id).first() if campaign_id else None
    audit.record(Action.ADDRESS_SUPPRESSED, actor=actor, system=system or (
        "" if actor else source), target=target, payload={
            "reason": reason, "source": source, "pending_skipped": skipped})
    return True
