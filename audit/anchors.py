"""Anchors: chain heads that leave the system, so that a deleted tail cannot go unseen.

Whoever controls the database could delete the newest entries (dropping the triggers for a
moment); the chain that is left still verifies. An anchor is the head at some moment
(sequence, hash, time), mailed to the association's observers on a schedule and after every
completed or stopped campaign. Their mail archive holds the anchors; `verify_audit --anchor
FILE` checks every anchor in it against the chain and names the newest one that still holds.
An anchor whose entry is gone (sequence beyond the head) or different (another hash) proves
that the log was cut or rewritten after it was mailed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from audit.models import AuditEntry, time_text

# One anchor per line, as mailed: "countersign-anchor number=7 sequence=123 hash=<64 hex>
# time=<UTC> previous=<the previous anchor's hash>". The running number and the previous
# head let the association notice an anchor that never reached it (older mails have
# neither).
_LINE = "countersign-anchor {numbered}sequence={sequence} hash={hash} time={time}{previous}"
_HASH = re.compile(r"\b[0-9a-f]{64}\b")
_SEQUENCE = re.compile(r"sequence=(\d+)")
_TIME = re.compile(r"time=(\S+)")
_NUMBER = re.compile(r"number=(\d+)")
_PREVIOUS = re.compile(r"previous=([0-9a-f]{64}|none)")
# The audit entry each mailed anchor writes (campaigns.notices.send_anchor).
MAILED = "audit.anchor_mailed"
# An anchor is overdue this long after its period: the schedule's own slack.
OVERDUE_GRACE = timedelta(minutes=15)


@dataclass(frozen=True)
class Anchor:
    sequence: int | None  # None: a bare hash, found by searching the chain
    hash: str
    time: str = ""
    number: int | None = None  # the anchor's running number (None: an older anchor)
    previous: str = ""  # the previous anchor's hash ("none" for the first)

    def line(self) -> str:
        return _LINE.format(
            numbered=f"number={self.number} " if self.number else "", sequence=self.sequence,
            hash=self.hash, time=self.time,
            previous=f" previous={self.previous}" if self.previous else "")


def current() -> Anchor | None:
    head = AuditEntry.objects.order_by("-sequence").values_list("sequence", "hash",
                                                                 "created_at").first()
    return Anchor(head[0], head[1], time_text(head[2])) if head else None


def parse(text: str) -> list[Anchor]:
    """Anchors in a text (a saved mail, a file of lines, or one bare hash)."""
    anchors = []
    for line in text.splitlines():
        found = _HASH.search(line.lower())
        if not found:
            continue
        sequence, moment = _SEQUENCE.search(line), _TIME.search(line)
        number, previous = _NUMBER.search(line), _PREVIOUS.search(line.lower())
        anchors.append(Anchor(int(sequence.group(1)) if sequence else None, found.group(0),
                              moment.group(1) if moment else "",
                              int(number.group(1)) if number else None,
                              previous.group(1) if previous else ""))
    return anchors


def last_mailed() -> AuditEntry | None:
    """The newest anchor that reached the association's observers (outcome "sent")."""
    return (AuditEntry.objects.filter(action=MAILED, payload__outcome="sent")
            .order_by("-sequence").first())


def next_numbering() -> tuple[int, str]:
    """(running number, previous anchor's hash) for the next anchor mailed."""
    sent = AuditEntry.objects.filter(action=MAILED, payload__outcome="sent")
    previous = sent.order_by("-sequence").first()
    return sent.count() + 1, previous.payload["hash"] if previous else "none"


def overdue(now=None) -> str:
    """Why the anchors are not going out ("" when they are): none reached the association
    for longer than AUDIT_ANCHOR_HOURS (plus a little slack). Counted from the newest anchor
    sent, else from the log's first entry: a schedule moved, deleted or failing shows here
    within one period, whatever happened to the schedule table."""
    now = now or timezone.now()
    period = timedelta(hours=settings.AUDIT_ANCHOR_HOURS)
    last = last_mailed()
    since = last.created_at if last else AuditEntry.objects.order_by("sequence").values_list(
        "created_at", flat=True).first()
    if since is None or now - since <= period + OVERDUE_GRACE:
        return ""
    hours = int((now - since).total_seconds() // 3600)
    what = f"entry {last.sequence}" if last else "none ever"
    return (f"no audit anchor has reached the association for {hours} h (period "
            f"{settings.AUDIT_ANCHOR_HOURS} h; last anchor sent: {what})")


def gaps(anchors: list[Anchor]) -> list[str]:
    """What a kept set of numbered anchors lacks: numbers missing between the first and the
    last, and anchors whose "previous" is not the anchor numbered before it."""
    numbered = {a.number: a for a in anchors if a.number}
    problems = []
    missing = missing_numbers(anchors)
    if missing:
        problems.append("anchors missing from what was kept: number " + ", ".join(
            map(str, missing)))
    for number, anchor in sorted(numbered.items()):
        before = numbered.get(number - 1)
        if before is not None and anchor.previous and anchor.previous != before.hash:
            problems.append(f"anchor {number} names another previous head "
                            f"({anchor.previous[:12]}…) than anchor {number - 1} "
                            f"({before.hash[:12]}…)")
    return problems


@dataclass(frozen=True)
class AnchorCheck:
    anchor: Anchor
    ok: bool
    reason: str = ""  # "" | "missing" (cut after it) | "different" (rewritten) | "not_found"


def check(anchors: list[Anchor]) -> list[AnchorCheck]:
    """Each anchor against the stored chain (the chain itself is verified separately)."""
    checks = []
    for anchor in anchors:
        if anchor.sequence is None:
            found = AuditEntry.objects.filter(hash=anchor.hash).exists()
            checks.append(AnchorCheck(anchor, found, "" if found else "not_found"))
            continue
        stored = AuditEntry.objects.filter(sequence=anchor.sequence).values_list(
            "hash", flat=True).first()
        if stored is None:
            checks.append(AnchorCheck(anchor, False, "missing"))
        else:
            checks.append(AnchorCheck(anchor, stored == anchor.hash,
                                      "" if stored == anchor.hash else "different"))
    return checks


def newest_that_holds(checks: list[AnchorCheck]) -> Anchor | None:
    held = [c.anchor for c in checks if c.ok and c.anchor.sequence is not None]
    return max(held, key=lambda a: a.sequence) if held else None


def missing_numbers(anchors: list[Anchor]) -> list[int]:
    numbers = {a.number for a in anchors if a.number}
    return sorted(set(range(min(numbers), max(numbers) + 1)) - numbers) if numbers else []


def where_it_went(number: int) -> str:
    """What the log says of anchor `number`: when, and the addresses it was mailed to."""
    entry = (AuditEntry.objects.filter(action=MAILED, payload__number=number)
             .order_by("sequence").first())
    if entry is None:
        return "no record of it in the log"
    return (f"mailed in entry {entry.sequence} at {time_text(entry.created_at)} to "
            f"{', '.join(entry.payload.get('addresses', [])) or 'nobody'}")
