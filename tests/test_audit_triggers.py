"""The database itself refuses to change or remove audit entries (raw SQL, not the ORM)."""

import pytest
from django.core.management import CommandError, call_command
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
    on_table = " ON audit_auditentry" if connection.vendor == "postgresql" else ""
    raw("DROP TRIGGER audit_refuse_delete" + on_table)
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


def insert(sequence, prev_hash, hash_, *, action="campaign.approved", payload="{}"):
    raw("INSERT INTO audit_auditentry (sequence, created_at, actor_name, role, organisation, "
        "action, object_type, object_id, payload, prev_hash, hash) "
        "VALUES (%s, %s, 'sam', 'supervisor', 'contractor', %s, '', '', %s, %s, %s)",
        [sequence, "2026-11-26 10:00:00+00:00", action, payload, prev_hash, hash_])


def test_an_insert_that_does_not_extend_the_head_is_refused(db):
    head = write_entries(2)[-1]
    for sequence, prev_hash in ((100_000, head.hash), (2, head.prev_hash), (3, "f" * 64),
                                (1, "0" * 64)):
        with pytest.raises(DatabaseError, match="extend the head"), transaction.atomic():
            insert(sequence, prev_hash, "e" * 64)
    assert AuditEntry.objects.count() == 2
    from audit.verification import verify_database

    assert verify_database().ok


@pytest.mark.postgres_only
def test_postgresql_recomputes_the_hash_and_refuses_a_made_up_one(db):
    head = write_entries(1)[-1]
    with pytest.raises(DatabaseError, match="does not hash"), transaction.atomic():
        insert(2, head.hash, "a" * 64)  # a forged approval with a correct-looking hash
    assert AuditEntry.objects.count() == 1


@pytest.mark.postgres_only
def test_postgresql_computes_the_same_canonical_hash_as_python_for_any_payload(db):
    import audit

    payloads = [{}, {"z": 1, "a": [], "m": {}}, {"日本": "語", "ä": "\n\t\"\\", "A": None},
                {"nested": {"b": [1, -2, 12345678901234567890, True, False, None]}},
                {"control": "\x01\x1f\x7f\u2028", "emoji": "🙂", "": "empty key"},
                {"keys": {"é": 1, "e": 2, "E": 3, "😀": 4, "中": 5}}]
    for payload in payloads:  # record() computes the hash in Python; the trigger checks it
        with transaction.atomic():
            audit.record("test.canonical", system="test", payload=payload)
    assert AuditEntry.objects.filter(action="test.canonical").count() == len(payloads)


@pytest.mark.postgres_only
def test_a_trigger_function_replaced_by_the_table_owner_is_reported(db, client):
    raw("CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$")  # lets every change through
    assert triggers.missing(connection) == []  # present and enabled: it looks fine
    assert triggers.problems(connection) == ["audit_refuse_change (altered)"]
    assert [e.id for e in check_audit_triggers(databases=["default"])] == ["audit.E001"]
    assert client.get("/health/").status_code == 503
    with pytest.raises(CommandError) as failed:
        call_command("verify_audit")
    assert failed.value.returncode == 3 and "audit_refuse_change (altered)" in str(failed.value)
    call_command("verify_audit", "--reinstall-triggers")
    assert triggers.problems(connection) == []


@pytest.mark.postgres_only
def test_a_security_definer_or_settings_on_the_function_count_as_altered(db):
    raw("ALTER FUNCTION audit_extend_head() SECURITY DEFINER")
    assert triggers.problems(connection) == ["audit_extend_head (altered)"]


@pytest.mark.postgres_only
def test_a_trigger_given_a_condition_counts_as_altered(db):
    raw("DROP TRIGGER audit_refuse_delete ON audit_auditentry")
    raw("CREATE TRIGGER audit_refuse_delete BEFORE DELETE ON audit_auditentry FOR EACH ROW "
        "WHEN (false) EXECUTE FUNCTION audit_refuse_change()")
    assert triggers.problems(connection) == ["audit_refuse_delete (altered)"]


def test_a_sqlite_or_postgresql_trigger_recreated_to_do_nothing_is_reported(db):
    if connection.vendor == "sqlite":
        raw("DROP TRIGGER audit_refuse_update")
        raw("CREATE TRIGGER audit_refuse_update BEFORE UPDATE ON audit_auditentry "
            "BEGIN SELECT 1; END")
    else:
        raw("DROP TRIGGER audit_refuse_update ON audit_auditentry")
        raw("CREATE TRIGGER audit_refuse_update BEFORE UPDATE ON audit_auditentry "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()")
    assert triggers.problems(connection) == ["audit_refuse_update (altered)"]
    triggers.install(connection)
    assert triggers.problems(connection) == []
