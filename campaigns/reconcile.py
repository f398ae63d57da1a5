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
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

import audit
from campaigns.actions import Action
from campaigns.mail import bare_message_id
from campaigns.models import Campaign, Delivery

_STAMP = (r"^(?P<stamp>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?"
          r"|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d)\s")
# The program is the field after the host name: a line of another program that quotes a
# Postfix line (a client's MAIL FROM in an smtpd reject, say) is not evidence.
_PROGRAM = r"\S+\s+postfix[^\s/]*/"
_CLEANUP = re.compile(_STAMP + _PROGRAM + r"cleanup\[\d+\]: (?P<queue>[0-9A-Za-z]+): "
                      r"message-id=<?(?P<id>[^>\s]*)>?")
_QMGR = re.compile(_STAMP + _PROGRAM + r"qmgr\[\d+\]: (?P<queue>[0-9A-Za-z]+): "
                   r"from=<[^>]*>, size=\d+, nrcpt=\d+")
_EXIM = re.compile(_STAMP + r"(?:\[\d+\] )?(?P<queue>[-0-9A-Za-z]{16,23}) <= .*? id=(?P<id>\S+)")


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


def read_log(lines, wanted: set[str], *, zone: tzinfo) -> tuple[dict, tuple | None]:
    """Acceptances of messages among `wanted` (bare Message-IDs): {id: [(queue id, when)]};
    and the span of time the log covers (first line, last line), None for an empty log."""
    now = timezone.now()
    queued, accepted, first, last = {}, {}, None, None
    for line in lines:
        if start := re.match(_STAMP, line):
            moment = _moment(start["stamp"], zone, now)
            first = first or moment
            last = moment or last
        if found := _CLEANUP.match(line):
            # A queue id is reused later: each cleanup line starts the story of its queue id
            # anew, so a message cut off here is not taken for the next one's acceptance.
            if bare_message_id(found["id"]) in wanted:
                queued[found["queue"]] = bare_message_id(found["id"])
            else:
                queued.pop(found["queue"], None)
        elif found := _QMGR.match(line):
            message_id = queued.pop(found["queue"], None)
            if message_id:
                accepted.setdefault(message_id, []).append(
                    (found["queue"], _moment(found["stamp"], zone, now)))
        elif (found := _EXIM.match(line)) and bare_message_id(found["id"]) in wanted:
            accepted.setdefault(bare_message_id(found["id"]), []).append(
                (found["queue"], _moment(found["stamp"], zone, now)))
    return accepted, (first, last) if first and last else None


def machine_zone(localtime: Path = Path("/etc/localtime")) -> tzinfo:
    """The zone this machine's daemons write their logs in: /etc/localtime, as for any
    process started without TZ. Not this process's local time: Django sets TZ to TIME_ZONE
    when it loads its settings, so a relay logging in UTC would be read nine hours off and
    every message in doubt would look "not covered"."""
    try:
        with open(localtime, "rb") as data:
            return ZoneInfo.from_file(data, key=_zone_key(localtime))
    except (OSError, ValueError):
        return UTC  # what the C library assumes without /etc/localtime


def _zone_key(localtime: Path) -> str:
    target = str(localtime.resolve())
    return target.split("/zoneinfo/", 1)[1] if "/zoneinfo/" in target else str(localtime)


# Clocks of the worker and the relay may differ by this much.
COVERAGE_MARGIN = timedelta(minutes=2)


def reconcile(paths: list[Path], *, zone: tzinfo, source: str = "postfix log") -> Counter:
    """Store the relay's evidence on every delivery in doubt; audit the run per campaign."""
    in_doubt = list(Delivery.objects.filter(state=Delivery.State.IN_DOUBT).only(
        "pk", "campaign_id", "message_id", "claimed_at", "relay_evidence"))
    wanted = {bare_message_id(d.message_id) for d in in_doubt if d.message_id}
    accepted, spans = {}, []
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as lines:
            found, span = read_log(lines, wanted, zone=zone)
        for message_id, sightings in found.items():
            accepted.setdefault(message_id, []).extend(sightings)
        if span:
            spans.append(span)
    counts, per_campaign = Counter(), {}
    with transaction.atomic():
        for delivery in in_doubt:
            outcome = _evidence(delivery, accepted, spans, source)
            if delivery.relay_evidence.get("accepted") is True and not outcome["accepted"]:
                outcome = delivery.relay_evidence  # another record saw it taken: never undone
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


def _evidence(delivery, accepted: dict, spans: list, source: str) -> dict:
    claimed = delivery.claimed_at
    sightings = accepted.get(bare_message_id(delivery.message_id), [])  # never a '' key
    # An acceptance logged before this claim is about an earlier message, not this one.
    sightings = [(q, at) for q, at in sightings
                 if claimed is None or at is None or at >= claimed - COVERAGE_MARGIN]
    if sightings:
        queue_id, at = sightings[0]
        return {"accepted": True, "at": at.isoformat() if at else None, "queue_id": queue_id,
                "source": source}
    if not delivery.message_id:  # noted before every hand-over: this one never began
        return {"accepted": False, "source": source}
    # "No trace" only from one file that was being written across the claim (within the
    # clocks' margin): it starts before it and goes on after it. Anything less (a log that
    # ends before it, a gap between rotated files) cannot say, and "no trace" would invite
    # sending the message twice.
    if claimed is None or not any(first <= claimed + COVERAGE_MARGIN
                                  and last >= claimed - COVERAGE_MARGIN for first, last in spans):
        return {"accepted": None, "source": source}
    return {"accepted": False, "source": source}


def _outcome_key(evidence: dict) -> str:
    return {True: "accepted", False: "no_trace"}.get(evidence["accepted"], "not_covered")
