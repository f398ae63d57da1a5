"""Audit chain at scale: verify_audit and the streamed CSV export over 1,000,000 entries.

    python bench/audit.py [--entries 1000000]

Builds a valid chain of N entries (hashes computed by audit.chain exactly as record()
does, inserted in bulk for speed: the setup is not what is measured), then prints:
  * the baseline: reading every row with a plain cursor (no hashing), entries/s
  * verify_audit's walk (audit.verification.verify_database), entries/s
  * the web export (GET /audit/export.csv as an auditor, streamed body consumed), entries/s
  * peak memory (max RSS) of a fresh process exporting 10% of the entries and all of them:
    flat means the export does not hold the entries in memory.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

parser = argparse.ArgumentParser()
parser.add_argument("--entries", type=int, default=1_000_000)
parser.add_argument("--export-only", type=int, help=argparse.SUPPRESS)
args = parser.parse_args()

from _setup import django_setup, user

django_setup()

from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import setup_test_environment

from audit.chain import GENESIS, entry_hash
from audit.verification import verify_database

setup_test_environment()


def build_chain(count: int) -> None:
    call_command("migrate", verbosity=0)
    start = datetime(2026, 6, 30, tzinfo=UTC)
    prev, batch = GENESIS, []
    with connection.cursor() as cursor:
        for sequence in range(1, count + 1):
            created = start + timedelta(milliseconds=sequence)
            fields = {
                "sequence": sequence, "time": created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "actor": "system:bench", "role": "", "organisation": "",
                "action": "campaign.approved" if sequence % 7 else "campaign.released",
                "object_type": "campaigns.campaign", "object_id": str(sequence % 500),
                "payload": {"content_hash": f"{sequence:064x}", "checklist": ["content"],
                            "comment": "確認済み" if sequence % 3 else "+1"},
            }
            digest = entry_hash(prev, fields)
            batch.append((sequence, connection.ops.adapt_datetimefield_value(created),
                          "system:bench", "", "", fields["action"], fields["object_type"],
                          fields["object_id"], json.dumps(fields["payload"], ensure_ascii=False),
                          prev, digest))
            prev = digest
            if len(batch) == 10_000 or sequence == count:
                cursor.executemany(
                    "INSERT INTO audit_auditentry (sequence, created_at, actor_name, role, "
                    "organisation, action, object_type, object_id, payload, prev_hash, hash) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", batch)
                batch.clear()


def auditor_client() -> Client:
    client = Client()
    client.force_login(user("audrey", "association", "auditor"))
    return client


def export(limit: int | None) -> tuple[float, int]:
    """Stream the export through the real view; return (seconds, bytes)."""
    client = auditor_client()
    query = {} if limit is None else {"date_to": "2026-06-30"}  # see export_only()
    started = time.perf_counter()
    response = client.get("/audit/export.csv", query)
    size = sum(len(chunk) for chunk in response.streaming_content)
    return time.perf_counter() - started, size


def export_only(count: int) -> None:
    """In a fresh process: export the first `count` entries, print the peak RSS."""
    from audit import selectors

    real = selectors.filtered_entries
    selectors.filtered_entries = lambda **f: real(**f).filter(sequence__lte=count)
    seconds, size = export(limit=None)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"entries": count, "seconds": seconds, "bytes": size, "peak_kb": peak_kb}))


def main():
    if args.export_only:
        export_only(args.export_only)
        return
    started = time.perf_counter()
    build_chain(args.entries)
    print(f"built a chain of {args.entries:,} entries in {time.perf_counter() - started:.0f} s "
          f"({connection.vendor})")

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT sequence, created_at, actor_name, payload, prev_hash, hash "
                       "FROM audit_auditentry ORDER BY sequence")
        rows = 0
        while chunk := cursor.fetchmany(5000):
            rows += len(chunk)
    read = time.perf_counter() - started

    started = time.perf_counter()
    verdict = verify_database()
    verify = time.perf_counter() - started
    assert verdict.ok and verdict.count == args.entries, verdict

    results = []
    for count in (args.entries // 10, args.entries):
        out = subprocess.run([sys.executable, __file__, "--export-only", str(count)],
                             capture_output=True, text=True, check=False, env=os.environ)
        if out.returncode:
            raise SystemExit(out.stderr)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))

    print(f"{'what':<38}{'seconds':>9}{'entries/s':>12}")
    print(f"{'baseline: plain cursor read':<38}{read:>9.1f}{rows / read:>12,.0f}")
    print(f"{'verify_audit (hash every entry)':<38}{verify:>9.1f}{args.entries / verify:>12,.0f}")
    for r in results:
        label = f"export {r['entries']:,} (streamed, {r['bytes'] / 1e6:.0f} MB)"
        print(f"{label:<38}{r['seconds']:>9.1f}{r['entries'] / r['seconds']:>12,.0f}")
    small, large = results
    print(f"peak memory of the export process: {small['peak_kb'] / 1024:.0f} MB for "
          f"{small['entries']:,} entries, {large['peak_kb'] / 1024:.0f} MB for "
          f"{large['entries']:,} ({large['peak_kb'] / small['peak_kb']:.2f}x for 10x the entries)")


main()
