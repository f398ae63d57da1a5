"""Sending hours and "do not send after" (issue 23, item 2): signed with the content; outside
the window the worker claims nothing and the page says when it resumes; past the deadline the
campaign stops and the rest needs a new countersign. With a moved clock."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from campaigns import sender, sending_hours, workflow
from campaigns.models import Campaign, Delivery, State
from campaigns.seen import Seen
from tests.factories import (
    OBSERVER_TICKS,
    client_for,
    make_campaign,
    released_campaign,
    through_the_countersign,
)

TOKYO = ZoneInfo("Asia/Tokyo")
MONDAY_1950 = datetime(2026, 12, 7, 19, 50, tzinfo=TOKYO)
WINDOW = {"window_start": time(8), "window_end": time(20)}


class Clock:
    """timezone.now() for the whole app, moved by the test and by the worker's sleeps (each
    sleep is one minute: a rate of one message a minute then sends one per sleep)."""

    def __init__(self, at: datetime):
        self.at = at

    def now(self) -> datetime:
        return self.at

    def sleep(self, _seconds: float) -> None:
        self.at += timedelta(minutes=1)


@pytest.fixture
def clock(monkeypatch):
    moved = Clock(MONDAY_1950)
    monkeypatch.setattr(timezone, "now", moved.now)
    return moved


def send_until_it_rests(campaign, clock, *, most_sleeps=2000) -> None:
    """The worker's slices, back to back, until the campaign leaves `sending`."""
    sleeps = 0

    def counted_sleep(seconds):
        nonlocal sleeps
        sleeps += 1
        assert sleeps < most_sleeps, "the worker never finished"
        clock.sleep(seconds)

    while sender.run(campaign.pk, worker="test", budget=30,
                     sleep=counted_sleep) is sender.Outcome.CONTINUE:
        pass
    campaign.refresh_from_db()


def claimed_times(campaign) -> list[datetime]:
    return sorted(timezone.localtime(t, TOKYO) for t in campaign.deliveries.exclude(
        claimed_at=None).values_list("claimed_at", flat=True))


def test_released_at_1950_it_stops_claiming_at_2000_and_resumes_at_0800(
        clock, olivia, sam, oscar, roster, sink):
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False,
                                 rate_limit=1, rate_unit="minute", **WINDOW)
    send_until_it_rests(campaign, clock)
    assert campaign.state == State.COMPLETED
    times = claimed_times(campaign)
    evening = [t for t in times if t.date() == MONDAY_1950.date()]
    morning = [t for t in times if t.date() == MONDAY_1950.date() + timedelta(days=1)]
    assert len(evening) == 10 and len(morning) == 10, times
    assert evening[0] == MONDAY_1950 and evening[-1] < MONDAY_1950.replace(hour=20, minute=0)
    assert morning[0] == MONDAY_1950.replace(hour=8, minute=0) + timedelta(days=1)
    assert len(sink.handler.campaign_mail()) == 20
    assert not Delivery.objects.filter(campaign=campaign).exclude(
        state=Delivery.State.SENT).exists()


def test_outside_the_hours_the_page_says_when_it_resumes_and_stop_still_ends_it(
        clock, olivia, sam, oscar, roster, sink):
    clock.at = MONDAY_1950.replace(hour=21, minute=0)
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False, **WINDOW)
    workflow.start(campaign_id=campaign.pk)
    assert sender.run(campaign.pk, worker="test", budget=0.2,
                      sleep=lambda s: None) is sender.Outcome.CONTINUE
    assert sink.handler.campaign_mail() == [] and not campaign.deliveries.exclude(
        claimed_at=None).exists()
    for language, words in (("en", "sending resumes at 2026-12-08 08:00"),
                            ("ja", "2026-12-08 08:00")):
        page = client_for(oscar).get(reverse("campaigns:detail", args=[campaign.pk]),
                                     HTTP_ACCEPT_LANGUAGE=language).content.decode()
        assert 'id="outside-hours"' in page and words in page, language
    progress = client_for(oscar).get(reverse("campaigns:progress", args=[campaign.pk])).json()
    assert progress["resumes_at"] == "2026-12-08 08:00" and progress["eta_seconds"] is None
    workflow.stop(campaign=campaign, user=oscar)
    clock.at = MONDAY_1950.replace(hour=8, minute=0) + timedelta(days=1)
    assert sender.run(campaign.pk, worker="test", budget=1,
                      sleep=clock.sleep) is sender.Outcome.FINISHED
    assert sink.handler.campaign_mail() == []


def test_past_do_not_send_after_the_worker_stops_it_and_the_rest_needs_a_new_countersign(
        clock, olivia, sam, oscar, roster, sink):
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False,
                                 rate_limit=1, rate_unit="minute",
                                 send_before=MONDAY_1950 + timedelta(minutes=5))
    send_until_it_rests(campaign, clock)
    assert campaign.state == State.STOPPED
    assert len(claimed_times(campaign)) == 5 and len(sink.handler.campaign_mail()) == 5
    entry = AuditEntry.objects.get(action="campaign.deadline_passed")
    assert entry.payload["sent_so_far"] == 5 and entry.payload["state"] == "stopped"
    assert workflow.can_send_to_the_rest(campaign, olivia)
    rest = workflow.duplicate(campaign=campaign, user=olivia, rest_only=True)
    assert rest.state == State.DRAFT and rest.roster.member_count == 15


def test_a_release_after_the_deadline_is_refused(clock, olivia, sam, oscar, roster, sink):
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=True,
                                 canary_size=2, send_before=MONDAY_1950 + timedelta(hours=1))
    workflow.start(campaign_id=campaign.pk)
    workflow.pause(campaign=campaign, user=oscar)
    clock.at += timedelta(hours=2)
    with pytest.raises(workflow.ContentRefused, match="do not send after"):
        workflow.release(campaign=campaign, seen=Seen.current(campaign), user=oscar,
                         checklist=OBSERVER_TICKS)
    assert Campaign.objects.get(pk=campaign.pk).state == State.PAUSED
    assert AuditEntry.objects.filter(action="campaign.refused",
                                     payload__code="deadline_passed").exists()


def test_a_deadline_already_past_or_hours_that_cannot_open_are_refused_at_submit(
        clock, olivia, roster):
    late = make_campaign(olivia, roster, send_before=MONDAY_1950 - timedelta(minutes=1))
    with pytest.raises(workflow.ContentRefused, match="already passed"):
        workflow.submit(campaign=late, user=olivia)
    half = make_campaign(olivia, roster, window_start=time(8))
    with pytest.raises(workflow.ContentRefused, match="both the start and the end"):
        workflow.submit(campaign=half, user=olivia)
    assert not Campaign.objects.exclude(state=State.DRAFT).exists()


def test_the_hours_and_the_deadline_are_signed_with_the_content(clock, draft):
    before = draft.compute_content_hash()
    for change in (WINDOW, {**WINDOW, "window_days": sending_hours.WEEKDAYS},
                   {"send_before": MONDAY_1950 + timedelta(days=1)}):
        changed = Campaign.objects.get(pk=draft.pk)
        for field, value in change.items():
            setattr(changed, field, value)
        assert changed.compute_content_hash() != before, change


def test_changing_the_hours_behind_the_app_after_both_signatures_sends_nothing(
        clock, olivia, sam, oscar, roster, sink):
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False, **WINDOW)
    Campaign.objects.filter(pk=campaign.pk).update(window_end=time(23))
    with pytest.raises(workflow.ContentRefused):
        workflow.start(campaign_id=campaign.pk)
    assert sink.handler.campaign_mail() == []


def test_the_signers_see_the_hours_and_the_form_refuses_half_of_them(
        clock, olivia, sam, roster):
    campaign = make_campaign(olivia, roster, window_days=sending_hours.WEEKDAYS,
                             send_before=MONDAY_1950 + timedelta(days=2), **WINDOW)
    workflow.submit(campaign=campaign, user=olivia)
    page = client_for(sam).get(reverse("campaigns:review", args=[campaign.pk]),
                               HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "only 08:00-20:00 weekdays (Monday to Friday) (Asia/Tokyo)" in page
    assert "nothing sent after 2026-12-09 19:50" in page
    from tests.test_campaign_drafting import post_campaign

    response = post_campaign(client_for(olivia), roster, window_start="08:00")
    assert response.status_code == 200 and "both the start and the end" in \
        response.content.decode()
    response = post_campaign(client_for(olivia), roster, window_start="08:00",
                             window_end="20:00", window_days="sundays")
    assert "Select a valid choice" in response.content.decode()
    assert Campaign.objects.count() == 1
    post_campaign(client_for(olivia), roster, window_start="08:00", window_end="20:00",
                  window_days="weekdays", send_before="2026-12-09T18:00")
    saved = Campaign.objects.latest("pk")
    assert (saved.window_start, saved.window_end, saved.window_days) == (
        time(8), time(20), "weekdays")
    assert timezone.localtime(saved.send_before, TOKYO) == datetime(2026, 12, 9, 18,
                                                                     tzinfo=TOKYO)


@pytest.mark.parametrize(("now", "resumes"), [
    (datetime(2026, 12, 7, 7, 59), datetime(2026, 12, 7, 8, 0)),  # Monday morning
    (datetime(2026, 12, 7, 8, 0), None),
    (datetime(2026, 12, 7, 19, 59, 59), None),
    (datetime(2026, 12, 7, 20, 0), datetime(2026, 12, 8, 8, 0)),
    (datetime(2026, 12, 11, 20, 0), datetime(2026, 12, 14, 8, 0)),  # Friday night: Monday
    (datetime(2026, 12, 12, 12, 0), datetime(2026, 12, 14, 8, 0)),  # Saturday noon
])
def test_a_weekday_window_resumes_on_the_next_weekday_morning(now, resumes):
    hours = sending_hours.Hours(time(8), time(20), sending_hours.WEEKDAYS)
    expected = resumes.replace(tzinfo=TOKYO) if resumes else None
    assert sending_hours.resumes_at(hours, now.replace(tzinfo=TOKYO)) == expected


@pytest.mark.parametrize(("now", "resumes"), [
    (datetime(2026, 12, 7, 23, 0), None),  # Monday night, inside 22:00-06:00
    (datetime(2026, 12, 8, 5, 59), None),  # Tuesday early morning: Monday's window
    (datetime(2026, 12, 8, 6, 0), datetime(2026, 12, 8, 22, 0)),
    (datetime(2026, 12, 12, 1, 0), None),  # Saturday 01:00: Friday night's window
    (datetime(2026, 12, 13, 1, 0), datetime(2026, 12, 14, 22, 0)),  # Sunday 01:00: closed
])
def test_a_window_past_midnight_belongs_to_the_day_it_opened(now, resumes):
    hours = sending_hours.Hours(time(22), time(6), sending_hours.WEEKDAYS)
    expected = resumes.replace(tzinfo=TOKYO) if resumes else None
    assert sending_hours.resumes_at(hours, now.replace(tzinfo=TOKYO)) == expected


def test_hours_in_utc_are_read_in_the_associations_time_zone():
    hours = sending_hours.Hours(time(8), time(20))
    ten_past_eleven_utc = datetime(2026, 12, 7, 11, 10, tzinfo=ZoneInfo("UTC"))  # 20:10 JST
    assert sending_hours.resumes_at(hours, ten_past_eleven_utc) == datetime(
        2026, 12, 8, 8, 0, tzinfo=TOKYO)


def test_through_the_countersign_keeps_the_hours(clock, olivia, sam, oscar, roster):
    campaign = make_campaign(olivia, roster, **WINDOW)
    through_the_countersign(campaign, olivia, sam, oscar)
    version = campaign.versions.get()
    assert (version.window_start, version.window_end) == (time(8), time(20))


# --- what nobody runs reaches its deadline too ---------------------------------------------------

@pytest.mark.parametrize("how", ["paused", "held", "released"])
def test_a_campaign_no_worker_runs_is_stopped_by_the_watchdog_at_its_deadline(
        clock, olivia, sam, oscar, roster, sink, how):
    """Paused for the night, held after the first messages, or released with no worker: the
    "do not send after" moment still ends it, with the same audit entry, within a minute."""
    from campaigns import tasks

    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=how == "held",
                                 canary_size=2, send_before=MONDAY_1950 + timedelta(hours=1))
    if how != "released":
        workflow.start(campaign_id=campaign.pk)
    if how == "held":
        send_until_it_rests(campaign, clock)
        assert campaign.state == State.HELD
    elif how == "paused":
        workflow.pause(campaign=campaign, user=oscar)
    tasks.watchdog()  # before the deadline: nothing to stop
    assert Campaign.objects.get(pk=campaign.pk).state != State.STOPPED
    clock.at = MONDAY_1950 + timedelta(hours=1)
    tasks.watchdog()
    assert Campaign.objects.get(pk=campaign.pk).state == State.STOPPED
    assert AuditEntry.objects.get(action="campaign.deadline_passed").payload["state"] == \
        "stopped"
    tasks.watchdog()  # once
    assert AuditEntry.objects.filter(action="campaign.deadline_passed").count() == 1


def test_send_the_rest_after_the_first_messages_is_refused_past_the_deadline(
        clock, olivia, sam, oscar, roster, sink):
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=True,
                                 canary_size=2, send_before=MONDAY_1950 + timedelta(hours=1))
    workflow.start(campaign_id=campaign.pk)
    send_until_it_rests(campaign, clock)
    assert campaign.state == State.HELD
    clock.at += timedelta(hours=2)
    with pytest.raises(workflow.ContentRefused, match="do not send after"):
        workflow.confirm_canary(campaign=campaign, user=oscar, seen=Seen.current(campaign))
    assert Campaign.objects.get(pk=campaign.pk).state == State.HELD
    assert len(sink.handler.campaign_mail()) == 2


def test_a_copy_of_a_campaign_past_its_deadline_does_not_inherit_the_passed_moment(
        clock, olivia, sam, oscar, roster, sink):
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False,
                                 rate_limit=1, rate_unit="minute",
                                 send_before=MONDAY_1950 + timedelta(minutes=3), **WINDOW)
    send_until_it_rests(campaign, clock)
    assert campaign.state == State.STOPPED
    rest = workflow.duplicate(campaign=campaign, user=olivia, rest_only=True)
    assert rest.send_before is None and (rest.window_start, rest.window_end) == (
        time(8), time(20))
    assert workflow.submit(campaign=rest, user=olivia).state == State.SUBMITTED
    ahead = make_campaign(olivia, roster, send_before=MONDAY_1950 + timedelta(days=1))
    assert workflow.duplicate(campaign=ahead, user=olivia).send_before == ahead.send_before


def test_an_edit_from_a_form_without_the_hours_fields_keeps_them(clock, olivia, roster):
    """An older form or a script that does not send the hours: an empty time would mean "no
    window", so a field not sent is left as it was (and is no change)."""
    deadline = MONDAY_1950 + timedelta(days=1)
    campaign = make_campaign(olivia, roster, window_days=sending_hours.WEEKDAYS,
                             send_before=deadline, **WINDOW)
    data = {"name": campaign.name, "roster": roster.pk, "sender": campaign.sender,
            "subject": campaign.subject, "body_text": campaign.body_text,
            "body_html": "", "canary_enabled": "on", "rate_unit": "minute"}
    edit = reverse("campaigns:edit", args=[campaign.pk])
    response = client_for(olivia).post(edit, data, HTTP_ACCEPT_LANGUAGE="en", follow=True)
    assert "Nothing was changed." in response.content.decode()
    client_for(olivia).post(edit, {**data, "body_text": campaign.body_text + "追記\n"})
    campaign.refresh_from_db()
    assert campaign.body_text.endswith("追記\n")
    assert (campaign.window_start, campaign.window_end, campaign.window_days,
            campaign.send_before) == (time(8), time(20), sending_hours.WEEKDAYS, deadline)
    # Sent empty, the window is cleared: that is what the form's empty fields mean.
    client_for(olivia).post(edit, {**data, "window_start": "", "window_end": "",
                                   "window_days": "", "send_before": ""})
    campaign.refresh_from_db()
    assert (campaign.window_start, campaign.window_end, campaign.send_before) == (
        None, None, None)
