"""The suppression list: addresses the association's mail no longer goes to.

Kept as pseudonyms (countersign.pseudonyms), so it survives re-imports of the roster and the
purge of member data. Which reasons stop which kind of campaign: campaigns.suppression_rules.
A new suppression takes effect at once: the address's pending messages in campaigns under
way are skipped in the same transaction.
"""

from collections.abc import Callable
from functools import partial

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
# Campaigns whose version is frozen for the sign-offs: the suppressed set is in its hash.
_UNDER_REVIEW = (State.SUBMITTED, State.APPROVED, State.RELEASED)

# What follows a suppression once it has committed, for each campaign under review it
# concerns: the workflow's recount (registered at start-up by campaigns.apps: the workflow
# imports this module, so this one cannot import it). After the commit, because an erasure
# deletes the member rows after suppressing the address, in the same transaction.
_AFTER: list[Callable[..., object]] = []


def register_after(hook: Callable[..., object]) -> None:
    if hook not in _AFTER:
        _AFTER.append(hook)


def _after(campaign_ids: list[int]) -> None:
    for campaign_id in campaign_ids:
        for hook in _AFTER:
            hook(campaign_id=campaign_id)


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
    under_review = list(Campaign.objects.filter(
        state__in=_UNDER_REVIEW, kind__in=kinds, roster__members__email_pseudonym=key
    ).values_list("pk", flat=True).distinct())
    if under_review:
        transaction.on_commit(partial(_after, under_review))
    target = Campaign.objects.filter(pk=campaign_id).first() if campaign_id else None
    audit.record(Action.ADDRESS_SUPPRESSED, actor=actor, system=system or (
        "" if actor else source), target=target, payload={
            "reason": reason, "source": source, "pending_skipped": skipped})
    return True


@transaction.atomic
def resubscribe(*, pseudonym: str, source: str, campaign_id: int | None = None) -> bool:
    """A member undoes their own unsubscribe: only the "unsubscribed" entry goes (a bounce,
    a complaint, an erasure or a manual entry stays). Messages skipped meanwhile are not
    sent again. Audited without the address; campaigns under review that the change
    concerns are recounted once it commits, as for a suppression. False when the address
    was not unsubscribed."""
    removed, _by_model = Suppression.objects.filter(
        pseudonym=pseudonym, reason=Reason.UNSUBSCRIBED).delete()
    if not removed:
        return False
    under_review = list(Campaign.objects.filter(
        state__in=_UNDER_REVIEW, kind=Kind.NEWSLETTER, roster__members__email_pseudonym=pseudonym
    ).values_list("pk", flat=True).distinct())
    if under_review:
        transaction.on_commit(partial(_after, under_review))
    target = Campaign.objects.filter(pk=campaign_id).first() if campaign_id else None
    audit.record(Action.ADDRESS_RESUBSCRIBED, system="unsubscribe", target=target,
                 payload={"reason": Reason.UNSUBSCRIBED, "source": source})
    return True
