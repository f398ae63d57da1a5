"""What the guard keeps of a purged roster, and the check that needs nothing else.

When a roster is purged (retention), its members' values are erased, but a contractor may
still hold the file. So before the erasure every key the guard would look a value up by
(campaigns.member_keys: addresses, member numbers, names and readings, telephone numbers,
postal addresses, other values) is kept as a keyed tag: BLAKE2b under GUARD_TAG_KEY, 8
bytes, for GUARD_TAGS_KEEP_DAYS (the deletion certificate says until when). Never the
value: without the key a tag says nothing, and with it one can only test a guess.

The check runs on tags alone: every candidate window of the text (each address around an
"@", each word that could be a member number, each run of digits, and every window of the
compacted text as long as some kept key) is tagged and looked up. This is how the whole
guard can work once the association holds the key to its members' data.
"""

from __future__ import annotations

import hashlib
import re
import time
from datetime import date, timedelta
from functools import lru_cache

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone

from campaigns import member_keys
from campaigns.findings import COUNTED, Finding, seam_of, subject_and_body
from campaigns.guard_hits import reach
from campaigns.puzzles import ACROSTIC_MIN_NAME, Acrostic, side_by_side
from campaigns.spellings import clean, compact, number_runs, views
from roster import member_data
from roster.models import GuardTag, GuardTagLength, NamedMember

_ADDRESS_LEFT = frozenset("abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+/=?^_`{|}~.-")
_WORD = re.compile(r"[a-z0-9](?:[a-z0-9]|[-_](?=[a-z0-9]))*")
_LOCAL = re.compile(r"(?<![a-z0-9._+-])[a-z0-9][a-z0-9._+-]*[a-z0-9](?![a-z0-9._+@-])")
COMPACTED = ("names", "address", "column")


def tag(key: str, secret: bytes | None = None) -> str:
    secret = settings.GUARD_TAG_KEY.encode()[:64] if secret is None else secret
    return hashlib.blake2b(key.encode(), key=secret, digest_size=8).hexdigest()


# The day kept on the tags of a roster only the association holds the key of, while it is held:
# its values are known to the guard by these tags alone (they are made at its import).
WHILE_HELD = date(9999, 12, 31)


def tags_at_import(roster, **_signal) -> None:
    """A roster whose key only the association will hold, still open in the importing
    process: tagged now, for as long as it is held (the purge dates them)."""
    _tag(roster, WHILE_HELD)
    transaction.on_commit(forget_kept)


def keep_tags_of(rosters) -> dict:
    """Tag every key of these rosters' members (called just before their values are
    erased); a roster tagged at its import keeps those tags, now dated. Returns what the
    certificate says: how many, and until when."""
    keep_until = timezone.localdate() + timedelta(days=settings.GUARD_TAGS_KEEP_DAYS)
    count = 0
    for roster in rosters:
        dated = GuardTag.objects.filter(roster=roster).update(keep_until=keep_until)
        GuardTagLength.objects.filter(roster=roster).update(keep_until=keep_until)
        count += dated or _tag(roster, keep_until)
    transaction.on_commit(forget_kept)
    return {"count": count, "keep_until": keep_until.isoformat(),
            "days": settings.GUARD_TAGS_KEEP_DAYS}


def _tag(roster, keep_until) -> int:
    columns = {column: member_keys.column_kind(column) for column in roster.extra_columns}
    found = member_keys.entries(member_data.index_rows(roster.pk), columns=columns,
                                min_number_length=settings.GUARD_MIN_NUMBER_LENGTH)
    rows = [GuardTag(roster=roster, tag=tag(key), kind=kind, member_number=number,
                     column=column, keep_until=keep_until)
            for key, entries in found.items() for kind, number, _length, column in entries]
    GuardTag.objects.bulk_create(rows, batch_size=5000)
    lengths = {(kind, length) for entries in found.values()
               for kind, _number, length, _column in entries}
    GuardTagLength.objects.bulk_create([
        GuardTagLength(roster=roster, kind=kind, length=length, keep_until=keep_until)
        for kind, length in sorted(lengths)])
    return len(rows)


def forget_members(rosters, member_numbers) -> int:
    """The tags of these members of these rosters go (an erasure request)."""
    deleted = GuardTag.objects.filter(roster__in=list(rosters),
                                      member_number__in=list(member_numbers)).delete()[0]
    transaction.on_commit(forget_kept)
    return deleted


def forget_expired() -> int:
    """Tags past their day are deleted (purge_rosters, daily)."""
    GuardTagLength.objects.filter(keep_until__lt=timezone.localdate()).delete()
    return GuardTag.objects.filter(keep_until__lt=timezone.localdate()).delete()[0]


@lru_cache(maxsize=1)
def _lengths(count: int, last: int, day) -> dict[str, frozenset[int]]:
    """The key lengths kept per kind (which windows to tag); read again when a purge adds
    tags or a day passes. (A rolled-back purge gives its ids back on SQLite: tests clear
    this with forget_kept.) The tags themselves stay in the database, looked up by index."""
    lengths: dict[str, set] = {}
    for kind, length in GuardTagLength.objects.filter(keep_until__gte=day).values_list(
            "kind", "length").distinct():
        lengths.setdefault(kind, set()).add(length)
    return {kind: frozenset(found) for kind, found in lengths.items()}


def forget_kept() -> None:
    """The next check reads the tags kept again (after a purge; tests start with it)."""
    _lengths.cache_clear()
    _of_template.cache_clear()
    _state["at"] = -STATE_FOR_SECONDS


STATE_FOR_SECONDS = 10.0  # how long a worker trusts its count of the tags kept
_state: dict = {"at": -STATE_FOR_SECONDS, "value": None, "named": frozenset()}


def _kept_state(day) -> tuple[int, int | None]:
    """(how many tags are kept, the last id): read now, once a day and a purge in
    between change it."""
    state = GuardTag.objects.filter(keep_until__gte=day).aggregate(n=Count("id"),
                                                                   last=Max("id"))
    return state["n"], state["last"]


def findings_in_template(texts: dict[str, str]) -> list[Finding]:
    """Values of purged rosters in a campaign's own text (placeholders emptied), for the
    check before each hand-over: every message of a campaign has the same template (what
    a placeholder adds is the recipient's own), so it is tagged once per text, per set of
    tags kept and per day, and the tags' count is read at most every STATE_FOR_SECONDS."""
    now, day = time.monotonic(), timezone.localdate()
    if now - _state["at"] >= STATE_FOR_SECONDS or _state["value"] is None \
            or _state["value"][0] != day:
        _state["value"] = (day, *_kept_state(day))
        _state["at"] = now
        _state["named"] = _named_now()
    return list(_of_template(tuple(sorted(texts.items())), _state["value"],
                             settings.GUARD_TAG_KEY, _state["named"]))


@lru_cache(maxsize=16)
def _of_template(texts: tuple, state: tuple, key: str, named: frozenset) -> tuple[Finding, ...]:
    return tuple(findings(dict(texts), named=named)) if state[1] else ()


# What a member the association allows to be named (roster.models.NamedMember) may show in
# any notice: their name, its readings and their address's local part (an officer signs
# T.Yamada), as the plaintext index leaves them out (campaigns.member_keys).
NAMED_MAY_SHOW = frozenset({"names", "local_part"})


def _named_now() -> frozenset[str]:
    return frozenset(NamedMember.objects.current().values_list("member_number", flat=True))


def _emails(view: str):
    """The address around each "@": as far left as a local part goes, as far right as a
    domain goes (ASCII, or up to the next space for an IDN)."""
    at = view.find("@")
    while at > 0:
        start = at
        while start > 0 and view[start - 1] in _ADDRESS_LEFT:
            start -= 1
        end, wide = at + 1, at + 1
        while end < len(view) and view[end].isascii() and (view[end].isalnum()
                                                            or view[end] in ".-"):
            end += 1
        while wide < len(view) and not view[wide].isspace() and view[wide] not in "<>()[],;:\"'":
            wide += 1
        for stop in {end, wide}:
            yield view[start:stop].rstrip(".")
        at = view.find("@", at + 1)


def _inside_own(squeezed: str, own: frozenset[str]) -> list[tuple[int, int]]:
    """Where the recipient's own values stand in the compacted text: a window inside one of
    them is part of their own value (林陽菜 inside 小林陽菜), not another member's."""
    spans = []
    for key in own:
        if len(key) < 2:
            continue
        start = squeezed.find(key)
        while start >= 0:
            spans.append((start, start + len(key)))
            start = squeezed.find(key, start + 1)
    return spans


def _windows(view: str, lengths: dict[str, frozenset[int]], own: frozenset[str] = frozenset()):
    yield from _emails(view)
    for word in _WORD.finditer(view):
        yield word.group(0)
        yield re.sub(r"[-_]", "", word.group(0))
    for word in _LOCAL.finditer(view):  # a local part alone (fujita.j)
        yield word.group(0)
    runs = number_runs(view)
    phone_lengths = lengths.get("phone", frozenset())
    for run in runs.split("\n") if runs else ():
        yield run
        for size in phone_lengths:
            for i in range(len(run) - size + 1):
                yield run[i:i + size]
    squeezed = compact(view)
    sizes = set().union(*(lengths.get(kind, frozenset()) for kind in COMPACTED))
    before, at = reach(_inside_own(squeezed, own), len(squeezed))
    for size in sizes:
        for i in range(len(squeezed) - size + 1):
            if max(before[i], at.get(i, 0)) < i + size:  # not inside one of their own values
                yield squeezed[i:i + size]


LOOK_UP_CHUNK = 500  # tags per query (SQLite's limit on parameters is far above)


def _looked_up(tags: list[str], day) -> list[tuple[str, str, str, str]]:
    """(tag, kind, member number, column) of the kept tags among `tags`, by the index."""
    return [row for i in range(0, len(tags), LOOK_UP_CHUNK)
            for row in GuardTag.objects.filter(
                tag__in=tags[i:i + LOOK_UP_CHUNK], keep_until__gte=day).order_by(
                "tag", "member_number").values_list("tag", "kind", "member_number", "column")]


def _views_of(texts: dict[str, str]):
    """(place, view, keeps its spaces) of every view the index's check reads
    (guard.scan_texts): each text's, the seam's (a value split between the subject and the
    body is whole there) and the subject's and body's lists read side by side (清水・松本 in
    the subject, 千尋さん、樹さん in the body)."""
    for where, text in [*texts.items(), ("body_text", seam_of(texts))]:
        for view, spaced in views(text):
            yield where, view, spaced
    joined = subject_and_body(texts, each=clean)
    for view in side_by_side(joined) if joined.strip() else ():
        yield "body_text", view, True


def findings(texts: dict[str, str], *, recipient: str = "",
             own: frozenset[str] = frozenset(),
             named: frozenset[str] | None = None) -> list[Finding]:
    """Values of purged rosters in `texts` (place -> text), found on keyed tags alone.
    `recipient`: the member number whose own values these are not; `own`: their keys
    (member_keys.own_keys): a purged namesake's name, or their own row of last year, is
    not another member's data in their message. `named`: the members who may be named
    (read now if not given)."""
    day = timezone.localdate()
    count, last = _kept_state(day)
    if not count:
        return []
    lengths = _lengths(count, last, day)
    windows: dict[str, str] = {}  # each window once (views repeat most of the text): where
    plain = set()  # ... read in a view other than down a left edge (puzzles.Acrostic)
    for where, view, spaced in _views_of(texts):
        folded = view.casefold()
        for window in _windows(folded, lengths, own) if spaced else _emails(folded):
            if window and window not in own:
                windows.setdefault(window, where)
                if not isinstance(view, Acrostic):
                    plain.add(window)
    secret = settings.GUARD_TAG_KEY.encode()[:64]
    candidates = {tag(window, secret): (where, window) for window, where in windows.items()}
    named = _named_now() if named is None else named
    found, counted, seen = [], {}, set()
    for t, kind, number, column in _looked_up(list(candidates), day):
        where, window = candidates[t]
        if number == recipient or (kind, number) in seen:
            continue
        if number in named and kind in NAMED_MAY_SHOW:
            continue
        if kind == "names" and window not in plain and len(window) < ACROSTIC_MIN_NAME:
            continue  # a short name down a list's left edge: by chance
        seen.add((kind, number))
        if kind in COUNTED:  # names and the like: counted, each kind on its own
            counted.setdefault(kind, {}).setdefault(number, (where, window, column))
        else:
            found.append(Finding(kind, where, 0, 0, window, number, detail=column))
    for kind, members in counted.items():
        shown, at_least = COUNTED[kind]
        if len(members) >= at_least:
            found += [Finding(shown, where, 0, 0, window, number, detail=column)
                      for number, (where, window, column) in sorted(members.items())]
    return found
