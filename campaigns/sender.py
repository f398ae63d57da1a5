"""The send loop: claim one message, hand it to the e-mail backend, record what happened.

Duplicate-free by construction:
* claim: in one transaction, lock the campaign row, check it is still sending (a stop or
  pause that committed first wins), check the canary limit and the rate, then move one
  pending delivery to `sending` with a guarded update. Every worker on the campaign queues
  on the same row lock, so a stop and a claim can never interleave.
* hand-over: no transaction is open while the backend talks to the server; just before it,
  the campaign state is read once more, so a stop that landed after the claim still wins
  (the claim is given back).
* record: `sent` with the Message-ID and the SHA-256 of the exact bytes, `failed`, back to
  `pending` for a temporary error, or `in_doubt` when the server may or may not have taken
  it. A claim left `sending` by a dead worker becomes `in_doubt` after EMAIL_TIMEOUT plus a
  margin, never resent without a person's decision.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import os
import smtplib
import socket
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.core.mail.message import sanitize_address
from django.db import transaction
from django.db.models import F, Min, Q
from django.utils import timezone
from django.utils.translation import gettext as _

import audit
from campaigns import mail, workflow
from campaigns.models import Campaign, Delivery, State

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5
MAX_NAP = 0.5  # never sleep longer than this between two looks at the campaign state


class NoClaim(enum.Enum):
    NOT_SENDING = "not sending"
    CANARY_LIMIT = "canary limit reached"
    NOTHING_DUE = "nothing due now"


@dataclass(frozen=True)
class Wait:
    seconds: float


class Outcome(str, enum.Enum):
    CONTINUE = "slice over, more to do"
    FINISHED = "campaign no longer sending"
    NOT_STARTED = "could not start"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def claim_next(campaign_id: int, *, worker: str) -> Delivery | NoClaim | Wait:
    now = timezone.now()
    with transaction.atomic():
        campaign = (Campaign.objects.select_for_update().select_related("roster")
                    .filter(pk=campaign_id, state=State.SENDING).first())
        if campaign is None:
            return NoClaim.NOT_SENDING
        limit = campaign.canary_limit()
        if limit is not None and campaign.claimed_total >= limit:
            return NoClaim.CANARY_LIMIT
        if campaign.next_send_at and campaign.next_send_at > now:
            return Wait((campaign.next_send_at - now).total_seconds())
        due = (Delivery.objects.filter(campaign_id=campaign_id, state=Delivery.State.PENDING)
               .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)))
        delivery = due.select_for_update(skip_locked=True).order_by("id").first()
        if delivery is None:
            return NoClaim.NOTHING_DUE
        won = Delivery.objects.filter(pk=delivery.pk, state=Delivery.State.PENDING).update(
            state=Delivery.State.SENDING, claimed_at=now, worker=worker,
            attempts=F("attempts") + 1)
        if won != 1:  # cannot happen under the row lock; never send what we did not win
            return NoClaim.NOTHING_DUE
        interval = campaign.send_interval()
        next_send_at = (max(campaign.next_send_at or now, now) + timedelta(seconds=interval)
                        if interval else None)
        Campaign.objects.filter(pk=campaign_id).update(
            claimed_total=F("claimed_total") + 1, next_send_at=next_send_at, last_worker_at=now)
    return Delivery.objects.select_related("member").get(pk=delivery.pk)


def flag_stale_claims(campaign_id: int) -> int:
    """Claims whose worker died between `sending` and `sent`: in doubt, for a person."""
    cutoff = timezone.now() - timedelta(
        seconds=settings.EMAIL_TIMEOUT + settings.SEND_STALE_MARGIN_SECONDS)
    with transaction.atomic():
        stale = Delivery.objects.filter(campaign_id=campaign_id, state=Delivery.State.SENDING,
                                        claimed_at__lt=cutoff)
        numbers = list(stale.values_list("member_number", flat=True)[:100])
        count = stale.update(state=Delivery.State.IN_DOUBT,
                             smtp_reply=_("The worker stopped while handing this message over; "
                                          "it may or may not have been delivered."))
        if count:
            audit.record("campaign.in_doubt_flagged", system="worker",
                         target=Campaign(pk=campaign_id), payload={
                             "count": count, "members": numbers})
    return count


def _still_sending(campaign_id: int) -> bool:
    return Campaign.objects.filter(pk=campaign_id, state=State.SENDING).exists()


def _give_back(delivery: Delivery) -> None:
    """A claim that was never handed over goes back to the queue, as if never claimed."""
    Delivery.objects.filter(pk=delivery.pk, state=Delivery.State.SENDING).update(
        state=Delivery.State.PENDING, claimed_at=None, worker="", attempts=F("attempts") - 1)


@dataclass(frozen=True)
class Failure:
    kind: str  # "failed" | "retry" | "in_doubt" | "pause"
    reply: str


class NotHandedOver(Exception):
    """The server was lost before the message data went out: certainly not delivered."""


def classify(error: Exception) -> Failure:
    """What an exception from the hand-over means for this one recipient."""
    if isinstance(error, NotHandedOver):
        return Failure("retry", f"not handed over: {error.__cause__ or error}")
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(error.recipients.values()), (550, b""))
        return Failure("failed" if code >= 500 else "retry", _reply(code, text))
    if isinstance(error, smtplib.SMTPSenderRefused):
        return Failure("pause" if error.smtp_code >= 500 else "retry",
                       _reply(error.smtp_code, error.smtp_error))
    if isinstance(error, smtplib.SMTPResponseException):
        return Failure("failed" if error.smtp_code >= 500 else "retry",
                       _reply(error.smtp_code, error.smtp_error))
    # The connection broke or timed out while the data was going out (or a backend we do
    # not know failed): the server may have taken it. A person decides.
    return Failure("in_doubt", f"{type(error).__name__}: {error}")


def _reply(code, text) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {text}".strip()


def _record_sent(delivery: Delivery, message: mail.NoAttachmentMessage, digest: str,
                 reply: str) -> None:
    with transaction.atomic():
        Delivery.objects.filter(
            pk=delivery.pk, state__in=[Delivery.State.SENDING, Delivery.State.IN_DOUBT],
            decided_at=None,
        ).update(state=Delivery.State.SENT, sent_at=timezone.now(),
                 message_id=message.extra_headers["Message-ID"], message_sha256=digest,
                 smtp_reply=reply[:2000], next_attempt_at=None)
        Campaign.objects.filter(pk=delivery.campaign_id).update(consecutive_failures=0)


def _record_failure(delivery: Delivery, failure: Failure) -> int:
    """Store the outcome; return the campaign's count of failures in a row."""
    now = timezone.now()
    fields = {"smtp_reply": failure.reply[:2000]}
    if failure.kind == "retry" and delivery.attempts < settings.SEND_MAX_ATTEMPTS:
        delay = settings.SEND_RETRY_SECONDS * 2 ** (delivery.attempts - 1)
        fields.update(state=Delivery.State.PENDING, claimed_at=None,
                      next_attempt_at=now + timedelta(seconds=delay))
    elif failure.kind in ("retry", "failed"):
        fields.update(state=Delivery.State.FAILED)
    else:
        fields.update(state=Delivery.State.IN_DOUBT)
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk, state=Delivery.State.SENDING).update(**fields)
        Campaign.objects.filter(pk=delivery.campaign_id).update(
            consecutive_failures=F("consecutive_failures") + 1)
        return Campaign.objects.values_list("consecutive_failures", flat=True).get(
            pk=delivery.campaign_id)


def _pause(campaign_id: int, reason: str) -> None:
    try:
        workflow.pause(campaign=Campaign(pk=campaign_id), reason=reason)
    except workflow.WrongState:
        pass  # stopped or paused meanwhile: nothing left to pause


class _Courier:
    """One backend connection, opened when needed and closed when idle or broken.

    With Django's SMTP backend the SMTP transaction is driven step by step, so that a
    failure before the DATA command (the message certainly not taken) is told apart from one
    during it (in doubt), and the server's reply is kept. Any other backend (an e-mail
    provider through django-anymail, say) is used through send_messages().
    """

    def __init__(self):
        self.connection = get_connection(fail_silently=False)
        self.is_open = False

    def open(self) -> None:
        if not self.is_open:
            self.connection.open()
            self.is_open = True

    def send(self, message: mail.NoAttachmentMessage, wire: bytes) -> str:
        if not isinstance(self.connection, SMTPBackend):
            self.connection.send_messages([message])
            return "accepted"
        smtp = self.connection.connection
        encoding = message.encoding or settings.DEFAULT_CHARSET
        sender = sanitize_address(message.from_email, encoding)
        (recipient,) = [sanitize_address(a, encoding) for a in message.recipients()]
        try:
            smtp.ehlo_or_helo_if_needed()
            code, reply = smtp.mail(sender)
            if code == 250:
                rcpt_code, rcpt_reply = smtp.rcpt(recipient)
        except smtplib.SMTPResponseException:
            raise  # a definite answer from the server, classified by its code
        except OSError as error:  # includes SMTPServerDisconnected: lost before the data
            raise NotHandedOver(str(error)) from error
        if code != 250:
            smtp.rset()
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        if rcpt_code not in (250, 251):
            smtp.rset()
            raise smtplib.SMTPRecipientsRefused({recipient: (rcpt_code, rcpt_reply)})
        code, reply = smtp.data(wire)  # from here on, a broken connection leaves it in doubt
        if code != 250:
            smtp.rset()
            raise smtplib.SMTPDataError(code, reply)
        return _reply(code, reply)

    def close(self) -> None:
        if self.is_open:
            try:
                self.connection.close()
            finally:
                self.is_open = False


def deliver(delivery: Delivery, campaign: Campaign, courier: _Courier) -> str:
    """Hand one claimed message over and record the outcome. Returns what happened."""
    try:
        courier.open()
    except Exception as error:  # noqa: BLE001 - any failure to connect: nothing was handed over
        _give_back(delivery)
        courier.close()
        _pause(campaign.pk, _("The mail server could not be reached: %(error)s")
               % {"error": error})
        return "server unreachable"
    message = mail.build_message(
        sender=campaign.sender, subject=campaign.subject, body_text=campaign.body_text,
        body_html=campaign.body_html, values=mail.member_values(delivery.member),
        to=delivery.email, headers={"X-Countersign-Campaign": str(campaign.pk)})
    wire = message.wire_bytes()
    if not _still_sending(campaign.pk):  # a stop or pause that landed after our claim wins
        _give_back(delivery)
        return "stopped before hand-over"
    try:
        reply = courier.send(message, wire)
    except Exception as error:  # noqa: BLE001 - classified below; the ledger must record it
        failure = classify(error)
        courier.close()
        in_a_row = _record_failure(delivery, failure)
        if failure.kind == "pause":
            _pause(campaign.pk, _("The mail server refused the sender: %(reply)s")
                   % {"reply": failure.reply})
        elif in_a_row >= settings.SEND_PAUSE_AFTER_FAILURES:
            _pause(campaign.pk, _("%(count)s failures in a row; the last: %(reply)s")
                   % {"count": in_a_row, "reply": failure.reply})
        return failure.kind
    _record_sent(delivery, message, hashlib.sha256(wire).hexdigest(), reply)
    return "sent"


def _settle(campaign_id: int) -> Wait | None:
    """Nothing is due now. Decide: wait for retries or in-flight claims, pause for messages
    in doubt, or complete. Returns a Wait, or None when the campaign left `sending`."""
    campaign = Campaign.objects.get(pk=campaign_id)
    deliveries = campaign.deliveries
    in_flight = deliveries.filter(state=Delivery.State.SENDING).exists()
    next_retry = deliveries.filter(state=Delivery.State.PENDING).aggregate(
        at=Min("next_attempt_at"))["at"]
    if in_flight:
        flag_stale_claims(campaign_id)
        return Wait(1.0)
    if next_retry is not None:
        return Wait(max(0.0, (next_retry - timezone.now()).total_seconds()))
    in_doubt = deliveries.filter(state=Delivery.State.IN_DOUBT).count()
    if in_doubt:
        _pause(campaign_id, _("%(count)s message(s) are in doubt: decide for each whether to "
                              "resend or skip, then release again.") % {"count": in_doubt})
        return None
    try:
        workflow.complete(campaign=campaign)
    except workflow.WorkflowError:
        return Wait(1.0)
    return None


def _hold_when_settled(campaign_id: int) -> Wait | None:
    if Delivery.objects.filter(campaign_id=campaign_id, state=Delivery.State.SENDING).exists():
        return Wait(0.2)  # the canary's last messages are still being handed over
    if not Delivery.objects.filter(campaign_id=campaign_id,
                                   state=Delivery.State.PENDING).exists():
        return _settle(campaign_id)  # everyone was in the canary: nothing to hold for
    try:
        workflow.hold(campaign=Campaign(pk=campaign_id))
    except workflow.WrongState:
        pass
    return None


def run(campaign_id: int, *, worker: str | None = None, budget: float | None = None,
        sleep=time.sleep) -> Outcome:
    """Send for at most `budget` seconds. CONTINUE means: queue another slice."""
    worker = worker or worker_name()
    deadline = time.monotonic() + (budget if budget is not None else settings.SEND_SLICE_SECONDS)
    campaign = Campaign.objects.select_related("roster").get(pk=campaign_id)
    if campaign.state == State.RELEASED:
        try:
            campaign = workflow.start(campaign=campaign)
        except workflow.WorkflowError as error:
            log.info("campaign %s not started: %s", campaign_id, error.message)
            return Outcome.NOT_STARTED
    if campaign.state != State.SENDING:
        return Outcome.FINISHED
    flag_stale_claims(campaign_id)

    courier = _Courier()
    last_beat = time.monotonic()
    try:
        while time.monotonic() < deadline:
            claim = claim_next(campaign_id, worker=worker)
            if isinstance(claim, Delivery):
                deliver(claim, campaign, courier)
                last_beat = time.monotonic()
                continue
            if claim is NoClaim.NOT_SENDING:
                return Outcome.FINISHED
            wait = claim if isinstance(claim, Wait) else (
                _hold_when_settled(campaign_id) if claim is NoClaim.CANARY_LIMIT
                else _settle(campaign_id))
            if wait is None:
                return Outcome.FINISHED
            if wait.seconds > HEARTBEAT_SECONDS:
                courier.close()  # do not hold an idle connection the server will drop
            if time.monotonic() - last_beat > HEARTBEAT_SECONDS:
                Campaign.objects.filter(pk=campaign_id).update(last_worker_at=timezone.now())
                last_beat = time.monotonic()
            sleep(max(0.0, min(wait.seconds, MAX_NAP, deadline - time.monotonic())))
    finally:
        courier.close()
    return Outcome.CONTINUE
