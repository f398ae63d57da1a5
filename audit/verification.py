from audit.chain import Verdict, verify
from audit.models import AuditEntry


def verify_database(*, anchor: str | None = None) -> Verdict:
    """Verify the whole chain as stored, streaming it in sequence order."""
    entries = AuditEntry.objects.order_by("sequence").iterator(chunk_size=5000)
    return verify((entry.chain_fields() for entry in entries), anchor=anchor)
