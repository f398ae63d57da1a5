"""A send whose workers died looks stalled, not healthy: while a campaign is sending with
messages left and no worker has beaten its heart for SEND_STALL_MINUTES, the campaign page
warns (and shows no time left), and /health/worker/ is not ok."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from campaigns import schedules, sender
from campaigns.ledger import progress
from campaigns.models import Campaign, State
from tests.factories import client_for, make_roster, released_campaign


@pytest.fixture
def sending(olivia, sam, oscar, sink):
    """20 members at 10 a minute: the first message went out, 19 are left."""
    campaign = released_campaign(olivia, sam, oscar, make_roster(olivia), canary_enabled=False,
                                 rate_limit=10, rate_unit="minute")
    sender.run(campaign.pk, worker="test", budget=0.5, sleep=lambda s: None)
    campaign.refresh_from_db()
    assert campaign.state == State.SENDING
    return campaign


def workers_died(campaign, minutes):
    ago = timezone.now() - timedelta(minutes=minutes)
    Campaign.objects.filter(pk=campaign.pk).update(last_worker_at=ago, next_send_at=ago)
    campaign.deliveries.filter(state="sent").update(sent_at=ago)
    campaign.refresh_from_db()


@pytest.fixture
def scheduler_alive(db):
    schedules.ensure(record=False)
    Schedule.objects.filter(name=schedules.WATCHDOG).update(next_run=timezone.now())


def test_a_send_whose_workers_went_quiet_is_stalled_and_has_no_time_left(sending, settings):
    settings.SEND_STALL_MINUTES = 2
    assert progress(sending)["stalled_minutes"] is None
    workers_died(sending, 10)
    numbers = progress(sending)
    assert numbers["stalled_minutes"] == 10
    assert (numbers["eta"], numbers["eta_seconds"]) == ("", None)


def test_the_campaign_page_warns_of_a_stalled_send(sending, oscar):
    workers_died(sending, 10)
    page = client_for(oscar).get(reverse("campaigns:detail", args=[sending.pk]),
                                 HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Nothing has been sent for 10 minutes" in page
    assert "manage.py qcluster" in page


def test_the_worker_health_check_is_not_ok_while_a_send_is_stalled(sending, client,
                                                                  scheduler_alive):
    assert client.get("/health/worker/").status_code == 200
    workers_died(sending, 10)
    response = client.get("/health/worker/")
    assert response.status_code == 503
    assert response.json()["worker"] == "stalled"
    assert response.json()["stalled_campaigns"] == [sending.pk]


def test_a_send_waiting_for_its_turn_under_the_rate_limit_is_not_stalled(sending, settings):
    settings.SEND_STALL_MINUTES = 2
    workers_died(sending, 10)
    Campaign.objects.filter(pk=sending.pk).update(
        last_worker_at=timezone.now(), next_send_at=timezone.now() + timedelta(minutes=5))
    sending.refresh_from_db()
    assert progress(sending)["stalled_minutes"] is None


def test_a_held_or_stopped_campaign_is_not_stalled(sending, oscar):
    from campaigns import workflow

    workers_died(sending, 10)
    workflow.stop(campaign=sending, user=oscar)
    sending.refresh_from_db()
    assert progress(sending)["stalled_minutes"] is None
