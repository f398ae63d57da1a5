"""The audit hash chain: canonical bytes, hashing and verification.

Plain Python with no Django import, on purpose: the same code verifies the database (the
verify_audit command) and an exported CSV, and an outsider can verify a CSV with nothing
but this file:

    python audit/chain.py audit-export.csv [--anchor HASH]

Each entry's hash is sha256(prev_hash + "\\n" + canonical) where canonical is the JSON of the
fields below with sorted keys, no spaces and UTF-8 text. The first entry's prev_hash is 64
zeros. The hash is always computed from these canonical bytes in Python, never from the
database's own JSON text (PostgreSQL's jsonb reorders keys and respaces).
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

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
CSV_COLUMNS = HASHED_FIELDS + ("prev_hash", "hash")

# A spreadsheet runs a cell that starts with one of these as a formula (OWASP: CSV
# injection). The export prefixes such a cell with an apostrophe; "'" itself is escaped the
# same way, so the verifier can undo it exactly by removing one leading apostrophe.
CSV_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "'")


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


def verify(entries: Iterable[dict], *, anchor: str | None = None,
           partial: bool = False) -> Verdict:
    """Walk entries in sequence order. Each entry is a dict of CSV_COLUMNS.

    partial=True is for a filtered export: every entry must still hash to its own hash, and
    consecutive entries must link, but gaps in the sequence (entries filtered out) are
    allowed. Without it the chain must be whole, from entry 1.
    """
    expected, prev, count, anchor_found = 1, GENESIS, 0, None if anchor is None else False

    def bad(entry, code, reason):
        return Verdict(False, count, prev, entry["sequence"], reason, anchor_found, code)

    for entry in entries:
        if partial and entry["sequence"] != expected:
            if entry["sequence"] < expected:
                return bad(entry, "order", "entries are out of order or repeated")
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


def csv_cell(value: str) -> str:
    return "'" + value if value.startswith(CSV_FORMULA_TRIGGERS) else value


def csv_uncell(value: str) -> str:
    return value.removeprefix("'")


def csv_row(entry: dict) -> list[str]:
    """One entry as the export writes it: payload as canonical JSON, every cell made safe."""
    values = dict(entry)
    values["payload"] = json.dumps(entry["payload"], sort_keys=True, separators=(",", ":"),
                                   ensure_ascii=False)
    return [csv_cell(str(values[name])) for name in CSV_COLUMNS]


def entry_from_csv_row(row: dict) -> dict:
    entry = {name: csv_uncell(row[name]) for name in CSV_COLUMNS}
    entry["sequence"] = int(entry["sequence"])
    entry["payload"] = json.loads(entry["payload"])
    return entry


def read_csv(path: str) -> Iterator[dict]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            yield entry_from_csv_row(row)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python chain.py EXPORT.csv [--anchor HASH] [--partial]\n"
              "  --partial  the export was filtered: check each entry and each link, allow gaps")
        return 2
    anchor = argv[argv.index("--anchor") + 1] if "--anchor" in argv else None
    partial = "--partial" in argv
    verdict = verify(read_csv(argv[0]), anchor=anchor, partial=partial)
    if verdict.ok:
        kind = "entries verified (filtered export: gaps allowed)" if partial else "entries verified"
        print(f"OK: {verdict.count} {kind}; head {verdict.head}")
        if anchor is not None:
            print(f"anchor {anchor} found in the chain")
        return 0
    where = f"entry {verdict.bad_sequence}" if verdict.bad_sequence is not None else "chain"
    print(f"FAILED at {where}: {verdict.reason} ({verdict.count} entries verified before it)")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
