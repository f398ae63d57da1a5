import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import AuditEntry
from roster.models import Member, Roster
from roster.samples import csv_bytes, sample_rows, xlsx_bytes


def run(path, *args):
    from io import StringIO

    out, err = StringIO(), StringIO()
    call_command("import_roster", str(path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_imports_an_xlsx_and_says_how_many(db, tmp_path):
    path = tmp_path / "members.xlsx"
    path.write_bytes(xlsx_bytes(sample_rows(30)))
    out, _err = run(path, "--name", "June")
    assert "imported 30 members" in out
    roster = Roster.objects.get()
    assert roster.member_count == 30 and roster.imported_by is None
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor_name) == ("roster.imported", "system:cli")


def test_it_refuses_a_broken_file_names_the_problems_and_stores_nothing(db, tmp_path):
    path = tmp_path / "members.csv"
    path.write_bytes(csv_bytes(sample_rows(3) + [["W000001", "X", "x@example.jp", ""]],
                               encoding="cp932"))
    with pytest.raises(CommandError, match="1 problem"):
        run(path, "--name", "June")
    assert not Roster.objects.exists() and not Member.objects.exists()
    assert AuditEntry.objects.get().action == "roster.import_refused"


def test_dry_run_stores_nothing(db, tmp_path):
    path = tmp_path / "members.csv"
    path.write_bytes(csv_bytes(sample_rows(3)))
    out, _err = run(path, "--name", "June", "--dry-run")
    assert "checked 3 members" in out and not Roster.objects.exists()


def test_a_missing_file_is_a_clear_error(db, tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        run(tmp_path / "nope.csv", "--name", "June")

