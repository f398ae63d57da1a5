"""Where one view of a text holds a roster's keys (campaigns.guard_index): the hits, each
kind bounded as it must be. An address is whole where an address cannot go on; a member
number stands apart from other letters and digits; names and other values are found in the
compacted text (letters and digits only), a name inside a longer one being part of it;
telephone numbers in the runs of digits. And lines that read like a pasted roster row.
Plain functions of text and the index; campaigns.guard turns hits into findings."""

from __future__ import annotations

import re
from dataclasses import dataclass

from campaigns.guard_index import RosterIndex
from campaigns.spellings import compact, number_runs

# Kinds found in the compacted text (letters and digits only) and in the number runs.
COMPACTED_KINDS = frozenset({"names", "address", "column"})


# --- scanning ---------------------------------------------------------------------------------

_ADDRESS_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+/=?^_`{|}~.-")
_DOMAIN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
# A field that is an address and nothing else (fullmatch). The part after "@" is checked to
# run to the end first: a field of many dots that does not ("a@....(") is not tried dot by dot.
_ADDRESS = re.compile(r"[^\s@<>()\[\],;:\"]++@(?=[^\s@<>()\[\],;:\"]*+\Z)"
                      r"[^\s@<>()\[\],;:\"]+\.[^\s@<>()\[\],;:\"]+")
_ROW_DELIMITERS = ("\t", ",", ";", "，", "、", "；", "|")
_IDENTIFIER = re.compile(r"[a-z0-9][a-z0-9_-]{2,}", re.IGNORECASE)


def _email_ends_here(view: str, end: int) -> bool:
    if end >= len(view):
        return True
    char = view[end]
    if char == ".":  # the end of a sentence, or a longer domain?
        return end + 1 >= len(view) or view[end + 1] not in _DOMAIN_CHARS
    return char not in _DOMAIN_CHARS


@dataclass(frozen=True)
class Hit:
    kind: str
    member: str
    text: str  # as found in the view (normalised)
    key: str = ""  # names: the name key, to tell the recipient's own name apart
    column: str = ""  # a roster column's value: which column


def hits(view: str, index: RosterIndex, *, spaced: bool, compacted: bool = True,
          own: frozenset[str] = frozenset()) -> list[Hit]:
    """Addresses and numbers in a view that keeps its spaces; addresses only in one without
    (where word boundaries are gone); names, addresses and other values always in the
    compacted text; telephone numbers in the runs of digits."""
    hits, emails_by_end = [], {}
    if spaced or "@" in view:
        for end, found in index.automaton.iter(view):
            for kind, member, length, column in found:
                start = end - length + 1
                if kind == "email":
                    if (spaced and start and view[start - 1] in _ADDRESS_CHARS) or not \
                            _email_ends_here(view, end + 1):
                        continue
                    if length > emails_by_end.get(end, ("", 0))[1]:
                        emails_by_end[end] = (member, length)
                elif kind == "date" and spaced:  # a token of the dates view, whole
                    hits.append(Hit(kind, member, view[start:end + 1], column=column))
                elif kind == "local_part" and spaced:
                    if (start and view[start - 1] in _ADDRESS_CHARS) or (
                            end + 1 < len(view) and (view[end + 1] in _ADDRESS_CHARS
                                                     or view[end + 1] == "@")):
                        continue
                    hits.append(Hit(kind, member, view[start:end + 1]))
                elif kind == "member_number" and spaced:
                    if (start and view[start - 1] in _ALNUM) or (
                            end + 1 < len(view) and view[end + 1] in _ALNUM):
                        continue
                    hits.append(Hit(kind, member, view[start:end + 1]))
    for end, (member, length) in emails_by_end.items():
        hits.append(Hit("email", member, view[end - length + 1:end + 1]))
    if spaced and compacted:
        hits += compacted_hits(compact(view), index, own)
    if spaced:
        hits += _phone_hits(number_runs(view), index)
    return hits


def compacted_hits(squeezed: str, index: RosterIndex,
                    own: frozenset[str] = frozenset()) -> list[Hit]:
    """Names, addresses and other values in the compacted text; a name inside a longer one
    (林 陽菜 in 小林 陽菜), or inside the recipient's own name in any of its keys (`own`, also
    written backwards), is part of that one, not a second name."""
    names, values = [], []
    for end, found in index.automaton.iter(squeezed):
        for kind, member, length, column in found:
            start = end - length + 1
            if kind == "names":
                names.append((start, end + 1, member))
            elif kind in COMPACTED_KINDS:
                if _inside_a_longer_number(squeezed, start, end):  # 4-6-16 is not 4-6-1
                    continue
                values.append(Hit(kind, member, squeezed[start:end + 1], column=column))
            elif kind == "member_number" and _separated_number(squeezed, start, end):
                values.append(Hit(kind, member, squeezed[start:end + 1]))
    if not names:
        return values
    spans = list(names)
    for key in own:
        at = squeezed.find(key)
        while at >= 0:
            spans.append((at, at + len(key), ""))
            at = squeezed.find(key, at + 1)
    before, at = reach(spans, len(squeezed))
    kept = [(start, end, member) for start, end, member in names  # no span holds it and more
            if before[start] < end and at.get(start, 0) <= end]
    return values + [Hit("names", member, squeezed[start:end], squeezed[start:end])
                     for start, end, member in kept]


def reach(spans, length: int) -> tuple[list[int], dict[int, int]]:
    """Where spans (start, end, ...) reach, for asking "does a span hold [i, j)?" in constant
    time (asking every span is quadratic in a text of many names): the furthest end of a span
    that starts before each position (length + 1 entries), and of those that start at it."""
    at: dict[int, int] = {}
    for start, end, *_rest in spans:
        at[start] = max(at.get(start, 0), end)
    before, furthest, since = [0] * (length + 1), 0, 0
    for start in sorted(s for s in at if s < length):  # constant between two starts
        before[since:start + 1] = [furthest] * (start + 1 - since)
        furthest, since = max(furthest, at[start]), start + 1
    before[since:] = [furthest] * (length + 1 - since)
    return before, at


def _inside_a_longer_number(squeezed: str, start: int, end: int) -> bool:
    """A value that starts or ends with a digit, found inside a longer number (4-6-1 in
    4-6-16) or ending on a floor's number (4-6 1階 is 4-6, first floor)."""
    after = squeezed[end + 1] if end + 1 < len(squeezed) else ""
    return (squeezed[start].isdigit() and start > 0 and squeezed[start - 1].isdigit()) or (
        squeezed[end].isdigit() and (after.isdigit() or after in ("階", "f")))


def _separated_number(squeezed: str, start: int, end: int) -> bool:
    """A member number with letters (W-1-0-0-2, W 1002) found in the compacted text, not
    inside a longer run of Latin letters and digits. A number of digits only is looked for
    among the number runs instead (`_phone_hits`), where an amount's comma still counts."""
    number = squeezed[start:end + 1]
    return (not number.isdigit() and (start == 0 or squeezed[start - 1] not in _ALNUM)
            and (end + 1 == len(squeezed) or squeezed[end + 1] not in _ALNUM))


def _phone_hits(runs: str, index: RosterIndex) -> list[Hit]:
    """Telephone numbers inside the runs of digits; member numbers of digits only, and the
    digits of a member number without its letters, when they are a whole run (1-0-0-2,
    １００２, 204447 for K204447)."""
    if not runs:
        return []
    hits = []
    for end, found in index.automaton.iter(runs):
        for kind, member, length, column in found:
            start = end - length + 1
            if kind == "phone":
                hits.append(Hit("phone", member, runs[start:end + 1], column=column))
            elif kind in ("member_number", "number_digits") and (
                    start == 0 or runs[start - 1] == "\n") and (
                    end + 1 == len(runs) or runs[end + 1] == "\n"):
                hits.append(Hit(kind, member, runs[start:end + 1]))
    return hits


def pasted_rows(view: str, own_email: str) -> list[str]:
    """Lines that read like a roster row: split by one delimiter into three or more fields,
    one of them an address (not the recipient's own), one an identifier."""
    rows = []
    for line in view.split("\n"):
        if "@" not in line:
            continue
        for delimiter in _ROW_DELIMITERS:
            fields = [f.strip() for f in line.split(delimiter)]
            if len([f for f in fields if f]) < 3:
                continue
            addresses = [f for f in fields if _ADDRESS.fullmatch(f) and f != own_email]
            others = [f for f in fields if f and not _ADDRESS.fullmatch(f)]
            if addresses and any(_IDENTIFIER.fullmatch(f) and any(c.isdigit() for c in f)
                                 or not any(c.isdigit() for c in f) for f in others):
                rows.append(line)
                break
    return rows
