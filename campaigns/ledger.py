"""Reads over the delivery ledger: progress, and the digest that seals it at completion."""

import hashlib
import json
from datetime import timedelta

from django.db.models import Count
from django.utils import timezone

from campaigns.models import Delivery
from campaigns.workflow import handing_over

LEDGER_FIELDS = ("member_number", "email", "state", "attempts", "message_id", "message_sha256",
                 "sent_at")


def ledger_lines(campaign):
    """The ledger as canonical JSON lines, sorted by member number (what the digest covers)."""
    rows = campaign.deliveries.values_list(*LEDGER_FIELDS)
    for row in sorted(rows.iterator(chunk_size=5000)):
        values = list(row)
        values[-1] = values[-1].isoformat() if values[-1] else None
        yield json.dumps(values, ensure_ascii=False, separators=(",", ":"))


def ledger_digest(campaign) -> str:
    """SHA-256 over the sorted ledger lines: carried by the completion audit entry, so the
    ledger can be checked against the tamper-evident chain later."""
    digest = hashlib.sha256()
    for line in ledger_lines(campaign):
        digest.update(line.encode() + b"\n")
    return digest.hexdigest()


def progress(campaign) -> dict:
    counts = dict(campaign.deliveries.values_list("state").annotate(n=Count("id")))
    total = sum(counts.values()) or campaign.roster.member_count
    get = lambda state: counts.get(state, 0)
    remaining = get(Delivery.State.PENDING) + get(Delivery.State.SENDING)
    now = timezone.now()
    last_minute = campaign.deliveries.filter(state=Delivery.State.SENT,
                                             sent_at__gte=now - timedelta(seconds=60)).count()
    eta = round(remaining / last_minute * 60) if last_minute and remaining else None
    done = (get(Delivery.State.SENT) + get(Delivery.State.FAILED) + get(Delivery.State.SKIPPED)
            + get(Delivery.State.REFUSED))
    return {
        "state": campaign.state,
        "state_label": str(campaign.get_state_display()),
        "total": total,
        "sent": get(Delivery.State.SENT),
        "failed": get(Delivery.State.FAILED),
        "in_doubt": get(Delivery.State.IN_DOUBT),
        "skipped": get(Delivery.State.SKIPPED),
        "refused": get(Delivery.State.REFUSED),
        "in_flight": get(Delivery.State.SENDING),
        "handing_over": handing_over(campaign) if campaign.state == "stopped" else 0,
        "remaining": remaining if campaign.deliveries.exists() else total,
        "percent": round(100 * done / total, 1) if total else 0,
        "per_minute": last_minute,
        "eta_seconds": eta,
        "paused_reason": campaign.paused_reason,
    }
