"""The CSV export: every field and both hashes, Excel-safe, streamed, audited, and verifiable
by an outsider with the shipped script."""

import re
import subprocess
import sys
import unicodedata
from io import StringIO

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse
from hypothesis import given
from hypothesis import settings as fuzz_settings
from hypothesis import strategies as st

import audit
from audit.chain import CSV_COLUMNS, CSV_LABELS, csv_cell, csv_uncell
from audit.models import AuditEntry
from countersign.exports import csv_lines
from tests.factories import client_for, make_campaign, make_user

SCRIPT = str(settings.BASE_DIR / "audit" / "chain.py")


def download(client, **filters) -> bytes:
    response = client.get(reverse("audit:export"), filters)
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    return b"".join(response.streaming_content)


def verify_file(path, *args):
    return subprocess.run([sys.executable, SCRIPT, str(path), *args], capture_output=True,
                          text=True, check=False)


def test_the_export_is_utf8_with_bom_and_crlf_for_japanese_excel(released, audrey):
    data = download(client_for(audrey))
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    lines = text.split("\r\n")
    assert lines[0] == ",".join(CSV_COLUMNS)
    assert lines[1] == ",".join(CSV_LABELS["ja"])  # the reader's language (ja by default)
    assert "\n" not in text.replace("\r\n", "")  # no bare LF between records
    assert "会員名簿" in text  # Japanese survives


def test_the_column_names_follow_the_readers_language(released, audrey):
    response = client_for(audrey).get(reverse("audit:export"), HTTP_ACCEPT_LANGUAGE="en")
    lines = b"".join(response.streaming_content).decode("utf-8-sig").split("\r\n")
    assert lines[0] == ",".join(CSV_COLUMNS) and lines[1] == ",".join(CSV_LABELS["en"])


def test_the_full_export_verifies_with_the_shipped_script(released, audrey, tmp_path):
    path = tmp_path / "audit.csv"
    path.write_bytes(download(client_for(audrey)))
    result = verify_file(path)
    assert result.returncode == 0, result.stdout
    # every entry, the export's own audit entry included
    assert f"OK: {AuditEntry.objects.count()} entries verified" in result.stdout


def test_a_changed_cell_fails_verification(released, audrey, tmp_path):
    path = tmp_path / "audit.csv"
    text = download(client_for(audrey)).decode("utf-8-sig")
    path.write_text(text.replace(",sam,", ",someone,", 1), encoding="utf-8-sig")
    result = verify_file(path)
    assert result.returncode == 1 and "FAILED at entry" in result.stdout


def test_a_filtered_export_verifies_entry_by_entry(released, audrey, tmp_path):
    path = tmp_path / "sam.csv"
    path.write_bytes(download(client_for(audrey), actor="sam"))
    assert verify_file(path).returncode == 1  # not a whole chain ...
    result = verify_file(path, "--partial")  # ... but each entry holds
    assert result.returncode == 0 and "gaps allowed" in result.stdout


def test_formula_cells_are_neutralised_and_still_verify(db, audrey, tmp_path):
    plus = make_user("+mallory", "contractor")
    plus.groups.add(Group.objects.get(name="operator"))
    with transaction.atomic():
        audit.record("test.comment", actor=plus, payload={"comment": "+1 SUM(A1)"})
        audit.record("=HYPERLINK(\"http://evil\")", system="test")
    data = download(client_for(audrey)).decode("utf-8-sig")
    assert ",'+mallory," in data and "'=HYPERLINK(" in data
    assert ",+mallory," not in data and ',"=HYPERLINK' not in data
    path = tmp_path / "audit.csv"
    path.write_text(data, encoding="utf-8-sig")
    assert verify_file(path).returncode == 0


def test_the_export_itself_is_audited(released, audrey):
    download(client_for(audrey), role="supervisor")
    entry = AuditEntry.objects.get(action="audit.exported")
    assert entry.actor_name == "audrey" and entry.payload["filters"] == {"role": "supervisor"}


def test_the_export_command_writes_the_same_verifiable_file(released, tmp_path):
    path = tmp_path / "cli.csv"
    call_command("export_audit", "--out", str(path), stdout=StringIO())
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert verify_file(path).returncode == 0
    call_command("export_audit", "--out", str(tmp_path / "c.csv"), "--object-type",
                 "campaigns.campaign", "--object-id", str(released.pk), stdout=StringIO())
    assert verify_file(tmp_path / "c.csv", "--partial").returncode == 0
    assert AuditEntry.objects.filter(action="audit.exported", actor_name="system:cli").count() == 2


def test_the_export_command_exports_the_entries_about_one_object(released, olivia, tmp_path):
    other = make_campaign(olivia, released.roster, name="other")
    path = tmp_path / "other.csv"
    call_command("export_audit", "--out", str(path), "--object-type", "campaigns.campaign",
                 "--object-id", str(other.pk), stdout=StringIO())
    rows = path.read_bytes().decode("utf-8-sig").split("\r\n")[2:-1]
    assert [row.split(",")[CSV_COLUMNS.index("action")] for row in rows] == ["campaign.created"]
    entry = AuditEntry.objects.filter(action="audit.exported").last()
    assert entry.payload["filters"] == {"object_type": "campaigns.campaign",
                                        "object_id": str(other.pk)}


@pytest.mark.parametrize("arguments, refusal", [
    (["--object-type", "campaigns.campain"], "no model 'campaigns.campain'"),
    (["--object-type", "campaign"], "no model 'campaign'"),
    (["--object-id", "3"], "--object-id needs --object-type"),
])
def test_the_export_command_refuses_an_object_it_cannot_name(db, tmp_path, arguments, refusal):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=re.escape(refusal)):
        call_command("export_audit", "--out", str(tmp_path / "x.csv"), *arguments,
                     stdout=StringIO())
    assert not (tmp_path / "x.csv").exists()
    assert not AuditEntry.objects.filter(action="audit.exported").exists()


def test_an_anchor_the_association_kept_is_found_in_the_export(released, audrey, tmp_path):
    anchor = AuditEntry.objects.get(action="campaign.released").hash
    path = tmp_path / "audit.csv"
    path.write_bytes(download(client_for(audrey)))
    assert verify_file(path, "--anchor", anchor).returncode == 0
    assert verify_file(path, "--anchor", "0" * 63 + "1").returncode == 1


HOSTILE_CELLS = [
    "＝HYPERLINK(\"http://evil\")", "＋1+1", "－1", "＠SUM(A1)", "=1+1", "+1", "-1", "@SUM(A1)",
    "\t=1+1", "\r=1+1", "x;=1+1", "x; =1+1", 'x;"=1+1"', "x\t+1", "x\n-1", "x؛=1", "x;y;@z",
    "'quoted", "''twice", "x;'y", "  =1", "　＝1", "plain", "", ";", "'", "2026-06-01",
]


@pytest.mark.parametrize("value", HOSTILE_CELLS)
def test_a_hostile_cell_is_neutralised_and_undone_exactly(value):
    cell = csv_cell(value)
    assert csv_uncell(cell) == value
    for piece in re.split("[;\t\r\n\u061b]", cell):
        first = unicodedata.normalize("NFKC", piece).lstrip(' "')
        assert not first.startswith(("=", "+", "-", "@")), (value, cell)


@given(st.text(alphabet=st.sampled_from(list("=+-@'\";\t\r\n؛ 　＝＋－＠＂x1")), max_size=12))
@fuzz_settings(max_examples=500, deadline=None, derandomize=True)
def test_any_cell_survives_the_escape_and_its_undo(value):
    cell = csv_cell(value)
    assert csv_uncell(cell) == value
    assert csv_cell(csv_uncell(cell)) == cell  # what the strict reader demands


def test_a_spreadsheet_export_neutralises_full_width_and_semicolon_formulas():
    text = "".join(csv_lines(["campaign", "subject"],
                             [["＝HYPERLINK(\"http://evil\")", "x;=1+1"]]))
    assert "'＝HYPERLINK(" in text and "x;'=1+1" in text
    assert ",＝HYPERLINK" not in text and "x;=1+1" not in text


def test_hostile_cells_round_trip_through_the_audit_export(db, tmp_path):
    with transaction.atomic():
        for value in HOSTILE_CELLS:
            if "\t" in value or "\r" in value or "\n" in value:
                # Only the payload may hold control characters; JSON writes them as escapes.
                audit.record("test.comment", system="test", payload={"comment": value})
            else:
                audit.record(value or "test.empty", system="test", payload={"comment": value})
    path = tmp_path / "audit.csv"
    call_command("export_audit", "--out", str(path), stdout=StringIO())
    text = path.read_bytes().decode("utf-8-sig")
    assert "\"'＝HYPERLINK(" in text and ",'－1," in text and ",x;'=1+1," in text
    assert ",'@SUM(A1)," in text and ",'＠SUM(A1)," in text and ",'''twice," in text
    result = verify_file(path)
    assert result.returncode == 0, result.stdout
    assert f"OK: {len(HOSTILE_CELLS)} entries verified" in result.stdout
