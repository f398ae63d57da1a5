"""The relay's own log, read as an attacker may have shaped it and as syslog breaks it.

Lines are dated (traditional syslog stamps in the machine's zone, ISO stamps, Exim's),
attributed to the relay's own programs only (`<syslog_name>/<daemon>[pid]:`; anything
else, a `logger -t postfix-x` line included, is not the relay), and each queue id is
followed through one life (Postfix: smtpd or pickup, cleanup, qmgr, delivery, removed;
Exim: `<=` to completed), so that a reused queue id or another host's line carries
nothing over. campaigns.reconcile turns what was read into evidence for a message in
doubt.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

from django.conf import settings
from django.utils import timezone

from campaigns import log_stamps
from countersign.pseudonyms import normalise_address

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


# Longer than any line a relay writes (syslog daemons cut at 8 KB by default): unreadable.
MAX_LINE = 16_384


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


@dataclass(frozen=True)
class Step:
    """One thing the relay logged of a message after taking it: a delivery attempt's outcome
    for one recipient (sent, deferred, bounced) or the queue giving it up (expired)."""

    at: datetime
    status: str  # sent, deferred, bounced, expired
    to: str = ""  # the recipient as the relay logged it ("" where the line names none)
    dsn: str = ""  # the enhanced status code, 2.0.0 / 4.7.0 / 5.1.1
    # "sent" to a server that answered "queued as X": X, the queue id it took the message
    # under (a content filter re-injecting into this relay logs X as a life of its own)
    queued_as: str = ""


@dataclass
class Acceptance:
    queue_id: str
    at: datetime
    sender: str  # the envelope sender the relay queued it from
    after: str = ""
    steps: tuple = ()  # Step, in the log's order


def _parse(raw: str, *, zone, latest, syslog_name):
    """(time or None, Line fields or None, trouble or None) for one line of a file."""
    line = raw.rstrip("\r\n")
    if not line.strip():
        return None, None, None
    if len(line) > MAX_LINE:
        return None, None, "unreadable"  # not a relay's line; and a search in it costs
    stamp = log_stamps.dated(line, zone=zone, latest=latest)
    if stamp is None:
        return None, None, "unreadable"  # cut short, run into another line, not a log line
    at, rest, style = stamp
    if style == "exim":
        text = _EXIM_LINE.match(rest)["text"]
        if at is not None and _JOINED.search(text):
            return at, None, "unreadable"
        if at is None:
            return None, ("", "exim", text), "unreadable"
        return at, ("", "exim", text), None
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
              senders: frozenset = frozenset(), now=None, until=None,
              only_wanted: bool = False) -> Log:
    """Read the files (any order); keep what the windows (start, end) of the claims need, about
    the Message-IDs `wanted` and the envelope senders `senders` (normalised): from before the
    first window to a day after the last, or to `until` (a message's later life: its retries
    and the relay giving up). `only_wanted`: keep only the lines of the queue ids that carried
    a wanted Message-ID (what became of those messages, in the memory a few of them take);
    the log's coverage (gaps, troubles, other senders) is then not read."""
    queues = _queues_of(paths, zone=zone, wanted=wanted, syslog_name=syslog_name,
                        now=now) if only_wanted else None
    now = now or timezone.now()
    margin = timedelta(seconds=settings.RECONCILE_CLOCK_MARGIN_SECONDS)
    gap = timedelta(seconds=settings.RECONCILE_MAX_LOG_GAP_SECONDS)
    latest = now + margin
    low = min((start for start, _end in windows), default=now) - gap - timedelta(hours=1)
    high = until or max((end for _start, end in windows), default=now) + gap + timedelta(days=1)
    log, files = Log(), []
    for path in paths:
        kept, first, previous, pending = [], None, None, []
        with open(path, encoding="utf-8", errors="replace") as handle:
            for number, raw in enumerate(handle):
                if queues is not None and not queues.intersection(_TOKEN.findall(raw, 0, 200)):
                    continue
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


# A word that may be a queue id (Postfix's or Exim's), near the start of a line.
_TOKEN = re.compile(r"[-0-9A-Za-z]{5,32}")


def _queues_of(paths, *, zone, wanted: set[str], syslog_name: str, now=None) -> set[str]:
    """The queue ids under which the relay logged a wanted Message-ID (Postfix's cleanup
    line, Exim's `<=` line), read in a first pass that parses only lines naming an id."""
    latest = (now or timezone.now()) + timedelta(
        seconds=settings.RECONCILE_CLOCK_MARGIN_SECONDS)
    queues = set()
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for raw in handle:
                if "id=" not in raw:
                    continue
                _at, fields, _trouble = _parse(raw, zone=zone, latest=latest,
                                                syslog_name=syslog_name)
                if not fields or not fields[1]:
                    continue
                _host, daemon, text = fields
                if daemon == "cleanup" and (found := _QUEUED.fullmatch(text)) and found[
                        "rest"].startswith("message-id=") and _exact_id(
                        found["rest"].removeprefix("message-id=")) in wanted:
                    queues.add(found["queue"])
                elif daemon == "exim" and (received := _exim_received(text)) and (
                        received[1] in wanted):
                    queues.add(received[0])
    return queues


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
# The first status= after the recipient: the receiving server's reply, in parentheses after
# it, may say "status=" too.
_STATUS = re.compile(r"to=<(?P<to>[^<>]*)>, [^(]*?\bstatus=(?P<status>sent|bounced|deferred|"
                     r"expired)\b.*")
_DSN = re.compile(r", dsn=(?P<dsn>[245]\.\d{1,3}\.\d{1,3}), ")
_QUEUED_AS = re.compile(r"\bqueued as (?P<queue>[0-9A-Za-z]{5,32})\)")
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
    steps: list = field(default_factory=list)

    def step(self, at: datetime, status: str, found=None) -> None:
        self.after = status
        dsn = _DSN.search(found.string, 0, found.start("status")) if found else None
        queued = _QUEUED_AS.search(found.string, found.end("status")) if found else None
        self.steps.append(Step(at, status, found["to"] if found else "",
                               dsn["dsn"] if dsn else "", queued["queue"] if queued else ""))


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
                Acceptance(life.queue_id, life.committed_at, life.sender, life.after,
                           tuple(life.steps)))
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
                life.step(line.at, found_status["status"], found_status)
            elif "status=expired" in rest and life:
                life.step(line.at, "expired")
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
            life.step(line.at, found_status["status"], found_status)
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
        elif (parts := line.text.split(" ", 2)) and parts[0] in received and len(parts) > 2:
            status = {"=>": "sent", "->": "sent", "**": "bounced", "==": "deferred"}.get(parts[1])
            if status:
                acceptance = received[parts[0]]
                acceptance.after = status
                to = parts[2].split(" ", 1)[0].rstrip(":").strip("<>")  # "** a@b: why"
                acceptance.steps += (Step(line.at, status, to),)
