"""Stop takes effect before the next message; the canary hold holds; workers never collide."""

import threading
import time

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from campaigns import deliveries, sender, workflow
from campaigns.models import Delivery, State
from campaigns.seen import Seen
from tests.factories import (
    OBSERVER_TICKS,
    client_for,
    make_campaign,
    make_roster,
    released_campaign,
    run_until_done,
)


def wait_for(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def in_thread(target):
    def body():
        try:
            target()
        finally:
            connection.close()

    thread = threading.Thread(target=body)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_no_message_is_claimed_or_handed_over_after_the_stop_returned(olivia, sam, oscar, sink):
    roster = make_roster(olivia, count=300)
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    sink.handler.received.clear()
    worker = in_thread(lambda: sender.run(campaign.pk, worker="w1", budget=30))
    wait_for(lambda: len(sink.handler.received) >= 20)

    workflow.stop(campaign=campaign, user=oscar)
    stop_returned_ns, stop_returned_at = time.time_ns(), timezone.now()
    worker.join(30)

    campaign.refresh_from_db()
    assert campaign.state == State.STOPPED
    claimed_after = campaign.deliveries.filter(claimed_at__gt=stop_returned_at).count()
    reached_after = sum(1 for t, _r, _raw in sink.handler.received if t > stop_returned_ns)
    assert claimed_after == 0
    assert reached_after == 0  # stop waited for the hand-over that was in flight
    sent = campaign.deliveries.filter(state=Delivery.State.SENT).count()
    assert sent == len(sink.handler.received) < 300  # the ledger and the server agree
    assert not campaign.deliveries.filter(state=Delivery.State.SENDING).exists()
    entry = AuditEntry.objects.get(action="campaign.stopped")
    assert entry.actor_name == "oscar" and entry.payload["sent_so_far"] <= sent


@pytest.mark.django_db(transaction=True)
def test_stop_waits_for_a_slow_hand_over_and_nothing_reaches_the_server_after_it(
        olivia, sam, oscar, sink):
    roster = make_roster(olivia, count=10)
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    sink.handler.received.clear()
    sink.handler.rcpt_delay, sink.handler.data_delay = 1.0, 0.05
    worker = in_thread(lambda: sender.run(campaign.pk, worker="w1", budget=30))
    wait_for(lambda: len(sink.handler.received) >= 1)
    assert sink.handler.in_rcpt.wait(5)  # a message is mid-RCPT: in the gap after its claim
    before = len(sink.handler.received)

    started = time.monotonic()
    stopped = workflow.stop(campaign=campaign, user=oscar)
    took, returned_ns = time.monotonic() - started, time.time_ns()
    worker.join(30)

    assert stopped.handing_over == 0 and 0.3 < took < 5  # it waited for that one message
    assert sum(1 for t, _r, _raw in sink.handler.received if t > returned_ns) == 0
    assert len(sink.handler.received) == before + 1  # the one in flight, before stop returned
    assert campaign.deliveries.filter(state=Delivery.State.SENT).count() == before + 1
    assert not campaign.deliveries.filter(state=Delivery.State.SENDING).exists()


@pytest.mark.django_db(transaction=True)
def test_the_stop_button_answers_at_once_and_the_page_says_stopping_until_final(
        olivia, sam, oscar, sink, monkeypatch, settings):
    from campaigns import views

    monkeypatch.setattr(views, "STOP_PAGE_WAIT_SECONDS", 0.2)
    roster = make_roster(olivia, count=5)
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    sink.handler.received.clear()
    # The server is slow far beyond a page's time, even on a loaded machine (the page took
    # 1.5 s there once, against a 2 s server: the test is about the page not waiting).
    settings.EMAIL_TIMEOUT = 20
    sink.handler.rcpt_delay = 8.0
    worker = in_thread(lambda: sender.run(campaign.pk, worker="w1", budget=30))
    assert sink.handler.in_rcpt.wait(10)

    client = client_for(oscar)
    started = time.monotonic()
    response = client.post(reverse("campaigns:stop", args=[campaign.pk]), follow=True,
                           HTTP_ACCEPT_LANGUAGE="en")
    assert time.monotonic() - started < 4  # the page does not wait for the slow server
    page = response.content.decode()
    assert "Stopping: 1 message was being handed over" in page and 'data-stopping="1"' in page
    assert client.get(reverse("campaigns:progress", args=[campaign.pk])).json()["handing_over"] == 1
    worker.join(30)
    assert client.get(reverse("campaigns:progress", args=[campaign.pk])).json()["handing_over"] == 0
    page = client.get(reverse("campaigns:detail", args=[campaign.pk]),
                      HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "STOPPED. No further message" in page and "data-stopping" not in page
    assert len(sink.handler.received) == 1


def test_a_hand_over_that_runs_out_of_time_before_its_data_is_not_sent(
        olivia, sam, oscar, sink, settings):
    roster = make_roster(olivia, count=2)
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    sink.handler.received.clear()
    settings.EMAIL_TIMEOUT = 0.5
    sink.handler.rcpt_delay = 1.0  # longer than the whole hand-over may take
    sender.run(campaign.pk, worker="t", budget=1.5, sleep=lambda s: None)
    assert sink.handler.campaign_mail() == []
    first = campaign.deliveries.order_by("id").first()
    assert first.state == Delivery.State.PENDING and first.attempts == 1  # retried later
    assert "not handed over" in first.smtp_reply


@pytest.mark.django_db(transaction=True)
def test_two_workers_on_one_campaign_never_send_to_anyone_twice(olivia, sam, oscar, sink):
    roster = make_roster(olivia, count=120)
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    sink.handler.received.clear()
    workflow.start(campaign_id=campaign.pk)
    workers = [in_thread(lambda n=n: sender.run(campaign.pk, worker=f"w{n}", budget=30))
               for n in range(2)]
    for thread in workers:
        thread.join(60)
    campaign.refresh_from_db()
    recipients = sink.handler.recipients()
    assert campaign.state == State.COMPLETED
    assert len(recipients) == len(set(recipients)) == 120
    assert set(campaign.deliveries.values_list("worker", flat=True)) <= {"w0", "w1"}


def test_the_canary_holds_after_the_first_messages_until_confirmed(olivia, sam, oscar, sink):
    roster = make_roster(olivia, count=30)
    campaign = released_campaign(olivia, sam, oscar, roster, canary_size=5)
    sink.handler.received.clear()
    run_until_done(campaign)
    assert campaign.state == State.HELD
    assert len(sink.handler.received) == 5
    assert AuditEntry.objects.get(action="campaign.held").payload["sent_so_far"] == 5
    assert sender.run(campaign.pk, worker="t", budget=1) is sender.Outcome.FINISHED
    assert len(sink.handler.received) == 5  # held means held

    with pytest.raises(workflow.NotAllowed):
        workflow.confirm_canary(campaign=campaign, seen=Seen.current(campaign), user=olivia)
    workflow.confirm_canary(campaign=campaign, seen=Seen.current(campaign),
                            user=sam, comment="届いた内容を確認")
    run_until_done(campaign)
    recipients = sink.handler.recipients()
    assert campaign.state == State.COMPLETED and len(recipients) == len(set(recipients)) == 30


def test_the_default_canary_is_ten_or_one_percent(olivia, roster):
    assert make_campaign(olivia, roster).canary_limit() == 10
    big = make_roster(olivia, count=1500, name="big")
    assert make_campaign(olivia, big).canary_limit() == 15
    assert make_campaign(olivia, big, canary_enabled=False).canary_limit() is None


def test_the_rate_limit_spaces_claims_for_every_worker(olivia, sam, oscar, sink):
    roster = make_roster(olivia, count=5)
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False,
                                 rate_limit=1, rate_unit="second")
    workflow.start(campaign_id=campaign.pk)
    first = deliveries.claim_next(campaign.pk, worker="a", terms=deliveries.terms_of(campaign))
    assert isinstance(first, deliveries.Claim)
    # Another worker, at once:
    second = deliveries.claim_next(campaign.pk, worker="b", terms=deliveries.terms_of(campaign))
    assert isinstance(second, deliveries.Wait) and 0 < second.seconds <= 1.0


def test_a_stopped_campaign_cannot_be_resumed_or_released(olivia, sam, oscar, sink):
    roster = make_roster(olivia, count=3)
    campaign = released_campaign(olivia, sam, oscar, roster)
    workflow.stop(campaign=campaign, user=olivia)
    with pytest.raises(workflow.WrongState):
        workflow.release(campaign=campaign, seen=Seen.current(campaign),
                         user=oscar, checklist=OBSERVER_TICKS)
    assert sender.run(campaign.pk, worker="t", budget=1) is sender.Outcome.FINISHED
    assert not campaign.deliveries.exists()


def test_a_worker_that_starts_after_the_release_window_does_not_start_late(olivia, sam, oscar,
                                                                           sink):
    roster = make_roster(olivia, count=3)
    campaign = released_campaign(olivia, sam, oscar, roster)
    campaign.release_expires_at = timezone.now()
    campaign.save()
    sink.handler.received.clear()
    assert sender.run(campaign.pk, worker="t", budget=1) is sender.Outcome.NOT_STARTED
    campaign.refresh_from_db()
    assert campaign.state == State.RELEASED and sink.handler.received == []
    refused = AuditEntry.objects.filter(action="campaign.refused").last()
    assert refused.payload["code"] == "release_expired" and refused.actor_name == "system:worker"


def test_content_changed_behind_the_apps_back_is_not_sent(olivia, sam, oscar, sink):
    roster = make_roster(olivia, count=3)
    campaign = released_campaign(olivia, sam, oscar, roster)
    type(campaign).objects.filter(pk=campaign.pk).update(body_text="{name} 様 差し替え")
    sink.handler.received.clear()
    assert sender.run(campaign.pk, worker="t", budget=1) is sender.Outcome.NOT_STARTED
    campaign.refresh_from_db()
    assert campaign.state == State.DRAFT and sink.handler.received == []
    refusal = AuditEntry.objects.get(action="campaign.start_refused")
    assert refusal.payload["code"] == "hash_mismatch"
    assert not campaign.valid_approvals().exists()


def test_pause_needs_the_observers_live_release_to_resume(olivia, sam, oscar, sink):
    roster = make_roster(olivia, count=12)
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    workflow.start(campaign_id=campaign.pk)
    workflow.pause(campaign=campaign, user=sam)
    assert sender.run(campaign.pk, worker="t", budget=1) is sender.Outcome.FINISHED
    with pytest.raises(workflow.NotAllowed):
        workflow.release(campaign=campaign, seen=Seen.current(campaign),
                         user=sam, checklist=OBSERVER_TICKS)
    workflow.release(campaign=campaign, seen=Seen.current(campaign),
                     user=oscar, checklist=OBSERVER_TICKS)
    run_until_done(campaign)
    assert campaign.state == State.COMPLETED
    assert AuditEntry.objects.filter(action="campaign.started").last().payload["resumed"]


def test_a_worker_that_loses_the_race_to_start_joins_the_sending(olivia, sam, oscar, sink,
                                                                  monkeypatch):
    roster = make_roster(olivia, count=4)
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    real_start = workflow.start

    def another_worker_started_first(*, campaign_id):
        real_start(campaign_id=campaign_id)
        raise workflow.WrongState("already sending", code="state")

    monkeypatch.setattr(workflow, "start", another_worker_started_first)
    assert sender.run(campaign.pk, worker="late", budget=3, sleep=lambda s: None) is not (
        sender.Outcome.NOT_STARTED)
    assert campaign.deliveries.filter(worker="late").exists()
