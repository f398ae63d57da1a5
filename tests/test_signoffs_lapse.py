"""An approval or release counts only while its signer still stands behind it: active, in the
role they signed in, in the same organisation, and the only one who knows their password."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from audit.models import AuditEntry
from campaigns import sender, workflow
from campaigns.models import SignOff, State
from campaigns.seen import Seen
from countersign.models import Organisation
from tests.factories import OBSERVER_TICKS, client_for, countersign_waiting


def lose_role(user, role, observer):
    user.groups.remove(Group.objects.get(name=role))
    countersign_waiting(observer)  # the association's people lose a role by countersign


def deactivate(user, _role, _observer):
    user.is_active = False
    user.save()


def move(user, _role, observer):
    user.organisation = Organisation.ASSOCIATION  # the contractor's supervisor moves over
    user.save()
    countersign_waiting(observer)  # joining the association waits for an observer


@pytest.mark.parametrize("change, reason", [(deactivate, "signer_inactive"),
                                            (lose_role, "signer_lost_role"),
                                            (move, "signer_moved_organisation")])
def test_an_approval_whose_signer_lost_standing_cannot_be_released(approved, sam, oscar,
                                                                   change, reason):
    change(sam, "supervisor", oscar)
    with pytest.raises(workflow.StaleSignOff) as refused:
        workflow.release(campaign=approved, seen=Seen.current(approved),
                         user=oscar, checklist=OBSERVER_TICKS)
    assert refused.value.code == "signoff_lapsed"
    approved.refresh_from_db()
    assert approved.state == State.SUBMITTED  # back to review
    approval = SignOff.objects.get(kind=SignOff.Kind.APPROVAL)
    assert approval.voided_at is not None and approval.void_reason == reason
    lapsed = AuditEntry.objects.get(action="campaign.signoff_lapsed")
    assert lapsed.actor_name == "system:worker"
    assert lapsed.payload["lapsed"][0]["reason"] == reason
    assert AuditEntry.objects.filter(action="campaign.refused",
                                     payload__code="signoff_lapsed").exists()


def test_the_campaign_page_says_why_a_sign_off_lapsed(approved, sam, oscar, olivia):
    deactivate(sam, "supervisor", oscar)
    with pytest.raises(workflow.StaleSignOff):
        workflow.release(campaign=approved, seen=Seen.current(approved),
                         user=oscar, checklist=OBSERVER_TICKS)
    page = client_for(olivia).get(reverse("campaigns:detail", args=[approved.pk]),
                                  HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "the signer&#x27;s account is no longer active" in page


def test_a_release_whose_observer_lost_standing_does_not_start(released, oscar, orla, sink):
    lose_role(oscar, "observer", orla)
    assert sender.run(released.pk, worker="t", budget=1) is sender.Outcome.NOT_STARTED
    released.refresh_from_db()
    assert released.state == State.APPROVED  # the approval stands; the release must be given again
    release = SignOff.objects.get(kind=SignOff.Kind.RELEASE)
    assert release.void_reason == "signer_lost_role"
    assert not released.deliveries.exists() and sink.handler.campaign_mail() == []


def test_a_password_set_by_someone_else_voids_the_owners_sign_offs(released, sam, admin_client):
    admin_client.post(f"/admin/countersign/user/{sam.pk}/password/", {
        "password1": "root-knows-this-now-1", "password2": "root-knows-this-now-1",
        "usable_password": "true"})
    released.refresh_from_db()
    assert released.state == State.SUBMITTED
    voided = SignOff.objects.filter(kind__in=[SignOff.Kind.APPROVAL, SignOff.Kind.RELEASE])
    assert {s.void_reason for s in voided} == {"password_set_by_other", "approval_lapsed"}
    lapsed = AuditEntry.objects.get(action="campaign.signoff_lapsed")
    assert lapsed.payload["lapsed"][0]["reason"] == "password_set_by_other"


def test_an_observers_password_set_by_someone_else_voids_his_release_once_countersigned(
        released, oscar, orla, admin_client):
    admin_client.post(f"/admin/countersign/user/{oscar.pk}/password/", {
        "password1": "root-knows-this-now-1", "password2": "root-knows-this-now-1",
        "usable_password": "true"})
    assert not SignOff.objects.filter(kind=SignOff.Kind.RELEASE).exclude(voided_at=None)
    countersign_waiting(orla)
    release = SignOff.objects.get(kind=SignOff.Kind.RELEASE)
    assert release.void_reason == "password_set_by_other"


def test_a_signer_who_changes_their_own_password_keeps_their_sign_offs(approved, sam):
    client = client_for(sam)
    client.post(reverse("password_change"), {"old_password": "sam-test-pass",
                                        "new_password1": "sams-new-secret-42",
                                        "new_password2": "sams-new-secret-42"})
    approved.refresh_from_db()
    assert approved.state == State.APPROVED and approved.valid_approvals().exists()
