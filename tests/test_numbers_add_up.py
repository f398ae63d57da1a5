"""Wherever a number is shown it says what it counts, and the numbers add up: a finished
campaign says when it started and finished; after STOP nothing is "left" (it was not sent,
because of the stop); "accepted by the mail server" counts the bounced too, and the bounced
are shown as part of it; the association's observer gets one completion mail; a bounce's
status code (5.1.1) comes with what it means, in the reader's language."""

import pytest
from django.urls import reverse

from campaigns import bounces, notifications, workflow
from tests.factories import (
    client_for,
    make_roster,
    released_campaign,
    run_queued_tasks,
    run_until_done,
)


@pytest.fixture
def completed(olivia, sam, oscar, sink):
    campaign = released_campaign(olivia, sam, oscar, make_roster(olivia), canary_enabled=False)
    run_until_done(campaign)
    return campaign


@pytest.fixture
def bounced(completed):
    first = completed.deliveries.order_by("id").first()
    bounces.record_bounce(delivery_id=first.pk, kind=bounces.BounceKind.HARD, status="5.1.1",
                          source="dsn")
    return first


def page_of(user, campaign, name="campaigns:detail", language="en", query=""):
    return client_for(user).get(reverse(name, args=[campaign.pk]) + query,
                                HTTP_ACCEPT_LANGUAGE=language).content.decode()


def test_a_finished_campaign_says_when_it_started_and_finished(completed, oscar):
    page = page_of(oscar, completed)
    assert "Started at" in page and "Finished at" in page
    assert page.count("<time") >= 2


def test_after_stop_nothing_is_left_it_was_not_sent(olivia, sam, oscar, sink):
    campaign = released_campaign(olivia, sam, oscar, make_roster(olivia), canary_size=5)
    run_until_done(campaign)
    workflow.stop(campaign=campaign, user=oscar, wait=0)
    page = page_of(oscar, campaign)
    assert "Remaining" not in page
    assert "Not sent (stopped)" in page
    assert 'data-field="remaining">15<' in page
    assert "Stopped at" in page


def test_accepted_counts_the_bounced_and_the_bounced_are_part_of_it(completed, bounced,
                                                                   oscar):
    page = page_of(oscar, completed)
    assert 'data-field="accepted">20<' in page
    assert "of which bounced later: 1" in page
    assert notifications.counts(completed) == {"sent": 20, "in_doubt": 0, "not_sent": 0}


@pytest.mark.django_db(transaction=True)
def test_the_observer_gets_one_completion_mail(olivia, sam, oscar, sink):
    campaign = released_campaign(olivia, sam, oscar, make_roster(olivia), canary_enabled=False)
    sink.handler.received.clear()
    run_until_done(campaign)
    run_queued_tasks()
    to_oscar = [str(m["Subject"]) for m in sink.handler.notices()
                if oscar.email in str(m["To"])]
    completion = [subject for subject in to_oscar if "Complete" in subject or "完了" in subject]
    assert len(completion) == 1, to_oscar


@pytest.mark.parametrize("language, meaning", [
    ("en", "the address does not exist"), ("ja", "宛先のメールアドレスが存在しません")])
def test_a_bounce_status_code_comes_with_what_it_means(completed, bounced, oscar, language,
                                                      meaning):
    page = page_of(oscar, completed, "campaigns:ledger", language, "?state=bounced")
    assert "5.1.1" in page and meaning in page
