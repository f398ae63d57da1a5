"""The two-person compliance report and the incident report for one campaign."""

import csv
import io

import openpyxl
import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

import audit
from audit.models import AuditEntry
from campaigns.models import Delivery
from campaigns.reports import compliance_row
from tests.factories import (
    client_for,
    make_campaign,
    make_roster,
    released_campaign,
    run_until_done,
)


@pytest.fixture
def sent(olivia, sam, oscar, sink):
    roster = make_roster(olivia, rows=[
        ["W1", "=HYPERLINK(\"http://evil.example\",\"x\")", "a@example.jp", ""],
        ["W2", "鈴木 花子", "b@example.jp", ""],
        ["W3", "佐藤 太郎", "c@example.jp", ""],
        ["W4", "田中 一郎", "d@example.jp", ""],
    ])
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    sink.handler.refuse["c@example.jp"] = "550 5.1.1 unknown user"
    run_until_done(campaign)
    return campaign


def test_a_properly_countersigned_campaign_is_compliant(sent):
    row = compliance_row(sent)
    assert row["flags"] == []
    assert (row["author"], row["supervisor"], row["observer"]) == ("olivia", "sam", "oscar")
    assert row["approved_hash"] == row["released_hash"] == row["sent_hash"] == sent.content_hash
    assert row["test_send_of_sent_hash"] and row["canary"] == "off"
    assert row["release_to_start_seconds"] is not None


def test_a_campaign_started_without_its_countersignatures_is_flagged(olivia, roster, audrey):
    # As if someone with database rights had started it behind the workflow's back.
    campaign = make_campaign(olivia, roster, name="bypassed")
    with transaction.atomic():
        audit.record("campaign.started", system="worker", target=campaign,
                     payload={"content_hash": campaign.compute_content_hash(), "canary": 10})
    campaign.started_at = timezone.now()
    campaign.save()
    row = compliance_row(campaign)
    assert {"three_distinct_people", "hashes_match", "supervisor_checklist_complete",
            "observer_checklist_complete", "test_send_of_sent_hash"} <= set(row["flags"])
    page = client_for(audrey).get(reverse("audit:compliance"), HTTP_ACCEPT_LANGUAGE="en").content
    assert b"MISSING" in page and b"bypassed" in page


def test_the_compliance_csv_is_excel_safe_and_audited(sent, audrey):
    sent.name = "=cmd|' /C calc'!A0"
    sent.save()
    response = client_for(audrey).get(reverse("audit:compliance"), {"format": "csv"})
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert "'=cmd|" in text and ",OK,\r\n" in text
    assert AuditEntry.objects.filter(action="audit.compliance_exported").exists()


def test_the_compliance_csv_has_column_keys_names_in_the_readers_language_and_1_or_0(sent,
                                                                                    audrey):
    response = client_for(audrey).get(reverse("audit:compliance"), {"format": "csv"},
                                      HTTP_ACCEPT_LANGUAGE="ja")
    keys, names, row = list(csv.reader(io.StringIO(
        b"".join(response.streaming_content).decode("utf-8-sig"))))[:3]
    assert keys[:3] == ["campaign", "name", "state"] and names[:3] == [
        "キャンペーン番号", "キャンペーン", "状態"]
    cells = dict(zip(keys, row))
    assert cells["state"] == "完了" and cells["state_code"] == "completed"
    assert {cells[k] for k in ("three_distinct_people", "hashes_match",
                               "test_send_of_sent_hash")} == {"1"}
    assert cells["canary"] == "なし" and cells["canary_code"] == "off"
    assert "True" not in row and "False" not in row


def test_the_incident_report_says_who_got_what_and_who_did_not(sent, oscar):
    response = client_for(oscar).get(reverse("audit:incident", args=[sent.pk]), {"format": "csv"},
                                     HTTP_ACCEPT_LANGUAGE="en")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = {line.split(",")[0]: line for line in text.split("\r\n")[2:] if line}
    assert "sent (accepted by the mail server),accepted," in rows["W2"]
    assert sent.content_hash in rows["W2"]
    assert "not sent (failed),failed," in rows["W3"]
    w2 = sent.deliveries.get(member_number="W2")
    assert w2.message_id in rows["W2"] and w2.message_sha256 in rows["W2"]
    assert text.count("'=HYPERLINK") == 1 and ',"=HYPERLINK' not in text
    entry = AuditEntry.objects.get(action="campaign.incident_report_exported")
    assert entry.actor_name == "oscar" and entry.payload["format"] == "csv"


def test_the_incident_report_in_excel_keeps_names_as_text(sent, oscar):
    response = client_for(oscar).get(reverse("audit:incident", args=[sent.pk]),
                                     {"format": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    names = [row[1].value for row in sheet.iter_rows(min_row=3)]
    cell = sheet["B3"]
    assert cell.data_type == "s" and cell.value.startswith("=HYPERLINK")
    assert "鈴木 花子" in names
    entry = AuditEntry.objects.get(action="campaign.incident_report_exported")
    assert entry.payload == {"format": "xlsx", "rows": 4, "member_data": True,
                             "ledger_sha256": sent.ledger_sha256}


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_auditor_gets_the_incident_report_without_names_or_addresses(sent, audrey, fmt):
    response = client_for(audrey).get(reverse("audit:incident", args=[sent.pk]),
                                      {"format": fmt}, HTTP_ACCEPT_LANGUAGE="en")
    if fmt == "xlsx":
        sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
        text = "\n".join(str(v) for row in sheet.iter_rows(values_only=True) for v in row)
    else:
        text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert "W2" in text and sent.deliveries.get(member_number="W2").message_id in text
    for person in ("鈴木 花子", "b@example.jp", "佐藤 太郎", "c@example.jp", "HYPERLINK"):
        assert person not in text
    entry = AuditEntry.objects.get(action="campaign.incident_report_exported")
    assert entry.actor_name == "audrey" and entry.payload["member_data"] is False
    assert entry.payload["rows"] == 4


def test_there_is_no_incident_report_for_a_campaign_that_never_started(roster, olivia, oscar,
                                                                      audrey):
    draft = make_campaign(olivia, roster)
    for user in (oscar, audrey):
        for query in ({}, {"format": "csv"}, {"format": "xlsx"}):
            assert client_for(user).get(reverse("audit:incident", args=[draft.pk]),
                                        query).status_code == 404


def test_in_doubt_and_unsent_recipients_are_listed(sent, audrey):
    Delivery.objects.filter(campaign=sent, member_number="W4").update(
        state=Delivery.State.IN_DOUBT)
    page = client_for(audrey).get(reverse("audit:incident", args=[sent.pk]),
                                  HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "in doubt" in page and "not sent (failed)" in page


def test_operators_cannot_export_the_incident_report(sent, olivia):
    assert client_for(olivia).get(reverse("audit:incident", args=[sent.pk])).status_code == 403


def test_the_incident_csv_names_its_columns_twice_and_keeps_the_offset(sent, oscar):
    response = client_for(oscar).get(reverse("audit:incident", args=[sent.pk]),
                                     {"format": "csv"}, HTTP_ACCEPT_LANGUAGE="ja")
    keys, names, *rows = list(csv.reader(io.StringIO(
        b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert keys[:6] == ["member_number", "name", "email", "outcome", "outcome_code", "sent_at"]
    assert names[:6] == ["会員番号", "氏名", "メールアドレス", "結果", "結果（コード）",
                         "送信日時・JST（UTC+9）"]
    w2 = dict(zip(keys, next(row for row in rows if row[0] == "W2")))
    assert w2["outcome"] == "送信済み（メールサーバーが受け付け）"
    assert w2["outcome_code"] == "accepted"
    sent_at = sent.deliveries.get(member_number="W2").sent_at
    assert w2["sent_at"] == timezone.localtime(sent_at).isoformat(timespec="seconds")
    assert w2["sent_at"].endswith("+09:00")


def test_the_incident_xlsx_has_real_date_cells_in_local_time(sent, oscar):
    response = client_for(oscar).get(reverse("audit:incident", args=[sent.pk]),
                                     {"format": "xlsx"}, HTTP_ACCEPT_LANGUAGE="en")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    keys = [c.value for c in sheet[1]]
    assert [c.value for c in sheet[2]][keys.index("sent_at")] == "Sent at, JST (UTC+9)"
    row = next(r for r in sheet.iter_rows(min_row=3) if r[0].value == "W2")
    cell = row[keys.index("sent_at")]
    sent_at = sent.deliveries.get(member_number="W2").sent_at
    assert cell.is_date and cell.value == timezone.localtime(sent_at).replace(
        tzinfo=None, microsecond=cell.value.microsecond)
    assert sheet.freeze_panes == "A3"
