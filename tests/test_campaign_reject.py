from django.urls import reverse

from audit.models import AuditEntry
from campaigns.models import SignOff, State
from tests.factories import client_for


def reject(client, campaign, comment, page="campaigns:review"):
    return client.post(reverse(page, args=[campaign.pk]), {"comment": comment, "reject": ""},
                       HTTP_ACCEPT_LANGUAGE="en")


def test_supervisor_rejects_with_a_comment_and_it_goes_back_to_the_author(sam, olivia, tested):
    assert reject(client_for(sam), tested, "件名に支部名を入れてください").status_code == 302
    tested.refresh_from_db()
    assert tested.state == State.DRAFT
    rejection = SignOff.objects.get(kind=SignOff.Kind.REJECTION)
    assert rejection.comment == "件名に支部名を入れてください"
    entry = AuditEntry.objects.get(action="campaign.rejected")
    assert entry.payload["comment"] == rejection.comment
    assert entry.payload["from_state"] == "submitted"
    page = client_for(olivia).get(reverse("campaigns:detail", args=[tested.pk])).content.decode()
    assert "件名に支部名を入れてください" in page


def test_a_rejection_needs_a_comment(sam, tested):
    response = reject(client_for(sam), tested, "  ")
    assert "a comment is required" in response.content.decode()
    tested.refresh_from_db()
    assert tested.state == State.SUBMITTED


def test_the_observer_can_reject_an_approved_campaign_voiding_the_approval(oscar, approved):
    response = reject(client_for(oscar), approved, "今回は送らない", page="campaigns:release")
    assert response.status_code == 302
    approved.refresh_from_db()
    assert approved.state == State.DRAFT
    approval = SignOff.objects.get(kind=SignOff.Kind.APPROVAL)
    assert approval.voided_at is not None and approval.void_reason == "rejected"
    assert not approved.valid_approvals().exists()


def test_an_operator_cannot_reject(otto, tested):
    assert reject(client_for(otto), tested, "x").status_code == 403
    tested.refresh_from_db()
    assert tested.state == State.SUBMITTED
