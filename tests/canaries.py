"""Canaries: member values that exist nowhere else, a search that finds them in whatever
form they were kept, and the places to search. Used by the canary drill
(tests/test_canary_drill.py), which runs a roster's whole life and asks at each step where
member data is.

A canary is one member's value of one field, or the distinctive part of it (a token):
"cnry" + a salt drawn for the run + the field's code + the member's index, or a run of rare
kanji or katakana for the Japanese fields. Being unique to the run, a canary found anywhere
came from this run's roster; and the report names canaries (m3.email_local), never their
values.

`Finder` looks for every canary at once (Aho-Corasick) in two views of a text:
* NFKC and case-folded: the value as it is, in upper or lower case, full-width, in half-width
  kana; and the encodings that survive case folding: JSON \\u escapes, percent-encoding
  (UTF-8 and CP932), quoted-printable (soft line breaks ignored), hex, Python byte escapes,
  HTML character references, punycode (IDN);
* with all white space removed, case kept: base64 and base64url at each of the three
  alignments a value can have inside a longer run (MIME line breaks ignored).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import quopri
import random
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from io import BytesIO
from pathlib import Path
from urllib.parse import quote

import ahocorasick

# --- the roster ----------------------------------------------------------------------------------

HEADER = ["会員番号", "氏名", "メールアドレス", "電話番号", "住所", "フリガナ", "備考", "支部",
          "フォーム"]
COLUMNS = HEADER[3:]  # the extra columns, each a placeholder: {電話番号} ... {フォーム}
LINK_DOMAIN = "association.example"  # the prefilled form links' domain (an allowed one)
PREFIX = "cnry"

_INDEX_KANJI = "壱弐参肆伍陸漆捌玖"
_INDEX_KANA = "アイウエオカキクケ"
_KANA = "カキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワ"
_SALT_LETTERS = "bcdfghjkmnpqrstvwxz"
# Half-width katakana as people type them into Excel (the importer makes them full-width).
_HALF_WIDTH = {unicodedata.normalize("NFKC", chr(c)): chr(c) for c in range(0xFF66, 0xFF9E)}


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def half_width_kana(text: str) -> str:
    return "".join(_HALF_WIDTH.get(c, c) for c in text)


def fold(text: str) -> str:
    """How the search compares: NFKC, case-folded."""
    return unicodedata.normalize("NFKC", text).casefold()


@dataclass(frozen=True)
class Canary:
    member: int  # the member's index (1...)
    field: str  # "name_ja", "email_local", ...
    text: str  # as stored after the import (NFKC)
    # Other spellings of the same value, each with its form's name: ("digits", ...),
    # ("idn", the domain label in Unicode), ("idn", in punycode).
    variants: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        return f"m{self.member}.{self.field}"


@dataclass(frozen=True)
class CanaryMember:
    index: int
    member_number: str
    row: tuple[str, ...]  # the file's row, as typed
    name: str  # as stored (the importer's NFKC)
    name_latin: str
    email: str
    phone: str
    canaries: tuple[Canary, ...]

    @property
    def local_part(self) -> str:
        return self.email.rpartition("@")[0]

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2]

    @property
    def ascii_email(self) -> str:
        """The address as it goes on the wire: the domain in its IDNA (punycode) form."""
        return f"{self.local_part}@{self.domain.encode('idna').decode('ascii')}"


def canary_members(count: int = 6, *, idn_member: int = 4,
                   seed: int | None = None) -> list[CanaryMember]:
    """`count` members (at most 9) whose every field carries a canary of this run: a name
    in kanji and in Latin letters, an address whose local part and domain both carry one
    (member `idn_member`'s domain internationalised), a phone number, a postal address, a
    reading in katakana, a free text, a branch, and a prefilled form link on LINK_DOMAIN
    holding the member's address and phone. Typed as people type them: member 1's phone
    in full-width digits, member 2's Latin name full-width, member 3's address in
    capitals, the odd members' readings in half-width kana."""
    rng = random.Random(seed)
    salt = "".join(rng.choice(_SALT_LETTERS) for _ in range(4))

    def kanji() -> str:
        return "".join(chr(rng.randrange(0x4E00, 0x9FA6)) for _ in range(2))

    name_salt, place_salt = "鵺" + kanji(), "鵼" + kanji()
    kana_salt = "ヌエ" + "".join(rng.choice(_KANA) for _ in range(3))
    phones = rng.sample(range(10**7, 10**8), count)
    members = []
    for i in range(1, count + 1):
        def token(code: str, i=i) -> str:
            return f"{PREFIX}{salt}{code}{i}"

        name_ja, name_latin = name_salt + _INDEX_KANJI[i - 1], token("nl").capitalize()
        label = token("ed") + ("会員" if i == idn_member else "")
        email = f"{token('el')}@{label}.example"
        email = email.upper() if i == 3 else email
        digits = f"{phones[i - 1]:08d}"
        phone = f"090-{digits[:4]}-{digits[4:]}"
        place = place_salt + _INDEX_KANJI[i - 1]
        kana = kana_salt + _INDEX_KANA[i - 1]
        link = (f"https://{LINK_DOMAIN}/m/?mail={quote(email, safe='')}&tel={phone}"
                f"&ref={token('lk')}")
        row = (f"K{7000 + i}",
               f"{name_ja} {full_width(name_latin) if i == 2 else name_latin}",
               email,
               full_width(phone) if i == 1 else phone,
               f"東京都千代田区{place}町1-2-3",
               half_width_kana(kana) if i % 2 else kana,
               f"夜間は不在。合言葉は {token('fx')} です",
               f"{token('br')}支部",
               link)
        idn = (("idn", label), ("idn", label.encode("idna").decode("ascii"))) \
            if i == idn_member else ()
        canaries = (
            Canary(i, "name_ja", name_ja), Canary(i, "name_latin", name_latin),
            Canary(i, "email_local", token("el")), Canary(i, "email_domain", token("ed"), idn),
            Canary(i, "phone", phone, (("digits", phone.replace("-", "")),)),
            Canary(i, "address", place), Canary(i, "kana", kana),
            Canary(i, "note", token("fx")), Canary(i, "branch", token("br")),
            Canary(i, "link", token("lk")))
        members.append(CanaryMember(i, row[0], row, f"{name_ja} {name_latin}", name_latin,
                                    email, phone, canaries))
    return members


# --- the search -----------------------------------------------------------------------------------

def base64_fragments(data: bytes) -> set[str]:
    """What base64 of `data` looks like inside a longer base64 run, at each of the three
    alignments it can have: the characters that depend on `data` alone."""
    fragments = set()
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + data).decode("ascii")
        start, end = -(-8 * pad // 6), 8 * (pad + len(data)) // 6
        fragment = encoded[start:end]
        if len(fragment) >= 8:
            fragments |= {fragment, fragment.replace("+", "-").replace("/", "_")}
    return fragments


def needles(canary: Canary) -> Iterator[tuple[str, str, str]]:
    """(view, needle, form) for every form of the canary the search looks for."""
    for spelling, text in (("plain", canary.text), *canary.variants):
        data = text.encode()
        yield "folded", fold(text), spelling
        yield "folded", data.hex(), "hex"
        if not text.isascii():
            yield "folded", fold(json.dumps(text)[1:-1]), "json-escape"
            yield "folded", fold(quopri.encodestring(data).decode("ascii")), "quoted-printable"
            yield "folded", "".join(f"\\x{b:02x}" for b in data), "bytes-repr"
            yield "folded", "".join(f"&#{ord(c)};" for c in text), "html-entity"
            yield "folded", "".join(f"&#x{ord(c):x};" for c in text), "html-entity"
            for encoding in ("utf-8", "cp932"):
                try:
                    yield "folded", fold(quote(text, safe="", encoding=encoding)), "percent"
                except UnicodeEncodeError:
                    pass
        for spelling in {text, text.upper(), text.lower(), text.capitalize()}:
            for fragment in base64_fragments(spelling.encode()):
                yield "compact", fragment, "base64"


_SPACE = re.compile(r"\s+")


class Finder:
    def __init__(self, canaries: Iterable[Canary]):
        self.canaries = list(canaries)
        self._automata = {"folded": ahocorasick.Automaton(), "compact": ahocorasick.Automaton()}
        found: dict[tuple[str, str], set] = {}
        for canary in self.canaries:
            for view, needle, form in needles(canary):
                found.setdefault((view, needle), set()).add((canary, form))
        for (view, needle), hits in found.items():
            self._automata[view].add_word(needle, frozenset(hits))
        for automaton in self._automata.values():
            automaton.make_automaton()

    def find(self, text: str | bytes) -> set[tuple[Canary, str]]:
        """Every (canary, form) in `text` (bytes are read as UTF-8)."""
        if isinstance(text, bytes | bytearray | memoryview):
            text = bytes(text).decode("utf-8", "replace")
        if not text:
            return set()
        found = set()
        folded = fold(text.replace("=\r\n", "").replace("=\n", ""))
        for _end, hits in self._automata["folded"].iter(folded):
            found |= hits
        for _end, hits in self._automata["compact"].iter(_SPACE.sub("", text)):
            found |= hits
        return found


@dataclass(frozen=True)
class Hit:
    location: str  # table.column, file, session, log...
    canary: Canary
    form: str


def _hits(finder: Finder, location: str, text) -> list[Hit]:
    return [Hit(location, canary, form) for canary, form in finder.find(text)]


def as_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=repr)
    return repr(value)


# --- the places -----------------------------------------------------------------------------------

def search_database(finder: Finder) -> list[Hit]:
    """Every column of every table, read through the connection ("table.column"), and the
    engine's own dump (pg_dump, SQLite's iterdump) by table: a table the column read missed
    is named "table (dump)". Needs committed data (a transactional test)."""
    from django.db import connection

    from tests.factories import database_dump

    hits, tables = [], set()
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            columns = [column[0] for column in cursor.description]
            values: dict[str, list[str]] = {column: [] for column in columns}
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    values[column].append(as_text(value))
            for column, texts in values.items():
                found = _hits(finder, f"{table}.{column}", "\0".join(texts))
                tables |= {(table, hit.canary) for hit in found}
                hits += found
    for table, text in dump_by_table(database_dump()).items():
        hits += [Hit(f"{table} (dump)", canary, form) for canary, form in finder.find(text)
                 if (table, canary) not in tables]
    return hits


_COPY = re.compile(r'^COPY (?:\w+\.)?"?(?P<table>[^" ]+)"? \(')
_INSERT = re.compile(r'^INSERT INTO "?(?P<table>[^" (]+)"?')
_STATEMENT = ("CREATE ", "COMMIT", "BEGIN", "PRAGMA", "DELETE FROM", "ALTER ", "SELECT ",
              "SET ", "--", "COMMENT ", "GRANT ", "REVOKE ")


def dump_by_table(dump: str) -> dict[str, str]:
    """A dump's data by table: pg_dump's COPY blocks, iterdump's INSERT statements (whose
    values may span lines); the rest (schema, sequences) under "(schema)"."""
    tables: dict[str, list[str]] = {}
    current, copying = "(schema)", False
    for line in dump.split("\n"):
        if copying:
            if line == "\\.":
                copying, current = False, "(schema)"
            else:
                tables.setdefault(current, []).append(line)
            continue
        if found := _COPY.match(line):
            current, copying = found["table"], True
            continue
        if found := _INSERT.match(line):
            current = found["table"]
        elif line.startswith(_STATEMENT):
            current = "(schema)"
        tables.setdefault(current, []).append(line)
    return {table: "\n".join(lines) for table, lines in tables.items()}


def search_sessions(finder: Finder) -> list[Hit]:
    """The session store (database sessions), each session decoded as Django reads it
    (signed, compressed JSON), named by its user."""
    from django.conf import settings
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session

    from countersign.models import User

    assert settings.SESSION_ENGINE == "django.contrib.sessions.backends.db", (
        "the drill reads database sessions")
    hits = []
    for session in Session.objects.all():
        data = SessionStore().decode(session.session_data)
        user = User.objects.filter(pk=data.get("_auth_user_id")).first()
        location = f"django_session ({user.get_username() if user else 'anonymous'})"
        hits += _hits(finder, location, json.dumps(data, ensure_ascii=False, default=repr))
    return hits


def search_task_queue(finder: Finder) -> list[Hit]:
    """django-q2's tables, decoded as the cluster reads them: queued packages (signed
    pickles), task results (successes and failures), schedules."""
    from django_q.models import OrmQ, Schedule, Task
    from django_q.signing import SignedPackage

    hits = []
    for queued in OrmQ.objects.all():
        hits += _hits(finder, "django_q_ormq.payload (decoded)",
                      as_text(SignedPackage.loads(queued.payload)))
    for fields, rows in ((("name", "func", "hook", "args", "kwargs", "result", "group"),
                          Task.objects.all()),
                         (("name", "func", "hook", "args", "kwargs"), Schedule.objects.all())):
        for row in rows:
            for name in fields:
                hits += _hits(finder, f"{row._meta.db_table}.{name}", as_text(getattr(row, name)))
    return hits


def search_redis(finder: Finder, url: str) -> tuple[list[Hit], int]:
    """Every key of the Redis database django-q2 uses as its broker (Q_REDIS_URL), every
    value as stored and, where it is one, as the cluster reads it (a signed pickle). Returns
    the hits and how many values were read (a drill with none has not tested Redis)."""
    import redis
    from django_q.signing import SignedPackage

    hits, read = [], 0
    server = redis.from_url(url)
    for key in server.scan_iter():
        kind = server.type(key).decode()
        values = {"list": lambda k: server.lrange(k, 0, -1),
                  "string": lambda k: [server.get(k)],
                  "hash": lambda k: list(server.hgetall(k).values()),
                  "set": lambda k: list(server.smembers(k)),
                  "zset": lambda k: server.zrange(k, 0, -1)}.get(kind, lambda k: [])(key)
        label = f"redis {key.decode('utf-8', 'replace')}"
        hits += _hits(finder, label, as_text(key))
        for value in values:
            read += 1
            hits += search_blob(finder, label, value)
            with contextlib.suppress(Exception):  # not a package the cluster signed: as stored
                hits += _hits(finder, f"{label} (decoded)",
                              as_text(SignedPackage.loads(value.decode("ascii"))))
    return hits, read


_LOG_FORMAT = logging.Formatter("%(name)s %(levelname)s %(message)s")


def search_logs(finder: Finder, records, *, outputs=(), skip=()) -> list[Hit]:
    """Log records (their message and any traceback), and what commands printed
    (`outputs`: (name, text)). Loggers named in `skip` are not the app's."""
    hits = []
    for record in records:
        if record.name.startswith(tuple(skip)):
            continue
        hits += _hits(finder, f"log {record.name}", _LOG_FORMAT.format(record))
    for name, text in outputs:
        hits += _hits(finder, f"output of {name}", text)
    return hits


def search_files(finder: Finder, files: Iterable[tuple[str, Path]]) -> list[Hit]:
    """Files (label, path): as bytes read as UTF-8, and a zip's parts (an xlsx) one by
    one. A file that went away meanwhile is skipped."""
    hits = []
    for label, path in files:
        try:
            data = path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            continue
        hits += search_blob(finder, label, data)
    return hits


def search_blob(finder: Finder, label: str, data: bytes) -> list[Hit]:
    """A file's bytes (a download, say), read as UTF-8; a zip (an xlsx) part by part too."""
    hits = _hits(finder, label, data)
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(BytesIO(data)) as archive:
                for name in archive.namelist():
                    hits += _hits(finder, label, archive.read(name))
        except zipfile.BadZipFile:
            pass
    return hits


def files_under(root: Path, *, label: str, since: float | None = None,
                names: tuple[str, ...] = (), max_bytes: int = 20 * 1024 * 1024,
                recursive: bool = True) -> Iterator[tuple[str, Path]]:
    """(label/relative path, path) of the regular files under `root`: changed since
    `since` (a time.time()), named with one of `names`' prefixes, at most `max_bytes`."""
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*") if recursive else root.iterdir()):
        try:
            stat = path.stat()
        except OSError:
            continue
        if not path.is_file() or stat.st_size > max_bytes:
            continue
        if since is not None and stat.st_mtime < since:
            continue
        if names and not path.name.startswith(names):
            continue
        yield f"{label}/{path.relative_to(root)}", path


def mail_kind(message, member_of) -> str:
    """What a message is: member mail (to which member), a test message, or a notice to
    staff. `member_of(address)`: the member's index, or None."""
    if message["X-Countersign-Campaign"]:
        return f"member mail to m{member_of(str(message['To']))}"
    if message["X-Countersign-Test"]:
        return f"test message of campaign {message['X-Countersign-Test']}"
    return "notice to staff"


def readable(message) -> str:
    """A message as its reader sees it: decoded headers and text parts."""
    parts = [f"{name}: {value}" for name, value in message.items()]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            try:
                parts.append(part.get_content())
            except (LookupError, UnicodeError):
                parts.append(as_text(part.get_payload(decode=True)))
    return "\n".join(parts)


def search_mail(finder: Finder, messages: Iterable[bytes], member_of, *,
                label: str = "") -> list[Hit]:
    """Messages as they went over SMTP (raw bytes, and decoded), each named by its kind."""
    hits = []
    for raw in messages:
        message = message_from_bytes(raw, policy=policy.default)
        location = f"{label}{mail_kind(message, member_of)}"
        hits += _hits(finder, location, raw) + _hits(finder, location, readable(message))
    return hits


def search_sqlite_files(finder: Finder) -> list[Hit]:
    """The SQLite database's own files, byte for byte (the main file, its WAL and journal):
    what someone with a copy of the file reads, free pages and old page images included."""
    from django.db import connection

    hits = []
    if connection.vendor != "sqlite":
        return hits
    name = Path(connection.settings_dict["NAME"])
    for suffix in ("", "-wal", "-journal"):
        path = name.with_name(name.name + suffix)
        if path.exists():
            hits += _hits(finder, f"{path.name}", path.read_bytes())
    return hits


# --- the report -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Found:
    state: str
    place: str
    hit: Hit
    allowed: bool


def hits_table(found: list[Found], *, states: list[str], places: list[str],
               searched: set[tuple[str, str]], notes: Iterable[str] = ()) -> str:
    """State x place: how many canaries were found there ("12": all where they may be;
    "3!/12": 3 of the 12 where they may not; "n/a": not searched). Then each leak, over the
    run of steps it lasted unchanged: its members, fields and forms, and up to five
    locations with how many canaries each. Never a canary's value."""
    cells: dict[tuple[str, str], list[Found]] = {}
    for item in found:
        cells.setdefault((item.state, item.place), []).append(item)
    text = {}
    for state in states:
        for place in places:
            items = cells.get((state, place), [])
            every = {i.hit.canary for i in items}
            leaked = {i.hit.canary for i in items if not i.allowed}
            text[state, place] = ("." if (state, place) in searched else "n/a") if not every \
                else f"{len(leaked)}!/{len(every)}" if leaked else str(len(every))
    widths = {p: max(len(p), *(len(text[s, p]) for s in states)) + 2 for p in places}
    first = max(len(s) for s in states) + 1
    lines = [("canaries found, step x place (N: all where they may be; L!/N: L of the N "
              "where they may not be; .: none; n/a: not searched)"),
             "step".ljust(first) + "".join(p.rjust(widths[p]) for p in places)]
    lines += [state.ljust(first) + "".join(text[state, p].rjust(widths[p]) for p in places)
              for state in states]
    lines += list(notes)
    lines += ["", "leaks (canaries where they may not be), by place and the steps they lasted:"]
    runs: list[list] = []  # [first step, last step, place, signature, leaks]
    for place in places:
        current = None
        for state in states:
            leaks = [i for i in cells.get((state, place), []) if not i.allowed]
            signature = frozenset((i.hit.location, i.hit.canary, i.hit.form) for i in leaks)
            if not leaks:
                current = None
            elif current is not None and current[3] == signature:
                current[1] = state
            else:
                current = [state, state, place, signature, leaks]
                runs.append(current)
    runs.sort(key=lambda run: (states.index(run[0]), places.index(run[2])))
    for first_step, last_step, place, _signature, leaks in runs:
        canaries = {i.hit.canary for i in leaks}
        members = ",".join(f"m{m}" for m in sorted({c.member for c in canaries}))
        fields = ",".join(sorted({c.field for c in canaries}))
        forms = ",".join(sorted({i.hit.form for i in leaks}))
        by_location: dict[str, set] = {}
        for item in leaks:
            by_location.setdefault(item.hit.location, set()).add(item.hit.canary)
        ranked = sorted(by_location.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        where = "; ".join(f"{location} ({len(c)})" for location, c in ranked[:5])
        more = f"; {len(ranked) - 5} more" if len(ranked) > 5 else ""
        steps = first_step if first_step == last_step else f"{first_step} .. {last_step}"
        lines += [(f"- {steps}, {place}: {len(canaries)} canaries of {members} [{fields}] "
                   f"as {forms}"), f"    in {where}{more}"]
    if not runs:
        lines.append("  none")
    return "\n".join(lines) + "\n"
