"""Messages in doubt, matched against the relay's own records.

A message is in doubt when the worker died or the connection broke while it was being
handed over: the relay may or may not have taken it. Its Message-ID is in the ledger from
before the hand-over (sender.deliver), so the relay's mail log can answer:

* Postfix: `cleanup[..]: QUEUEID: message-id=<ID>` ties the Message-ID to a queue id, and
  `qmgr[..]: QUEUEID: from=<...>, size=..., nrcpt=N (queue active)` proves the message was
  committed to the queue, i.e. accepted (the cleanup line alone is not enough: cleanup logs
  the Message-ID while the data is still arriving, and a message cut off before the final
  dot is thrown away after it);
* Exim: `QUEUEID <= sender ... id=ID` is written once a message is received.

The evidence is stored on the delivery (`relay_evidence`) for the person who decides; it
never changes a state. Each run is an audit entry per campaign, with counts only.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

from django.db import transaction
from django.utils import timezone

import audit
from campaigns.actions import Action
from campaigns.models import Campaign, Delivery

_STAMP = (r"^(?P<stamp>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?"
          r"|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d)\s")
_CLEANUP = re.compile(_STAMP + r".*?postfix[^ ]*/cleanup\[\d+\]: (?P<queue>[0-9A-Za-z]+): "
                      r"message-id=<?(?P<id>[^>\s]*)>?")
_QMGR = re.compile(_STAMP + r".*?postfix[^ ]*/qmgr\[\d+\]: (?P<queue>[0-9A-Za-z]+): "
                   r"from=<[^>]*>, size=\d+, nrcpt=\d+")
_EXIM = re.compile(_STAMP + r"(?:\[\d+\] )?(?P<queue>[-0-9A-Za-z]{16,23}) <= .*? id=(?P<id>\S+)")


def _bare(message_id: str) -> str:
    return message_id.strip().strip("<>")


def _moment(stamp: str, zone: tzinfo, now: datetime) -> datetime | None:
    try:
        if stamp[:1].isdigit():
            moment = datetime.fromisoformat(stamp.replace(" ", "T", 1))
            return moment if moment.tzinfo else moment.replace(tzinfo=zone)
        # Syslog's format has no year: this year, or last year for a date ahead of now.
        moment = datetime.strptime(f"{now.year} {stamp}", "%Y %b %d %H:%M:%S").replace(
            tzinfo=zone)
        return moment.replace(year=now.year - 1) if moment > now + timedelta(days=1) else moment
    except ValueError:
        return None


def read_log(lines, wanted: set[str], *, zone: tzinfo) -> tuple[dict, datetime | None]:
    """Accepted messages among `wanted` (bare Message-IDs): {id: (queue id, when)}; and the
    time of the log's first line (what it covers)."""
    now = timezone.now()
    queued, accepted, first = {}, {}, None
    for line in lines:
        if first is None and (start := re.match(_STAMP, line)):
            first = _moment(start["stamp"], zone, now)
        if found := _CLEANUP.match(line):
            if _bare(found["id"]) in wanted:
                queued[found["queue"]] = _bare(found["id"])
        elif found := _QMGR.match(line):
            message_id = queued.pop(found["queue"], None)
            if message_id and message_id not in accepted:
                accepted[message_id] = (found["queue"], _moment(found["stamp"], zone, now))
        elif (found := _EXIM.match(line)) and _bare(found["id"]) in wanted:
            accepted.setdefault(_bare(found["id"]),
                                (found["queue"], _moment(found["stamp"], zone, now)))
    return accepted, first


# A claim this long before the log's first line may have been logged in an older file.
COVERAGE_MARGIN = timedelta(minutes=2)


def reconcile(paths: list[Path], *, zone: tzinfo, source: str = "postfix log") -> Counter:
    """Store the relay's evidence on every delivery in doubt; audit the run per campaign."""
    in_doubt = list(Delivery.objects.filter(state=Delivery.State.IN_DOUBT).only(
        "pk", "campaign_id", "message_id", "claimed_at"))
    wanted = {_bare(d.message_id) for d in in_doubt if d.message_id}
    accepted, first = {}, None
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as lines:
            found, start = read_log(lines, wanted, zone=zone)
        accepted.update(found)
        first = start if first is None or (start and start < first) else first
    counts, per_campaign = Counter(), {}
    with transaction.atomic():
        for delivery in in_doubt:
            outcome = _evidence(delivery, accepted, first, source)
            Delivery.objects.filter(pk=delivery.pk, state=Delivery.State.IN_DOUBT).update(
                relay_evidence=outcome)
            key = _outcome_key(outcome)
            counts[key] += 1
            per_campaign.setdefault(delivery.campaign_id, Counter())[key] += 1
        for campaign in Campaign.objects.filter(pk__in=per_campaign).order_by("pk"):
            numbers = per_campaign[campaign.pk]
            audit.record(Action.IN_DOUBT_RECONCILED, system="cli", target=campaign, payload={
                "checked": sum(numbers.values()), "accepted": numbers["accepted"],
                "no_trace": numbers["no_trace"], "not_covered": numbers["not_covered"],
                "source": source})
    return counts


def _evidence(delivery, accepted: dict, first: datetime | None, source: str) -> dict:
    found = accepted.get(_bare(delivery.message_id)) if delivery.message_id else None
    if found:
        queue_id, at = found
        return {"accepted": True, "at": at.isoformat() if at else None, "queue_id": queue_id,
                "source": source}
    if not delivery.message_id:  # noted before every hand-over: this one never began
        return {"accepted": False, "source": source}
    if first is None or (
            delivery.claimed_at and delivery.claimed_at < first - COVERAGE_MARGIN):
        return {"accepted": None, "source": source}  # the log cannot say
    return {"accepted": False, "source": source}


def _outcome_key(evidence: dict) -> str:
    return {True: "accepted", False: "no_trace"}.get(evidence["accepted"], "not_covered")
