from audit.chain import Verdict, verify
from audit.models import AuditEntry


def verify_database(*, anchor: str | None = None) -> Verdict:
    """Verify the whole chain as stored, streaming it in sequence order."""
    return verify(AuditEntry.chain_rows(), anchor=anchor)
