"""The content guard's index: every member value of every roster the association holds.

One Aho-Corasick automaton per process and set of rosters held (and of members who may be
named), over the keys of campaigns.member_keys; read again at most every HELD_FOR_SECONDS
in a worker, at once in the process that imports a roster or changes who may be named.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import ahocorasick
from django.conf import settings

from campaigns import member_keys
from roster import data_keys, member_data
from roster.models import NamedMember

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RosterIndex:
    automaton: ahocorasick.Automaton  # key -> tuple of (kind, member number, key length, column)
    only_member: str  # the member number when the campaign's roster has exactly one member



def build_index(rows, *, min_number_length: int, columns: dict[str, str] | None = None,
                named: frozenset[str] = frozenset()) -> ahocorasick.Automaton:
    """The automaton over every key of every member (campaigns.member_keys)."""
    with _no_cyclic_collection():
        found_keys = member_keys.entries(rows, min_number_length=min_number_length,
                                         columns=columns or {}, named=named)
        automaton = ahocorasick.Automaton()
        for key, found in found_keys.items():
            automaton.add_word(key, tuple(sorted(found)))
    # Never empty (every roster's member data erased): a key no text holds, finding nothing.
    automaton.add_word("\U0010fffe\U0010ffff", ())
    automaton.make_automaton()
    return automaton


_collector = {"builds": 0, "was_on": False}  # builds under way in this process (threads)
_collector_lock = threading.Lock()


@contextmanager
def _no_cyclic_collection():
    """Python's cyclic collector off while the index is built: the hundreds of thousands
    of sets and tuples it makes (none in a cycle) set off full collections that walk the
    whole heap again and again, a third of the time at 100,000 members
    (bench/window_index.py). Reference counting frees what the build throws away. The
    first build to start switches it off, the last to end back on (if it was on): two
    threads building at once cannot leave it off for good."""
    with _collector_lock:
        if not _collector["builds"]:
            _collector["was_on"] = gc.isenabled()
            gc.disable()
        _collector["builds"] += 1
    try:
        yield
    finally:
        with _collector_lock:
            _collector["builds"] -= 1
            if not _collector["builds"] and _collector["was_on"]:
                gc.enable()


def _rows_of(held):
    for roster_pk, *_rest in held:
        yield from member_data.index_rows(roster_pk)


@lru_cache(maxsize=2)
def _index(held: tuple, named: frozenset[str], min_number_length: int) -> ahocorasick.Automaton:
    columns = {column: member_keys.column_kind(column) for *_r, extra in held for column in extra}
    return build_index(_rows_of(held), min_number_length=min_number_length, columns=columns,
                       named=named)


@lru_cache(maxsize=1)
def _windowed_index(held: tuple, named: frozenset[str], min_number_length: int,
                    windows: tuple) -> ahocorasick.Automaton:
    """The index while a window is open in this process (`windows`: the rosters only the
    association holds the key of that it can open now, data_keys.open_windows): their
    values join it; the others are known to the guard by their keyed tags
    (campaigns.guard_tags). Kept apart, so that it goes when the window's campaign stops
    sending here, and the index of the rosters the contractor holds stays."""
    return _index.__wrapped__(held, named, min_number_length)


HELD_FOR_SECONDS = 10.0  # how long a worker trusts its list of the rosters held
_held = {"at": -HELD_FOR_SECONDS, "rosters": (), "named": frozenset()}


def _held_rosters() -> tuple:
    """The rosters held, read again at most every HELD_FOR_SECONDS (the check runs before
    every message; a roster imported meanwhile joins the index within seconds)."""
    now = time.monotonic()
    if now - _held["at"] >= HELD_FOR_SECONDS:
        _held["rosters"] = tuple((pk, sha, count, tuple(extra))
                                 for pk, sha, count, extra in member_data.held_rosters())
        _held["named"] = frozenset(NamedMember.objects.current().values_list(
            "member_number", flat=True))
        _held["at"] = now
    return _held["rosters"]


def forget_windowed_values() -> None:
    """A window closed: no index built with the values it opened stays in this process."""
    _windowed_index.cache_clear()


_later: dict[str, threading.Timer | None] = {"timer": None}


def forget_windowed_values_after(seconds: float) -> None:
    """A slice that handed its campaign on (the next slice may run in another process of
    the cluster, or never, once it is stopped or its grant ends) keeps the index of what its
    window opened for the next slice here, for `seconds` at most: then it goes, unless a
    slice of this process began meanwhile (keep_windowed_values)."""
    keep_windowed_values()
    timer = threading.Timer(seconds, forget_windowed_values)
    timer.daemon = True
    timer.start()
    _later["timer"] = timer


def keep_windowed_values() -> None:
    timer, _later["timer"] = _later["timer"], None
    if timer is not None:
        timer.cancel()


def forget_held_rosters() -> None:
    """The next check reads the list of rosters held again (after an import or a purge)."""
    _held["at"] = -HELD_FOR_SECONDS


def forget_indexes() -> None:
    """The next check builds its index again (a roster's id can come back on SQLite after
    a rolled-back import; tests start each from nothing)."""
    _index.cache_clear()
    _only_member.cache_clear()


@lru_cache(maxsize=64)
def _only_member(roster_pk: int, member_count: int) -> str:
    if member_count != 1:
        return ""
    return next((number for number, *_r in member_data.index_rows(roster_pk)), "")


def _held_index() -> ahocorasick.Automaton:
    held, windows = _held_rosters(), data_keys.open_windows()
    if windows:
        return _windowed_index(held, _held["named"], settings.GUARD_MIN_NUMBER_LENGTH, windows)
    return _index(held, _held["named"], settings.GUARD_MIN_NUMBER_LENGTH)


def warm(**_signal) -> None:
    """Build the index of the rosters held now, before the first message needs it: run as
    a worker process starts (django-q2's post_spawn). Eight workers started by one release
    each built it before their first message, side by side on the machine's cores; built at
    spawn, it is ready when the release comes. A failure here (no database yet) only means
    the first message builds it. (The worker closes the connection this opened before its
    first task, as before every task: django-q2's close_old_django_connections.)"""
    try:
        _held_index()
    except Exception as error:  # noqa: BLE001 - a warm-up: the check builds what it needs
        # The kind of error only: its text or traceback may quote a member's value.
        log.warning("guard index not built at worker start: %s", type(error).__name__)


def index_of_all() -> RosterIndex:
    """The index of every member value of every roster held, with no member as the one a
    text is addressed to (a free text kept in the audit log is nobody's own)."""
    return RosterIndex(_held_index(), "")


def roster_index(roster) -> RosterIndex:
    """The index of every member value of every roster the association holds (not only
    `roster`, the campaign's: the 2022 leak pasted the whole membership into a mail to a
    part of it). Built once per process and set of rosters held (a roster never changes
    after import)."""
    return RosterIndex(_held_index(), _only_member(roster.pk, roster.member_count))


