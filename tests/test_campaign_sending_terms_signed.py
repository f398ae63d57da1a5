"""The hold after the first messages and the rate limit are signed with the content."""

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from campaigns import workflow
from campaigns.models import Campaign, Delivery, State
from tests.factories import client_for, make_campaign, run_until_done


def test_the_hold_and_the_rate_are_part_of_the_content_hash(draft):
    before = draft.compute_content_hash()
    for change in ({"canary_enabled": False}, {"canary_size": 3}, {"rate_limit": 60},
                   {"rate_unit": "second"}):
        changed = Campaign.objects.get(pk=draft.pk)
        for field, value in change.items():
            setattr(changed, field, value)
        assert changed.compute_content_hash() != before, change


@pytest.mark.usefixtures("sink")
def test_switching_off_the_hold_after_both_signatures_sends_nothing(released, sink):
    sink.handler.received.clear()
    Campaign.objects.filter(pk=released.pk).update(canary_enabled=False)  # behind the app
    with pytest.raises(workflow.ContentRefused):
        workflow.start(campaign_id=released.pk)
    released.refresh_from_db()
    assert released.state == State.DRAFT and not released.valid_approvals().exists()
    assert not Delivery.objects.filter(campaign=released).exists()
    assert sink.handler.campaign_mail() == []
    refused = AuditEntry.objects.get(action="campaign.start_refused")
    assert refused.payload["code"] == "hash_mismatch"


def test_the_signers_see_the_hold_and_the_rate(olivia, sam, oscar, roster):
    campaign = make_campaign(olivia, roster, canary_size=5, rate_limit=30, rate_unit="minute")
    workflow.submit(campaign=campaign, user=olivia)
    for user, url in ((sam, reverse("campaigns:review", args=[campaign.pk])),
                      (oscar, reverse("campaigns:release", args=[campaign.pk])),
                      (olivia, reverse("campaigns:detail", args=[campaign.pk]))):
        page = client_for(user).get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
        assert "hold after the first 5 messages; at most 30 per minute" in page, url
    page = client_for(sam).get(reverse("campaigns:review", args=[campaign.pk]),
                               HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "最初の 5 通のあとで保留" in page and "1分あたり最大 30 通" in page


def test_the_submitted_version_keeps_the_terms_it_was_signed_with(olivia, roster):
    campaign = make_campaign(olivia, roster, canary_enabled=False, rate_limit=2,
                             rate_unit="second")
    workflow.submit(campaign=campaign, user=olivia)
    version = campaign.versions.get()
    assert version.sending_terms() == ("no hold after the first messages; at most 2 per "
                                       "second")
    entry = AuditEntry.objects.get(action="campaign.submitted")
    assert entry.payload["sending"] == version.sending_terms()


def test_a_run_that_starts_sends_with_the_signed_terms(released, sink):
    sink.handler.received.clear()
    run_until_done(released)
    released.refresh_from_db()
    assert released.state == State.HELD  # the signed hold holds
