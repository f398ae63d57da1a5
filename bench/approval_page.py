"""Approval page time at 100,000 members beside the same page at 1,000 members.

    python bench/approval_page.py [--small 1000] [--large 100000] [--requests 20]

Builds a throw-away SQLite database (or uses DATABASE_URL if set), two rosters and a
campaign on each, submitted and test-sent, then times GET /campaigns/<id>/review/ as the
supervisor, alternating small and large. Target: large/small median <= 1.5.
BENCH_QUERIES=1 also prints the slowest SQL statements of one request of each.
"""

import argparse
import os
import statistics
import time

parser = argparse.ArgumentParser()
parser.add_argument("--small", type=int, default=1_000)
parser.add_argument("--large", type=int, default=100_000)
parser.add_argument("--requests", type=int, default=20)
args = parser.parse_args()

from _setup import django_setup, user

django_setup(debug=True)

from django.core.management import call_command
from django.test import Client
from django.test.utils import setup_test_environment

setup_test_environment()  # locmem e-mail, so the test sends go nowhere
call_command("migrate", verbosity=0)

from django.conf import settings

from campaigns import workflow
from roster.samples import csv_bytes, sample_rows
from roster.services import check_roster_file, roster_import


def campaign_for(count, olivia, sam):
    started = time.perf_counter()
    roster = roster_import(parsed=check_roster_file(csv_bytes(sample_rows(count)), "m.csv"),
                           name=f"{count}", actor=olivia)
    campaign = workflow.create(user=olivia, roster=roster, name=f"bench {count}",
                               sender=settings.CAMPAIGN_SENDERS[0], subject="{name} 様",
                               body_text="{name} 様\n会員番号 {member_number}\n支部 {支部}\n")
    workflow.submit(campaign=campaign, user=olivia)
    workflow.test_send(campaign=campaign, user=olivia, member=roster.members.first(),
                       recipients=[sam])
    print(f"set up {count:,} members (import, submit with hash and guard) in "
          f"{time.perf_counter() - started:.1f} s")
    return campaign


def query_timer(spent: list):
    def timer(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent.append((time.perf_counter() - started, sql[:150]))

    return timer


def main():
    olivia = user("olivia", "contractor", "operator")
    sam = user("sam", "contractor", "supervisor")
    small, large = campaign_for(args.small, olivia, sam), campaign_for(args.large, olivia, sam)
    client = Client()
    client.force_login(sam)
    timings = {small.pk: [], large.pk: []}
    for campaign in (small, large):  # warm-up
        assert client.get(f"/campaigns/{campaign.pk}/review/").status_code == 200
    for _ in range(args.requests):
        for campaign in (small, large):
            started = time.perf_counter()
            response = client.get(f"/campaigns/{campaign.pk}/review/?page=2")
            timings[campaign.pk].append(time.perf_counter() - started)
            assert response.status_code == 200
    small_ms = statistics.median(timings[small.pk]) * 1000
    large_ms = statistics.median(timings[large.pk]) * 1000
    print(f"{'members':>10}{'median ms':>12}{'p90 ms':>10}")
    for count, campaign in ((args.small, small), (args.large, large)):
        values = sorted(timings[campaign.pk])
        print(f"{count:>10,}{statistics.median(values) * 1000:>12.1f}"
              f"{values[int(len(values) * 0.9) - 1] * 1000:>10.1f}")
    if os.environ.get("BENCH_QUERIES"):
        from django.db import connection

        for campaign in (small, large):
            spent = []
            with connection.execute_wrapper(query_timer(spent)):
                client.get(f"/campaigns/{campaign.pk}/review/?page=2")
            for seconds, sql in sorted(spent, reverse=True)[:6]:
                print(f"  {seconds * 1000:7.2f} ms  {sql}")
    ratio = large_ms / small_ms
    print(f"large/small: {ratio:.2f} (target <= 1.5): {'PASS' if ratio <= 1.5 else 'FAIL'}")


main()
