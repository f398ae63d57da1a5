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


def test_the_last_rejection_is_at_the_top_of_the_authors_page(sam, olivia, tested):
    reject(client_for(sam), tested, "件名に支部名を入れてください")
    page = client_for(olivia).get(reverse("campaigns:detail", args=[tested.pk]),
                                  HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    top = page.index('id="last-rejection"')
    assert top < page.index("<dl") and "差し戻し：佐藤" not in page  # sam has no name
    assert "差し戻し：sam" in page[top:top + 400]
    assert "件名に支部名を入れてください" in page[top:top + 600]


def test_the_next_review_shows_the_last_rejection_first(sam, olivia, tested):
    from campaigns import workflow

    reject(client_for(sam), tested, "件名に支部名を入れてください")
    tested.refresh_from_db()
    workflow.edit(campaign=tested, user=olivia, subject="【北支部】{name} 様")
    workflow.submit(campaign=tested, user=olivia)
    page = client_for(sam).get(reverse("campaigns:review", args=[tested.pk]),
                               HTTP_ACCEPT_LANGUAGE="en").content.decode()
    top = page.index('id="last-rejection"')
    assert top < page.index("Approve this version")
    assert "件名に支部名を入れてください" in page[top:top + 600]
    assert "about an earlier version" in page[top:top + 800]


def test_a_campaign_never_rejected_shows_no_rejection(olivia, tested):
    page = client_for(olivia).get(reverse("campaigns:detail", args=[tested.pk])).content.decode()
    assert 'id="last-rejection"' not in page
