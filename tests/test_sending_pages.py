"""The live campaign page: STOP for everyone on the campaign, pause, canary confirmation,
decisions on messages in doubt, progress numbers, the ledger, the observer's dashboard."""

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from campaigns import workflow
from campaigns.models import Delivery, State
from tests.factories import (
    client_for,
    free_port,
    make_roster,
    released_campaign,
    run_until_done,
    shown_on,
)

pytestmark = pytest.mark.usefixtures("sink")


@pytest.fixture
def sending(olivia, sam, oscar, sink):
    roster = make_roster(olivia, count=30)
    campaign = released_campaign(olivia, sam, oscar, roster, canary_size=5)
    workflow.start(campaign_id=campaign.pk)
    return campaign


@pytest.mark.parametrize("who", ["olivia", "sam", "oscar"])
def test_everyone_on_the_campaign_can_stop_it(sending, who, everyone):
    client = client_for(everyone[who])
    page = client.get(reverse("campaigns:detail", args=[sending.pk])).content.decode()
    assert "btn-stop" in page
    response = client.post(reverse("campaigns:stop", args=[sending.pk]))
    assert response.status_code == 302
    sending.refresh_from_db()
    assert sending.state == State.STOPPED
    assert AuditEntry.objects.get(action="campaign.stopped").actor_name == who


def test_an_auditor_cannot_stop(sending, audrey):
    assert client_for(audrey).post(reverse("campaigns:stop", args=[sending.pk])).status_code == 403
    sending.refresh_from_db()
    assert sending.state == State.SENDING


def test_the_stop_button_asks_for_one_confirmation(sending, oscar):
    page = client_for(oscar).get(reverse("campaigns:detail", args=[sending.pk]),
                                 HTTP_ACCEPT_LANGUAGE="en")
    assert 'data-confirm="Stop this campaign now?' in page.content.decode()


def test_pause_from_the_page(sending, olivia):
    client_for(olivia).post(reverse("campaigns:pause", args=[sending.pk]))
    sending.refresh_from_db()
    assert sending.state == State.PAUSED and "olivia" in sending.paused_reason


def test_the_held_campaign_is_confirmed_from_the_page(sending, sam, olivia):
    run_until_done(sending)
    assert sending.state == State.HELD
    page = client_for(sam).get(reverse("campaigns:detail", args=[sending.pk]),
                               HTTP_ACCEPT_LANGUAGE="en")
    assert "send the rest" in page.content.decode()
    confirm = reverse("campaigns:confirm_canary", args=[sending.pk])
    assert client_for(olivia).post(confirm).status_code == 403
    shown = shown_on(client_for(sam), reverse("campaigns:detail", args=[sending.pk]),
                     form=confirm)
    client_for(sam).post(confirm, {"comment": "OK", **shown})
    sending.refresh_from_db()
    assert sending.state == State.SENDING and sending.canary_confirmed_at is not None
    assert AuditEntry.objects.get(action="campaign.canary_confirmed").payload["comment"] == "OK"


def test_progress_numbers_for_the_page_to_poll(sending, oscar):
    run_until_done(sending)
    numbers = client_for(oscar).get(reverse("campaigns:progress", args=[sending.pk])).json()
    assert (numbers["state"], numbers["sent"], numbers["remaining"], numbers["total"]) == (
        "held", 5, 25, 30)
    assert numbers["per_minute"] == 5 and numbers["percent"] == pytest.approx(16.7)


def test_a_message_in_doubt_is_decided_from_the_page(sending, sam, olivia):
    delivery = sending.deliveries.first()
    Delivery.objects.filter(pk=delivery.pk).update(state=Delivery.State.IN_DOUBT)
    page = client_for(sam).get(reverse("campaigns:detail", args=[sending.pk]),
                               HTTP_ACCEPT_LANGUAGE="en").content
    assert b"Messages in doubt" in page and delivery.member_number.encode() in page
    url = reverse("campaigns:decide", args=[sending.pk, delivery.pk])
    assert client_for(olivia).post(url, {"decision": "resend"}).status_code == 403
    shown = shown_on(client_for(sam), reverse("campaigns:detail", args=[sending.pk]), form=url)
    client_for(sam).post(url, {"decision": "resend", **shown})
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.PENDING and delivery.decided_by == sam


def test_a_forged_decision_on_another_campaigns_delivery_is_404(sending, sam, olivia, oscar):
    other = released_campaign(olivia, sam, oscar, make_roster(olivia, count=2, name="x"))
    workflow.start(campaign_id=other.pk)
    delivery = other.deliveries.first()
    url = reverse("campaigns:decide", args=[sending.pk, delivery.pk])
    assert client_for(sam).post(url, {"decision": "skip"}).status_code == 404


def test_the_ledger_page_lists_who_got_what(sending, oscar):
    run_until_done(sending)
    page = client_for(oscar).get(reverse("campaigns:ledger", args=[sending.pk]), {"state": "sent"},
                                 HTTP_ACCEPT_LANGUAGE="en").content.decode()
    sent = sending.deliveries.filter(state=Delivery.State.SENT)
    assert all(d.member_number in page and d.message_id[1:30] in page for d in sent)
    assert "W000030" not in page


def test_the_observer_dashboard_shows_running_campaigns(sending, oscar):
    run_until_done(sending)
    page = client_for(oscar).get(reverse("campaigns:observer_dashboard"),
                                 HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert sending.name in page and "5 sent" in page


def test_the_demo_inbox_shows_what_members_would_get(sending, oscar, settings, tmp_path):
    from countersign import mailcatcher

    settings.MAILCATCHER_INBOX, settings.MAILCATCHER_DIR = True, tmp_path
    settings.EMAIL_PORT = free_port()
    controller = mailcatcher.start(tmp_path, port=settings.EMAIL_PORT)
    try:
        run_until_done(sending)
    finally:
        controller.stop()
    client = client_for(oscar)
    page = client.get(reverse("mailbox")).content.decode()
    (first, *_rest) = mailcatcher.caught_files(tmp_path)
    assert page.count(reverse("mailbox")) >= 5 and first.name in page
    message = client.get(reverse("mailbox_message", args=[first.name]),
                         HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Attachments" in message and "none" in message
    # A literal path: reverse() cannot build this traversal, which is what is being tried.
    assert client.get("/mailbox/../../etc/passwd/").status_code == 404


def test_the_demo_inbox_is_off_on_a_real_installation(oscar, settings):
    settings.MAILCATCHER_INBOX = False
    assert client_for(oscar).get(reverse("mailbox")).status_code == 404


def sent_over(campaign, seconds: float, count: int):
    """Mark `count` deliveries sent, evenly over the last `seconds` (as a worker would)."""
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    for n, delivery in enumerate(campaign.deliveries.order_by("id")[:count]):
        Delivery.objects.filter(pk=delivery.pk).update(
            state=Delivery.State.SENT,
            sent_at=now - timedelta(seconds=seconds * (count - n) / count))


def test_the_time_left_is_h_mm_from_the_recent_pace(sending, oscar):
    """20 sent over the last 10 s: 2 a second, 10 left, so about 5 s: shown as 0:01, never
    as raw seconds, and not stretched by dividing by a whole minute."""
    from campaigns import ledger

    sent_over(sending, 10, 20)
    sending.refresh_from_db()
    numbers = ledger.progress(sending)
    assert numbers["remaining"] == 10 and numbers["eta_seconds"] == 5
    assert numbers["eta"] == "0:01"
    page = client_for(oscar).get(reverse("campaigns:detail", args=[sending.pk]),
                                 HTTP_ACCEPT_LANGUAGE="ja")
    assert 'data-field="eta">0:01</dd>' in page.content.decode()
    assert "残り時間（時間:分）" in page.content.decode()


def test_the_rate_limit_caps_the_estimate(sending):
    from campaigns import ledger

    Delivery.objects.filter(campaign=sending).update(state=Delivery.State.PENDING)
    sending.refresh_from_db()
    sending.rate_limit, sending.rate_unit = 6, "minute"  # one every 10 s
    sent_over(sending, 6, 3)  # a burst, faster than the limit allows from now on
    assert ledger.progress(sending)["eta_seconds"] == 270  # 27 left at 10 s each
    assert ledger.duration_text(270) == "0:05" and ledger.duration_text(3600) == "1:00"


@pytest.mark.parametrize("state", [State.HELD, State.PAUSED, State.STOPPED])
def test_no_time_left_is_shown_unless_sending(sending, oscar, state):
    from campaigns import ledger
    from campaigns.models import Campaign

    sent_over(sending, 10, 20)
    Campaign.objects.filter(pk=sending.pk).update(state=state)
    sending.refresh_from_db()
    assert ledger.progress(sending)["eta"] == ""
    page = client_for(oscar).get(reverse("campaigns:detail", args=[sending.pk])).content.decode()
    assert 'data-field="eta">—</dd>' in page


def test_counts_have_thousands_separators(olivia, sam, oscar, sink):
    roster = make_roster(olivia, count=1200)
    campaign = released_campaign(olivia, sam, oscar, roster, canary_size=5)
    workflow.start(campaign_id=campaign.pk)
    page = client_for(oscar).get(reverse("campaigns:detail", args=[campaign.pk]),
                                 HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert 'data-field="remaining">1,200</dd>' in page
    assert "受信者 1,200 人" in page
