"""The 2022 story, replayed the way it must go now, by four people in four browsers (in
Japanese), a real worker process and a real SMTP server on loopback."""

import csv
import subprocess
import sys

import openpyxl
import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from campaigns.models import Campaign, Delivery, State
from countersign import mailcatcher
from countersign.models import Organisation
from countersign.roles import Role
from roster.samples import sample_rows, xlsx_bytes
from tests.e2e.browsing import signed_in
from tests.factories import make_user, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def address(live_server, name, *args):
    return live_server.url + reverse(name, args=args)


def open_as(browser, live_server, username, *, phone=False):
    screen = {"width": 390, "height": 844} if phone else {"width": 1280}
    return signed_in(browser, live_server, username, locale="ja-JP", **screen)


def campaign_state():
    return Campaign.objects.get().state


def test_operator_supervisor_observer_and_auditor_play_the_whole_story(
        browser, live_server, worker, catcher, screenshots, tmp_path):
    people = {
        "olivia": make_user("olivia", Organisation.CONTRACTOR, Role.OPERATOR),
        "sam": make_user("sam", Organisation.CONTRACTOR, Role.SUPERVISOR),
        "oscar": make_user("oscar", Organisation.ASSOCIATION, Role.OBSERVER),
        "audrey": make_user("audrey", Organisation.ASSOCIATION, Role.AUDITOR),
    }
    roster_file = tmp_path / "会員名簿.xlsx"
    roster_file.write_bytes(xlsx_bytes(sample_rows(40)))

    # 1. The operator imports the Japanese roster (check, preview, confirm).
    olivia = open_as(browser, live_server, "olivia")
    screenshots(olivia, "operator-home")
    olivia.goto(address(live_server, "roster:upload"))
    olivia.fill("#id_name", "2026年6月 会員名簿")
    olivia.set_input_files("#id_file", str(roster_file))
    olivia.get_by_role("button", name="ファイルを確認").click()
    olivia.wait_for_url("**/rosters/import/*/")
    screenshots(olivia, "operator-roster-preview")
    olivia.get_by_role("button", name="この 40 人を保存する").click()
    olivia.wait_for_url("**/rosters/*/")
    assert "40 人の会員を" in olivia.content()

    # 2. ... drafts the campaign.
    olivia.goto(address(live_server, "campaigns:create"))
    olivia.fill("#id_name", "感染症見舞金の変更のお知らせ")
    olivia.select_option("#id_roster", label="2026年6月 会員名簿")
    olivia.fill("#id_subject", "【重要】{name} 様：感染症見舞金の変更")
    olivia.fill("#id_body_text", "{name} 様\n\n会員番号 {member_number}\n所属支部：{支部}\n\n"
                                 "感染症見舞金の給付内容が変更になりました。\n")
    olivia.fill("#id_canary_size", "5")
    olivia.fill("#id_rate_limit", "2")
    olivia.select_option("#id_rate_unit", "second")
    screenshots(olivia, "operator-draft")
    olivia.get_by_role("button", name="下書きを保存").click()
    olivia.wait_for_url("**/campaigns/*/")
    campaign = Campaign.objects.get()
    detail = address(live_server, "campaigns:detail", campaign.pk)

    # 3. ... cannot approve her own campaign.
    response = olivia.goto(address(live_server, "campaigns:review", campaign.pk))
    assert response.status == 403
    screenshots(olivia, "operator-cannot-approve")

    def submit_and_test_send():
        olivia.goto(detail)
        with olivia.expect_navigation():
            olivia.get_by_role("button", name="確認に回す").click()
        olivia.fill("#id_member_number", "W000001")
        olivia.check(f"input[name=recipients][value='{people['sam'].pk}']")
        olivia.check(f"input[name=recipients][value='{people['oscar'].pk}']")
        with olivia.expect_navigation():
            olivia.get_by_role("button", name="テスト送信").click()
        assert "テストメールを送りました" in olivia.content()

    submit_and_test_send()
    screenshots(olivia, "operator-submitted-and-test-sent")

    # 4. The supervisor rejects with a comment.
    sam = open_as(browser, live_server, "sam")
    sam.goto(address(live_server, "campaigns:review", campaign.pk))
    screenshots(sam, "supervisor-review")
    sam.fill("#id_comment", "件名に「変更」ではなく「改定」と書いてください。")
    sam.click("button[name=reject]")
    sam.wait_for_url(detail)
    assert campaign_state() == State.DRAFT

    # 5. The operator fixes it and submits again, with a fresh test message.
    olivia.goto(address(live_server, "campaigns:edit", campaign.pk))
    olivia.fill("#id_subject", "【重要】{name} 様：感染症見舞金の改定")
    olivia.get_by_role("button", name="下書きを保存").click()
    olivia.wait_for_url(detail)
    submit_and_test_send()

    # 6. The supervisor approves with the checklist (the diff shows the change).
    sam.goto(address(live_server, "campaigns:review", campaign.pk))
    assert "v1 → v2" in sam.content() and "改定" in sam.content()
    for box in sam.locator("input[name=checklist]").all():
        box.check()
    screenshots(sam, "supervisor-approve")
    sam.click("button[name=approve]")
    sam.wait_for_url(detail)
    assert campaign_state() == State.APPROVED

    # 7. The association's observer witnesses and releases, on a phone.
    oscar = open_as(browser, live_server, "oscar", phone=True)
    oscar.goto(address(live_server, "campaigns:observer_dashboard"))
    screenshots(oscar, "observer-dashboard-phone")
    oscar.goto(address(live_server, "campaigns:release", campaign.pk))
    for box in oscar.locator("input[name=checklist]").all():
        box.check()
    screenshots(oscar, "observer-release-phone")
    oscar.click("button[name=release]")
    oscar.wait_for_url(detail)

    # 8. The worker sends the first five, then holds; the observer confirms a copy.
    wait_until(lambda: campaign_state() == State.HELD, timeout=90, what="the canary hold")
    assert Delivery.objects.filter(state=Delivery.State.SENT).count() == 5
    # The observer's open page follows the campaign by itself (it reloads when the state
    # changes), so she waits for the hold to appear instead of navigating over that reload.
    confirm = oscar.get_by_role("button", name="内容に問題なし：残りを送信")
    confirm.wait_for(timeout=15_000)
    screenshots(oscar, "observer-held-phone")
    with oscar.expect_navigation():
        confirm.click()

    # 9. Midway, the supervisor presses STOP (one confirmation).
    wait_until(lambda: Delivery.objects.filter(state=Delivery.State.SENT).count() >= 9,
               timeout=90, what="sending after the confirmation")
    sam.goto(detail)
    sam.once("dialog", lambda dialog: dialog.accept())
    with sam.expect_navigation():
        sam.click(".btn-stop")
    stopped_at = timezone.now()
    assert campaign_state() == State.STOPPED
    screenshots(sam, "supervisor-stopped")
    sent = Delivery.objects.filter(state=Delivery.State.SENT).count()
    assert 9 <= sent < 40
    assert not Delivery.objects.filter(claimed_at__gt=stopped_at).exists()

    # Members got one message each, in Japanese, with their own data and no attachment.
    member_mail = [m for m in mailcatcher.caught(catcher[1]) if m["X-Countersign-Campaign"]]
    wait_until(lambda: len([m for m in mailcatcher.caught(catcher[1])
                            if m["X-Countersign-Campaign"]]) == Delivery.objects.filter(
        state=Delivery.State.SENT).count(), timeout=10, what="the catcher to agree with the ledger")
    member_mail = [m for m in mailcatcher.caught(catcher[1]) if m["X-Countersign-Campaign"]]
    recipients = [m["To"] for m in member_mail]
    assert len(recipients) == len(set(recipients))
    first = next(m for m in member_mail if "member000001" in m["To"])
    assert first["Subject"].startswith("【重要】") and "改定" in first["Subject"]
    assert "W000001" in first.get_body(("plain",)).get_content()
    assert not any(part.is_attachment() for m in member_mail for part in m.walk())

    # 10. The auditor exports the log (it verifies) and the incident report.
    audrey = open_as(browser, live_server, "audrey")
    audrey.goto(address(live_server, "audit:log"))
    screenshots(audrey, "auditor-log")
    with audrey.expect_download() as download:
        audrey.get_by_role("link", name="表示中のエントリをエクスポート（CSV）").click()
    log_path = tmp_path / "audit.csv"
    download.value.save_as(log_path)
    verified = subprocess.run([sys.executable, str(settings.BASE_DIR / "audit" / "chain.py"),
                               str(log_path)], capture_output=True, text=True, check=False)
    assert verified.returncode == 0, verified.stdout
    audrey.goto(address(live_server, "audit:incident", campaign.pk))
    screenshots(audrey, "auditor-incident-report")
    with audrey.expect_download() as download:
        audrey.get_by_role("link", name="エクスポート（CSV）").click()
    with open(download.value.path(), encoding="utf-8-sig", newline="") as incident:
        rows = list(csv.reader(incident))
    # Column keys, then their names in the reader's language, then one row per member.
    assert rows[0][:2] == ["member_number", "outcome"] and rows[1][0] == "会員番号"
    assert len(rows) == 42
    # The auditor's report holds no member data: member numbers, outcomes, hashes only.
    assert sum(1 for row in rows[2:] if row[1] == "送信済み（メールサーバーが受け付け）") == sent
    assert all(row[3].endswith("+09:00") for row in rows[2:] if row[3])
    assert not any("@members.example" in cell or "陽菜" in cell for row in rows for cell in row)
    with audrey.expect_download() as download:
        audrey.get_by_role("link", name="エクスポート（Excel）").click()
    xlsx_path = tmp_path / "incident.xlsx"
    download.value.save_as(xlsx_path)
    sheet = openpyxl.load_workbook(xlsx_path).active
    assert sheet.max_row == 42
    audrey.goto(address(live_server, "audit:compliance"))
    screenshots(audrey, "auditor-compliance")

    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"roster.imported", "campaign.rejected", "campaign.approved",
            "campaign.released", "campaign.started", "campaign.held", "campaign.canary_confirmed",
            "campaign.stopped", "audit.exported", "campaign.incident_report_exported"} <= actions
    assert len(screenshots.taken) >= 12
