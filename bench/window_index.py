"""Opening a window on a big roster only the association holds (issue 22, "Cost"): what a
worker does when a release's grant arrives, timed apart. A roster of --members is imported
after the association registered its key; then, with the data key the grant carries:

* decrypting every member's row (roster.member_data.rows inside the window: AES-256-GCM,
  JSON, the address's pseudonym checked);
* building the guard's index of what the window opened (campaigns.guard_index, the
  windowed index: every value of every member, all spellings). It opens every row again
  itself, so the sum counts decrypting twice, as a worker does at a campaign's start (the
  index, then the guard's scan of the placeholder columns).

    python bench/window_index.py [--members 100000] [--repeat 3] [--distinct-names]

Prints each step's median over --repeat runs and their sum (target: under 5 s).
"""

import argparse
import base64
import statistics
import time

parser = argparse.ArgumentParser()
parser.add_argument("--members", type=int, default=100_000)
parser.add_argument("--repeat", type=int, default=3)
parser.add_argument("--distinct-names", action="store_true",
                    help="every member a name of their own (the sample's 400 names repeat)")
args = parser.parse_args()

from _setup import django_setup, user

django_setup()

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.management import call_command

call_command("migrate", verbosity=0)

from campaigns import guard_index
from countersign import association_key, sealing
from roster import data_keys, member_data
from roster.samples import csv_bytes, sample_rows
from roster.services import check_roster_file, roster_import

OSCAR = user("oscar", "association", "observer")
PRIVATE = sealing.new_private_key()
association_key.register(user=OSCAR, pem=sealing.public_pem(PRIVATE.public_key()))


def members():
    rows = sample_rows(args.members)
    if args.distinct_names:  # 20 x 20 family names, 20 given names x 13 endings: 104,000
        from roster.samples import FAMILY, GIVEN

        ending = "一二三四五六七八九十百千万"
        for i, row in enumerate(rows):
            row[1] = (f"{FAMILY[i % 20]}{FAMILY[i // 20 % 20]} "
                      f"{GIVEN[i // 400 % 20]}{ending[i // 8000 % 13]}")
        assert len({row[1] for row in rows}) == len(rows)
    return rows


def main():
    started = time.perf_counter()
    roster = roster_import(parsed=check_roster_file(csv_bytes(members()), "m.csv"),
                           name="held", actor=OSCAR)
    print(f"{args.members:,} members imported in {time.perf_counter() - started:.1f} s "
          f"(held by the association: {data_keys.with_association(roster)})")
    (seal,) = roster.data_key_seals.values()
    _header, data_key = sealing.open_sealed(base64.b64decode(seal), PRIVATE)
    opened, indexed = [], []
    for _ in range(args.repeat):
        guard_index.forget_indexes()
        data_keys.open_window(roster.pk, AESGCM(data_key))
        try:
            started = time.perf_counter()
            rows = list(member_data.rows(roster))
            opened.append(time.perf_counter() - started)
            assert len(rows) == args.members and not any(v.sealed or v.unreadable for v in rows)
            started = time.perf_counter()
            guard_index.roster_index(roster)
            indexed.append(time.perf_counter() - started)
        finally:
            data_keys.close_window(roster.pk)
            guard_index.forget_windowed_values()
    decrypt, index = statistics.median(opened), statistics.median(indexed)
    print(f"  decrypting every row in the window: {decrypt:6.2f} s "
          f"({decrypt / args.members * 1e6:.1f} us a row; runs: "
          f"{', '.join(f'{t:.2f}' for t in opened)})")
    print(f"  building the window's guard index:  {index:6.2f} s (runs: "
          f"{', '.join(f'{t:.2f}' for t in indexed)})")
    total = decrypt + index
    print(f"  together: {total:.2f} s (target < 5 s): {'PASS' if total < 5 else 'FAIL'}")


main()
