"""The observer's live release: association user, not the author, not the approver, fresh
approval, unchanged content, valid for a limited window."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from campaigns import workflow
from campaigns.models import SignOff, State
from campaigns.seen import Seen
from countersign.roles import Role
from tests.factories import (
    OBSERVER_TICKS,
    client_for,
    make_user,
    shown_on,
    swap_stored_values,
)


def release(client, campaign, ticks=OBSERVER_TICKS):
    url = reverse("campaigns:release", args=[campaign.pk])
    shown = shown_on(client, url) if client.get(url).status_code == 200 else {}
    return client.post(url, {"checklist": ticks, "release": "", **shown},
                       HTTP_ACCEPT_LANGUAGE="en")


def test_observer_releases_for_a_limited_window(oscar, approved, settings):
    assert release(client_for(oscar), approved).status_code == 302
    approved.refresh_from_db()
    assert approved.state == State.RELEASED and approved.release_is_live()
    window = approved.release_expires_at - approved.released_at
    assert window == timedelta(minutes=settings.RELEASE_WINDOW_MINUTES)
    signoff = SignOff.objects.get(kind=SignOff.Kind.RELEASE)
    assert (signoff.user, signoff.content_hash) == (oscar, approved.content_hash)
    (entry,) = AuditEntry.objects.filter(action="campaign.released")
    assert entry.payload["approved_by"] == "sam" and entry.role == "observer"
    assert entry.payload["content_hash"] == approved.content_hash
    assert entry.organisation == "association"


def test_an_operator_cannot_release(olivia, otto, approved):
    for user in (olivia, otto):
        assert release(client_for(user), approved).status_code == 403
    approved.refresh_from_db()
    assert approved.state == State.APPROVED


def test_the_approving_supervisor_cannot_release(sam, approved):
    assert release(client_for(sam), approved).status_code == 403
    # ... nor through the workflow, whatever the view does
    with pytest.raises(workflow.NotAllowed):
        workflow.release(campaign=approved, seen=Seen.current(approved),
                         user=sam, checklist=OBSERVER_TICKS)


def test_a_contractor_account_can_never_act_as_observer(approved):
    from django.contrib.auth.models import Group

    mole = make_user("mole", "contractor")
    with pytest.raises(ValidationError), transaction.atomic():
        mole.groups.add(Group.objects.get(name=Role.OBSERVER))
    assert release(client_for(mole), approved).status_code == 403


def test_release_needs_the_observer_checklist(oscar, approved):
    response = release(client_for(oscar), approved, ticks=["recipients"])
    assert response.content.decode().count("Not ticked: ") == 2
    approved.refresh_from_db()
    assert approved.state == State.APPROVED


def test_a_stale_approval_cannot_be_released(oscar, approved, settings):
    SignOff.objects.filter(kind=SignOff.Kind.APPROVAL).update(
        created_at=timezone.now() - timedelta(hours=settings.APPROVAL_TTL_HOURS, minutes=1))
    response = release(client_for(oscar), approved)
    assert "must review the campaign again" in response.content.decode()
    approved.refresh_from_db()
    assert approved.state == State.APPROVED
    assert AuditEntry.objects.get(action="campaign.refused").payload["code"] == "approval_expired"


def test_release_rechecks_the_hash_against_what_would_be_sent(oscar, approved):
    # The database's administrator swaps two members' stored values behind the app's back.
    first, second = approved.roster.members.order_by("row_number")[:2]
    swap_stored_values(first, second)
    response = release(client_for(oscar), approved)
    assert "no longer what was approved" in response.content.decode()
    approved.refresh_from_db()
    assert approved.state == State.APPROVED


def test_a_release_whose_window_passed_can_be_given_again(oscar, released):
    released.release_expires_at = timezone.now() - timedelta(seconds=1)
    released.save()
    assert not released.release_is_live()
    workflow.release(campaign=released, seen=Seen.current(released),
                     user=oscar, checklist=OBSERVER_TICKS)
    released.refresh_from_db()
    assert released.release_is_live()


def test_a_live_release_is_not_given_twice(oscar, released):
    with pytest.raises(workflow.WrongState):
        workflow.release(campaign=released, seen=Seen.current(released),
                         user=oscar, checklist=OBSERVER_TICKS)


def test_observer_dashboard_lists_campaigns_awaiting_release(oscar, approved, sam):
    page = client_for(oscar).get(reverse("campaigns:observer_dashboard")).content.decode()
    assert approved.name in page
    assert client_for(sam).get(reverse("campaigns:observer_dashboard")).status_code == 403


def test_release_page_shows_the_review_material_and_recipient_count(oscar, approved):
    page = client_for(oscar).get(reverse("campaigns:release", args=[approved.pk]),
                                 HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "20" in page and approved.content_hash in page and "sam" in page
    for item in workflow.OBSERVER_CHECKLIST.values():
        assert str(item) in page
