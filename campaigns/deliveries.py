"""The delivery ledger's rows, and every change to them: the one module that owns them.

A delivery moves between its states only as `MOVES` says, through `move()` (a guarded
update: it changes only rows still in a state the move starts from) or through the claim's
own SQL below, which makes the same moves in one statement per message. The campaign's
moves are `campaigns.states.TRANSITIONS`; these are the rows under them.

Duplicate-free by construction:
* claim: in one statement (PostgreSQL) or transaction (SQLite), lock the campaign row,
  check it is still sending (a stop or pause that committed first wins), the hold and the
  rate, then move one pending delivery to `sending` with a guarded update. Every worker on
  the campaign queues on the same row lock, so a stop and a claim never interleave; locks
  are taken in one order (the campaign row, then delivery rows), so workers cannot
  deadlock, and a deadlock or serialization failure that happens anyway is tried again.
* hand-over: the claim is a lease. The message may be handed over only until EMAIL_TIMEOUT
  after its claim (campaigns.relay), and a STOP waits until no claim that young is still
  `sending` (`handing_over`): once stop() has returned, nothing more reaches the relay.
* record: `sent` with the Message-ID and the SHA-256 of the exact bytes (written with the
  next claim: one commit per message), `failed`, back to `pending` for a temporary error,
  or `in_doubt` when the relay may or may not have taken it. A claim left `sending` by a
  dead worker becomes `in_doubt` after EMAIL_TIMEOUT plus a margin, with the Message-ID
  and SHA-256 recomputed (campaigns.composing): never resent without a person's decision.

The claim and the record run once per message, so they are plain SQL rather than ORM
queries (whose compilation cost several times the database work): one path, the same
statements on SQLite and PostgreSQL, with row locks where PostgreSQL has them. On
PostgreSQL they are prepared once per connection (planning them costs about as much as
running them); behind PgBouncer in transaction mode that needs PgBouncer 1.21+ with
max_prepared_statements (docs/deployment.md).
"""

from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

import psycopg
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.backends.utils import CursorWrapper
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

import audit
from campaigns import suppression_rules
from campaigns.actions import Action
from campaigns.models import Campaign, Delivery, State
from campaigns.relay import Failure
from campaigns.terms import canary_limit
from roster import member_data
from roster.models import Member, Suppression

log = logging.getLogger(__name__)

D = Delivery.State


@dataclass(frozen=True)
class Move:
    sources: tuple[str, ...]
    target: str


# Every move of a delivery row: the claim's SQL makes "claim" and "sent"; move() the rest.
MOVES: dict[str, Move] = {
    "claim": Move((D.PENDING,), D.SENDING),  # a worker won the row (claim SQL)
    "sent": Move((D.SENDING, D.IN_DOUBT), D.SENT),  # the relay took it (claim SQL)
    "give_back": Move((D.SENDING,), D.PENDING),  # claimed, never handed over
    "retry": Move((D.SENDING,), D.PENDING),  # a temporary error: later, with back-off
    "fail": Move((D.SENDING,), D.FAILED),  # a permanent error for this recipient
    "doubt": Move((D.SENDING,), D.IN_DOUBT),  # broken during DATA, or a dead worker's claim
    "refuse": Move((D.SENDING,), D.REFUSED),  # the content guard refused the message
    "resend": Move((D.IN_DOUBT,), D.PENDING),  # a person decided: send it again
    "skip": Move((D.IN_DOUBT,), D.SKIPPED),  # a person decided: do not
    "suppress": Move((D.PENDING,), D.SKIPPED),  # the address was suppressed meanwhile
    "bounce": Move((D.SENT,), D.BOUNCED),  # accepted, then returned as undeliverable
}


def move(name: str, rows, **fields) -> int:
    """Move the rows of `rows` (a Delivery queryset) that are still in one of the move's
    source states; returns how many moved."""
    step = MOVES[name]
    return rows.filter(state__in=step.sources).update(state=step.target, **fields)


class NoClaim(enum.Enum):
    NOT_SENDING = "not sending"
    CANARY_LIMIT = "canary limit reached"
    NOTHING_DUE = "nothing due now"


@dataclass(frozen=True)
class Wait:
    seconds: float


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
    roster_id: int  # whose members it goes to: a delivery pointed elsewhere does not open


def terms_of(campaign: Campaign) -> Terms:
    limit = canary_limit(enabled=campaign.canary_enabled, size=campaign.canary_size,
                         confirmed=False, recipients=campaign.roster.member_count)
    return Terms(limit if limit is not None else 2**31 - 1, campaign.send_interval(),
                 campaign.roster_id)


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
        return _claim_from_row(campaign_id, claimed, claimed=started, claimed_at=now,
                               roster_id=terms.roster_id)
    if claimed:  # claimed, then the campaign said no: never sent, back in the queue
        move("give_back", Delivery.objects.filter(pk=claimed["delivery_id"]), claimed_at=None,
             worker="", attempts=F("attempts") - 1)
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
    reasons = suppression_rules.reasons_for(campaign.kind)
    suppressed = (f"SELECT 1 FROM {Suppression._meta.db_table} s WHERE s.pseudonym = "
                  f"m.email_pseudonym AND s.reason IN ({', '.join(['%s'] * len(reasons))})")
    reason = (f"(SELECT MIN(s.reason) FROM {Suppression._meta.db_table} s WHERE s.pseudonym = "
              f"m.email_pseudonym AND s.reason IN ({', '.join(['%s'] * len(reasons))}))")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {t['delivery']} (campaign_id, member_id, member_number, "
            "address_pseudonym, state, skip_reason, attempts, worker, message_id, "
            "message_sha256, smtp_reply, decision, findings, soft_bounces, bounce_status, "
            "relay_evidence, esp_message_id, carrier, at_carrier, carrier_dsn, "
            "carrier_deferrals) "
            f"SELECT %s, m.id, m.member_number, m.email_pseudonym, "
            f"CASE WHEN EXISTS ({suppressed}) THEN %s ELSE %s END, "
            f"COALESCE(%s || {reason}, ''), 0, '', '', '', '', '', '[]', 0, '', '{{}}', '', "
            "m.carrier, '', '', 0 "
            f"FROM {t['member']} m WHERE m.roster_id = %s ORDER BY m.row_number",
            [campaign.pk, *reasons, Delivery.State.SKIPPED, Delivery.State.PENDING,
             suppression_rules.skip_reason(""), *reasons, campaign.roster_id],
        )


def _claim_from_row(campaign_id: int, row: dict, *, claimed: float,
                    claimed_at: datetime, roster_id: int) -> Claim:
    """A Claim from the claim's row (the member's values read through the door's columns).
    `claimed`: time.monotonic() when claimed_at was taken. RETURNING gives the row as
    updated: `attempts` already counts this claim."""
    member = member_data.values_from_sql(row, roster_id=roster_id)
    return Claim(row["delivery_id"], campaign_id, member.email, row["attempts"],
                 row["member_number"], member.placeholders(), claimed + settings.EMAIL_TIMEOUT,
                 member, claimed_at)


def flag_stale_claims(campaign_id: int, *, evidence) -> int:
    """Claims whose worker died between `sending` and `sent`: in doubt, for a person, with
    the Message-ID and SHA-256 of what was handed over, recomputed by `evidence(delivery,
    campaign)` (campaigns.composing.evidence_of)."""
    cutoff = timezone.now() - timedelta(
        seconds=settings.EMAIL_TIMEOUT + settings.SEND_STALE_MARGIN_SECONDS)
    with transaction.atomic():
        stale = list(Delivery.objects.select_for_update().filter(
            campaign_id=campaign_id, state=D.SENDING, claimed_at__lt=cutoff))
        if not stale:
            return 0
        campaign = Campaign.objects.get(pk=campaign_id)
        for delivery in stale:
            message_id, sha256 = evidence(delivery, campaign)
            move("doubt", Delivery.objects.filter(pk=delivery.pk), message_id=message_id,
                 message_sha256=sha256, smtp_reply=_(
                     "The worker stopped while handing this message over; it may or may not "
                     "have been delivered."))
        audit.record(Action.IN_DOUBT_FLAGGED, system="worker", target=campaign, payload={
            "count": len(stale), "members": [d.member_number for d in stale[:100]]})
    return len(stale)


def give_back(claim: Claim) -> None:
    """A claim that was never handed over goes back to the queue, as if never claimed."""
    move("give_back", Delivery.objects.filter(pk=claim.delivery_id), claimed_at=None,
         worker="", attempts=F("attempts") - 1)


@dataclass(frozen=True)
class Sent:
    """A message the server took, to be written to the ledger."""

    claim: Claim
    message_id: str
    sha256: str
    reply: str


def flush(sent: Sent | None) -> None:
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


def record_failure(claim: Claim, failure: Failure, *, message_id: str,
                   sha256: str) -> int:
    """Store the outcome; return the campaign's count of failures in a row. A message in
    doubt keeps its Message-ID and SHA-256 (for the relay's log and the person deciding)."""
    fields = {"smtp_reply": failure.reply[:2000]}
    if failure.kind == "retry" and claim.attempts < settings.SEND_MAX_ATTEMPTS:
        delay = settings.SEND_RETRY_SECONDS * 2 ** (claim.attempts - 1)
        step = "retry"
        fields.update(claimed_at=None, next_attempt_at=timezone.now() + timedelta(
            seconds=delay), message_id="", message_sha256="")
    elif failure.kind in ("retry", "failed"):  # certainly not taken: no Message-ID
        step = "fail"
        fields.update(message_id="", message_sha256="")
    else:
        step = "doubt"
        fields.update(message_id=message_id, message_sha256=sha256)
    return _retrying(_write_failure, claim, step, fields)


def _write_failure(claim: Claim, step: str, fields: dict) -> int:
    with transaction.atomic():
        move(step, Delivery.objects.filter(pk=claim.delivery_id), **fields)
        Campaign.objects.filter(pk=claim.campaign_id).update(
            consecutive_failures=F("consecutive_failures") + 1)
        return Campaign.objects.values_list("consecutive_failures", flat=True).get(
            pk=claim.campaign_id)


# --- a stop waits for the hand-overs in flight ----------------------------------------------------

# A worker may hand a claimed message over until EMAIL_TIMEOUT after its claim (the
# courier gives each SMTP command only the time left); allow for clocks a little apart.
CLOCK_SKEW_SECONDS = 1.0
STOP_POLL_SECONDS = 0.05


def handing_over(campaign) -> int:
    """Messages a worker may be handing to the mail server right now."""
    since = timezone.now() - timedelta(seconds=settings.EMAIL_TIMEOUT + CLOCK_SKEW_SECONDS)
    return Delivery.objects.filter(campaign_id=campaign.pk, state=D.SENDING,
                                   claimed_at__gt=since).count()


def wait_for_hand_overs(campaign, *, timeout: float) -> int:
    """After a stop: wait until no message is being handed over (at most `timeout` seconds);
    the number still in flight when the wait ended."""
    deadline = time.monotonic() + timeout
    while (left := handing_over(campaign)) and time.monotonic() < deadline:
        time.sleep(STOP_POLL_SECONDS)
    return left
