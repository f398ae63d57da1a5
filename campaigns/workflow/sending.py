"""The moves of a campaign that sends: the worker's start, hold, pause, refusal of one
message and completion (by campaign id, no person), the observer's "send the rest" after
the first messages, and anyone's stop."""

from __future__ import annotations

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone
from django.utils.text import Truncator
from django.utils.translation import gettext as _

from campaigns import deliveries, ledger
from campaigns.models import Campaign, Delivery
from campaigns.seen import Seen
from campaigns.states import TRANSITIONS
from campaigns.workflow.door import (
    ALLOWED,
    Check,
    ContentRefused,
    StaleSignOff,
    WrongState,
    deadline_check,
    first_of,
    guard_outside_the_lock,
    locked,
    perform,
    record_move,
    refused,
    sent_count,
    unchanged_since,
    verdict_on,
    void_signoffs,
)
from campaigns.workflow.signing import lapse_signoffs_of_unstanding_signers
from countersign.pseudonyms import mask_addresses


def start(*, campaign_id: int) -> Campaign:
    """The worker's start, only inside the observer's release window, and only if what would
    be sent is still exactly what was approved and passes the content guard again (run
    before the row is locked). If not, nothing is sent: the campaign goes back to draft and
    its sign-offs are void (`refuse_start`). Every message is checked again just before it
    is handed over."""
    lapse_signoffs_of_unstanding_signers(campaign_id)
    checked, report, checked_hash = guard_outside_the_lock(campaign_id)
    t = TRANSITIONS["start"]
    with transaction.atomic():
        c = locked(campaign_id)
        verdict = verdict_on(t, c, None, _conditions_of_start, {"checked": checked})
        if verdict:
            problem = _send_time_problem(c, report, checked_hash)
            from_state = c.state
            if problem is None:
                resumed = c.deliveries.exists()
                if not resumed:
                    deliveries.create_ledger(c)
                c.started_at = c.started_at or timezone.now()
                c.release_expires_at = None  # the release is used up
                record_move(t, c, None, from_state, {
                    "content_hash": c.content_hash, "resumed": resumed,
                    "recipient_count": c.roster.member_count, "canary": c.canary_limit(),
                    "rate": f"{c.rate_limit}/{c.rate_unit}" if c.rate_limit else "none",
                    "release_to_start_seconds": int((timezone.now() - c.released_at)
                                                    .total_seconds())})
                return c
            record_move(TRANSITIONS["refuse_start"], c, None, from_state, {
                **problem, "voided_signoffs": void_signoffs(c, "refused at start")})
            verdict = refused(ContentRefused, _("Sending did not start: what would be sent is no "
                                            "longer what was approved, or the content guard "
                                            "refused it."), problem["code"])
    raise verdict.error


def _conditions_of_start(c, user, *, checked) -> Check:
    return first_of(lambda: unchanged_since(c, checked),
                  lambda: ALLOWED if c.release_is_live() else refused(
                      StaleSignOff, _("The release window passed before sending started: the "
                                      "observer must release again."), "release_expired"))


def _send_time_problem(c, report, current_hash) -> dict | None:
    approval = c.valid_approvals().order_by("-created_at").first()
    if approval is None or current_hash != approval.content_hash:
        return {"code": "hash_mismatch", "content_hash": current_hash,
                "approved_hash": approval.content_hash if approval else ""}
    if not report.ok:
        return {"code": "guard", "content_hash": current_hash, "guard": report.audit_summary()}
    return None


def hold(*, campaign_id: int) -> Campaign:
    return perform("hold", campaign_id, None, apply=_apply_hold)


def _apply_hold(c, user) -> dict:
    c.held_at = timezone.now()
    return {"content_hash": c.content_hash, "sent_so_far": sent_count(c),
            "canary": c.canary_limit()}


def confirm_canary(*, campaign, user, seen: Seen | None, comment: str = "") -> Campaign:
    """'The first messages looked right: send the rest', for what `seen` names."""
    return perform("confirm_canary", campaign, user, check=_conditions_of_confirm_canary,
                   apply=_apply_confirm_canary, seen=seen, comment=comment)


def _conditions_of_confirm_canary(c, user, *, seen, comment) -> Check:
    return deadline_check(c)


def _apply_confirm_canary(c, user, *, seen, comment) -> dict:
    c.canary_confirmed_at = timezone.now()
    return {"content_hash": c.content_hash, "sent_so_far": sent_count(c), "comment": comment}


def pause(*, campaign=None, campaign_id: int | None = None, user=None,
          reason: str = "") -> Campaign:
    """A person pauses (`campaign`, `user`), or the worker does (`campaign_id`, a reason).
    Resuming needs the observer's live release again."""
    return perform("pause", campaign if campaign is not None else campaign_id, user,
                    apply=_apply_pause, reason=reason)


def _apply_pause(c, user, *, reason) -> dict:
    # A server's reply may quote a member's address; the reason goes to the audit log.
    c.paused_reason = mask_addresses(reason)[:500] or _("Paused by %(user)s.") % {"user": user}
    c.release_expires_at = None
    return {"reason": c.paused_reason, "content_hash": c.content_hash,
            "sent_so_far": sent_count(c)}


def refuse_message(*, campaign_id: int, delivery_id: int, findings: list) -> Campaign:
    """The content guard found other members' data in one rendered message, just before its
    hand-over: that message is not sent (ledger state `refused`, with the findings) and the
    campaign pauses, for the signers to see what was found. Never resent automatically."""
    return perform("refuse_message", campaign_id, None, apply=_apply_refuse_message,
                    delivery_id=delivery_id, findings=findings)


def _apply_refuse_message(c, user, *, delivery_id, findings) -> dict:
    delivery = Delivery.objects.get(pk=delivery_id, campaign=c)
    summary = [f.summary() for f in findings[:20]]
    deliveries.move("refuse", Delivery.objects.filter(pk=delivery_id), findings=summary,
                    smtp_reply=_("Not sent: the content guard found other members' data."))
    if c.state in TRANSITIONS["refuse_message"].sources:  # else it stays paused or stopped
        # What was found is in the ledger row and the audit entry; the reason (500
        # characters at most) names the first findings and says what to do.
        found = Truncator("; ".join(f"{f.message} ({f.place})" for f in findings[:5])).chars(
            300)
        c.paused_reason = _("The content guard refused the message to member %(member)s: "
                            "%(found)s. Nothing more is sent; stop the campaign and correct "
                            "it.") % {"member": delivery.member_number, "found": found}
        c.paused_reason = c.paused_reason[:500]
        c.release_expires_at = None
    return {"delivery": delivery_id, "member": delivery.member_number,
            "content_hash": c.content_hash, "findings": summary, "sent_so_far": sent_count(c)}


def complete(*, campaign_id: int) -> Campaign:
    return perform("complete", campaign_id, None, check=_conditions_of_complete,
                    apply=_apply_complete)


def _conditions_of_complete(c, user) -> Check:
    open_rows = c.deliveries.filter(state__in=[Delivery.State.PENDING, Delivery.State.SENDING,
                                               Delivery.State.IN_DOUBT])
    if open_rows.exists():
        return refused(WrongState, _("Some messages are not settled yet."), "open_deliveries")
    return ALLOWED


def _apply_complete(c, user) -> dict:
    c.completed_at = timezone.now()
    c.ledger_sha256 = ledger.ledger_digest(c)
    counts = dict(c.deliveries.values_list("state").annotate(n=models.Count("id")))
    return {"content_hash": c.content_hash, "ledger_sha256": c.ledger_sha256,
            "counts": counts}


# --- stop: final once it returns ------------------------------------------------------------------

def stop(*, campaign, user, wait: float | None = None) -> Campaign:
    """Anyone on the campaign stops it at once. The stop is committed first: every claim
    checks the state under the campaign's row lock, so no message is claimed after it. A
    message claimed just before may be in the middle of its hand-over; stop then waits
    until none is (at most `wait` seconds, by default as long as a hand-over can last), so
    that once it has returned nothing more reaches the mail server. The campaign returned
    carries `handing_over`: how many were still in flight when the wait ended (0: final)."""
    campaign = perform("stop", campaign, user, apply=_apply_stop)
    budget = settings.EMAIL_TIMEOUT + deliveries.CLOCK_SKEW_SECONDS if wait is None else wait
    campaign.handing_over = deliveries.wait_for_hand_overs(campaign, timeout=budget)
    return campaign


def stop_at_deadline(*, campaign_id: int) -> Campaign:
    """The campaign's "do not send after" moment passed: the worker stops it, the same end
    as STOP (the members not reached need a new campaign: Send to the rest, through the
    whole countersign). Nothing more is claimed; a hand-over in flight finishes."""
    return perform("expire", campaign_id, None, apply=_apply_expire)


def stop_overdue() -> list[int]:
    """Campaigns no worker is running (held after the first messages, paused, released but
    not picked up) reach their "do not send after" moment too: the watchdog stops them, so
    that one left overnight does not wait for a release that would be refused anyway."""
    live = TRANSITIONS["expire"].sources
    overdue = Campaign.objects.filter(state__in=live, send_before__lte=timezone.now())
    stopped = []
    for campaign_id in overdue.values_list("pk", flat=True):
        try:
            stopped.append(stop_at_deadline(campaign_id=campaign_id).pk)
        except WrongState:  # stopped or finished meanwhile
            continue
    return stopped


def _apply_expire(c, user) -> dict:
    return {**_apply_stop(c, user), "send_before": c.send_before.isoformat()}


def _apply_stop(c, user) -> dict:
    c.stopped_at = timezone.now()
    c.release_expires_at = None
    return {"content_hash": c.content_hash, "sent_so_far": sent_count(c),
            "in_flight": deliveries.handing_over(c)}
