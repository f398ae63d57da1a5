"""Reads over the delivery ledger: progress, and the digest that seals it at completion."""

import hashlib
import json
import math
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Min, Q
from django.utils import timezone

from campaigns import sending_hours
from campaigns.deliveries import handing_over
from campaigns.models import Campaign, Delivery
from campaigns.states import State
from roster import member_data

# The address's pseudonym, not the address: the digest still verifies after a purge.
LEDGER_FIELDS = ("member_number", "address_pseudonym", "state", "attempts", "message_id",
                 "message_sha256", "sent_at")


def ledger_lines(campaign):
    """The ledger as canonical JSON lines, sorted by member number (what the digest covers)."""
    rows = campaign.deliveries.values_list(*LEDGER_FIELDS)
    for row in sorted(rows.iterator(chunk_size=5000)):
        values = list(row)
        values[-1] = values[-1].isoformat() if values[-1] else None
        yield json.dumps(values, ensure_ascii=False, separators=(",", ":"))


def with_addresses(deliveries) -> list:
    """Deliveries with `email` set from the door (roster.member_data; one query): the
    ledger keeps no address. "" when the member's data was erased, or only the association
    holds the roster's key (then `held_by_association`)."""
    deliveries = list(deliveries)
    found = member_data.values_of(d.member_id for d in deliveries if d.member_id)
    for delivery in deliveries:
        values = found.get(delivery.member_id)
        delivery.email = values.email if values else ""
        delivery.held_by_association = bool(values and values.sealed)
    return deliveries


def ledger_digest(campaign) -> str:
    """SHA-256 over the sorted ledger lines: carried by the completion audit entry, so the
    ledger can be checked against the tamper-evident chain later."""
    digest = hashlib.sha256()
    for line in ledger_lines(campaign):
        digest.update(line.encode() + b"\n")
    return digest.hexdigest()


# The pace is measured over the last minute, and only once it has run this long: a few
# messages sent in the first second say nothing about the next hour.
PACE_WINDOW = timedelta(seconds=60)
PACE_MIN_SPAN = timedelta(seconds=5)


def pace(campaign, now) -> float | None:
    """Messages per second lately: the messages sent in the last minute over the time since
    the first of them (not over a whole minute, which undercounts a start), never above
    the campaign's rate limit. None when there is too little to go on."""
    recent = campaign.deliveries.filter(state=Delivery.State.SENT,
                                        sent_at__gte=now - PACE_WINDOW)
    numbers = recent.aggregate(n=Count("id"), first=Min("sent_at"))
    limit = 1 / campaign.send_interval() if campaign.rate_limit else None
    if numbers["n"] >= 2 and now - numbers["first"] >= PACE_MIN_SPAN:
        measured = numbers["n"] / (now - numbers["first"]).total_seconds()
        return min(measured, limit) if limit else measured
    return limit


def duration_text(seconds: int | None) -> str:
    """h:mm, minutes rounded up ("0:09" for 490 s): never 0:00 while something is left."""
    if seconds is None:
        return ""
    hours, minutes = divmod(math.ceil(seconds / 60), 60)
    return f"{hours}:{minutes:02d}"


def stalled_minutes(campaign, now, remaining: int) -> int | None:
    """Whole minutes since a worker last beat its heart for `campaign` (sender: every few
    seconds while it sends or waits for its turn), when that is SEND_STALL_MINUTES or more
    while the campaign is sending with messages left and not waiting for its next slot
    under the rate limit: its workers died. None otherwise."""
    if campaign.state != State.SENDING or not remaining:
        return None
    last = max(t for t in (campaign.last_worker_at or campaign.started_at,
                           campaign.canary_confirmed_at, campaign.next_send_at) if t)
    quiet = now - last
    if quiet < timedelta(minutes=settings.SEND_STALL_MINUTES):
        return None
    return int(quiet.total_seconds() // 60)


def stalled_campaigns(now=None) -> list[int]:
    """The campaigns whose send is stalled now (stalled_minutes), by id."""
    now = now or timezone.now()
    stalled = []
    for campaign in Campaign.objects.filter(state=State.SENDING).order_by("pk"):
        left = campaign.deliveries.filter(state__in=[Delivery.State.PENDING,
                                                     Delivery.State.SENDING]).count()
        if stalled_minutes(campaign, now, left) is not None:
            stalled.append(campaign.pk)
    return stalled


def progress(campaign) -> dict:
    counts = dict(campaign.deliveries.values_list("state").annotate(n=Count("id")))
    total = sum(counts.values()) or campaign.roster.member_count
    get = lambda state: counts.get(state, 0)
    remaining = get(Delivery.State.PENDING) + get(Delivery.State.SENDING)
    now = timezone.now()
    last_minute = campaign.deliveries.filter(state=Delivery.State.SENT,
                                             sent_at__gte=now - PACE_WINDOW).count()
    stalled = stalled_minutes(campaign, now, remaining)
    # Outside its sending hours the worker waits (campaigns.sending_hours): the page says
    # until when.
    resumes = sending_hours.resumes_at(sending_hours.Hours.of(campaign), now) if \
        campaign.state == State.SENDING and remaining else None
    # Time left only while messages are going out: held, paused, stopped, stalled or outside
    # the sending hours, nothing moves.
    rate = pace(campaign, now) if campaign.state == State.SENDING and remaining and \
        stalled is None and resumes is None else None
    eta = round(remaining / rate) if rate else None
    done = (get(Delivery.State.SENT) + get(Delivery.State.FAILED) + get(Delivery.State.SKIPPED)
            + get(Delivery.State.REFUSED) + get(Delivery.State.BOUNCED))
    # "Sent" is what the mail server accepted and nothing came back about; "bounced" was
    # accepted too, then bounced. Rates are shares of the accepted (both).
    returned = campaign.deliveries.aggregate(
        complained=Count("id", filter=Q(complained_at__isnull=False)),
        soft=Count("id", filter=Q(soft_bounces__gt=0)))
    accepted = get(Delivery.State.SENT) + get(Delivery.State.BOUNCED)
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
        "eta": duration_text(eta),
        "stalled_minutes": stalled,
        "resumes_at": timezone.localtime(resumes).strftime("%Y-%m-%d %H:%M") if resumes else "",
        "paused_reason": campaign.paused_reason,
        "accepted": accepted,
        "bounced": get(Delivery.State.BOUNCED),
        "complained": returned["complained"],
        "soft_bounced": returned["soft"],
        "bounce_rate": _percent(get(Delivery.State.BOUNCED), accepted),
        "complaint_rate": _percent(returned["complained"], accepted),
    }


def _percent(part: int, whole: int) -> float:
    return round(100 * part / whole, 1) if whole else 0.0
