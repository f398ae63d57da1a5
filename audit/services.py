from django.db import transaction
from django.utils import timezone

from audit.chain import GENESIS, check_payload, entry_hash
from audit.models import AuditEntry, object_key
from audit.selectors import VERIFIED
from audit.verification import verify_database

# Key of the PostgreSQL advisory lock that serialises appends (any constant will do).
_APPEND_LOCK_KEY = 7_402_118_551


class AuditOutsideTransaction(RuntimeError):
    """record() was called outside a transaction: the entry could outlive (or miss) the change."""


def record(
    action: str,
    *,
    actor=None,
    role: str = "",
    target=None,
    payload: dict | None = None,
    system: str = "",
) -> AuditEntry:
    """Append one entry to the audit chain, inside the caller's transaction.

    `actor` is the user who acted, or None for the system, then named by `system`
    ("worker", "cli"). `target` is the model instance acted on, if any. The entry commits or
    rolls back with the change it describes.
    """
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise AuditOutsideTransaction("audit.record() must run inside the caller's transaction")
    if actor is None and not system:
        raise ValueError("an audit entry needs an actor or a system name")
    payload = check_payload(dict(payload or {}))

    _serialise_appends(connection)
    last = AuditEntry.objects.order_by("-sequence").values_list("sequence", "hash").first()
    sequence, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS)

    object_type, object_id = object_key(target) if target is not None else ("", "")
    entry = AuditEntry(
        sequence=sequence,
        created_at=timezone.now(),
        actor=actor,
        actor_name=actor.get_username() if actor is not None else f"system:{system}",
        role=role,
        organisation=actor.organisation if actor is not None else "",
        action=action,
        object_type=object_type,
        object_id=object_id,
        payload=payload,
        prev_hash=prev_hash,
    )
    entry.hash = entry_hash(prev_hash, entry.chain_fields())
    entry.save(_append=True)
    return entry


def _serialise_appends(connection) -> None:
    """Make concurrent appends queue up so that they cannot fork the chain.

    PostgreSQL: a transaction-scoped advisory lock, released at commit or rollback.
    SQLite: every transaction starts with BEGIN IMMEDIATE (settings), so this transaction
    already holds the database's single write lock. On both, the unique sequence and
    prev_hash columns turn any fork that slipped through into an error, not a second branch.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_APPEND_LOCK_KEY])


def verify_and_record(*, actor=None, system: str = "", anchor: str | None = None,
                      anchors=()):
    """Verify the whole chain, then append the outcome to it (a check is an audit entry).
    `anchors`: the outcome of audit.anchors.check(), recorded with it."""
    verdict = verify_database(anchor=anchor)
    with transaction.atomic():
        record(VERIFIED, actor=actor, role="auditor" if actor is not None else "",
               system=system, payload={
                   "ok": verdict.ok, "verified": verdict.count, "head": verdict.head,
                   "bad_sequence": verdict.bad_sequence, "reason": verdict.reason,
                   "code": verdict.code,
                   "anchor": anchor or "", "anchor_found": verdict.anchor_found,
                   "anchors": [{"sequence": c.anchor.sequence, "hash": c.anchor.hash,
                                "holds": c.ok, "reason": c.reason} for c in anchors][:50],
               })
    return verdict
