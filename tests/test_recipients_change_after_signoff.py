"""A campaign's recipients change after its sign-offs (a member unsubscribes, bounces or is
erased while it waits for the next signature): the suppressed set is part of the content
hash, so the sign-offs no longer hold. The campaign must not sit there "approved" with a
release that fails: it goes back to the supervisor with a new version, says why, tells the
people who must sign again, and can then be approved and released as usual."""

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditEntry
from campaigns import notifications, reports, retention, unsubscribe, workflow
from campaigns.models import Notification, SignOff, State
from campaigns.seen import Seen
from tests.factories import (
    OBSERVER_TICKS,
    SUPERVISOR_TICKS,
    client_for,
    email_of,
    make_campaign,
    make_newsletter,
    run_until_done,
    through_the_countersign,
)


@pytest.fixture
def sent_newsletter(olivia, sam, oscar, roster, sink):
    campaign = make_newsletter(olivia, roster, canary_enabled=False)
    through_the_countersign(campaign, olivia, sam, oscar)
    run_until_done(campaign)
    return campaign


def approved_newsletter(olivia, sam, roster, **changes):
    campaign = make_newsletter(olivia, roster, name="December letter", **changes)
    workflow.submit(campaign=campaign, user=olivia)
    workflow.test_send(campaign=campaign, user=olivia, member=roster.members.first(),
                       recipients=[sam])
    return workflow.approve(campaign=campaign, seen=Seen.current(campaign), user=sam,
                            checklist=SUPERVISOR_TICKS)


def unsubscribe_one(sent, django_capture_on_commit_callbacks):
    delivery = sent.deliveries.order_by("id").first()
    with django_capture_on_commit_callbacks(execute=True):
        Client().post(reverse("unsubscribe", args=[unsubscribe.token_for(delivery.pk)]),
                      {"List-Unsubscribe": "One-Click"})
    return delivery


def test_an_unsubscribe_after_approval_sends_the_newsletter_back_to_review(
        olivia, sam, oscar, roster, sent_newsletter, django_capture_on_commit_callbacks):
    campaign = approved_newsletter(olivia, sam, roster)
    old_hash = campaign.content_hash
    unsubscribe_one(sent_newsletter, django_capture_on_commit_callbacks)
    campaign.refresh_from_db()
    assert campaign.state == State.SUBMITTED
    assert campaign.content_hash != old_hash
    assert campaign.content_hash == campaign.compute_content_hash()
    approval = SignOff.objects.get(campaign=campaign, kind=SignOff.Kind.APPROVAL)
    assert approval.void_reason == "recipients_changed"
    entry = AuditEntry.objects.get(action="campaign.recipients_changed")
    assert entry.actor_name == "system:worker"
    assert entry.payload["old_content_hash"] == old_hash
    assert entry.payload["content_hash"] == campaign.content_hash
    assert entry.payload["suppressed_count"] == 1
    assert entry.payload["voided_signoffs"] == [approval.pk]
    assert campaign.current_version().content_hash == campaign.content_hash


def test_the_supervisors_are_told_and_find_it_waiting_for_them(
        olivia, sam, oscar, roster, sent_newsletter, django_capture_on_commit_callbacks):
    campaign = approved_newsletter(olivia, sam, roster)
    unsubscribe_one(sent_newsletter, django_capture_on_commit_callbacks)
    told = Notification.objects.filter(campaign=campaign, event="recount")
    assert {n.user.username for n in told} >= {"sam", "olivia"}
    assert [c.pk for c, _steps in notifications.waiting_for(sam)] == [campaign.pk]
    page = client_for(olivia).get(reverse("campaigns:detail", args=[campaign.pk]),
                                  HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "a member left the recipients after the sign-off" in page


def test_the_supervisor_approves_again_and_the_observer_releases(
        olivia, sam, oscar, roster, sent_newsletter, django_capture_on_commit_callbacks):
    campaign = approved_newsletter(olivia, sam, roster, canary_enabled=False)
    unsubscribe_one(sent_newsletter, django_capture_on_commit_callbacks)
    campaign.refresh_from_db()
    # the message itself did not change: the test message sam read still counts
    workflow.approve(campaign=campaign, seen=Seen.current(campaign), user=sam,
                     checklist=SUPERVISOR_TICKS)
    workflow.release(campaign=campaign, seen=Seen.current(campaign), user=oscar,
                     checklist=OBSERVER_TICKS)
    campaign.refresh_from_db()
    assert campaign.state == State.RELEASED
    run_until_done(campaign)
    assert campaign.state == State.COMPLETED
    assert reports.compliance_row(campaign)["flags"] == []


def test_an_unsubscribe_after_release_sends_it_back_before_anything_is_sent(
        olivia, sam, oscar, roster, sent_newsletter, django_capture_on_commit_callbacks):
    campaign = approved_newsletter(olivia, sam, roster)
    workflow.release(campaign=campaign, seen=Seen.current(campaign), user=oscar,
                     checklist=OBSERVER_TICKS)
    unsubscribe_one(sent_newsletter, django_capture_on_commit_callbacks)
    campaign.refresh_from_db()
    assert campaign.state == State.SUBMITTED
    assert set(SignOff.objects.filter(campaign=campaign).values_list("void_reason", flat=True)
               ) == {"recipients_changed"}


def test_an_unsubscribe_does_not_touch_a_notice_under_review(
        olivia, sam, oscar, roster, sent_newsletter, django_capture_on_commit_callbacks):
    notice = make_campaign(olivia, roster)
    workflow.submit(campaign=notice, user=olivia)
    workflow.test_send(campaign=notice, user=olivia, member=roster.members.first(),
                       recipients=[sam])
    workflow.approve(campaign=notice, seen=Seen.current(notice), user=sam,
                     checklist=SUPERVISOR_TICKS)
    unsubscribe_one(sent_newsletter, django_capture_on_commit_callbacks)
    notice.refresh_from_db()
    assert notice.state == State.APPROVED
    assert not AuditEntry.objects.filter(action="campaign.recipients_changed").exists()


@pytest.mark.django_db(transaction=True)
def test_an_erasure_sends_a_campaign_under_review_back_too(olivia, sam, oscar, roster):
    campaign = make_campaign(olivia, roster)
    workflow.submit(campaign=campaign, user=olivia)
    workflow.test_send(campaign=campaign, user=olivia, member=roster.members.first(),
                       recipients=[sam])
    workflow.approve(campaign=campaign, seen=Seen.current(campaign), user=sam,
                     checklist=SUPERVISOR_TICKS)
    retention.erase_member(address=email_of(roster.members.order_by("id").last()), actor=oscar)
    campaign.refresh_from_db()
    assert campaign.state == State.SUBMITTED
    assert campaign.content_hash == campaign.compute_content_hash()
    assert campaign.current_version().recipient_count == 19
