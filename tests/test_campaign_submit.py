from django.urls import reverse

from audit.models import AuditEntry
from campaigns.models import State
from tests.factories import client_for


def test_author_submits_freezing_hash_and_version(olivia, draft):
    response = client_for(olivia).post(reverse("campaigns:submit", args=[draft.pk]))
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.state == State.SUBMITTED
    assert draft.content_hash == draft.compute_content_hash()
    version = draft.versions.get()
    assert (version.number, version.content_hash, version.recipient_count) == (
        1, draft.content_hash, 20)
    (entry,) = AuditEntry.objects.filter(action="campaign.submitted")
    assert entry.payload["content_hash"] == draft.content_hash
    assert entry.payload["recipient_count"] == 20 and entry.role == "operator"


def test_another_operator_cannot_submit_my_draft(otto, draft):
    assert client_for(otto).post(reverse("campaigns:submit", args=[draft.pk])).status_code == 403
    draft.refresh_from_db()
    assert draft.state == State.DRAFT
    refused = AuditEntry.objects.get(action="campaign.refused")
    assert (refused.actor_name, refused.payload["attempted"], refused.payload["code"]) == (
        "otto", "submitted", "not_author")


def test_submitting_twice_is_a_wrong_state_message_not_an_error(olivia, submitted):
    response = client_for(olivia).post(reverse("campaigns:submit", args=[submitted.pk]),
                                       follow=True, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200 and "Not possible while" in response.content.decode()
    assert AuditEntry.objects.filter(action="campaign.refused").get().payload["code"] == "state"


def test_submit_is_post_only(olivia, draft):
    assert client_for(olivia).get(reverse("campaigns:submit", args=[draft.pk])).status_code == 405


def test_an_unknown_campaign_is_404(olivia):
    assert client_for(olivia).post(reverse("campaigns:submit", args=[999])).status_code == 404


def test_a_submit_racing_a_reject_is_refused_clearly_and_audited_never_a_500(
        olivia, sam, submitted, monkeypatch):
    """The author presses submit again just as the supervisor rejects: the request read
    "submitted" (refused), and the reject commits before the refusal is written."""
    from campaigns import workflow
    from campaigns.workflow import drafting

    content_check = drafting.content_check

    def reject_meanwhile(roster, fields):
        monkeypatch.setattr(drafting, "content_check", content_check)
        workflow.reject(campaign=submitted, user=sam, comment="件名を直してください")
        return content_check(roster, fields)

    monkeypatch.setattr(drafting, "content_check", reject_meanwhile)
    response = client_for(olivia).post(reverse("campaigns:submit", args=[submitted.pk]),
                                       HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 302
    submitted.refresh_from_db()
    assert submitted.state == State.DRAFT  # the reject stands; the submit changed nothing
    refused = AuditEntry.objects.get(action="campaign.refused")
    assert (refused.actor_name, refused.payload["attempted"], refused.payload["code"]) == (
        "olivia", "submitted", "state")
