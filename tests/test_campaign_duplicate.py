"""Reuse: duplicate a campaign, or send to exactly the members a stopped one did not reach."""

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from campaigns import workflow
from campaigns.models import Delivery, State
from tests.factories import client_for, run_until_done


def test_an_operator_duplicates_a_campaign_as_a_new_draft(released, olivia):
    response = client_for(olivia).post(reverse("campaigns:duplicate", args=[released.pk]))
    copy = type(released).objects.exclude(pk=released.pk).get()
    assert response.url == reverse("campaigns:detail", args=[copy.pk])
    assert (copy.state, copy.author, copy.roster) == (State.DRAFT, olivia, released.roster)
    assert (copy.subject, copy.body_text, copy.canary_enabled) == (
        released.subject, released.body_text, released.canary_enabled)
    entry = AuditEntry.objects.get(action="campaign.duplicated")
    assert entry.payload["from_campaign"] == released.pk and not entry.payload["rest_only"]


def test_only_an_operator_duplicates(released, sam, audrey):
    duplicate = reverse("campaigns:duplicate", args=[released.pk])
    assert client_for(sam).post(duplicate).status_code == 403
    assert client_for(audrey).post(duplicate).status_code == 403


def test_the_rest_of_a_stopped_campaign_is_exactly_who_it_did_not_reach(released, olivia,
                                                                       oscar, sink):
    run_until_done(released)  # the first 10 go, then the hold
    Delivery.objects.filter(campaign=released, member_number="W000011").update(
        state=Delivery.State.IN_DOUBT)  # a person must decide this one: not in the rest
    Delivery.objects.filter(campaign=released, member_number="W000012").update(
        state=Delivery.State.FAILED)
    workflow.stop(campaign=released, user=oscar, wait=0)
    client_for(olivia).post(reverse("campaigns:duplicate", args=[released.pk]), {"rest": "1"})
    rest = type(released).objects.exclude(pk=released.pk).get()
    numbers = set(rest.roster.members.values_list("member_number", flat=True))
    sent = set(released.deliveries.filter(state=Delivery.State.SENT)
               .values_list("member_number", flat=True))
    assert len(sent) == 10 and not numbers & sent and "W000011" not in numbers
    assert "W000012" in numbers and len(numbers) == 20 - 10 - 1
    assert rest.state == State.DRAFT and rest.roster.derived_from == released.roster
    derived = AuditEntry.objects.get(action="roster.derived")
    assert derived.payload["members"] == 9 and derived.payload["from_roster"] == released.roster_id
    assert "W000012" not in str(derived.payload)  # counts and hashes, not members


def test_a_campaign_still_sending_has_no_rest(released, olivia):
    with pytest.raises(workflow.WrongState):
        workflow.duplicate(campaign=released, user=olivia, rest_only=True)
