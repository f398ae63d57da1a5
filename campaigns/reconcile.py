"""Messages in doubt, matched against the relay's own records.

A message is in doubt when the worker died or the connection broke while it was being
handed over: the relay may or may not have taken it. Its Message-ID is in the ledger from
before the hand-over (sender.deliver), so the relay's mail log can answer. A person decides
"resend" or "skip" from what is shown: a wrong "accepted" loses the member's message, a
wrong "no trace" sends it twice. So the log is read as an attacker may have shaped it
(anyone on the relay's machine writes syslog lines under any tag; any client chooses its
Message-ID, sender and login name) and as syslog breaks it (gaps, dropped, repeated,
reordered and cut lines, rotated files, time zones):

* **accepted** only from the relay's own program names (`<syslog_name>/cleanup[pid]:`,
  `<syslog_name>/qmgr[pid]:`; not `postfix-x/`, not a bare tag) and the exact token
  `message-id=<ID>` as cleanup logs it, followed in the same life of that queue id on that
  host by qmgr's `from=<...>, size=N, nrcpt=N (queue active)` (the message is in the queue:
  cleanup logs the Message-ID while the data still arrives). A queue id's life starts at
  smtpd's `client=` (pickup's `uid=`, or a cleanup line of its own) and ends at `removed`:
  a reused queue id never carries another message's acceptance. Exim: `QUEUEID <= sender
  ... S=n id=ID`, the id right after the size, once on the line. Either way the envelope
  sender must be the delivery's own (its VERP address, whose hmac nobody can guess for a
  message the relay never queued; without BOUNCE_DOMAIN the From address): a message of
  someone who read our Message-ID in the log, or a forged queue manager line, is not ours.
* **no trace** only when the log shows the relay logging all along across the claim: on
  every host that logs under the syslog name, relay lines at or before the claim minus
  RECONCILE_CLOCK_MARGIN_SECONDS and at or after the hand-over deadline (claim +
  EMAIL_TIMEOUT) plus that margin, no two of them further apart than
  RECONCILE_MAX_LOG_GAP_SECONDS; no line in that time the reader cannot date or read, no
  notice of the system log dropping lines; every message the ledger says the relay took in
  that time is in the log (else another relay, or lost lines); and nothing was queued from
  this delivery's own VERP address then that its lines do not explain. "Not queued" (it
  reached cleanup, the connection broke) counts as no trace under the same rule.
* otherwise **not covered**, with the reason; also when this message's Message-ID appears at
  a time it cannot have been handed over (a clock far off, or a forged line).

Lines are dated in their own offset (RFC 3339) or the given zone (syslog's "Dec  4
16:15:57"); a date that does not exist, lies in the future or falls in the repeated hour of
a clock change dates nothing. Files are merged by time (rotated files in any order, a file
given twice or lines written twice count once).

The evidence is stored on the delivery (`relay_evidence`) for the person who decides; it
never changes a state. A later run may correct what an earlier run read from a log (never
what a bounce or an e-mail provider said): only when its own log reaches across the claim,
keeping the earlier record beside the new one (`earlier`) and auditing the correction. Each
run is an audit entry per campaign, with counts only.
"""

from __future__ import annotations

import bisect
from collections import Counter
from datetime import datetime, timedelta, tzinfo
from email.utils import parseaddr
from itertools import pairwise
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

import audit
from campaigns import dsn
from campaigns.actions import Action
from campaigns.mail import bare_message_id
from campaigns.models import Campaign, Delivery
from campaigns.relay_log import Log, read_logs
from countersign.pseudonyms import normalise_address

# --- the evidence ----------------------------------------------------------------------------

def window(claimed: datetime) -> tuple[datetime, datetime]:
    """When the relay's log may name a message claimed at `claimed`: from the claim to the
    hand-over's deadline (EMAIL_TIMEOUT later), each widened by the clocks' margin."""
    margin = timedelta(seconds=settings.RECONCILE_CLOCK_MARGIN_SECONDS)
    return claimed - margin, claimed + timedelta(seconds=settings.EMAIL_TIMEOUT) + margin


def _reaches(log: Log, start: datetime, end: datetime) -> bool:
    """The log has the relay's lines from before `start` to after `end` (holes or not)."""
    return bool(log.extent) and all(first <= start and last >= end
                                    for first, last in log.extent.values())


def _coverage(log: Log, start: datetime, end: datetime, sent: list) -> str:
    """Why the log cannot say "no trace" for this window; "" when it can."""
    if not _reaches(log, start, end):
        return "not_covered"
    gap = timedelta(seconds=settings.RECONCILE_MAX_LOG_GAP_SECONDS)
    for host in log.extent:
        times = log.times.get(host, [])
        first = bisect.bisect_right(times, start) - 1
        last = bisect.bisect_left(times, end)
        if first < 0 or last >= len(times) or any(
                b - a > gap for a, b in pairwise(times[first:last + 1])):
            return "gap"
    for trouble_start, trouble_end, reason in log.troubles:
        if trouble_start <= end and trouble_end >= start:
            return reason
    if any(message_id not in log.accepted for message_id in sent):
        return "incomplete"
    return ""


def evidence(delivery, log: Log, sent: list, *, source: str, checked_at: datetime) -> dict:
    """What the log says of one message in doubt. `sent`: the Message-IDs of the messages the
    ledger says the relay took in this one's window."""
    record = {"source": source, "via": "log", "checked_at": checked_at.isoformat()}
    if not delivery.message_id:  # noted before every hand-over: this one never began
        return {**record, "accepted": False, "reason": "never_handed_over", "reaches": True}
    if delivery.claimed_at is None:
        return {**record, "accepted": None, "reason": "not_covered", "reaches": False}
    start, end = window(delivery.claimed_at)
    message_id = bare_message_id(delivery.message_id)
    reaches = _reaches(log, start, end)
    record["reaches"] = reaches
    if any(at is None or not start <= at <= end for at in log.mentions.get(message_id, [])):
        return {**record, "accepted": None, "reason": "conflict"}
    if acceptances := log.accepted.get(message_id):
        ours = [a for a in acceptances if sent_by_us(a.sender, delivery)]
        if not ours:  # someone's message carrying our Message-ID, or a forged line
            return {**record, "accepted": None, "reason": "other_sender"}
        first = min(ours, key=lambda a: a.at)
        return {**record, "accepted": True, "at": first.at.isoformat(),
                "queue_id": first.queue_id, **({"after": first.after} if first.after else {})}
    if reason := _coverage(log, start, end, sent):
        return {**record, "accepted": None, "reason": reason}
    if message_id in log.unclear:
        return {**record, "accepted": None, "reason": "unclear"}
    # The relay queued a message from this delivery's own VERP address in its window, and
    # no line ties it to this Message-ID: lines were lost or forged (a "client=" slipped in
    # between cleanup and the queue manager). Not "no trace".
    verp = dsn.verp_address(delivery.pk)
    if verp and any(start <= at <= end for at in log.queued_from.get(normalise_address(verp),
                                                                      [])):
        return {**record, "accepted": None, "reason": "unclear"}
    return {**record, "accepted": False,
            "reason": "not_queued" if message_id in log.not_queued else "no_trace"}


def sent_by_us(sender: str, delivery) -> bool:
    """The envelope sender the relay queued it from is this delivery's: its VERP address
    (the hmac cannot be guessed, and a message never queued never showed it), or without
    BOUNCE_DOMAIN the campaign's From address."""
    if settings.BOUNCE_DOMAIN:
        return dsn.delivery_id_of(sender) == delivery.pk
    own = parseaddr(delivery.campaign.sender)[1]
    return bool(own) and normalise_address(sender) == normalise_address(own)


def from_a_log(record: dict) -> bool:
    """Evidence a run of this reader wrote (not a bounce's, not an e-mail provider's)."""
    if "via" in record:
        return record["via"] == "log"
    return not str(record.get("source", "")).startswith(("bounce", "complaint", "esp:"))


def _verdict(record: dict) -> tuple:
    return record.get("accepted"), record.get("queue_id")


def _reading(record: dict) -> tuple:
    return (*_verdict(record), record.get("reason"), record.get("after"))


KEEP_EARLIER = 10


def merge(earlier: dict, new: dict) -> tuple[dict, bool]:
    """What to store after a run: (evidence, whether an earlier verdict was corrected).
    A bounce's or a provider's "accepted" stays. An earlier verdict (accepted or no trace)
    read from a log changes only when this run's log reaches across the claim; then the
    earlier record is kept beside the new one."""
    if not earlier:
        return new, False
    if from_a_log(earlier) and _reading(earlier) == _reading(new):
        # Read the same again: the record stays as it was, so a page that showed it (and the
        # decision form that carries its digest) is still right.
        return earlier, False
    history = list(earlier.get("earlier", []))
    if earlier.get("accepted") is True and not from_a_log(earlier):
        return earlier, False
    if earlier.get("accepted") not in (True, False):
        return {**new, **({"earlier": history} if history else {})}, False
    if not new.get("reaches"):
        return earlier, False
    if _verdict(earlier) == _verdict(new):
        return {**new, **({"earlier": history} if history else {})}, False
    previous = {k: v for k, v in earlier.items() if k != "earlier"}
    return {**new, "earlier": [*history, previous][-KEEP_EARLIER:]}, True


def _summary(record: dict) -> dict:
    return {k: record[k] for k in ("accepted", "reason", "at", "queue_id", "after", "source",
                                   "checked_at") if k in record}


def outcome_key(record: dict) -> str:
    return {True: "accepted", False: "no_trace"}.get(record.get("accepted"), "not_covered")


def reconcile(paths: list[Path], *, zone: tzinfo, source: str = "postfix log",
              syslog_name: str = "postfix") -> Counter:
    """Store the relay's evidence on every delivery in doubt; audit the run per campaign and
    each correction of an earlier verdict. Counts: accepted, no_trace, not_covered and
    corrected."""
    now = timezone.now()
    doubtful = {d.pk: (d.message_id, d.claimed_at) for d in Delivery.objects.filter(
        state=Delivery.State.IN_DOUBT).only("pk", "message_id", "claimed_at")}
    windows = {pk: window(claimed) for pk, (_id, claimed) in doubtful.items() if claimed}
    sent = _sent_in(windows.values(), Delivery.objects.filter(pk__in=doubtful).values_list(
        "campaign_id", flat=True).distinct())
    wanted = {bare_message_id(m) for m, _claimed in doubtful.values() if m}
    wanted |= {message_id for message_id, _at in sent}
    senders = frozenset(normalise_address(dsn.verp_address(pk)) for pk in doubtful
                        if settings.BOUNCE_DOMAIN)
    log = read_logs(paths, zone=zone, wanted=wanted, windows=list(windows.values()),
                    syslog_name=syslog_name, senders=senders, now=now)
    counts, per_campaign = Counter(), {}
    with transaction.atomic():
        for delivery in Delivery.objects.select_for_update().filter(
                pk__in=doubtful, state=Delivery.State.IN_DOUBT).order_by("pk"):
            if (delivery.message_id, delivery.claimed_at) != doubtful[delivery.pk]:
                continue  # handed over again since the log was read: the next run says
            start, end = windows.get(delivery.pk, (now, now))
            new = evidence(delivery, log, [m for m, at in sent if start <= at <= end],
                           source=source, checked_at=now)
            stored, corrected = merge(delivery.relay_evidence or {}, new)
            Delivery.objects.filter(pk=delivery.pk).update(relay_evidence=stored)
            numbers = per_campaign.setdefault(delivery.campaign_id, Counter())
            numbers[outcome_key(stored)] += 1
            if corrected:
                numbers["corrected"] += 1
                audit.record(Action.IN_DOUBT_EVIDENCE_CORRECTED, system="cli",
                             target=delivery.campaign, payload={
                                 "delivery": delivery.pk, "member": delivery.member_number,
                                 "earlier": _summary(delivery.relay_evidence),
                                 "now": _summary(stored), "source": source})
        for campaign in Campaign.objects.filter(pk__in=per_campaign).order_by("pk"):
            numbers = per_campaign[campaign.pk]
            counts.update(numbers)
            audit.record(Action.IN_DOUBT_RECONCILED, system="cli", target=campaign, payload={
                "checked": sum(numbers[k] for k in ("accepted", "no_trace", "not_covered")),
                "accepted": numbers["accepted"], "no_trace": numbers["no_trace"],
                "not_covered": numbers["not_covered"], "corrected": numbers["corrected"],
                "source": source})
    return counts


def _sent_in(windows, campaigns) -> list[tuple[str, datetime]]:
    """(Message-ID, sent at) of the messages the ledger says the relay took during any of
    the windows, in the campaigns that have messages in doubt (a provider's excepted)."""
    windows = list(windows)
    if not windows:
        return []
    rows = Delivery.objects.filter(
        campaign_id__in=list(campaigns),
        state__in=(Delivery.State.SENT, Delivery.State.BOUNCED), esp_message_id="",
        sent_at__gte=min(s for s, _e in windows), sent_at__lte=max(e for _s, e in windows),
    ).exclude(message_id="").values_list("message_id", "sent_at")
    return [(bare_message_id(message_id), at) for message_id, at in rows
            if any(start <= at <= end for start, end in windows)]
