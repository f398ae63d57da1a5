"""The content guard refuses other members' data in a message, and says what and where."""

import pytest

from audit.models import AuditEntry
from campaigns import guard, workflow
from campaigns.models import State
from roster.samples import sample_rows
from tests.conftest import audit_actions, client_for, make_campaign, make_roster


def report(roster, body, subject="お知らせ", html=""):
    return guard.check_campaign_content(roster=roster, subject=subject, body_text=body,
                                        body_html=html)


def kinds(result):
    return sorted({f.kind for f in result.findings})


def test_a_clean_personalised_message_passes(roster):
    assert report(roster, "{name} 様\n会員番号 {member_number}\n{email} 宛にお送りしています。").ok


def test_the_2022_leak_pasted_roster_rows_is_refused(roster):
    rows = "\n".join("\t".join(row[:3]) for row in sample_rows(5))
    result = report(roster, "{name} 様\n\n以下の会員の皆様:\n" + rows)
    assert not result.ok
    assert {"pasted_row", "email", "member_number"} <= set(kinds(result))


def test_pasted_csv_rows_of_people_not_in_the_roster_are_still_refused(roster):
    result = report(roster, "{name} 様\n9999001,山本 一郎,ichiro@other.example\n")
    assert kinds(result) == ["pasted_row"]


def test_another_members_email_in_the_body_is_found_with_its_position(roster):
    result = report(roster, "{name} 様\n\n連絡先: member000003@members.example まで")
    (finding,) = result.findings
    assert (finding.kind, finding.member, finding.where) == ("email", "W000003", "body_text")
    assert (finding.line, finding.column) == (3, 6)
    assert finding.text == "member000003@members.example"


def test_full_width_addresses_and_numbers_are_found(roster):
    result = report(roster, "{name} 様 ｍｅｍｂｅｒ０００００４＠ｍｅｍｂｅｒｓ．ｅｘａｍｐｌｅ Ｗ０００００５")
    assert kinds(result) == ["email", "member_number"]
    assert {f.member for f in result.findings} == {"W000004", "W000005"}


def test_a_member_number_in_the_subject_is_found(roster):
    result = report(roster, "{name} 様", subject="W000009 様の件")
    assert [(f.kind, f.where) for f in result.findings] == [("member_number", "subject")]


def test_several_members_names_are_refused_but_one_name_alone_is_allowed(roster):
    first, second = roster.members.order_by("row_number")[:2]
    assert report(roster, f"{{name}} 様\n担当: {first.name}").ok  # a signature may be a name
    result = report(roster, f"{{name}} 様\n{first.name}、{second.name.replace(' ', '')}")
    assert kinds(result) == ["names"]
    assert {f.member for f in result.findings} == {first.member_number, second.member_number}


def test_dates_and_quantities_are_not_member_numbers(olivia):
    roster = make_roster(olivia, rows=[["2026", "A B", "a@example.jp", ""],
                                       ["3510", "C D", "c@example.jp", ""]])
    assert report(roster, "{name} 様 2026年6月30日 3510件 2026/06/30").ok
    assert kinds(report(roster, "{name} 様 会員 2026 の件")) == ["member_number"]


def test_placeholders_are_not_scanned_as_text(roster):
    assert report(roster, "{email}{member_number}{name}").ok


def test_a_roster_column_holding_another_members_address_is_refused(olivia):
    rows = [["W1", "A B", "a@example.jp", "b@example.jp"], ["W2", "C D", "b@example.jp", ""]]
    roster = make_roster(olivia, rows=rows, header=["会員番号", "氏名", "メールアドレス", "紹介者"])
    result = report(roster, "{name} 様 紹介者: {紹介者}")
    (finding,) = result.findings
    assert (finding.where, finding.column_name, finding.recipient, finding.member) == (
        "column", "紹介者", "W1", "W2")
    assert report(roster, "{name} 様").ok  # the column is only scanned when used


def test_the_html_body_is_scanned_too(roster):
    result = report(roster, "{name} 様", html='<a href="mailto:member000002@members.example">x</a>')
    assert [(f.kind, f.where) for f in result.findings] == [("email", "body_html")]


def test_a_one_member_roster_may_carry_its_own_data(olivia):
    roster = make_roster(olivia, rows=[["W1", "A B", "a@example.jp", ""]])
    assert report(roster, "a@example.jp W1").ok


def test_submit_is_refused_with_the_findings_shown_and_audited(olivia, roster):
    campaign = make_campaign(olivia, roster, body_text="{name} 様\nmember000003@members.example")
    client = client_for(olivia)
    response = client.post(f"/campaigns/{campaign.pk}/submit/", follow=True,
                           HTTP_ACCEPT_LANGUAGE="en")
    page = response.content.decode()
    assert "content guard" in page.lower() and "member000003@members.example" in page
    assert "Body, line 2, column 1" in page and "W000003" in page
    campaign.refresh_from_db()
    assert campaign.state == State.DRAFT and not campaign.versions.exists()
    refused = AuditEntry.objects.get(action="campaign.refused")
    assert refused.payload["code"] == "guard"
    assert refused.payload["guard"]["findings"][0] == {
        "kind": "email", "where": "body_text", "line": 2, "column": 1, "member": "W000003"}
    assert "member000003" not in str(refused.payload)  # kind, place and member only


def test_submit_stores_the_passed_guard_report_with_the_version(olivia, draft):
    workflow.submit(campaign=draft, user=olivia)
    version = draft.versions.get()
    assert version.guard.ok and version.guard_report["findings"] == []
    assert audit_actions(action="campaign.submitted")


@pytest.mark.parametrize("count", [200])
def test_guard_index_is_built_once_per_roster(olivia, count):
    roster = make_roster(olivia, count=count)
    guard._index.cache_clear()
    report(roster, "{name}")
    report(roster, "{name} 様")
    assert guard._index.cache_info().hits == 1
