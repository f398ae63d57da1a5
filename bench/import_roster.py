"""Roster import speed: our importer beside a bare openpyxl read-only loop over the same file.

    python bench/import_roster.py [--rows 100000] [--repeat 3]

The bare loop only reads every cell; ours also normalises (NFKC), validates e-mail
addresses, finds duplicates and builds member rows. Target: at least half the bare rate.
Best of N runs each, interleaved, so both see the same machine noise.
"""

import argparse
import io
import time

from _setup import django_setup

django_setup()

import openpyxl

from roster.importer import parse_roster
from roster.samples import csv_bytes, sample_rows, xlsx_bytes


def bare_openpyxl(data: bytes) -> int:
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    rows = 0
    for row in workbook.worksheets[0].iter_rows(values_only=True):
        for _value in row:
            pass
        rows += 1
    workbook.close()
    return rows - 1  # header


def ours(data: bytes, name: str) -> int:
    parsed = parse_roster(data, name, max_bytes=10**9, max_rows=10**7)
    assert parsed.ok, parsed.errors[:3]
    return len(parsed.members)


def timed(fn, *args) -> tuple[float, int]:
    start = time.perf_counter()
    count = fn(*args)
    return time.perf_counter() - start, count


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    rows = sample_rows(args.rows)
    xlsx, csv_utf8, csv_sjis = xlsx_bytes(rows), csv_bytes(rows), csv_bytes(rows, encoding="cp932")
    print(f"{args.rows:,} rows; xlsx {len(xlsx)/1e6:.1f} MB, csv {len(csv_utf8)/1e6:.1f} MB")

    timings = {"bare openpyxl (xlsx)": [], "ours (xlsx)": [], "ours (csv utf-8)": [],
               "ours (csv cp932)": []}
    runs = [
        ("bare openpyxl (xlsx)", bare_openpyxl, (xlsx,)),
        ("ours (xlsx)", ours, (xlsx, "r.xlsx")),
        ("ours (csv utf-8)", ours, (csv_utf8, "r.csv")),
        ("ours (csv cp932)", ours, (csv_sjis, "r.csv")),
    ]
    ours(xlsx_bytes(rows[:1000]), "warm-up.xlsx")  # imports and first-call costs, not timed
    for repeat in range(args.repeat):
        # Rotate the order so that neither side always runs first on a noisy machine.
        for label, fn, fargs in runs[repeat % 2:] + runs[:repeat % 2]:
            seconds, count = timed(fn, *fargs)
            assert count == args.rows, (label, count)
            timings[label].append(seconds)

    bare = min(timings["bare openpyxl (xlsx)"])
    print(f"{'reader':<24}{'best s':>9}{'rows/s':>12}{'vs bare':>9}")
    for label, values in timings.items():
        seconds = min(values)
        print(f"{label:<24}{seconds:>9.2f}{args.rows / seconds:>12,.0f}{bare / seconds:>9.2f}")
    ratio = bare / min(timings["ours (xlsx)"])
    print(f"ours/bare on xlsx: {ratio:.2f} (target >= 0.50): {'PASS' if ratio >= 0.5 else 'FAIL'}")


if __name__ == "__main__":
    main()
