"""The send loop: claim one message, hand it to the e-mail backend, record what happened.
All the SQL of sending is here (the ledger's creation included).

Duplicate-free by construction:
* claim: in one transaction, lock the campaign row, check it is still sending (a stop or
  pause that committed first wins), check the canary limit and the rate, then move one
  pending delivery to `sending` with a guarded update. Every worker on the campaign queues
  on the same row lock, so a stop and a claim can never interleave.
* hand-over: the claim is a lease. The message may be handed over only until EMAIL_TIMEOUT
  after its claim (each SMTP command gets the time left, none starts after), and a STOP
  waits until no claim that young is still `sending`: once stop() has returned, nothing
  more reaches the mail server.
* record: `sent` with the Message-ID and the SHA-256 of the exact bytes, `failed`, back to
  `pending` for a temporary error, or `in_doubt` when the server may or may not have taken
  it. A claim left `sending` by a dead worker becomes `in_doubt` after EMAIL_TIMEOUT plus a
  margin, never resent without a person's decision.

The claim and the record run once per message, so they are plain SQL rather than ORM
queries (whose compilation cost several times the database work): one path, the same
statements on SQLite and PostgreSQL, with row locks where PostgreSQL has them. On
PostgreSQL they are prepared once per connection (planning them costs about as much as
running them); behind PgBouncer in transaction mode that needs PgBouncer 1.21+ with
max_prepared_statements (README).
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
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from functools import cache

import psycopg
from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.core.mail.message import sanitize_address
from django.db import DatabaseError, connection, transaction
from django.db.backends.utils import CursorWrapper
from django.db.models import F, Min
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

import audit
from campaigns import bounces, composing, guard, mail, notices, suppression, workflow
from campaigns.actions import Action
from campaigns.models import Campaign, Delivery, State, canary_limit
from roster import member_data
from roster.models import Member, Suppression

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


@dataclass(frozen=True)
class Claim:
    """A delivery this worker won: everything needed to build and record its message."""

    delivery_id: int
    campaign_id: int
    email: str
    attempts: int
    member_number: str
    values: dict
    deadline: float = 0.0  # time.monotonic() by which the hand-over must be over
    member: member_data.Values | None = None  # the values read through the door
    claimed_at: datetime | None = None  # as stored: the message's Date (campaigns.composing)


def _when(value):
    """A datetime read by plain SQL: aware on PostgreSQL, naive UTC text on SQLite."""
    if value is None or isinstance(value, datetime):
        return value if value is None or timezone.is_aware(value) else timezone.make_aware(
            value, UTC)
    return timezone.make_aware(parse_datetime(value), UTC)


def _db(value):
    return connection.ops.adapt_datetimefield_value(value)


def _tables() -> dict[str, str]:
    return {"campaign": Campaign._meta.db_table, "delivery": Delivery._meta.db_table,
            "member": Member._meta.db_table}


@dataclass(frozen=True)
class Terms:
    """How a campaign is sent, fixed once it is submitted (they are in its content hash)."""

    hold_after: int  # messages before the hold, while it is not confirmed (no hold: huge)
    interval: float  # seconds between two messages (0: no rate limit)


def terms_of(campaign: Campaign) -> Terms:
    limit = canary_limit(enabled=campaign.canary_enabled, size=campaign.canary_size,
                         confirmed=False, recipients=campaign.roster.member_count)
    return Terms(limit if limit is not None else 2**31 - 1, campaign.send_interval())


@cache
def _claim_sql(vendor: str) -> dict[str, str]:
    """The claim, written once as three parts; SQLite runs them one after the other in a
    transaction, PostgreSQL as one statement (each a part of a WITH, `_one_statement`),
    prepared once per connection: one round trip and one commit per message. States are
    written into the text, not passed as parameters: a prepared statement is planned for
    any parameter value after a few runs, and a plan that does not know the state is
    'pending' walks the campaign's sent rows on every claim.

    * sent: the previous message's success (recorded in the claim's transaction);
    * claim: the first pending, due delivery moves to `sending`, returning what its
      message needs (the member's values from the roster);
    * guard: the campaign row (its lock: a stop that committed first wins, one that comes
      later waits) is still sending and the hold and the rate slot allow one more
      (`allows`), and the claim above happened; it counts the message and takes the next
      rate slot.
    If nothing is claimed, `why` says what stopped it. All parameters are named
    (%(name)s), the same for both ways of running them.
    """
    postgres = vendor == "postgresql"
    t, d = _tables(), Delivery.State
    allows = ("state = 'sending' AND (canary_enabled = FALSE OR canary_confirmed_at IS NOT "
              "NULL OR claimed_total < %(hold_after)s) "
              "AND (next_send_at IS NULL OR next_send_at <= %(now)s)")
    counts = (f"UPDATE {t['campaign']} SET claimed_total = claimed_total + 1, "
              "next_send_at = %(slot)s, consecutive_failures = CASE WHEN %(success)s THEN 0 "
              "ELSE consecutive_failures END WHERE id = %(campaign)s")

    def claim(gate: str) -> str:
        return (
            f"UPDATE {t['delivery']} SET state = '{d.SENDING}', claimed_at = %(now)s, "
            "worker = %(worker)s, attempts = attempts + 1 "
            f"WHERE id = (SELECT id FROM {t['delivery']} WHERE {gate}campaign_id = "
            f"%(campaign)s AND state = '{d.PENDING}' "
            "AND (next_attempt_at IS NULL OR next_attempt_at <= %(now)s) ORDER BY id LIMIT 1"
            f"{' FOR UPDATE SKIP LOCKED' if postgres else ''}) AND state = '{d.PENDING}' "
            "RETURNING id AS delivery_id, member_id, member_number, attempts, "
            + member_data.SQL_VALUES.format(member_id=f"{t['delivery']}.member_id"))

    statements = {
        "sent": (
            f"UPDATE {t['delivery']} SET state = '{d.SENT}', sent_at = %(now)s, "
            "message_id = %(message_id)s, message_sha256 = %(sha256)s, smtp_reply = %(reply)s, "
            f"next_attempt_at = NULL WHERE id = %(previous)s "
            f"AND state IN ('{d.SENDING}', '{d.IN_DOUBT}') "
            "AND (decided_at IS NULL OR decision = 'resend')"),
        "claim": claim(""),
        # Run after the claim, only when it returned a row (SQLite).
        "guard": f"{counts} AND {allows} RETURNING id AS guard_id",
        "why": (
            "SELECT state, claimed_total, canary_enabled, canary_confirmed_at, next_send_at "
            f"FROM {t['campaign']} WHERE id = %(campaign)s"),
        "reset_failures": (
            f"UPDATE {t['campaign']} SET consecutive_failures = 0 "
            "WHERE id = %(campaign)s AND consecutive_failures <> 0"),
    }
    if postgres:
        statements["one"] = _one_statement(
            lock=f"SELECT id FROM {t['campaign']} WHERE id = %(campaign)s AND {allows} "
                 "FOR NO KEY UPDATE",
            claim=claim("EXISTS (SELECT 1 FROM lock) AND "),
            guard=f"{counts} AND EXISTS (SELECT 1 FROM claim) RETURNING id AS guard_id",
            sent=statements["sent"])
    return statements


def _one_statement(*, lock: str, claim: str, guard: str, sent: str) -> str:
    """PostgreSQL's claim as one statement, taking its locks in one order: the campaign row
    first, then delivery rows. A CTE runs when it is first read, so the order is made by
    what reads what: the claim's search is gated on `lock` (a one-time filter, evaluated
    before any delivery row is read), the guard reads the claim, and `sent` (read by
    nothing) runs last. Two workers then never hold a delivery row each while waiting for
    the campaign row. Before, the parts ran in no set order: a claim whose snapshot
    predated another worker's claim could lock that worker's row (a row locked FOR UPDATE
    stays locked when its newest version no longer matches), then wait for the campaign
    row, held by that worker while it waited to record the same row as sent: a deadlock
    in about one claim in 3,000 with two workers (issue 25).

    `lock` carries the guard's conditions (still sending, the hold, the rate slot): when
    the campaign says no, nothing is claimed, so there is nothing to give back."""
    return (f"WITH lock AS ({lock}), claim AS ({claim}), guard AS ({guard}), "
            f"sent AS ({sent}) "
            "SELECT claim.*, (SELECT count(*) FROM guard) AS guarded FROM claim")


def _named_rows(cursor) -> list[dict]:
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def claim_next(campaign_id: int, *, worker: str, terms: Terms,
               sent: Sent | None = None) -> Claim | NoClaim | Wait:
    """Claim the next message: the only claim there is (full speed, rate limit, canary
    hold). `sent`, the previous message's outcome, is written in the same transaction: one
    commit per message."""
    started, now = time.monotonic(), timezone.now()
    sql = _claim_sql(connection.vendor)
    params = {
        "campaign": campaign_id, "worker": worker, "now": _db(now),
        "slot": _db(now + timedelta(seconds=terms.interval)) if terms.interval else None,
        "success": sent is not None, "hold_after": terms.hold_after,
        "previous": sent.claim.delivery_id if sent else None,
        "message_id": sent.message_id if sent else "", "sha256": sent.sha256 if sent else "",
        "reply": sent.reply[:2000] if sent else ""}
    claimed, guarded = _retrying(_run_claim, sql, params, sent)
    if claimed and guarded:
        return _claim_from_row(campaign_id, claimed, claimed=started, claimed_at=now)
    if claimed:  # claimed, then the campaign said no: never sent, back in the queue
        Delivery.objects.filter(pk=claimed["delivery_id"], state=Delivery.State.SENDING).update(
            state=Delivery.State.PENDING, claimed_at=None, worker="",
            attempts=F("attempts") - 1)
    return _why_no_claim(sql, campaign_id, terms, reset=sent is not None, found=bool(claimed))


def _run_claim(sql, params, sent) -> tuple[dict | None, int]:
    """The claim's statements, all or nothing: (the claimed row or None, guarded)."""
    if "one" in sql:  # one statement is its own transaction: no BEGIN, no COMMIT to wait for
        with _cursor() as cursor:
            cursor.execute(sql["one"], params)
            rows = _named_rows(cursor)
        return (rows[0], rows[0]["guarded"]) if rows else (None, 0)
    with transaction.atomic(), _cursor() as cursor:
        if sent is not None:
            cursor.execute(sql["sent"], params)
        cursor.execute(sql["claim"], params)
        rows = _named_rows(cursor)
        if not rows:
            return None, 0
        cursor.execute(sql["guard"], params)
        return rows[0], len(_named_rows(cursor))


# PostgreSQL's answers that mean "try again", not "no": deadlock detected, serialization
# failure. The statement was rolled back whole, so running it again is safe.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})
TRANSIENT_RETRIES = 5


def is_transient(error: DatabaseError) -> bool:
    return getattr(error.__cause__, "sqlstate", None) in TRANSIENT_SQLSTATES


def _retrying(step, *args):
    """Run one all-or-nothing database step, again after a deadlock or a serialization
    failure (a short, growing wait between tries); any other error is raised at once."""
    for attempt in range(TRANSIENT_RETRIES):
        try:
            return step(*args)
        except DatabaseError as error:
            if not is_transient(error) or attempt == TRANSIENT_RETRIES - 1:
                raise
            log.warning("claim: %s, trying again (%s)", error.__cause__.sqlstate, attempt + 1)
            time.sleep(0.01 * 2 ** attempt)
    raise AssertionError("unreachable")


def _why_no_claim(sql, campaign_id: int, terms: Terms, *, reset: bool,
                  found: bool) -> NoClaim | Wait:
    with transaction.atomic(), _cursor() as cursor:
        if reset:
            cursor.execute(sql["reset_failures"], {"campaign": campaign_id})
        cursor.execute(sql["why"], {"campaign": campaign_id})
        rows = _named_rows(cursor)
    if not rows or rows[0]["state"] != State.SENDING:
        return NoClaim.NOT_SENDING
    campaign = rows[0]
    if (campaign["canary_enabled"] and campaign["canary_confirmed_at"] is None
            and campaign["claimed_total"] >= terms.hold_after):
        return NoClaim.CANARY_LIMIT
    next_send_at, now = _when(campaign["next_send_at"]), timezone.now()
    if next_send_at and next_send_at > now:
        return Wait((next_send_at - now).total_seconds())
    return NoClaim.NOTHING_DUE if not found else Wait(0.0)


def _cursor():
    """A cursor whose statements PostgreSQL plans once per connection instead of on every
    message: planning the claim costs about as much as running it. Django's cursors bind
    parameters on the client and never prepare, and Django turns psycopg's preparation off
    (prepare_threshold None); it is turned back on for this connection, where only cursors
    like this one use it. SQLite: a plain cursor."""
    if connection.vendor != "postgresql":
        return connection.cursor()
    connection.ensure_connection()
    if connection.connection.prepare_threshold is None:
        connection.connection.prepare_threshold = 5
    return CursorWrapper(_PreparedCursor(connection.connection), connection)


class _PreparedCursor(psycopg.Cursor):
    def execute(self, query, params=None, **kwargs):
        return super().execute(query, params, prepare=True, **kwargs)


def create_ledger(campaign) -> None:
    """One row per recipient, in roster order, in one statement (at start): pending, or
    skipped at once when the suppression list keeps this kind of campaign from the address.
    Each row keeps the address's pseudonym, which outlives the address (retention)."""
    t = _tables()
    reasons = suppression.reasons_for(campaign.kind)
    suppressed = (f"SELECT 1 FROM {Suppression._meta.db_table} s WHERE s.pseudonym = "
                  f"m.email_pseudonym AND s.reason IN ({', '.join(['%s'] * len(reasons))})")
    reason = (f"(SELECT MIN(s.reason) FROM {Suppression._meta.db_table} s WHERE s.pseudonym = "
              f"m.email_pseudonym AND s.reason IN ({', '.join(['%s'] * len(reasons))}))")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {t['delivery']} (campaign_id, member_id, member_number, "
            "address_pseudonym, state, skip_reason, attempts, worker, message_id, "
            "message_sha256, smtp_reply, decision, findings, soft_bounces, bounce_status, "
            "relay_evidence, esp_message_id) "
            f"SELECT %s, m.id, m.member_number, m.email_pseudonym, "
            f"CASE WHEN EXISTS ({suppressed}) THEN %s ELSE %s END, "
            f"COALESCE(%s || {reason}, ''), 0, '', '', '', '', '', '[]', 0, '', '{{}}', '' "
            f"FROM {t['member']} m WHERE m.roster_id = %s ORDER BY m.row_number",
            [campaign.pk, *reasons, Delivery.State.SKIPPED, Delivery.State.PENDING,
             suppression.skip_reason(""), *reasons, campaign.roster_id],
        )


def _claim_from_row(campaign_id: int, row: dict, *, claimed: float,
                    claimed_at: datetime) -> Claim:
    """A Claim from the claim's row (the member's values read through the door's columns).
    `claimed`: time.monotonic() when claimed_at was taken. RETURNING gives the row as
    updated: `attempts` already counts this claim."""
    member = member_data.values_from_sql(row)
    return Claim(row["delivery_id"], campaign_id, member.email, row["attempts"],
                 row["member_number"], member.placeholders(), claimed + settings.EMAIL_TIMEOUT,
                 member, claimed_at)


def flag_stale_claims(campaign_id: int) -> int:
    """Claims whose worker died between `sending` and `sent`: in doubt, for a person."""
    cutoff = timezone.now() - timedelta(
        seconds=settings.EMAIL_TIMEOUT + settings.SEND_STALE_MARGIN_SECONDS)
    with transaction.atomic():
        stale = list(Delivery.objects.select_for_update().filter(
            campaign_id=campaign_id, state=Delivery.State.SENDING, claimed_at__lt=cutoff))
        if not stale:
            return 0
        campaign = Campaign.objects.get(pk=campaign_id)
        for delivery in stale:  # what was handed over, recomputed (campaigns.composing)
            message_id, sha256 = composing.evidence_of(delivery, campaign)
            Delivery.objects.filter(pk=delivery.pk, state=Delivery.State.SENDING).update(
                state=Delivery.State.IN_DOUBT, message_id=message_id, message_sha256=sha256,
                smtp_reply=_("The worker stopped while handing this message over; it may or "
                             "may not have been delivered."))
        count, numbers = len(stale), [d.member_number for d in stale[:100]]
        if count:
            audit.record(Action.IN_DOUBT_FLAGGED, system="worker",
                         target=Campaign.objects.only("pk").get(pk=campaign_id), payload={
                             "count": count, "members": numbers})
    return count


def _give_back(claim: Claim) -> None:
    """A claim that was never handed over goes back to the queue, as if never claimed."""
    Delivery.objects.filter(pk=claim.delivery_id, state=Delivery.State.SENDING).update(
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


@dataclass(frozen=True)
class Sent:
    """A message the server took, to be written to the ledger."""

    claim: Claim
    message_id: str
    sha256: str
    reply: str


def _flush(sent: Sent | None) -> None:
    """A success not yet written by a next claim (the run ends): written on its own."""
    if sent is not None:
        _retrying(_write_sent, sent)


def _write_sent(sent: Sent) -> None:
    sql = _claim_sql(connection.vendor)
    with transaction.atomic(), _cursor() as cursor:
        cursor.execute(sql["sent"], {
            "now": _db(timezone.now()), "message_id": sent.message_id,
            "sha256": sent.sha256, "reply": sent.reply[:2000],
            "previous": sent.claim.delivery_id})
        cursor.execute(sql["reset_failures"], {"campaign": sent.claim.campaign_id})


def _record_failure(claim: Claim, failure: Failure, *, message_id: str, sha256: str) -> int:
    """Store the outcome; return the campaign's count of failures in a row. A message in
    doubt keeps its Message-ID and SHA-256 (for the relay's log and the person deciding)."""
    now = timezone.now()
    fields = {"smtp_reply": failure.reply[:2000], "message_id": message_id,
              "message_sha256": sha256}
    if failure.kind == "retry" and claim.attempts < settings.SEND_MAX_ATTEMPTS:
        delay = settings.SEND_RETRY_SECONDS * 2 ** (claim.attempts - 1)
        fields.update(state=Delivery.State.PENDING, claimed_at=None,
                      next_attempt_at=now + timedelta(seconds=delay))
    elif failure.kind in ("retry", "failed"):
        fields.update(state=Delivery.State.FAILED)
    else:
        fields.update(state=Delivery.State.IN_DOUBT)
    if fields["state"] != Delivery.State.IN_DOUBT:  # certainly not taken: no Message-ID
        fields.update(message_id="", message_sha256="")
    return _retrying(_write_failure, claim, fields)


def _write_failure(claim: Claim, fields: dict) -> int:
    with transaction.atomic():
        Delivery.objects.filter(pk=claim.delivery_id, state=Delivery.State.SENDING).update(
            **fields)
        Campaign.objects.filter(pk=claim.campaign_id).update(
            consecutive_failures=F("consecutive_failures") + 1)
        return Campaign.objects.values_list("consecutive_failures", flat=True).get(
            pk=claim.campaign_id)


def _pause(campaign_id: int, reason: str) -> None:
    try:
        workflow.pause(campaign_id=campaign_id, reason=reason)
    except workflow.WrongState:
        pass  # stopped or paused meanwhile: nothing left to pause


def _time_left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise NotHandedOver("the hand-over's time (EMAIL_TIMEOUT from the claim) ran out "
                            "before the message data was sent")
    return left


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
        self._envelope_senders = {}

    def _envelope(self, address: str, encoding: str) -> str:
        """The bare address for the SMTP envelope (IDN domains made ASCII)."""
        if address.isascii() and "<" not in address:
            return address
        return parseaddr(sanitize_address(address, encoding))[1]

    def open(self) -> None:
        if not self.is_open:
            self.connection.open()
            self.is_open = True

    def send(self, message: mail.NoAttachmentMessage, wire: bytes, *, deadline: float,
             envelope_sender: str = "") -> str:
        """Hand the message over, all of it before `deadline` (time.monotonic()): a stop
        waits for claims younger than EMAIL_TIMEOUT, so no hand-over may outlive that. Each
        SMTP command gets the time that is left; none starts once it has run out.
        `envelope_sender`: the SMTP MAIL FROM (the delivery's VERP address); empty: the
        From address."""
        if not isinstance(self.connection, SMTPBackend):
            _time_left(deadline)
            if envelope_sender:  # honoured by django-anymail's backends
                message.envelope_sender = envelope_sender
            self.connection.send_messages([message])
            return "accepted"
        smtp = self.connection.connection
        encoding = message.encoding or settings.DEFAULT_CHARSET
        if message.from_email not in self._envelope_senders:  # the same for every message
            self._envelope_senders[message.from_email] = self._envelope(message.from_email,
                                                                        encoding)
        sender = envelope_sender or self._envelope_senders[message.from_email]
        (recipient,) = [self._envelope(a, encoding) for a in message.recipients()]
        try:
            smtp.sock.settimeout(_time_left(deadline))
            smtp.ehlo_or_helo_if_needed()
            code, reply = smtp.mail(sender)
            if code == 250:
                smtp.sock.settimeout(_time_left(deadline))
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
        try:
            smtp.sock.settimeout(_time_left(deadline))
        except NotHandedOver:
            smtp.rset()
            raise
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


def deliver(claim: Claim, campaign: Campaign, courier: _Courier) -> Sent | None:
    """Hand one claimed message over. A failure is recorded at once; a success is returned,
    to be recorded with the next claim (or on the way out)."""
    try:
        courier.open()
    except Exception as error:  # noqa: BLE001 - any failure to connect: nothing was handed over
        _give_back(claim)
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
    findings = guard.check_message(roster=campaign.roster, recipient=claim.values,
                                   unsanitised_html=message.unsanitised_html,
                                   own_links=composed.own_links, **mail.texts_of(message))
    if findings:  # the guarantee: this exact text carries another member's data
        workflow.refuse_message(campaign_id=campaign.pk, delivery_id=claim.delivery_id,
                                findings=findings)
        return None
    wire = message.wire_bytes()
    message_id, sha256 = composed.message_id, hashlib.sha256(wire).hexdigest()
    try:
        reply = courier.send(message, wire, deadline=claim.deadline,
                             envelope_sender=bounces.verp_address(claim.delivery_id))
    except Exception as error:  # noqa: BLE001 - classified below; the ledger must record it
        failure = classify(error)
        # A reply may quote the recipient (their address, its local part, their name):
        # masked with every spelling of their values before it is stored anywhere.
        failure = Failure(failure.kind, member_data.mask(failure.reply, claim.member))
        courier.close()
        in_a_row = _record_failure(claim, failure, message_id=message_id, sha256=sha256)
        if failure.kind == "pause":
            _pause(campaign.pk, _("The mail server refused the sender: %(reply)s")
                   % {"reply": failure.reply})
        elif in_a_row >= settings.SEND_PAUSE_AFTER_FAILURES:
            _pause(campaign.pk, _("%(count)s failures in a row; the last: %(reply)s")
                   % {"count": in_a_row, "reply": failure.reply})
        return None
    esp_id = getattr(getattr(message, "anymail_status", None), "message_id", None)
    if esp_id:  # an e-mail provider's own id, which its bounce and complaint events carry
        Delivery.objects.filter(pk=claim.delivery_id).update(esp_message_id=str(esp_id)[:255])
    return Sent(claim, message_id, sha256, member_data.mask(reply, claim.member))


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
        campaign = workflow.complete(campaign_id=campaign_id)
    except workflow.WorkflowError:
        return Wait(1.0)
    notices.send_completion_notice(campaign)
    return None


def _hold_when_settled(campaign_id: int) -> Wait | None:
    if Delivery.objects.filter(campaign_id=campaign_id, state=Delivery.State.SENDING).exists():
        return Wait(0.2)  # the canary's last messages are still being handed over
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
    flag_stale_claims(campaign_id)

    courier = _Courier()
    Campaign.objects.filter(pk=campaign_id).update(last_worker_at=timezone.now())
    try:
        return _loop(campaign, worker, deadline, courier, sleep)
    except DatabaseError as error:
        if is_transient(error):  # a deadlock or serialization failure: not a refusal
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
    terms = terms_of(campaign)
    try:
        while time.monotonic() < deadline:
            claim = claim_next(campaign_id, worker=worker, terms=terms, sent=unrecorded)
            unrecorded = None
            if time.monotonic() - last_beat > HEARTBEAT_SECONDS:  # for the watchdog
                Campaign.objects.filter(pk=campaign_id).update(last_worker_at=timezone.now())
                last_beat = time.monotonic()
            if isinstance(claim, Claim):
                unrecorded = deliver(claim, campaign, courier)
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
            sleep(max(0.0, min(wait.seconds, MAX_NAP, deadline - time.monotonic())))
    finally:
        _flush(unrecorded)
    return Outcome.CONTINUE
