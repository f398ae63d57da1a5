"""The supervisor's approval: never the author, checklist complete, a test of this version
received, bound to the content hash."""

from django.contrib.auth.models import Group
from django.urls import reverse

from audit.models import AuditEntry
from campaigns import workflow
from campaigns.models import SignOff, State
from countersign.roles import Role
from tests.factories import SUPERVISOR_TICKS, client_for, shown_on


def approve(client, campaign, ticks=SUPERVISOR_TICKS, comment="", lang="en"):
    url = reverse("campaigns:review", args=[campaign.pk])
    shown = shown_on(client, url) if client.get(url).status_code == 200 else {}
    return client.post(url, {"checklist": ticks, "comment": comment, "approve": "", **shown},
                       HTTP_ACCEPT_LANGUAGE=lang)


def test_supervisor_approves_with_the_full_checklist(sam, tested):
    response = approve(client_for(sam), tested, comment="確認しました")
    assert response.status_code == 302
    tested.refresh_from_db()
    assert tested.state == State.APPROVED
    signoff = SignOff.objects.get(kind=SignOff.Kind.APPROVAL)
    assert (signoff.user, signoff.content_hash, signoff.recipient_count) == (
        sam, tested.content_hash, 20)
    (entry,) = AuditEntry.objects.filter(action="campaign.approved")
    assert entry.payload["checklist"] == sorted(SUPERVISOR_TICKS)
    assert entry.payload["content_hash"] == tested.content_hash and entry.role == "supervisor"


def test_the_author_can_never_approve_even_holding_the_supervisor_role(olivia, tested):
    olivia.groups.add(Group.objects.get(name=Role.SUPERVISOR))
    olivia = type(olivia).objects.get(pk=olivia.pk)
    assert approve(client_for(olivia), tested).status_code == 403
    tested.refresh_from_db()
    assert tested.state == State.SUBMITTED and not SignOff.objects.exists()
    refused = AuditEntry.objects.filter(action="campaign.refused").get()
    assert (refused.payload["attempted"], refused.payload["code"]) == ("approved", "author")


def test_an_operator_cannot_approve(olivia, otto, tested):
    assert approve(client_for(otto), tested).status_code == 403
    assert client_for(olivia).get(reverse("campaigns:review", args=[tested.pk])).status_code == 403
    tested.refresh_from_db()
    assert tested.state == State.SUBMITTED


def test_an_observer_cannot_approve(oscar, tested):
    assert approve(client_for(oscar), tested).status_code == 403
    assert AuditEntry.objects.filter(action="access.denied", actor_name="oscar").exists()


def test_an_incomplete_checklist_is_refused(sam, tested):
    response = approve(client_for(sam), tested, ticks=SUPERVISOR_TICKS[:3])
    assert response.status_code == 200 and "Not ticked: I received and read a test" in (
        response.content.decode())
    tested.refresh_from_db()
    assert tested.state == State.SUBMITTED
    refused = AuditEntry.objects.get(action="campaign.refused")
    assert refused.payload["code"] == "checklist" and refused.payload["missing"] == ["test_read"]


def test_each_item_not_ticked_is_its_own_error(sam, tested):
    """Not four items run together in one sentence: one error each, beside the checklist."""
    response = approve(client_for(sam), tested, ticks=[], lang="ja")
    page = response.content.decode()
    errors = page.split('role="alert">')[1].split("</ul>")[0].split("<li>")[1:]
    assert len(errors) == 4 and all(error.startswith("未チェック：") for error in errors)
    assert page.count("form-check-input is-invalid") == 4


def test_approval_needs_a_test_message_of_this_version_sent_to_the_approver(sam, submitted):
    response = approve(client_for(sam), submitted)
    assert "No test message of this version was sent to you" in response.content.decode()
    submitted.refresh_from_db()
    assert submitted.state == State.SUBMITTED


def test_a_draft_cannot_be_approved(sam, draft):
    response = approve(client_for(sam), draft)
    assert "Not possible while" in response.content.decode()


def test_the_review_page_shows_what_a_careful_reviewer_needs(sam, tested):
    page = client_for(sam).get(reverse("campaigns:review", args=[tested.pk]),
                               HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert tested.roster.file_sha256 in page and tested.content_hash in page
    assert "Content guard: no roster data" in page
    assert page.count("As received by") == 3
    assert "W000001" in page and "Tick" not in page
    for item in workflow.SUPERVISOR_CHECKLIST.values():
        assert str(item) in page
    assert "No test message of this version" not in page

