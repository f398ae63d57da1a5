"""What the association-held key costs the worker: the same campaign sent to a roster whose
key the contractor holds (wrapped under MEMBER_DATA_KEY) and to one whose key only the
association holds (the worker opens the observer's grant at each send slice and decrypts
each member's row inside the window), alternately, in the same run, to the same sink.

    python bench/window.py [--members 5212] [--repeat 3] [--relay-ms 0]

Prints messages per second for both, their ratio (target, issue 22 / KEY.md D9: the held
roster at most 1 % slower, i.e. ratio >= 0.99), what opening a grant costs, and what
opening one member's row costs (decrypt, parse, check the address's pseudonym).
"""

import argparse
import statistics
import time

parser = argparse.ArgumentParser()
parser.add_argument("--members", type=int, default=5212)
parser.add_argument("--repeat", type=int, default=3)
parser.add_argument("--relay-ms", type=float, default=0.0)
args = parser.parse_args()

from _setup import SinkProcess, django_setup, free_port, released_notice, user

django_setup()

from django.conf import settings
from django.core.management import call_command
from django.test.utils import setup_test_environment

setup_test_environment()
call_command("migrate", verbosity=0)

from campaigns import key_window, sender
from countersign import association_key, sealing
from roster import data_keys, member_data
from roster.samples import csv_bytes, sample_rows
from roster.services import check_roster_file, roster_import

OLIVIA = user("olivia", "contractor", "operator")
SAM = user("sam", "contractor", "supervisor")
OSCAR = user("oscar", "association", "observer")
FILE = csv_bytes(sample_rows(args.members))


def imported(name, actor):
    return roster_import(parsed=check_roster_file(FILE, "m.csv"), name=name, actor=actor)


CONTRACTOR_COPY = imported("contractor's copy", OLIVIA)
PRIVATE = sealing.new_private_key()
association_key.register(user=OSCAR, pem=sealing.public_pem(PRIVATE.public_key()))
HELD = imported("held by the association", OSCAR)  # the association imports what it holds
assert CONTRACTOR_COPY.data_key and data_keys.with_association(HELD)


def released(roster, n):
    return released_notice(roster, f"window {n}", operator=OLIVIA, supervisor=SAM, observer=OSCAR,
                           association_key=PRIVATE)


def rate(campaign) -> float:
    started = time.perf_counter()
    outcome = sender.run(campaign.pk, worker="bench", budget=3600)
    elapsed = time.perf_counter() - started
    campaign.refresh_from_db()
    assert outcome is sender.Outcome.FINISHED and campaign.state == "completed", campaign.state
    return args.members / elapsed


def row_cost(roster, key=None) -> float:
    if key is not None:
        data_keys.open_window(roster.pk, key)
    try:
        started = time.perf_counter()
        rows = list(member_data.rows(roster))
        assert not any(v.sealed or v.unreadable for v in rows)
        return (time.perf_counter() - started) / len(rows)
    finally:
        data_keys.close_window(roster.pk)


def main():
    port = free_port()
    sink = SinkProcess(port, data_ms=args.relay_ms)
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    rates = {"contractor": [], "held": []}
    try:
        for n in range(args.repeat):
            for mode, roster in (("contractor", CONTRACTOR_COPY), ("held", HELD)):
                rates[mode].append(rate(released(roster, f"{mode} {n}")))
                sink.clear()
    finally:
        sink.close()
    campaign = released(HELD, "grant")
    started = time.perf_counter()
    for _ in range(200):
        key, _not_after = key_window.key_for(campaign)
    grant_ms = (time.perf_counter() - started) / 200 * 1000
    custody_us = row_cost(CONTRACTOR_COPY) * 1e6
    held_us = row_cost(HELD, key) * 1e6
    contractor, held = (statistics.median(rates[m]) for m in ("contractor", "held"))
    print(f"{settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, {args.members} members, "
          f"{args.repeat} runs each, relay {args.relay_ms} ms")
    print(f"  contractor's copy: {contractor:8.1f} msg/s  (runs: "
          f"{', '.join(f'{r:.1f}' for r in rates['contractor'])})")
    print(f"  held by the association: {held:8.1f} msg/s  (runs: "
          f"{', '.join(f'{r:.1f}' for r in rates['held'])})")
    print(f"  ratio held/contractor: {held / contractor:.3f} (target >= 0.99)")
    print(f"  opening a grant (each send slice): {grant_ms:.3f} ms")
    print(f"  reading one member's row: {custody_us:.1f} us (contractor's copy), "
          f"{held_us:.1f} us (window)")


main()
