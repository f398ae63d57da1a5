"""Sending through a real SMTP server on loopback: one message per recipient, their own data
only, no attachment, exactly once, recorded in the ledger."""

import hashlib
from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone

from audit.models import AuditEntry
from campaigns import deliveries, sender, workflow
from campaigns.models import Delivery, State
from campaigns.seen import Seen
from tests.factories import (
    OBSERVER_TICKS,
    delivery_to,
    email_of,
    extra_of,
    make_campaign,
    make_roster,
    name_of,
    released_campaign,
    run_until_done,
)

pytestmark = pytest.mark.usefixtures("sink")


@pytest.fixture
def live(olivia, sam, oscar, roster, sink):
    """Released, no canary hold; the sink forgets the test message."""
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    sink.handler.received.clear()
    return campaign


def test_every_recipient_gets_exactly_one_message_with_only_their_own_data(live, sink, roster):
    run_until_done(live)
    assert live.state == State.COMPLETED
    members = {email_of(m): m for m in roster.members.all()}
    assert sorted(sink.handler.recipients()) == sorted(members)  # each once, nobody else
    for message in sink.handler.messages():
        (to,) = message["To"].addresses
        member = members[to.addr_spec]
        assert name_of(member) in message["Subject"]
        body = message.get_body(("plain",)).get_content()
        assert member.member_number in body and extra_of(member)["支部"] in body
        others = [m for m in members.values() if m.pk != member.pk]
        assert not any(o.member_number in body or email_of(o) in body for o in others)
        assert not any(part.is_attachment() for part in message.walk())
        assert message["Cc"] is None and message["Bcc"] is None


def test_the_ledger_records_message_id_and_the_hash_of_the_exact_bytes(live, sink):
    run_until_done(live)
    received = {to: raw for _t, to, raw in sink.handler.received}
    for delivery in live.deliveries.all():
        assert delivery.state == Delivery.State.SENT and delivery.attempts == 1
        raw = received[email_of(delivery)]
        assert hashlib.sha256(raw).hexdigest() == delivery.message_sha256
        assert delivery.message_id.encode() in raw
        assert delivery.smtp_reply.startswith("250")


def test_start_completion_and_ledger_digest_are_audited(live):
    from campaigns.ledger import ledger_digest

    run_until_done(live)
    started = AuditEntry.objects.get(action="campaign.started")
    assert started.actor_name == "system:worker"
    assert started.payload["content_hash"] == live.content_hash
    completed = AuditEntry.objects.get(action="campaign.completed")
    assert completed.payload["ledger_sha256"] == live.ledger_sha256 == ledger_digest(live)
    assert completed.payload["counts"] == {"sent": 20}


def test_a_permanent_refusal_fails_only_that_recipient(live, sink, roster):
    refused = email_of(roster.members.get(member_number="W000004"))
    sink.handler.refuse[refused] = "550 5.1.1 No such user"
    run_until_done(live)
    failed = delivery_to(live, refused)
    assert failed.state == Delivery.State.FAILED and failed.smtp_reply.startswith("550")
    assert live.deliveries.filter(state=Delivery.State.SENT).count() == 19
    assert live.state == State.COMPLETED
    assert refused not in sink.handler.recipients()


def test_a_temporary_refusal_is_retried_with_backoff_then_sent(live, sink, roster, settings):
    settings.SEND_RETRY_SECONDS = 0
    deferred = email_of(roster.members.get(member_number="W000002"))
    sink.handler.defer[deferred] = 2
    run_until_done(live)
    delivery = delivery_to(live, deferred)
    assert delivery.state == Delivery.State.SENT and delivery.attempts == 3
    assert sink.handler.recipients().count(deferred) == 1


def test_a_temporary_refusal_waits_for_its_backoff(live, sink, roster, settings):
    settings.SEND_RETRY_SECONDS = 3600
    deferred = email_of(roster.members.get(member_number="W000002"))
    sink.handler.defer[deferred] = 1
    outcome = sender.run(live.pk, worker="t", budget=2, sleep=lambda s: None)
    assert outcome is sender.Outcome.CONTINUE
    delivery = delivery_to(live, deferred)
    assert delivery.state == Delivery.State.PENDING and delivery.next_attempt_at is not None
    assert live.deliveries.filter(state=Delivery.State.SENT).count() == 19


def test_a_run_of_failures_pauses_the_campaign_instead_of_failing_everyone(live, sink, roster,
                                                                        settings):
    settings.SEND_PAUSE_AFTER_FAILURES = 3
    for member in roster.members.all():
        sink.handler.refuse[email_of(member)] = "550 5.7.1 Rejected"
    run_until_done(live)
    assert live.state == State.PAUSED and "3 failures in a row" in live.paused_reason
    assert live.deliveries.filter(state=Delivery.State.FAILED).count() == 3
    assert live.deliveries.filter(state=Delivery.State.PENDING).count() == 17
    assert AuditEntry.objects.filter(action="campaign.paused", actor_name="system:worker").exists()


def test_a_mail_server_that_goes_away_pauses_the_campaign_without_duplicates(
        live, sink, oscar, settings, monkeypatch):
    settings.SEND_RETRY_SECONDS = 0
    real_deliver = sender.deliver

    def server_goes_away_after_fifth(*args, **kwargs):
        handed_over = real_deliver(*args, **kwargs)
        if len(sink.handler.received) == 5:
            sink.stop()  # the open connection breaks; reconnecting is refused
        return handed_over

    monkeypatch.setattr(sender, "deliver", server_goes_away_after_fifth)
    run_until_done(live)
    monkeypatch.setattr(sender, "deliver", real_deliver)
    assert live.state == State.PAUSED and "could not be reached" in live.paused_reason
    assert live.deliveries.filter(state=Delivery.State.SENT).count() == 5
    assert not live.deliveries.filter(state__in=[Delivery.State.SENDING,
                                                 Delivery.State.IN_DOUBT]).exists()
    # The server comes back; the observer releases again; the rest goes, nobody twice.
    sink.start()
    workflow.release(campaign=live, seen=Seen.current(live), user=oscar, checklist=OBSERVER_TICKS)
    run_until_done(live)
    assert live.state == State.COMPLETED
    recipients = sink.handler.recipients()
    assert len(recipients) == len(set(recipients)) == 20


def test_a_worker_killed_between_sending_and_sent_leaves_that_one_in_doubt(
        live, sink, monkeypatch):
    real_deliver = sender.deliver

    def die_after_the_third_hand_over(*args, **kwargs):
        handed_over = real_deliver(*args, **kwargs)
        if len(sink.handler.received) == 3:
            raise SystemExit("worker killed")  # handed over, not yet recorded as sent
        return handed_over

    monkeypatch.setattr(sender, "deliver", die_after_the_third_hand_over)
    with pytest.raises(SystemExit):
        sender.run(live.pk, worker="doomed", budget=5, sleep=lambda s: None)
    monkeypatch.setattr(sender, "deliver", real_deliver)
    (stuck,) = live.deliveries.filter(state=Delivery.State.SENDING)
    # Restarted long enough later for the claim to be stale (EMAIL_TIMEOUT + margin):
    Delivery.objects.filter(pk=stuck.pk).update(claimed_at=timezone.now() - timedelta(hours=1))
    run_until_done(live)
    stuck.refresh_from_db()
    assert stuck.state == Delivery.State.IN_DOUBT
    assert live.state == State.PAUSED and "in doubt" in live.paused_reason
    recipients = sink.handler.recipients()
    assert len(recipients) == len(set(recipients)) == 20  # nobody twice, the doubtful one once
    assert AuditEntry.objects.get(action="campaign.in_doubt_flagged").payload["count"] == 1


def test_a_person_decides_a_message_in_doubt_and_the_campaign_completes(live, sink, sam, oscar,
                                                                        settings):
    run_until_done(live)
    delivery = live.deliveries.first()
    Delivery.objects.filter(pk=delivery.pk).update(state=Delivery.State.IN_DOUBT)
    live.state = State.PAUSED  # as the worker leaves it
    live.save()
    with pytest.raises(workflow.NotAllowed):
        workflow.decide(delivery=delivery, seen=Seen.current(delivery),
                        user=live.author, decision="skip")
    workflow.decide(delivery=delivery, seen=Seen.current(delivery), user=sam, decision="skip")
    assert AuditEntry.objects.get(action="campaign.delivery_decided").payload["decision"] == "skip"
    workflow.release(campaign=live, seen=Seen.current(live), user=oscar, checklist=OBSERVER_TICKS)
    run_until_done(live)
    assert live.state == State.COMPLETED
    assert dict(live.deliveries.values_list("state").annotate(n=Count("id"))) == {
        "sent": 19, "skipped": 1}


def test_rosters_of_japanese_names_are_mime_encoded_on_the_wire(live, sink):
    run_until_done(live)
    raw = sink.handler.received[0][2]
    headers = raw.split(b"\r\n\r\n", 1)[0]
    assert headers.isascii() and b"=?utf-8?" in headers.lower()


def test_nothing_is_sent_for_a_campaign_that_was_not_released(olivia, sink, roster):
    campaign = make_campaign(olivia, roster)
    assert sender.run(campaign.pk, worker="t", budget=1) is sender.Outcome.FINISHED
    assert sink.handler.received == [] and not campaign.deliveries.exists()


def test_a_second_roster_member_list_is_not_mixed_in(olivia, sam, oscar, sink):
    first = make_roster(olivia, count=3, name="A")
    make_roster(olivia, rows=[["X1", "他 人", "other@example.jp", ""]], name="B")
    campaign = released_campaign(olivia, sam, oscar, first, canary_enabled=False)
    sink.handler.received.clear()
    run_until_done(campaign)
    assert "other@example.jp" not in sink.handler.recipients()
    assert len(sink.handler.recipients()) == 3


def test_the_association_gets_a_completion_notice_with_the_chain_head(live, sink, oscar):
    run_until_done(live)
    (notice,) = sink.handler.notices()
    completed = AuditEntry.objects.get(action="campaign.completed")
    assert notice["To"].addresses[0].addr_spec == oscar.email
    assert notice["Subject"] == f"[Countersign] Complete: {live.name}"  # read back exactly
    assert not any(part.is_attachment() for part in notice.walk())
    body = notice.get_content()
    assert completed.hash in body and live.ledger_sha256 in body
    assert f"verify_audit --anchor {completed.hash}" in body
    record = AuditEntry.objects.get(action="campaign.completion_notice")
    assert record.payload["chain_head"] == completed.hash and record.payload["to"] == ["oscar"]


# --- the one claim: full speed, rate limit and canary hold alike (campaigns/sender.py) ---------

def _sent(claim):
    return deliveries.Sent(claim, message_id=f"<{claim.delivery_id}@test>", sha256="0" * 64,
                       reply="250 ok")


def test_a_stop_wins_over_the_next_claim_and_the_last_success_is_still_recorded(live, oscar):
    workflow.start(campaign_id=live.pk)
    first = deliveries.claim_next(live.pk, worker="w", terms=deliveries.terms_of(live))
    workflow.stop(campaign=live, user=oscar, wait=0)  # `first` is not being handed over
    assert deliveries.claim_next(live.pk, worker="w", terms=deliveries.terms_of(live),
                             sent=_sent(first)) is deliveries.NoClaim.NOT_SENDING
    recorded = Delivery.objects.get(pk=first.delivery_id)
    assert recorded.state == Delivery.State.SENT
    assert recorded.message_id == f"<{first.delivery_id}@test>"
    assert not live.deliveries.filter(state=Delivery.State.SENDING).exists()


def test_a_success_resets_a_run_of_failures_in_the_same_claim(live):
    from campaigns.models import Campaign

    workflow.start(campaign_id=live.pk)
    first = deliveries.claim_next(live.pk, worker="w", terms=deliveries.terms_of(live))
    Campaign.objects.filter(pk=live.pk).update(consecutive_failures=2)
    second = deliveries.claim_next(live.pk, worker="w", terms=deliveries.terms_of(live),
                                   sent=_sent(first))
    assert isinstance(second, deliveries.Claim) and second.delivery_id != first.delivery_id
    live.refresh_from_db()
    assert live.consecutive_failures == 0
    assert Delivery.objects.get(pk=first.delivery_id).state == Delivery.State.SENT


@pytest.mark.postgres_only
def test_on_postgresql_the_claim_is_one_statement_planned_once_per_connection(live):
    from django.db import connection

    workflow.start(campaign_id=live.pk)
    previous, terms = None, deliveries.terms_of(live)
    for _ in range(8):  # psycopg prepares a statement from its fifth run on
        previous = deliveries.claim_next(live.pk, worker="w", terms=terms,
                                     sent=previous and _sent(previous))
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any(sql.startswith("WITH lock AS (SELECT") and "guard AS (UPDATE" in sql
               for sql in prepared)
    assert live.deliveries.filter(state=Delivery.State.SENT).count() == 7


def test_a_claim_the_campaign_refuses_is_given_back_untouched(live, oscar):
    workflow.start(campaign_id=live.pk)
    workflow.pause(campaign=live, user=oscar)
    assert deliveries.claim_next(live.pk, worker="w",
                             terms=deliveries.terms_of(live)) is deliveries.NoClaim.NOT_SENDING
    assert set(live.deliveries.values_list("state", "attempts", "worker")) == {
        (Delivery.State.PENDING, 0, "")}
