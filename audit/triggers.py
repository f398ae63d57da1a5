"""Database triggers that make the audit table append-only, on SQLite and PostgreSQL.

Installed by a migration (audit 0002). Django rebuilds SQLite tables on some schema
changes, which silently drops their triggers; the `audit.E001` system check and
verify_audit report missing ones, and install() puts them back.
"""

TABLE = "audit_auditentry"

_SQLITE = {
    "audit_refuse_update": (
        f"CREATE TRIGGER IF NOT EXISTS audit_refuse_update BEFORE UPDATE ON {TABLE} "
        "BEGIN SELECT RAISE(ABORT, 'audit log is append-only: UPDATE refused'); END"
    ),
    "audit_refuse_delete": (
        f"CREATE TRIGGER IF NOT EXISTS audit_refuse_delete BEFORE DELETE ON {TABLE} "
        "BEGIN SELECT RAISE(ABORT, 'audit log is append-only: DELETE refused'); END"
    ),
}

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit log is append-only: % refused', TG_OP;
END
$$
"""
_POSTGRES = {
    "audit_refuse_update": (
        f"CREATE OR REPLACE TRIGGER audit_refuse_update BEFORE UPDATE ON {TABLE} "
        "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()"
    ),
    "audit_refuse_delete": (
        f"CREATE OR REPLACE TRIGGER audit_refuse_delete BEFORE DELETE ON {TABLE} "
        "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()"
    ),
    "audit_refuse_truncate": (
        f"CREATE OR REPLACE TRIGGER audit_refuse_truncate BEFORE TRUNCATE ON {TABLE} "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()"
    ),
}


def _triggers(connection) -> dict[str, str]:
    if connection.vendor == "sqlite":
        return _SQLITE
    if connection.vendor == "postgresql":
        return _POSTGRES
    raise NotImplementedError(f"no audit triggers for {connection.vendor}")


def install(connection) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_PG_FUNCTION)
        for sql in _triggers(connection).values():
            cursor.execute(sql)


def uninstall(connection) -> None:
    with connection.cursor() as cursor:
        for name in _triggers(connection):
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {TABLE}")
            else:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


def missing(connection) -> list[str]:
    """Names of the expected triggers that are absent or disabled."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # 'O' and 'A' fire in a normal session; 'D' is disabled, 'R' fires only in replicas.
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass "
                "AND NOT tgisinternal AND tgenabled IN ('O', 'A')",
                [TABLE],
            )
        else:
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s",
                [TABLE],
            )
        present = {row[0] for row in cursor.fetchall()}
    return sorted(set(_triggers(connection)) - present)
