"""'Send to the rest' makes one draft per stopped campaign: a second click, a double click or
two people at once are refused clearly (audited), the button goes once the rest was made,
once nobody is left, or once the member data was purged; and the derived roster names the
SHA-256 of the original file, so the association can match it to the file it gave."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from campaigns import retention, workflow
from campaigns.models import Campaign
from tests.factories import client_for, run_until_done


@pytest.fixture
def stopped(released, oscar, sink):
    run_until_done(released)  # the first 10 go, then the hold
    workflow.stop(campaign=released, user=oscar, wait=0)
    released.refresh_from_db()
    return released


def rests():
    return Campaign.objects.filter(roster__derived_from__isnull=False)


def test_the_rest_is_made_once_and_a_second_request_is_refused_and_audited(stopped, olivia):
    rest = workflow.duplicate(campaign=stopped, user=olivia, rest_only=True)
    with pytest.raises(workflow.WrongState) as refused:
        workflow.duplicate(campaign=stopped, user=olivia, rest_only=True)
    assert refused.value.code == "rest_already_made"
    assert rest.name in refused.value.message
    assert list(rests()) == [rest]
    entry = AuditEntry.objects.get(action="campaign.refused")
    assert entry.payload["attempted"] == "send_to_the_rest"
    assert entry.payload["code"] == "rest_already_made"
    assert entry.payload["rest_campaign"] == rest.pk


def test_the_second_click_says_where_the_rest_is(stopped, olivia):
    client = client_for(olivia)
    url = reverse("campaigns:duplicate", args=[stopped.pk])
    client.post(url, {"rest": "1"})
    response = client.post(url, {"rest": "1"}, HTTP_ACCEPT_LANGUAGE="en", follow=True)
    page = response.content.decode()
    assert "already made" in page
    assert reverse("campaigns:detail", args=[rests().get().pk]) in page
    assert rests().count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_requests_at_once_make_one_rest(olivia, sam, oscar, sink):
    from tests.factories import make_roster, released_campaign

    campaign = released_campaign(olivia, sam, oscar, make_roster(olivia), canary_size=5)
    run_until_done(campaign)
    workflow.stop(campaign=campaign, user=oscar, wait=0)
    outcomes, start = [], threading.Barrier(2)

    def click():
        start.wait()
        try:
            workflow.duplicate(campaign=Campaign.objects.get(pk=campaign.pk), user=olivia,
                               rest_only=True)
            outcomes.append("made")
        except workflow.WrongState as refused:
            outcomes.append(refused.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["made", "rest_already_made"]
    assert rests().count() == 1


def test_the_button_goes_once_the_rest_was_made(stopped, olivia):
    detail = reverse("campaigns:detail", args=[stopped.pk])
    assert 'name="rest"' in client_for(olivia).get(detail).content.decode()
    workflow.duplicate(campaign=stopped, user=olivia, rest_only=True)
    assert 'name="rest"' not in client_for(olivia).get(detail).content.decode()


@pytest.mark.django_db(transaction=True)
def test_there_is_no_rest_once_the_member_data_was_purged(olivia, sam, oscar, sink, settings):
    from tests.factories import make_roster, released_campaign

    campaign = released_campaign(olivia, sam, oscar, make_roster(olivia), canary_size=5)
    run_until_done(campaign)
    workflow.stop(campaign=campaign, user=oscar, wait=0)
    retention.purge_rosters(now=timezone.now() + timedelta(
        days=settings.ROSTER_RETENTION_DAYS + 1))
    campaign.refresh_from_db()
    check = workflow.can_send_to_the_rest(campaign, olivia)
    assert not check and check.error.code == "roster_purged"
    page = client_for(olivia).get(reverse("campaigns:detail", args=[campaign.pk])).content
    assert b'name="rest"' not in page


def test_the_derived_roster_names_the_original_files_sha256(stopped, olivia, oscar):
    rest = workflow.duplicate(campaign=stopped, user=olivia, rest_only=True)
    original = stopped.roster
    for person in (olivia, oscar):
        page = client_for(person).get(reverse("roster:detail", args=[rest.roster_id]),
                                      HTTP_ACCEPT_LANGUAGE="en").content.decode()
        assert "Derived from" in page and original.name in page
        assert original.file_sha256 in page and original.source_filename in page
    review = client_for(oscar).get(reverse("campaigns:detail", args=[rest.pk]),
                                   HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert rest.roster.name in review
