"""Any change after submit returns the campaign to draft and voids every sign-off."""

from django.urls import reverse

from audit.models import AuditEntry
from campaigns import workflow
from campaigns.models import SignOff, State
from tests.factories import SUPERVISOR_TICKS, client_for


def edit(client, campaign, **changes):
    data = {"name": campaign.name, "roster": campaign.roster_id, "sender": campaign.sender,
            "subject": campaign.subject, "body_text": campaign.body_text,
            "body_html": campaign.body_html,
            "canary_enabled": "on" if campaign.canary_enabled else "",
            "canary_size": campaign.canary_size or "", "rate_limit": campaign.rate_limit or "",
            "rate_unit": campaign.rate_unit, **changes}
    return client.post(reverse("campaigns:edit", args=[campaign.pk]), data,
                       HTTP_ACCEPT_LANGUAGE="en")


def test_an_edit_after_approval_voids_it_and_returns_to_draft(olivia, approved):
    old_hash = approved.content_hash
    response = edit(client_for(olivia), approved, body_text=approved.body_text + "追記\n")
    assert response.status_code == 302
    approved.refresh_from_db()
    assert approved.state == State.DRAFT and approved.content_hash == ""
    approval = SignOff.objects.get(kind=SignOff.Kind.APPROVAL)
    assert approval.voided_at is not None and approval.void_reason == "edited"
    entry = AuditEntry.objects.get(action="campaign.edited")
    assert entry.payload["old_content_hash"] == old_hash
    assert entry.payload["content_hash"] == approved.compute_content_hash() != old_hash
    assert entry.payload["voided_signoffs"] == [approval.pk]


def test_an_edit_after_release_is_not_possible(olivia, released):
    response = edit(client_for(olivia), released, subject="changed")
    assert response.status_code == 302
    released.refresh_from_db()
    assert released.state == State.RELEASED and released.subject != "changed"


def test_resubmitted_content_needs_a_new_approval_and_shows_the_diff(olivia, sam, approved):
    edit(client_for(olivia), approved, subject="【訂正】{name} 様")
    approved.refresh_from_db()
    workflow.submit(campaign=approved, user=olivia)
    approved.refresh_from_db()
    assert approved.state == State.SUBMITTED and not approved.valid_approvals().exists()
    page = client_for(sam).get(reverse("campaigns:review", args=[approved.pk]),
                               HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "v1 → v2" in page and "【訂正】" in page
    assert "No test message of this version" in page  # the old test was for the old hash


def test_saving_an_unchanged_form_changes_nothing(olivia, submitted):
    edit(client_for(olivia), submitted)
    submitted.refresh_from_db()
    assert submitted.state == State.SUBMITTED
    assert not AuditEntry.objects.filter(action="campaign.edited").exists()


def test_only_the_author_edits(otto, sam, submitted):
    assert edit(client_for(otto), submitted, subject="x").status_code == 403
    assert edit(client_for(sam), submitted, subject="x").status_code == 403
    submitted.refresh_from_db()
    assert submitted.state == State.SUBMITTED


def test_an_approval_for_old_content_does_not_count(olivia, sam, approved):
    workflow.edit(campaign=approved, user=olivia, subject="{name} 様 (2)")
    approved.refresh_from_db()
    workflow.submit(campaign=approved, user=olivia)
    approved.refresh_from_db()
    assert list(approved.valid_approvals()) == []
    assert SUPERVISOR_TICKS  # a fresh approval would need a fresh test send too


def test_a_browsers_crlf_line_endings_are_not_a_change(olivia, submitted):
    edit(client_for(olivia), submitted, body_text=submitted.body_text.replace("\n", "\r\n"))
    submitted.refresh_from_db()
    assert submitted.state == State.SUBMITTED


def test_the_diff_marks_the_words_that_changed_not_whole_lines(olivia, sam, approved):
    """Inline: what went struck through, what came underlined; Japanese compared character
    by character (it has no spaces); unchanged lines far from a change folded away."""
    body = approved.body_text.replace("変更", "改定") + "\n".join(f"行{n}" for n in range(8))
    edit(client_for(olivia), approved, body_text=body, rate_limit="100", rate_unit="hour")
    approved.refresh_from_db()
    workflow.submit(campaign=approved, user=olivia)
    page = client_for(sam).get(reverse("campaigns:review", args=[approved.pk]),
                               HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "<del>変更</del><ins>改定</ins>" in page
    assert "@@" not in page
    assert "1時間あたり最大 100 通" in page  # a change of the sending terms is shown too


def test_the_word_diff_folds_unchanged_lines_and_keeps_numbers_whole():
    from campaigns.selectors import word_diff

    before = "\n".join(["見出し", *[f"行{n}" for n in range(10)], "会費は 3,000円 です。"])
    after = before.replace("3,000円 です", "5,000円 になります")
    lines = word_diff(before, after)
    assert lines[0] == {"skipped": 9}
    assert lines[-1]["pieces"] == [("same", "会費は "), ("del", "3,000"), ("ins", "5,000"),
                                   ("same", "円 "), ("del", "で"), ("ins", "になりま"),
                                   ("same", "す。")]
    assert word_diff("a\nb", "a\nb\nc")[-1] == {"pieces": [("ins", "c")]}
