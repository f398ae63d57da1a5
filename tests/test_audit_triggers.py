"""The database itself refuses to change or remove audit entries (raw SQL, not the ORM)."""

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from audit import triggers
from audit.checks import check_audit_triggers
from audit.models import AuditEntry
from tests.audit_helpers import raw, write_entries


def test_raw_update_is_refused_by_the_database(db):
    write_entries(2)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        raw("UPDATE audit_auditentry SET action = 'forged' WHERE sequence = 1")
    assert AuditEntry.objects.get(sequence=1).action == "test.action"


def test_raw_delete_is_refused_by_the_database(db):
    write_entries(2)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        raw("DELETE FROM audit_auditentry WHERE sequence = 2")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        raw("DELETE FROM audit_auditentry")
    assert AuditEntry.objects.count() == 2


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)  # entries committed, as in real life
def test_truncate_is_refused_by_postgresql():
    write_entries(1)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        raw("TRUNCATE audit_auditentry")
    assert AuditEntry.objects.count() == 1


@pytest.mark.postgres_only
def test_a_disabled_trigger_counts_as_missing(db):
    raw("ALTER TABLE audit_auditentry DISABLE TRIGGER audit_refuse_update")
    assert triggers.missing(connection) == ["audit_refuse_update"]


def test_all_triggers_are_present_after_migrate(db):
    assert triggers.missing(connection) == []
    assert check_audit_triggers(databases=["default"]) == []


def test_system_check_fails_when_a_trigger_is_missing(db):
    raw("DROP TRIGGER audit_refuse_delete" + (" ON audit_auditentry" if connection.vendor == "postgresql" else ""))
    errors = check_audit_triggers(databases=["default"])
    assert [e.id for e in errors] == ["audit.E001"]
    assert "audit_refuse_delete" in errors[0].msg


def test_manage_py_check_reports_missing_triggers(db):
    triggers.uninstall(connection)
    from django.core.management.base import SystemCheckError

    with pytest.raises(SystemCheckError, match="audit.E001"):
        call_command("check", databases=["default"])


def test_migrate_puts_missing_triggers_back(db):
    triggers.uninstall(connection)
    from audit.apps import ensure_triggers

    ensure_triggers(using="default")  # what every `migrate` runs at its end
    assert triggers.missing(connection) == []
