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

from audit.models import AuditEntry, time_text

# One anchor per line, as mailed: "countersign-anchor sequence=123 hash=<64 hex> time=<UTC>".
_LINE = "countersign-anchor sequence={sequence} hash={hash} time={time}"
_HASH = re.compile(r"\b[0-9a-f]{64}\b")
_SEQUENCE = re.compile(r"sequence=(\d+)")
_TIME = re.compile(r"time=(\S+)")


@dataclass(frozen=True)
class Anchor:
    sequence: int | None  # None: a bare hash, found by searching the chain
    hash: str
    time: str = ""

    def line(self) -> str:
        return _LINE.format(sequence=self.sequence, hash=self.hash, time=self.time)


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
        anchors.append(Anchor(int(sequence.group(1)) if sequence else None, found.group(0),
                              moment.group(1) if moment else ""))
    return anchors


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
