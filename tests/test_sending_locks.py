"""Two workers cannot deadlock, and a deadlock that happens anyway never pauses a campaign
(issue 25): the claim takes the campaign row before any delivery row, and a deadlock or a
serialization failure is tried again."""

import threading
import time

import psycopg
import pytest
from django.db import DatabaseError, connection

from audit.models import AuditEntry
from campaigns import deliveries, sender
from campaigns.models import Campaign, Delivery, State
from tests.factories import released_campaign, test_database_url

pytestmark = pytest.mark.usefixtures("sink")


@pytest.fixture
def live(olivia, sam, oscar, roster, sink):
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    sender.run(campaign.pk, worker="t", budget=0, sleep=lambda s: None)  # started
    return Campaign.objects.get(pk=campaign.pk)


def _waiting_claims(probe) -> int:
    return probe.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                         "'Lock' AND query LIKE 'WITH %%'").fetchone()[0]


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_claim_waiting_for_the_campaign_row_holds_no_delivery_row(live):
    """The deadlock's shape: a claim holding a delivery row while it waits for the campaign
    row. Here the campaign row is held elsewhere; while the claim waits, every delivery row
    of the campaign can still be locked at once (NOWAIT)."""
    url = test_database_url()
    holder = psycopg.connect(url)
    probe = psycopg.connect(url, autocommit=True)
    holder.execute("SELECT id FROM campaigns_campaign WHERE id = %s FOR UPDATE", [live.pk])
    result = {}

    def claim():
        try:
            result["claim"] = deliveries.claim_next(live.pk, worker="w",
                                                terms=deliveries.terms_of(live))
        finally:
            connection.close()

    thread = threading.Thread(target=claim)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not _waiting_claims(probe) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _waiting_claims(probe) == 1, "the claim should be waiting for the campaign"
        with probe.transaction():
            locked = probe.execute(
                "SELECT id FROM campaigns_delivery WHERE campaign_id = %s FOR UPDATE NOWAIT",
                [live.pk]).fetchall()  # raises LockNotAvailable if the claim holds one
        assert len(locked) == 20
    finally:
        holder.rollback()
        thread.join(10)
        holder.close()
        probe.close()
    assert isinstance(result["claim"], deliveries.Claim)


class _Deadlock(Exception):
    sqlstate = "40P01"


def _transient_error():
    error = DatabaseError("deadlock detected")
    error.__cause__ = _Deadlock()
    return error


def test_a_claim_that_meets_a_deadlock_is_tried_again(live, monkeypatch):
    real, failures = deliveries._run_claim, []

    def deadlocked_once(*args):
        if not failures:
            failures.append(1)
            raise _transient_error()
        return real(*args)

    monkeypatch.setattr(deliveries, "_run_claim", deadlocked_once)
    claim = deliveries.claim_next(live.pk, worker="w", terms=deliveries.terms_of(live))
    assert isinstance(claim, deliveries.Claim) and failures == [1]


def test_a_deadlock_that_outlasts_the_retries_never_pauses_the_campaign(live, monkeypatch):
    def always_deadlocked(*args):
        raise _transient_error()

    monkeypatch.setattr(deliveries, "_run_claim", always_deadlocked)
    monkeypatch.setattr(deliveries.time, "sleep", lambda s: None)
    assert sender.run(live.pk, worker="w", budget=1) is sender.Outcome.CONTINUE
    live.refresh_from_db()
    assert live.state == State.SENDING
    assert not AuditEntry.objects.filter(action="campaign.paused").exists()
    assert not live.deliveries.exclude(state=Delivery.State.PENDING).exists()


@pytest.mark.django_db(transaction=True)  # run() closes the connection after such an error
def test_any_other_database_error_still_pauses(live, monkeypatch):
    def refused(*args):
        raise DatabaseError("disk full")

    monkeypatch.setattr(deliveries, "_run_claim", refused)
    assert sender.run(live.pk, worker="w", budget=1) is sender.Outcome.FINISHED
    live.refresh_from_db()
    assert live.state == State.PAUSED and "disk full" in live.paused_reason


@pytest.mark.django_db
def test_a_claim_is_on_disk_when_its_commit_returns_so_a_power_cut_cannot_send_twice():
    """The claim is committed before its message is handed over: a commit that a power cut
    could still take back would put the message back in the queue after it was sent. SQLite
    in WAL mode with synchronous=NORMAL does exactly that (the last commits are lost on a
    power cut); FULL syncs every commit. PostgreSQL: synchronous_commit must not be off."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            assert cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert cursor.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        else:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] in ("on", "remote_write", "remote_apply")
