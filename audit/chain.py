"""The audit hash chain: canonical bytes, hashing and verification.

Plain Python with no Django import, on purpose: the same code verifies the database (the
verify_audit command) and an exported CSV, and an outsider can verify a CSV with nothing
but this file:

    python audit/chain.py audit-export.csv [--anchor HASH] [--partial]

Each entry's hash is sha256(prev_hash + "\\n" + canonical) where canonical is the JSON of the
fields below with sorted keys, no spaces and UTF-8 text. The first entry's prev_hash is 64
zeros. The hash is always computed from these canonical bytes in Python, never from the
database's own JSON text (PostgreSQL's jsonb reorders keys and respaces).

A CSV is read strictly: it must be exactly what the export writes, byte for byte in form,
or it is refused with the row and column at fault. Anything looser lets a file show a person
one thing while the hashes check another (a second "payload" column, a duplicated JSON key,
a cell a spreadsheet runs as a formula, an invisible character that reorders text).

The file: row 1 names the columns by key (CSV_COLUMNS), row 2 names them for people in one
of the languages of CSV_LABELS (exactly as written there), then one entry per row. The
"time" column is the hashed UTC time; "local_time" is the same instant in the installation's
time zone, with its offset, for people to read: it must be that same instant, so it cannot
tell a reader another time than the one verified. Files written before local_time and the
label row existed (LEGACY_COLUMNS, no label row) are read as they were written.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import hashlib
import io
import json
import re
import sys
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

GENESIS = "0" * 64

# The fields covered by the hash, in the order the CSV export writes them.
HASHED_FIELDS = (
    "sequence",
    "time",
    "actor",
    "role",
    "organisation",
    "action",
    "object_type",
    "object_id",
    "payload",
)
# The export's columns: the hashed fields, the local time beside the hashed UTC time (not
# hashed, checked to be the same instant), the two hashes.
CSV_COLUMNS = ("sequence", "time", "local_time", *HASHED_FIELDS[2:], "prev_hash", "hash")
# Exports written before the local time and the label row: still verified as written.
LEGACY_COLUMNS = HASHED_FIELDS + ("prev_hash", "hash")
# Row 2 of an export: the columns named for people. Exactly one of these rows, as written
# here; the verifier cannot check translations it does not know.
CSV_LABELS = {
    "en": ("Sequence", "Time (UTC)", "Local time", "Actor", "Role", "Organisation", "Action",
           "Object type", "Object ID", "Payload (JSON)", "Previous hash", "Hash"),
    "ja": ("連番", "日時（UTC）", "日時（現地時刻）", "実行者", "役割", "組織", "操作",
           "対象の種類", "対象ID", "内容（JSON）", "直前のハッシュ", "ハッシュ"),
}

# A spreadsheet runs a cell that starts with one of these as a formula (OWASP: CSV
# injection), also after spaces or a double quote, and also in a full-width or other
# compatibility form ("＝", "＋"), which Japanese Excel takes as the ASCII one: the check is
# made on the NFKC form. The export puts an apostrophe before such text; "'" itself is
# escaped the same way, so the verifier can undo it exactly by removing one apostrophe.
CSV_FORMULA_TRIGGERS = ("=", "+", "-", "@", "'")
# Excel splits a line on its locale's list separator, not only on ",": on ";" in much of
# Europe, on "؛" in some Arabic locales, on a tab or a line break when text is pasted (OWASP
# lists tab and carriage return as triggers for this reason). The text after each of these
# starts a cell there, so it is neutralised like the start of the cell. Quoting the cell
# would not help: a reader that splits on ";" does not honour quotes that open mid-field.
CSV_SEPARATORS = re.compile("([;\t\r\n\u061b])")

# Characters a person cannot see, or that change how the text around them is displayed
# (bidirectional overrides and isolates, zero-width characters, the byte-order mark): listed
# explicitly rather than by Unicode category so that every Python version agrees. The export
# writes them in a payload as JSON escapes ("\u202e"), which a reader can see; anywhere else
# in an export they are refused.
INVISIBLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f"
    "\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb"
    "\U0001d173-\U0001d17a\U000e0000-\U000e007f]"
)
_SEQUENCE = re.compile(r"[1-9][0-9]*")
_HASH = re.compile(r"[0-9a-f]{64}")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
_LOCAL_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}[+-][0-9]{2}:[0-9]{2}")


def check_payload(value, path: str = "payload"):
    """Refuse what would not survive a round trip through the database unchanged.

    Floats are refused (jsonb may print 1e20 back as 100000000000000000000); send numbers
    that need a fraction as strings.
    """
    if value is None or isinstance(value, (str, bool, int)):
        if isinstance(value, str) and "\x00" in value:
            raise TypeError(f"{path}: NUL characters cannot be stored")
        return value
    if isinstance(value, (list, tuple)):
        return [check_payload(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"{path}: keys must be strings, not {key!r}")
        return {key: check_payload(item, f"{path}.{key}") for key, item in value.items()}
    raise TypeError(f"{path}: {type(value).__name__} cannot go into the audit log")


def canonical(fields: dict) -> str:
    return json.dumps(
        {name: fields[name] for name in HASHED_FIELDS},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )


def entry_hash(prev_hash: str, fields: dict) -> str:
    return hashlib.sha256((prev_hash + "\n" + canonical(fields)).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Verdict:
    ok: bool
    count: int  # entries verified before the first bad one (all of them when ok)
    head: str  # hash of the last verified entry
    bad_sequence: int | None = None
    reason: str = ""
    anchor_found: bool | None = None  # None: no anchor asked for
    code: str = ""  # "gap", "order", "link", "altered", "anchor": for translated messages
    row: int | None = None  # the bad entry's row in a CSV file (the header is row 1)


def verify(entries: Iterable[dict], *, anchor: str | None = None,
           partial: bool = False) -> Verdict:
    """Walk entries in sequence order. Each entry is a dict of CSV_COLUMNS.

    partial=True is for a filtered export: every entry must still hash to its own hash, and
    consecutive entries must link, but gaps in the sequence (entries filtered out) are
    allowed. Without it the chain must be whole, from entry 1.

    With an anchor, a partial export must be one unbroken run: the anchor's hash pins every
    entry before it through the prev_hash links, but an entry after a gap carries its own
    prev_hash, which anyone can make up along with the entry.
    """
    expected, prev, count, anchor_found = 1, GENESIS, 0, None if anchor is None else False

    def bad(entry, code, reason):
        return Verdict(False, count, prev, entry["sequence"], reason, anchor_found, code,
                       row=entry.get("row"))

    for entry in entries:
        if partial and entry["sequence"] != expected:
            if entry["sequence"] < expected:
                return bad(entry, "order", "entries are out of order or repeated")
            if anchor is not None and count:
                return bad(entry, "gap",
                           f"expected sequence {expected}: with an anchor the export must be "
                           "one unbroken run, as an entry after a gap is not tied to the "
                           "anchor and could be made up")
            expected, prev = entry["sequence"], entry["prev_hash"]  # entries filtered out
        if entry["sequence"] != expected:
            return bad(entry, "gap",
                       f"expected sequence {expected}: an entry is missing or out of order")
        if entry["prev_hash"] != prev:
            return bad(entry, "link", "prev_hash does not match the hash of the entry before it")
        if entry_hash(prev, entry) != entry["hash"]:
            return bad(entry, "altered", "content does not match its hash: the entry was altered")
        prev, expected, count = entry["hash"], expected + 1, count + 1
        if anchor is not None and prev == anchor:
            anchor_found = True
    if anchor is not None and not anchor_found:
        return Verdict(False, count, prev, None, "the anchor hash is not in the chain", False,
                       "anchor")
    return Verdict(True, count, prev, anchor_found=anchor_found)


# --- the CSV form ------------------------------------------------------------------------


def _runs_as_formula(text: str) -> bool:
    for char in text:
        char = unicodedata.normalize("NFKC", char)
        if char.startswith(CSV_FORMULA_TRIGGERS):
            return True
        if not (char.isspace() or char == '"'):
            return False
    return False


# Most cells (hashes, numbers, times, action names, the payload's "{") start with one of
# these and hold no separator: nothing to escape, and no need to look further.
_PLAIN_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789{")


def csv_cell(value: str) -> str:
    """A cell no spreadsheet runs as a formula, in any locale: an apostrophe goes before the
    cell's text, and before the text after each separator, when that text would run."""
    if value[:1] in _PLAIN_START and not CSV_SEPARATORS.search(value):
        return value
    pieces = CSV_SEPARATORS.split(value)
    for i in range(0, len(pieces), 2):  # even: text between separators; odd: a separator
        if _runs_as_formula(pieces[i]):
            pieces[i] = "'" + pieces[i]
    return "".join(pieces)


def csv_uncell(value: str) -> str:
    if "'" not in value:
        return value
    pieces = CSV_SEPARATORS.split(value)
    return "".join(piece.removeprefix("'") if i % 2 == 0 else piece
                   for i, piece in enumerate(pieces))


def _escape_invisible(match: re.Match) -> str:
    code = ord(match.group())
    if code > 0xFFFF:  # as JSON writes it: a UTF-16 surrogate pair
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def payload_text(payload) -> str:
    """The payload as the export writes it: canonical JSON with every invisible character
    written as an escape (these can only occur inside JSON strings, where an escape means
    the same character)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return INVISIBLE.sub(_escape_invisible, text)


def local_time_text(time: str, zone: tzinfo) -> str:
    """The hashed UTC time ("...Z") as the same instant in `zone`, with its offset."""
    moment = datetime.fromisoformat(time).astimezone(zone)
    return moment.isoformat(timespec="microseconds")


def csv_header(language: str = "en") -> list[list[str]]:
    """The export's two header rows: the column keys, then their names in `language`
    (English if there is no row for it)."""
    return [list(CSV_COLUMNS), list(CSV_LABELS.get(language, CSV_LABELS["en"]))]


def csv_row(entry: dict, zone: tzinfo = UTC) -> list[str]:
    """One entry as the export writes it: payload as canonical JSON, the local time in
    `zone`, every cell made safe."""
    values = dict(entry)
    values["payload"] = payload_text(entry["payload"])
    values["local_time"] = local_time_text(entry["time"], zone)
    return [csv_cell(str(values[name])) for name in CSV_COLUMNS]


def csv_lines(header: list[str] | list[list[str]], rows: Iterable[list[str]]) -> Iterator[str]:
    """The file the export writes and read_csv() reads, line by line: a byte-order mark
    first (Japanese Excel reads UTF-8 only with it), CRLF line ends. `header`: one row, or
    a list of rows (keys, then names for people). The cells are written as given: make them
    safe first (csv_row, csv_cell). Streamed, one line at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def line(cells):
        writer.writerow(cells)
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    headers = header if header and isinstance(header[0], list) else [header]
    yield "\ufeff" + line(headers[0])
    for extra in headers[1:]:
        yield line(extra)
    for row in rows:
        yield line(row)


class CsvRefused(ValueError):
    """The file is not what the export writes; names where (row 1 is the header)."""

    def __init__(self, row: int, column: str | None, reason: str):
        super().__init__(reason)
        self.row, self.column, self.reason = row, column, reason

    def __str__(self) -> str:
        where = f"row {self.row}" + (f', column "{self.column}"' if self.column is not None else "")
        return f"{where}: {self.reason}"


def _describe(char: str) -> str:
    return f"U+{ord(char):04X} {unicodedata.name(char, 'a control character')}"


def _refuse_duplicate_keys(pairs: list) -> dict:
    seen = set()
    for key, _value in pairs:
        if key in seen:
            raise ValueError(f"the key {json.dumps(key, ensure_ascii=False)} appears twice: a "
                             "reader may see one value and a program another")
        seen.add(key)
    return dict(pairs)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON value the audit log writes")


def _plain_cell(row: int, column: str, cell: str) -> str:
    """Undo the export's formula escape, refusing a cell the export would not write."""
    value = csv_uncell(cell)
    if csv_cell(value) == cell:
        return value
    if value == cell:
        reason = ("the text would run as a formula in a spreadsheet, which then shows its "
                  "result instead of the text that is verified (the export puts an "
                  "apostrophe before such text)")
    else:
        reason = "an apostrophe the export would not have written"
    raise CsvRefused(row, column, reason)


def _header(row: int, cells: list[str]) -> tuple[str, ...]:
    """The columns the file declares: the export's, or those of an export written before
    the local time and the label row."""
    for columns in (CSV_COLUMNS, LEGACY_COLUMNS):
        if cells == list(columns):
            return columns
    for name in cells:
        if cells.count(name) > 1:
            places = ", ".join(str(i + 1) for i, cell in enumerate(cells) if cell == name)
            raise CsvRefused(row, name, f"the column appears more than once (columns {places}): "
                                        "a spreadsheet shows one, a program may read another")
    for name in cells:
        if name not in CSV_COLUMNS:
            raise CsvRefused(row, name, "not a column of the audit export")
    for name in CSV_COLUMNS:
        if name not in cells:
            raise CsvRefused(row, name, "the column is missing")
    raise CsvRefused(row, None, "the columns are not in the export's order: "
                                + ", ".join(CSV_COLUMNS))


def _labels(row: int, cells: list[str]) -> None:
    """Row 2 names the columns for people, exactly as one of CSV_LABELS: names a reader
    trusts must not be free to say that a column is another one."""
    if any(cells == list(labels) for labels in CSV_LABELS.values()):
        return
    raise CsvRefused(row, None, "not the row of column names the export writes (one of: "
                                + "; ".join(", ".join(labels) for labels in CSV_LABELS.values())
                                + ")")


def entry_from_csv_row(row: int, cells: list[str],
                       columns: tuple[str, ...] = CSV_COLUMNS) -> dict:
    if len(cells) != len(columns):
        raise CsvRefused(row, None, f"{len(cells)} cells where the header has {len(columns)}")
    entry: dict = {"row": row}
    for name, cell in zip(columns, cells):
        if found := INVISIBLE.search(cell):
            raise CsvRefused(row, name, f"contains {_describe(found.group())}, which is invisible "
                                        "or changes how the text around it is shown")
        entry[name] = _plain_cell(row, name, cell)
    for name, pattern, form in (("sequence", _SEQUENCE, "a whole number without leading zeros"),
                                ("time", _TIME, "a UTC time like 2026-06-01T09:30:00.000000Z"),
                                ("prev_hash", _HASH, "64 lower-case hexadecimal digits"),
                                ("hash", _HASH, "64 lower-case hexadecimal digits")):
        if not pattern.fullmatch(entry[name]):
            raise CsvRefused(row, name, f"not {form}, as the export writes it")
    if "local_time" in entry:
        if not _LOCAL_TIME.fullmatch(entry["local_time"]):
            raise CsvRefused(row, "local_time", "not a time with its offset like "
                                                "2026-06-01T18:30:00.000000+09:00, as the "
                                                "export writes it")
        if (datetime.fromisoformat(entry["local_time"])
                != datetime.fromisoformat(entry["time"])):
            raise CsvRefused(row, "local_time", "not the same moment as the hashed time "
                                                f"{entry['time']}: a reader would see a "
                                                "time that is not the one verified")
        del entry["local_time"]
    entry["sequence"] = int(entry["sequence"])
    try:
        payload = json.loads(entry["payload"], object_pairs_hook=_refuse_duplicate_keys,
                             parse_constant=_refuse_constant)
    except ValueError as error:  # json.JSONDecodeError is a ValueError too
        raise CsvRefused(row, "payload", str(error)) from None
    if payload_text(payload) != entry["payload"]:
        raise CsvRefused(row, "payload", "the JSON is not written as the export writes it "
                                         "(sorted keys, no spaces, no needless escapes)")
    entry["payload"] = payload
    return entry


def _written(cells: list[str]) -> str:
    line = io.StringIO()
    csv.writer(line, lineterminator="").writerow(cells)
    return line.getvalue()


def _lines(handle) -> Iterator[tuple[int, str]]:
    """(row number, text without its line end) for each line of a file opened in binary."""
    ending = None
    for number, raw in enumerate(handle, start=1):
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8):]  # the byte-order mark Excel needs, once
        body = raw.removesuffix(b"\n")
        end = raw[len(body):]
        if end and body.endswith(b"\r"):
            body, end = body[:-1], b"\r\n"
        if end:
            ending = ending or end
            if end != ending:
                raise CsvRefused(number, None, "the line ends differently from the lines before "
                                               "it, which viewers may split differently")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise CsvRefused(number, None, "the line is not UTF-8 text") from None
        if "\ufeff" in text:
            raise CsvRefused(number, None, "a byte-order mark (U+FEFF) after the start of the "
                                           "file")
        if "\r" in text:
            raise CsvRefused(number, None, "a carriage return inside the line, which viewers "
                                           "may show as a line break")
        yield number, text


def read_csv(path: str) -> Iterator[dict]:
    """The export's entries, checked cell by cell; raises CsvRefused at the first fault."""
    columns = CSV_COLUMNS
    with open(path, "rb") as handle:
        for number, text in _lines(handle):
            try:
                cells = next(csv.reader([text], strict=True)) if text else []
            except csv.Error as error:
                raise CsvRefused(number, None, f"broken CSV quoting ({error})") from None
            if _written(cells) != text:
                raise CsvRefused(number, None, "the cells are not quoted as the export quotes "
                                               "them, and spreadsheets may read them differently")
            if number == 1:
                columns = _header(number, cells)
            elif not cells:
                raise CsvRefused(number, None, "an empty line, which the export never writes")
            elif number == 2 and columns == CSV_COLUMNS:
                _labels(number, cells)
            else:
                yield entry_from_csv_row(number, cells, columns)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="chain.py", description="Verify a Countersign audit export (CSV).")
    parser.add_argument("export", help="the CSV file as exported")
    parser.add_argument("--anchor", type=str.lower,
                        help="a chain head kept elsewhere: it must be in the export")
    parser.add_argument("--partial", action="store_true",
                        help="the export was filtered: check each entry and each link, allow "
                             "gaps (with --anchor: no gaps)")
    args = parser.parse_args(argv)
    if args.anchor is not None and not _HASH.fullmatch(args.anchor):
        parser.error("--anchor takes a hash of 64 hexadecimal digits")
    try:
        verdict = verify(read_csv(args.export), anchor=args.anchor, partial=args.partial)
    except OSError as error:
        parser.error(str(error))
    except CsvRefused as refused:
        print(f"REFUSED at {refused}. The file is not as the export wrote it; verify the file "
              "as downloaded.")
        return 1
    if verdict.ok:
        kind = "entries verified (filtered export: gaps allowed)" if args.partial else \
            "entries verified"
        print(f"OK: {verdict.count} {kind}; head {verdict.head}")
        if args.anchor is not None:
            print(f"anchor {args.anchor} found in the chain")
        elif args.partial:
            print("note: without an anchor this shows that each entry matches its own hash, "
                  "not that no entry was made up")
        return 0
    where = f"entry {verdict.bad_sequence}" if verdict.bad_sequence is not None else "chain"
    if verdict.row is not None:
        where += f" (row {verdict.row})"
    print(f"FAILED at {where}: {verdict.reason} ({verdict.count} entries verified before it)")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
