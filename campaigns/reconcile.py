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
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from email.utils import parseaddr
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone

import audit
from campaigns import bounces
from campaigns.actions import Action
from campaigns.mail import bare_message_id
from campaigns.models import Campaign, Delivery
from countersign.pseudonyms import normalise_address

# --- dating a line ---------------------------------------------------------------------------

_MONTHS = {name: n for n, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_TRADITIONAL = re.compile(r"(?P<mon>[A-Z][a-z]{2}) (?P<day>[ \d]\d) "
                          r"(?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d) ")
_RFC3339 = re.compile(r"(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?"
                      r"(?:Z|[+-]\d\d:?\d\d)?) ")
_EXIM_STAMP = re.compile(r"(?P<iso>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{3,6})?)"
                         r"(?: (?P<offset>[+-]\d{4}))? ")


def _local(naive: datetime, zone: tzinfo) -> datetime | None:
    """`naive` in `zone`; None for a wall-clock time that zone has twice or never."""
    first, second = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
    return first if first.utcoffset() == second.utcoffset() else None


def _traditional(found, zone: tzinfo, latest: datetime) -> datetime | None:
    """Syslog's stamp has no year: the latest year (this one or the last) in which the date
    exists and is not after `latest`."""
    month = _MONTHS.get(found["mon"])
    if month is None:
        return None
    year = latest.astimezone(zone).year
    for candidate in (year, year - 1):
        try:
            naive = datetime(candidate, month, int(found["day"]), int(found["h"]),
                             int(found["m"]), int(found["s"]))
        except ValueError:
            continue
        moment = _local(naive, zone)
        if moment is None:
            return None
        if moment <= latest:
            return moment
    return None


def _iso(text: str, zone: tzinfo, latest: datetime) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = _local(moment, zone)
    return moment if moment is not None and moment <= latest else None


# --- reading the lines -----------------------------------------------------------------------

# Postfix's daemons; those that a master.cf service may give a syslog_name of its own
# (`-o syslog_name=postfix/submission`) may carry one more part before their name.
_DAEMONS = {"master", "postfix-script", "smtpd", "smtp", "lmtp", "cleanup", "qmgr", "oqmgr",
            "pickup", "local", "virtual", "pipe", "bounce", "defer", "trace", "discard",
            "error", "retry", "anvil", "scache", "tlsmgr", "tlsproxy", "postscreen", "dnsblog",
            "verify", "proxymap", "trivial-rewrite", "flush", "showq", "postlogd", "postsuper",
            "postqueue", "postdrop", "sendmail", "qmqpd", "spawn"}
_SERVICE_DAEMONS = {"smtpd", "smtp", "lmtp", "postscreen", "tlsproxy", "dnsblog", "pipe",
                    "local", "virtual", "qmqpd"}
_SYSLOG_LINE = re.compile(r"(?P<host>[^\s\[\]]+) (?P<program>[^\s\[\]:]+)\[(?P<pid>\d{1,10})\]: "
                          r"(?P<text>.*)")
_EXIM_LINE = re.compile(r"(?:\[\d{1,10}\] )?(?P<text>.*)")
# Another log line inside this one: a line cut short (a crash, a full disk) ran into the next,
# and what the relay wrote there cannot be read.
_JOINED = re.compile(r"(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d)"
                     r"\S* \S+ \S+?(?:\[\d+\])?: ")
# The system log's own notices that it lost lines (rsyslog's rate limits, journald's).
_LOGGERS = {"rsyslogd", "systemd-journald", "journald", "syslog-ng", "syslogd", "postlogd"}
_DROPPED = re.compile(r"\b(?:drop|dropp(?:ed|ing)|lost|suppress(?:ed|ing)|discard(?:ed|ing))\b"
                      r".*\bmessages?\b|\bmessages?\b.*\b(?:dropped|lost|suppressed|discarded)\b",
                      re.IGNORECASE)


@dataclass(frozen=True)
class Line:
    at: datetime
    host: str  # "" in Exim's mainlog
    daemon: str  # a Postfix daemon, or "exim"
    text: str


@dataclass
class Log:
    """What a set of log files says, about the Message-IDs asked for."""

    lines: list[Line] = field(default_factory=list)
    times: dict = field(default_factory=lambda: defaultdict(list))  # host -> relay line times
    extent: dict = field(default_factory=dict)  # host -> (first, last) relay line
    troubles: list = field(default_factory=list)  # (start, end, reason)
    mentions: dict = field(default_factory=lambda: defaultdict(list))  # id -> [time | None]
    accepted: dict = field(default_factory=lambda: defaultdict(list))  # id -> [Acceptance]
    not_queued: set = field(default_factory=set)
    unclear: set = field(default_factory=set)
    # sender -> times the relay queued a message from it (the senders asked for only)
    queued_from: dict = field(default_factory=lambda: defaultdict(list))


@dataclass
class Acceptance:
    queue_id: str
    at: datetime
    sender: str  # the envelope sender the relay queued it from
    after: str = ""


def _parse(raw: str, *, zone, latest, syslog_name):
    """(time or None, Line fields or None, trouble or None) for one line of a file."""
    line = raw.rstrip("\r\n")
    if not line.strip():
        return None, None, None
    if found := _TRADITIONAL.match(line):
        at, rest = _traditional(found, zone, latest), line[found.end():]
    elif found := _RFC3339.match(line):
        at, rest = _iso(found["iso"], zone, latest), line[found.end():]
    elif found := _EXIM_STAMP.match(line):
        stamp = found["iso"].replace(" ", "T") + (found["offset"] or "")
        at, rest = _iso(stamp, zone, latest), line[found.end():]
        text = _EXIM_LINE.match(rest)["text"]
        if at is not None and _JOINED.search(text):
            return at, None, "unreadable"
        if at is None:
            return None, ("", "exim", text), "unreadable"
        return at, ("", "exim", text), None
    else:
        return None, None, "unreadable"  # cut short, run into another line, not a log line
    if _JOINED.search(rest):
        return at, None, "unreadable"
    syslog = _SYSLOG_LINE.fullmatch(rest)
    daemon = _relay_daemon(syslog["program"], syslog_name) if syslog else None
    fields = (syslog["host"], daemon, syslog["text"]) if daemon else None
    if at is None:
        return None, fields, "unreadable"
    if syslog and syslog["program"].rsplit("/", 1)[-1] in _LOGGERS and _DROPPED.search(
            syslog["text"]):
        return at, fields, "lines_dropped"
    if not syslog and (other := rest.split(" ", 2)) and len(other) == 3 and (
            other[1].split("[")[0].rstrip(":") in _LOGGERS and _DROPPED.search(other[2])):
        return at, None, "lines_dropped"
    return at, fields, None


def _relay_daemon(program: str, syslog_name: str) -> str | None:
    """The Postfix daemon a program name is, under exactly this syslog_name; else None."""
    if not program.startswith(syslog_name + "/"):
        return None
    parts = program[len(syslog_name) + 1:].split("/")
    if len(parts) == 1 and parts[0] in _DAEMONS:
        return parts[0]
    if len(parts) == 2 and parts[0] and parts[1] in _SERVICE_DAEMONS:
        return parts[1]
    return None


def read_logs(paths, *, zone: tzinfo, wanted: set[str], windows: list, syslog_name="postfix",
              senders: frozenset = frozenset(), now=None) -> Log:
    """Read the files (any order); keep what the windows (start, end) of the claims need, about
    the Message-IDs `wanted` and the envelope senders `senders` (normalised)."""
    now = now or timezone.now()
    margin = timedelta(seconds=settings.RECONCILE_CLOCK_MARGIN_SECONDS)
    gap = timedelta(seconds=settings.RECONCILE_MAX_LOG_GAP_SECONDS)
    latest = now + margin
    low = min((start for start, _end in windows), default=now) - gap - timedelta(hours=1)
    high = max((end for _start, end in windows), default=now) + gap + timedelta(days=1)
    log, files = Log(), []
    for path in paths:
        kept, first, previous, pending = [], None, None, []
        with open(path, encoding="utf-8", errors="replace") as handle:
            for number, raw in enumerate(handle):
                at, fields, trouble = _parse(raw, zone=zone, latest=latest,
                                             syslog_name=syslog_name)
                if fields and fields[1] and at is None:
                    _mention_undated(log, fields, wanted)
                if trouble and at is None:
                    pending.append(previous)  # between the last dated line and the next
                    continue
                if at is None:
                    continue
                for before in pending:
                    log.troubles.append((before or at, at, "unreadable"))
                pending, previous = [], at
                first = first or at
                if trouble:
                    log.troubles.append((at, at, trouble))
                if not fields or not fields[1]:
                    continue
                host = fields[0]
                seen = log.extent.get(host)
                log.extent[host] = (min(seen[0], at), max(seen[1], at)) if seen else (at, at)
                if low <= at <= high:
                    kept.append((at, number, Line(at, *fields)))
        for before in pending:
            if before:
                log.troubles.append((before, before, "unreadable"))
        files.append((first, kept))
    # Rotated files in time order; within a second, a file's own order; a line twice, once.
    files.sort(key=lambda f: f[0] or now)
    merged = sorted(((at, rank, number, line) for rank, (_first, kept) in enumerate(files)
                     for at, number, line in kept), key=lambda e: e[:3])
    same_second, stamp = set(), None
    for at, _rank, _number, line in merged:
        if at != stamp:
            same_second, stamp = set(), at
        if (line.host, line.daemon, line.text) in same_second:
            continue
        same_second.add((line.host, line.daemon, line.text))
        log.lines.append(line)
        log.times[line.host].append(at)
    _follow_postfix(log, wanted, senders)
    _follow_exim(log, wanted, senders)
    return log


def _mention_undated(log: Log, fields, wanted) -> None:
    """A relay line naming a wanted Message-ID exactly, at a time that cannot be read."""
    _host, daemon, text = fields
    if daemon == "cleanup" and (found := _QUEUED.fullmatch(text)):
        value = found["rest"].removeprefix("message-id=")
        if found["rest"].startswith("message-id=") and _exact_id(value) in wanted:
            log.mentions[_exact_id(value)].append(None)
    elif daemon == "exim" and (received := _exim_received(text)) and received[1] in wanted:
        log.mentions[received[1]].append(None)


# --- the life of a queue id (Postfix) --------------------------------------------------------

_QUEUED = re.compile(r"(?P<queue>(?!NOQUEUE\b)[0-9A-Za-z]{5,32}): (?P<rest>.*)")
_COMMIT = re.compile(r"from=<(?P<sender>[^<>\s]*)>, size=\d+, nrcpt=\d+ \(queue active\)")
_STATUS = re.compile(r"to=<[^<>]*>, .*\bstatus=(?P<status>sent|bounced|deferred|expired)\b.*")
# A cleanup or qmgr line that starts like a queue id but is not one followed by ": ": cut
# short (their other lines start with a word in lower case: "warning:", "table ...").
_CUT_QUEUE_ID = re.compile(r"[0-9A-Z]")
_CLEANUP_HARMLESS = ("warning:", "info:", "resent-message-id=", "replace:", "prepend:",
                     "redirect:", "filter:", "milter-replace", "milter-header")
_CLEANUP_REFUSED = ("reject:", "milter-reject:")
_UNCLEAR = ("hold:", "discard:", "milter-hold:", "milter-discard:")
_DELIVERY_AGENTS = {"smtp", "lmtp", "local", "virtual", "pipe", "discard", "error", "retry"}


@dataclass
class _Life:
    """One message under one queue id on one host, from its start to `removed`."""

    queue_id: str
    message_id: str | None = None  # the exact ID; "" for any other value (not ours)
    committed_at: datetime | None = None
    sender: str = ""
    refused: bool = False
    unclear: bool = False
    after: str = ""


def _exact_id(value: str) -> str | None:
    """The ID of a `message-id=` value that is exactly `<ID>`; "" for another value (no
    brackets, a comment, two IDs, `<<ID>>`); None for one cut short (`<` and no `>`)."""
    if value.startswith("<") and ">" not in value:
        return None
    if (len(value) > 2 and value[0] == "<" and value[-1] == ">"
            and not re.search(r"[<>\s]", value[1:-1])):
        return value[1:-1]
    return ""


def _follow_postfix(log: Log, wanted: set[str], senders=frozenset()) -> None:
    lives: dict[tuple, _Life] = {}

    def close(life: _Life) -> None:
        if not life.message_id or life.message_id not in wanted:
            return
        if life.committed_at:
            log.accepted[life.message_id].append(
                Acceptance(life.queue_id, life.committed_at, life.sender, life.after))
        elif life.unclear:
            log.unclear.add(life.message_id)
        else:
            log.not_queued.add(life.message_id)

    def begin(key) -> _Life:
        if key in lives:
            close(lives[key])
        lives[key] = _Life(queue_id=key[1])
        return lives[key]

    for line in log.lines:
        if line.daemon == "exim":
            continue
        found = _QUEUED.fullmatch(line.text)
        if not found:
            if line.daemon in ("cleanup", "qmgr") and _CUT_QUEUE_ID.match(line.text):
                log.troubles.append((line.at, line.at, "unreadable"))  # cut inside its queue id
            continue
        key, rest = (line.host, found["queue"]), found["rest"]
        life = lives.get(key)
        if line.daemon in ("smtpd", "pickup", "qmqpd"):
            if rest.startswith("client=") or (line.daemon == "pickup" and rest.startswith(
                    ("uid=", "sender="))):
                begin(key)
            elif life and not life.committed_at and rest.startswith(_CLEANUP_REFUSED) and (
                    "END-OF-MESSAGE" in rest):
                life.refused = True
            elif life and not life.committed_at and rest.startswith(_UNCLEAR):
                life.unclear = True
        elif line.daemon == "cleanup":
            if rest.startswith("message-id="):
                value = _exact_id(rest.removeprefix("message-id="))
                previous = life
                if life is None or life.message_id is not None or life.committed_at:
                    life = begin(key)
                    # qmgr's line before cleanup's in one second: the order is not the
                    # relay's, so neither can say which came first.
                    if previous and previous.message_id is None and (
                            previous.committed_at == line.at):
                        life.unclear = True
                if value is None:
                    log.troubles.append((line.at, line.at, "unreadable"))
                    life.message_id = ""
                    continue
                life.message_id = value
                if value in wanted:
                    log.mentions[value].append(line.at)
            elif life and not life.committed_at:
                if rest.startswith(_CLEANUP_REFUSED):
                    life.refused = True
                elif not rest.startswith(_CLEANUP_HARMLESS):
                    life.unclear = True
        elif line.daemon in ("qmgr", "oqmgr"):
            if commit := _COMMIT.fullmatch(rest):
                if senders and normalise_address(commit["sender"]) in senders:
                    log.queued_from[normalise_address(commit["sender"])].append(line.at)
                if life is None:
                    life = begin(key)
                if not life.committed_at:
                    life.committed_at, life.sender = line.at, commit["sender"]
            elif rest == "removed":
                if life:
                    close(life)
                    del lives[key]
            elif (found_status := _STATUS.match(rest)) and life:
                life.after = found_status["status"]
            elif "status=expired" in rest and life:
                life.after = "expired"
            elif life and not life.committed_at and not rest.startswith("skipped"):
                life.unclear = True  # a queue manager line cut short, or one not known
        elif line.daemon == "postsuper" and life and rest.startswith(("removed", "deleted")):
            life.after = "deleted"
            close(life)
            del lives[key]
        elif line.daemon == "bounce" and life and "non-delivery notification" in rest:
            life.after = "bounced"
        elif line.daemon in _DELIVERY_AGENTS and life and (
                found_status := _STATUS.match(rest)):
            life.after = found_status["status"]
    for life in lives.values():
        close(life)


# --- Exim ------------------------------------------------------------------------------------

_EXIM_RECEIVED = re.compile(r"(?P<queue>[-0-9A-Za-z]{16,23}) <= (?P<rest>.*)")
_EXIM_BETWEEN = re.compile(r"(?:M8S|Q|RT)=\S+")


def _exim_received(text: str) -> tuple[str, str, str] | None:
    """(queue id, Message-ID, sender) of Exim's `<=` line, the id being the field right after
    the size (S=n): a sender, a login name or a subject that says "id=" says nothing."""
    found = _EXIM_RECEIVED.fullmatch(text)
    if not found:
        return None
    words = found["rest"].split(" ")
    if not words or words[0].startswith('"'):
        return None
    fields = []
    for word in words[1:]:
        if word.startswith("T=") or word in ("from", "for"):
            break
        fields.append(word)
    sizes = [n for n, word in enumerate(fields) if re.fullmatch(r"S=\d+", word)]
    ids = [n for n, word in enumerate(fields) if word.startswith("id=")]
    if len(sizes) != 1 or len(ids) != 1 or ids[0] < sizes[0]:
        return None
    if not all(_EXIM_BETWEEN.fullmatch(word) for word in fields[sizes[0] + 1:ids[0]]):
        return None
    message_id = fields[ids[0]].removeprefix("id=")
    return (found["queue"], message_id, words[0]) if message_id else None


def _follow_exim(log: Log, wanted: set[str], senders=frozenset()) -> None:
    received = {}
    for line in log.lines:
        if line.daemon != "exim":
            continue
        if found := _exim_received(line.text):
            queue, message_id, sender = found
            if senders and normalise_address(sender) in senders:
                log.queued_from[normalise_address(sender)].append(line.at)
            if message_id in wanted:
                log.mentions[message_id].append(line.at)
                received[queue] = Acceptance(queue, line.at, sender)
                log.accepted[message_id].append(received[queue])
        elif (parts := line.text.split(" ", 2)) and parts[0] in received and len(parts) > 1:
            status = {"=>": "sent", "->": "sent", "**": "bounced", "==": "deferred"}.get(parts[1])
            if status:
                received[parts[0]].after = status


# --- the machine's zone ----------------------------------------------------------------------

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
        ours = [a for a in acceptances if _sent_by_us(a.sender, delivery)]
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
    verp = bounces.verp_address(delivery.pk)
    if verp and any(start <= at <= end for at in log.queued_from.get(normalise_address(verp),
                                                                      [])):
        return {**record, "accepted": None, "reason": "unclear"}
    return {**record, "accepted": False,
            "reason": "not_queued" if message_id in log.not_queued else "no_trace"}


def _sent_by_us(sender: str, delivery) -> bool:
    """The envelope sender the relay queued it from is this delivery's: its VERP address
    (the hmac cannot be guessed, and a message never queued never showed it), or without
    BOUNCE_DOMAIN the campaign's From address."""
    if settings.BOUNCE_DOMAIN:
        return bounces.delivery_id_of(sender) == delivery.pk
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
    senders = frozenset(normalise_address(bounces.verp_address(pk)) for pk in doubtful
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
