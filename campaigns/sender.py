"""The send loop: claim one message, build it, check it, hand it over, record it.

What a claim is and how delivery rows change: campaigns.deliveries. The message's bytes:
campaigns.composing. The SMTP conversation and what its errors mean: campaigns.relay.
The campaign's own moves (start, hold, pause, refuse a message, complete): the workflow.
A slice runs for SEND_SLICE_SECONDS, then the task queues its own continuation.
"""

from __future__ import annotations

import enum
import logging
import os
import socket
import time

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Min
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from campaigns import (
    charsets,
    composing,
    deliveries,
    dsn,
    guard,
    guard_index,
    key_window,
    mail,
    notices,
    relay,
    sending_hours,
    workflow,
)
from campaigns.findings import unreadable_row
from campaigns.models import Campaign, Delivery, State
from roster import data_keys, masking

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5
MAX_NAP = 0.5  # never sleep longer than this between two looks at the campaign state


class Outcome(str, enum.Enum):
    CONTINUE = "slice over, more to do"
    FINISHED = "campaign no longer sending"
    NOT_STARTED = "could not start"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _pause(campaign_id: int, reason: str) -> None:
    try:
        workflow.pause(campaign_id=campaign_id, reason=reason)
    except workflow.WrongState:
        pass  # stopped or paused meanwhile: nothing left to pause


def deliver(claim: deliveries.Claim, campaign: Campaign,
            courier: relay.Courier) -> deliveries.Sent | None:
    """Hand one claimed message over. A failure is recorded at once; a success is returned,
    to be recorded with the next claim (or on the way out)."""
    if claim.member.unreadable:  # its stored values were changed or moved: never sent
        workflow.refuse_message(campaign_id=campaign.pk, delivery_id=claim.delivery_id,
                                findings=[unreadable_row(claim.member.member_number)])
        return None
    if claim.member.sealed:  # the window closed under this slice: never sent without values
        deliveries.give_back(claim)
        _pause(campaign.pk, _(KEY_NEEDED))
        return None
    try:
        courier.open()
    except Exception as error:  # noqa: BLE001 - any failure to connect: nothing was handed over
        deliveries.give_back(claim)
        courier.close()
        _pause(campaign.pk, _("The mail server could not be reached: %(error)s")
               % {"error": error})
        return None
    # Derived from the claim (campaigns.composing): nothing is written before the
    # hand-over; a message left in doubt gets the same Message-ID and SHA-256 recomputed.
    composed = composing.compose(campaign, delivery_id=claim.delivery_id,
                                 attempt=claim.attempts, claimed_at=claim.claimed_at,
                                 member=claim.member)
    message = composed.message
    # Each SMTP command goes out, the worker works while the relay answers, then reads the
    # answer (relay.HandOver): the guard's first part while MAIL is answered, its second
    # while RCPT is, the message's bytes while DATA is. No byte of the message leaves
    # before both parts passed.
    hand_over = courier.begin(message, deadline=claim.deadline,
                              envelope_sender=dsn.verp_address(claim.delivery_id))
    try:
        texts = mail.texts_of(message)
        parts = guard.check_message_in_parts(
            roster=campaign.roster, recipient=claim.values,
            unsanitised_html=message.unsanitised_html, own_links=composed.own_links,
            template=campaign.texts(), **texts)
        findings = next(parts) + charsets.findings(texts, campaign.charset,
                                                   recipient=claim.member.member_number)
        if not findings:
            hand_over.recipient_next()
        findings += next(parts)
    except Exception as error:
        courier.close()  # a transaction half begun is not left on the connection
        if isinstance(error, DatabaseError):
            raise  # the slice goes on or pauses (_slice)
        # The check itself failed: nothing was sent, and nothing is without its check.
        deliveries.give_back(claim)
        log.exception("campaign %s: the content check failed", campaign.pk)
        _pause(campaign.pk, _(CHECK_FAILED) % {"error": type(error).__name__})
        return None
    except BaseException:
        courier.close()
        raise
    if findings:  # the guarantee: this exact text carries another member's data
        hand_over.cancel()
        workflow.refuse_message(campaign_id=campaign.pk, delivery_id=claim.delivery_id,
                                findings=findings)
        return None
    message_id = composed.message_id
    try:
        reply = hand_over.data(message.wire_bytes)
    except Exception as error:  # noqa: BLE001 - classified below; the ledger must record it
        failure = relay.classify(error)
        # A reply may quote the recipient (their address, its local part, their name):
        # masked with every spelling of their values before it is stored anywhere.
        failure = relay.Failure(failure.kind,
                                masking.mask(failure.reply, claim.member))
        courier.close()
        if failure.kind == "pause":  # refused at MAIL: nothing was taken, the message waits
            deliveries.give_back(claim)  # in the queue (it was left in doubt before)
            _pause(campaign.pk, _("The mail server refused the sender: %(reply)s")
                   % {"reply": failure.reply})
            return None
        in_a_row = deliveries.record_failure(  # the SHA-256 is kept for a message in doubt
            claim, failure, message_id=message_id,
            sha256=hand_over.sha256() if failure.kind == "in_doubt" else "")
        if in_a_row >= settings.SEND_PAUSE_AFTER_FAILURES:
            _pause(campaign.pk, _("%(count)s failures in a row; the last: %(reply)s")
                   % {"count": in_a_row, "reply": failure.reply})
        return None
    esp_id = getattr(getattr(message, "anymail_status", None), "message_id", None)
    if esp_id:  # an e-mail provider's own id, which its bounce and complaint events carry
        Delivery.objects.filter(pk=claim.delivery_id).update(esp_message_id=str(esp_id)[:255])
    return deliveries.Sent(claim, message_id, hand_over.sha256(),
                           masking.mask(reply, claim.member))


def _outside_hours(campaign_id: int, hours) -> deliveries.Wait | Outcome | None:
    """None: the campaign may claim now (campaigns.sending_hours). Past "do not send after":
    the campaign is stopped, FINISHED. Outside its window while still sending: a Wait until
    the window opens (the loop looks again every MAX_NAP, so STOP still ends it at once)."""
    if not (hours.windowed or hours.send_before):
        return None
    now = timezone.now()
    if sending_hours.past_deadline(hours, now):
        try:
            workflow.stop_at_deadline(campaign_id=campaign_id)
        except workflow.WorkflowError:
            pass  # stopped, paused or held meanwhile: nothing more is claimed either way
        return Outcome.FINISHED
    seconds = sending_hours.seconds_until(hours, now)
    if not seconds:
        return None
    if not Campaign.objects.filter(pk=campaign_id, state=State.SENDING).exists():
        return Outcome.FINISHED
    return deliveries.Wait(seconds)


def _settle(campaign_id: int) -> deliveries.Wait | None:
    """Nothing is due now. Decide: wait for retries or in-flight claims, pause for messages
    in doubt, or complete. Returns a Wait, or None when the campaign left `sending`."""
    campaign = Campaign.objects.get(pk=campaign_id)
    rows = campaign.deliveries
    in_flight = rows.filter(state=Delivery.State.SENDING).exists()
    next_retry = rows.filter(state=Delivery.State.PENDING).aggregate(
        at=Min("next_attempt_at"))["at"]
    if in_flight:
        deliveries.flag_stale_claims(campaign_id, evidence=composing.evidence_of)
        return deliveries.Wait(1.0)
    if next_retry is not None:
        return deliveries.Wait(max(0.0, (next_retry - timezone.now()).total_seconds()))
    in_doubt = rows.filter(state=Delivery.State.IN_DOUBT).count()
    if in_doubt:
        _pause(campaign_id, _("%(count)s message(s) are in doubt: decide for each whether to "
                              "resend or skip, then release again.") % {"count": in_doubt})
        return None
    try:
        campaign = workflow.complete(campaign_id=campaign_id)
    except workflow.WorkflowError:
        return deliveries.Wait(1.0)
    notices.send_completion_notice(campaign)
    return None


def _hold_when_settled(campaign_id: int) -> deliveries.Wait | None:
    if Delivery.objects.filter(campaign_id=campaign_id, state=Delivery.State.SENDING).exists():
        return deliveries.Wait(0.2)  # the canary's last messages are still being handed over
    if not Delivery.objects.filter(campaign_id=campaign_id,
                                   state=Delivery.State.PENDING).exists():
        return _settle(campaign_id)  # everyone was in the canary: nothing to hold for
    try:
        workflow.hold(campaign_id=campaign_id)
    except workflow.WrongState:
        pass
    return None


def run(campaign_id: int, *, worker: str | None = None, budget: float | None = None,
        sleep=time.sleep) -> Outcome:
    """Send for at most `budget` seconds. CONTINUE means: queue another slice."""
    worker = worker or worker_name()
    deadline = time.monotonic() + (budget if budget is not None else settings.SEND_SLICE_SECONDS)
    campaign = Campaign.objects.select_related("roster").get(pk=campaign_id)
    guard_index.keep_windowed_values()  # a slice runs here: nothing is forgotten under it
    if not data_keys.with_association(campaign.roster):
        guard_index.forget_windowed_values()  # no campaign of this process needs it now
        return _slice(campaign, worker, deadline, sleep)
    outcome = None
    try:
        outcome = _windowed_slice(campaign, worker, deadline, sleep)
        return outcome
    finally:  # the guard's index of what the key opened goes once the campaign is no
        if outcome is not Outcome.CONTINUE:  # longer sending in this process
            guard_index.forget_windowed_values()
        else:  # the next slice may run elsewhere, or never (stopped, the grant ended)
            guard_index.forget_windowed_values_after(WINDOWED_INDEX_KEPT_SECONDS)


# How long a worker keeps the guard's index of a window after a slice that handed on: the
# next slice of a chain starts at once, usually in the same process.
WINDOWED_INDEX_KEPT_SECONDS = 60.0


def _windowed_slice(campaign: Campaign, worker: str, deadline: float, sleep) -> Outcome:
    """A slice of a campaign whose roster only the association holds the key to: it runs on
    the observer's grant, and the key is open only while the slice runs."""
    if campaign.state not in (State.RELEASED, State.SENDING):
        return Outcome.FINISHED
    key_window.publish()  # seen: the next grant request lists this worker
    granted = key_window.key_for(campaign)
    if granted is None:
        return _key_needed(campaign)
    if campaign.state == State.SENDING and \
            campaign.compute_content_hash() != campaign.content_hash:
        _pause(campaign.pk, _(CHANGED_UNDER_THE_GRANT))  # the grant is for what was signed
        return Outcome.FINISHED
    key, not_after = granted
    deadline = min(deadline, time.monotonic() + (not_after - timezone.now()).total_seconds())
    data_keys.open_window(campaign.roster_id, key)
    try:
        return _slice(campaign, worker, deadline, sleep)
    finally:
        data_keys.close_window(campaign.roster_id)


CHECK_FAILED = gettext_noop(
    "The content check failed on a message (%(error)s): it was not sent and waits in the "
    "queue. Nothing more is sent until the campaign is released again.")


KEY_NEEDED = gettext_noop(
    "Key needed: no worker running now holds the association's key for this campaign (a "
    "worker restarted, or the grant's deadline passed). Messages in flight are in doubt as "
    "always; the observer releases the campaign again with a new grant to go on.")


CHANGED_UNDER_THE_GRANT = gettext_noop(
    "What would be sent is no longer what was signed (the content or the roster changed in "
    "the database): the association's grant is for what it signed only. Nothing more is "
    "sent; stop the campaign and look into it.")


def _key_needed(campaign) -> Outcome:
    log.warning("campaign %s: no grant this worker can open", campaign.pk)
    if campaign.state == State.SENDING:
        deliveries.flag_stale_claims(campaign.pk, evidence=composing.evidence_of)
        _pause(campaign.pk, _(KEY_NEEDED))
        return Outcome.FINISHED
    return Outcome.NOT_STARTED  # released, not started: it waits for a worker with a grant


def _slice(campaign, worker, deadline, sleep) -> Outcome:
    campaign_id = campaign.pk
    if campaign.state == State.RELEASED:
        try:
            campaign = workflow.start(campaign_id=campaign_id)
        except workflow.WorkflowError as error:
            campaign.refresh_from_db()
            if campaign.state != State.SENDING:  # else another worker started it just now
                log.info("campaign %s not started: %s", campaign_id, error.message)
                return Outcome.NOT_STARTED
    if campaign.state != State.SENDING:
        return Outcome.FINISHED
    deliveries.flag_stale_claims(campaign_id, evidence=composing.evidence_of)

    courier = relay.Courier()
    Campaign.objects.filter(pk=campaign_id).update(last_worker_at=timezone.now())
    try:
        # The guard's index (of what a key window opened, too) built before the first
        # claim: built by the first message's check, it held that message after its rate
        # slot was taken, and the relay saw 12 messages in one second under a limit of 10
        # (bench/scale.py --held). Inside the try: a database error here is one while sending.
        guard_index.roster_index(campaign.roster)
        return _loop(campaign, worker, deadline, courier, sleep)
    except DatabaseError as error:
        if deliveries.is_transient(error):  # a deadlock or serialization failure: not a refusal
            log.warning("campaign %s: %s, the next slice goes on", campaign_id, error)
            return Outcome.CONTINUE
        # The database went away or refused a write (connection lost, disk full). Nothing
        # more is claimed. A message handed over but not recorded stays `sending` and is
        # flagged in doubt by the next run: never resent without a person.
        log.warning("campaign %s: database error, pausing: %s", campaign_id, error)
        connection.close()
        try:
            _pause(campaign_id, _("The database refused a write while sending: %(error)s")
                   % {"error": error})
        except DatabaseError:
            log.error("campaign %s: could not even pause; the watchdog will retry", campaign_id)
        return Outcome.FINISHED
    finally:
        courier.close()


def _loop(campaign, worker, deadline, courier, sleep) -> Outcome:
    campaign_id = campaign.pk
    last_beat = time.monotonic()
    unrecorded = None
    terms, hours = deliveries.terms_of(campaign), sending_hours.Hours.of(campaign)
    try:
        while time.monotonic() < deadline:
            closed = _outside_hours(campaign_id, hours)
            if closed is not None:
                deliveries.flush(unrecorded)  # the last message's outcome, before any wait
                unrecorded = None
                if closed is Outcome.FINISHED:
                    return Outcome.FINISHED
                courier.close()  # hours may pass: do not hold a connection the server drops
                if time.monotonic() - last_beat > HEARTBEAT_SECONDS:  # waiting, not dead
                    Campaign.objects.filter(pk=campaign_id).update(last_worker_at=timezone.now())
                    last_beat = time.monotonic()
                sleep(max(0.0, min(closed.seconds, MAX_NAP, deadline - time.monotonic())))
                continue
            claim = deliveries.claim_next(campaign_id, worker=worker, terms=terms,
                                          sent=unrecorded)
            unrecorded = None
            if time.monotonic() - last_beat > HEARTBEAT_SECONDS:  # for the watchdog
                Campaign.objects.filter(pk=campaign_id).update(last_worker_at=timezone.now())
                last_beat = time.monotonic()
            if isinstance(claim, deliveries.Claim):
                unrecorded = deliver(claim, campaign, courier)
                continue
            if claim is deliveries.NoClaim.NOT_SENDING:
                return Outcome.FINISHED
            wait = claim if isinstance(claim, deliveries.Wait) else (
                _hold_when_settled(campaign_id) if claim is deliveries.NoClaim.CANARY_LIMIT
                else _settle(campaign_id))
            if wait is None:
                return Outcome.FINISHED
            if wait.seconds > HEARTBEAT_SECONDS:
                courier.close()  # do not hold an idle connection the server will drop
            sleep(max(0.0, min(wait.seconds, MAX_NAP, deadline - time.monotonic())))
    finally:
        deliveries.flush(unrecorded)
    return Outcome.CONTINUE
