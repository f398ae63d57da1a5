"""Database triggers that keep the audit table an append-only chain, on SQLite and PostgreSQL.

* UPDATE, DELETE (and TRUNCATE on PostgreSQL) are refused.
* An INSERT must extend the head: sequence = head's + 1 and prev_hash = head's hash (64
  zeros for the first entry). On PostgreSQL the trigger also recomputes the entry's hash
  from its fields with the built-in sha256(), exactly as audit/chain.py does, and refuses a
  mismatch: a row with a made-up hash cannot get in, whoever may INSERT.

Installed by migration audit 0003 and re-installed after every `migrate` (Django rebuilds a
SQLite table on some schema changes and silently drops its triggers). `problems()` compares
what the database holds with these definitions, not only their presence: a trigger function
replaced by the table owner (CREATE OR REPLACE FUNCTION with a body that lets changes
through) is reported by the `audit.E001` check, `/health/` and `verify_audit`.
"""

import re

TABLE = "audit_auditentry"
GENESIS = "0" * 64

_SQLITE = {
    "audit_refuse_update": (
        f"CREATE TRIGGER audit_refuse_update BEFORE UPDATE ON {TABLE} "
        "BEGIN SELECT RAISE(ABORT, 'audit log is append-only: UPDATE refused'); END"
    ),
    "audit_refuse_delete": (
        f"CREATE TRIGGER audit_refuse_delete BEFORE DELETE ON {TABLE} "
        "BEGIN SELECT RAISE(ABORT, 'audit log is append-only: DELETE refused'); END"
    ),
    "audit_extend_head": (
        f"CREATE TRIGGER audit_extend_head BEFORE INSERT ON {TABLE} "
        "BEGIN SELECT RAISE(ABORT, 'audit log: an entry must extend the head (sequence + 1, "
        "prev_hash = the head''s hash)') "
        f"WHERE NEW.sequence IS NOT (SELECT COALESCE(MAX(sequence), 0) + 1 FROM {TABLE}) "
        f"OR NEW.prev_hash IS NOT COALESCE((SELECT hash FROM {TABLE} "
        f"ORDER BY sequence DESC LIMIT 1), '{GENESIS}'); END"
    ),
}

# Python's json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False):
# keys in code point order (COLLATE "C" compares UTF-8 bytes, the same order), strings
# escaped as both escape them (to_jsonb(text)::text), integers as digits.
_PG_FUNCTIONS = {
    "audit_canonical_json": """
CREATE OR REPLACE FUNCTION audit_canonical_json(value jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    CASE jsonb_typeof(value)
    WHEN 'object' THEN
        RETURN '{' || COALESCE((SELECT string_agg(to_jsonb(key)::text || ':'
                                                  || audit_canonical_json(item), ','
                                                  ORDER BY key COLLATE "C")
                                FROM jsonb_each(value) AS pair(key, item)), '') || '}';
    WHEN 'array' THEN
        RETURN '[' || COALESCE((SELECT string_agg(audit_canonical_json(item), ','
                                                  ORDER BY position)
                                FROM jsonb_array_elements(value)
                                     WITH ORDINALITY AS element(item, position)), '') || ']';
    ELSE
        RETURN value::text;
    END CASE;
END
$$""",
    "audit_refuse_change": """
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit log is append-only: % refused', TG_OP;
END
$$""",
    "audit_extend_head": f"""
CREATE OR REPLACE FUNCTION audit_extend_head() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head_sequence bigint;
    head_hash text;
    canonical text;
BEGIN
    SELECT sequence, hash INTO head_sequence, head_hash FROM {TABLE}
    ORDER BY sequence DESC LIMIT 1;
    IF NEW.sequence IS DISTINCT FROM COALESCE(head_sequence, 0) + 1
       OR NEW.prev_hash IS DISTINCT FROM COALESCE(head_hash, '{GENESIS}') THEN
        RAISE EXCEPTION 'audit log: an entry must extend the head (sequence %, prev_hash of '
                        'entry %)', COALESCE(head_sequence, 0) + 1, head_sequence;
    END IF;
    canonical := audit_canonical_json(jsonb_build_object(
        'sequence', NEW.sequence,
        'time', to_char(NEW.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'actor', NEW.actor_name, 'role', NEW.role, 'organisation', NEW.organisation,
        'action', NEW.action, 'object_type', NEW.object_type, 'object_id', NEW.object_id,
        'payload', NEW.payload));
    IF NEW.hash IS DISTINCT FROM
       encode(sha256(convert_to(NEW.prev_hash || E'\\n' || canonical, 'UTF8')), 'hex') THEN
        RAISE EXCEPTION 'audit log: entry % does not hash to its hash', NEW.sequence;
    END IF;
    RETURN NEW;
END
$$""",
}
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
    "audit_extend_head": (
        f"CREATE OR REPLACE TRIGGER audit_extend_head BEFORE INSERT ON {TABLE} "
        "FOR EACH ROW EXECUTE FUNCTION audit_extend_head()"
    ),
}


def _triggers(connection) -> dict[str, str]:
    if connection.vendor == "sqlite":
        return _SQLITE
    if connection.vendor == "postgresql":
        return _POSTGRES
    raise NotImplementedError(f"no audit triggers for {connection.vendor}")


def install(connection) -> None:
    """Create the triggers, or put back the expected definitions of altered ones."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for sql in _PG_FUNCTIONS.values():
                cursor.execute(sql)
        for name, sql in _triggers(connection).items():
            if connection.vendor == "sqlite":
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            cursor.execute(sql)


def uninstall(connection) -> None:
    with connection.cursor() as cursor:
        for name in _triggers(connection):
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {TABLE}")
            else:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


def _words(sql: str) -> str:
    """A definition without the differences that do not change it (spacing, OR REPLACE)."""
    sql = sql.replace("CREATE OR REPLACE", "CREATE")
    return re.sub(r"\s+", " ", sql).strip().rstrip(";")


def problems(connection) -> list[str]:
    """What is wrong with the triggers: "name (missing)", "name (disabled)" or
    "name (altered)" for a trigger or trigger function whose definition is not ours."""
    found = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname, tgenabled, pg_get_triggerdef(oid) FROM pg_trigger "
                "WHERE tgrelid = %s::regclass AND NOT tgisinternal", [TABLE])
            present = {name: (enabled, definition) for name, enabled, definition in cursor}
            cursor.execute(
                "SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p "
                "JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = current_schema() AND p.proname = ANY(%s)",
                [list(_PG_FUNCTIONS)])
            functions = dict(cursor.fetchall())
            for name, sql in _PG_FUNCTIONS.items():
                body = sql.split("$$")[1]
                if name not in functions:
                    found.append(f"{name} (missing)")
                elif _words(body) not in _words(functions[name]) or _pg_options(functions[name]):
                    found.append(f"{name} (altered)")
        else:
            cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                           "AND tbl_name = %s", [TABLE])
            present = {name: ("O", sql) for name, sql in cursor.fetchall()}
    for name, sql in _triggers(connection).items():
        if name not in present:
            found.append(f"{name} (missing)")
        elif present[name][0] not in ("O", "A"):  # 'D' disabled; 'R' only on replicas
            found.append(f"{name} (disabled)")
        elif _words(present[name][1]) != _words(sql).replace(f" ON {TABLE} ", _on(present)):
            found.append(f"{name} (altered)")
    return found


def _on(present) -> str:
    """pg_get_triggerdef() may qualify the table with its schema; both forms are ours."""
    for _enabled, definition in present.values():
        match = re.search(r" ON (\S+) ", definition)
        if match and match.group(1).endswith(TABLE):
            return f" ON {match.group(1)} "
    return f" ON {TABLE} "


def _pg_options(definition: str) -> bool:
    """Options that change how our body runs: SECURITY DEFINER, a SET of some setting."""
    head = definition.split("$", 1)[0]
    sets_a_setting = re.search(r"^\s*SET\s", head, re.MULTILINE | re.IGNORECASE)
    return "SECURITY DEFINER" in head.upper() or bool(sets_a_setting)


def missing(connection) -> list[str]:
    """Names of expected triggers that are absent or disabled (kept for callers that only
    ask about presence; problems() is the full answer)."""
    return sorted({p.split(" ")[0] for p in problems(connection)
                   if p.endswith(("(missing)", "(disabled)")) and p.split(" ")[0] in
                   _triggers(connection)})
