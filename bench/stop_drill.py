"""STOP against a slow mail server, with two real worker processes: nothing after it returns.

    python bench/stop_drill.py [--rounds 20] [--rcpt-ms 1000] [--data-ms 50] [--members 40]

The loopback SMTP sink (its own process) answers each RCPT after --rcpt-ms and each DATA
after --data-ms, as a slow relay does, and logs the moment it accepts each message. Two
`manage.py qcluster` processes (one worker each) send a campaign; once a few messages are
through, STOP is pressed at a random moment of a hand-over (workflow.stop, what the page,
and any command, call). Each round counts the messages the server accepted after stop()
returned (target 0) and times stop() itself: it waits for a hand-over in flight, at most
EMAIL_TIMEOUT. The ledger must agree with the server.

Baseline, in the same run: rounds where stop() returns as soon as its commit is done (wait=0,
the behaviour before), to show that the drill catches a message that leaves after the stop.
"""

import argparse
import os
import random
import statistics
import subprocess
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--rounds", type=int, default=20)
parser.add_argument("--rcpt-ms", type=float, default=1000)
parser.add_argument("--data-ms", type=float, default=50)
parser.add_argument("--members", type=int, default=40)
parser.add_argument("--baseline-rounds", type=int, default=5,
                    help="rounds where stop() returns at its commit without waiting for the "
                         "hand-over in flight (how it was before): shows the drill sees it")
args = parser.parse_args()

from _setup import ROOT, SinkProcess, django_setup, free_port, user

django_setup()

from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import setup_test_environment

setup_test_environment()  # the staff test message goes to locmem
call_command("migrate", verbosity=0)

from campaigns import tasks, workflow
from campaigns.models import Delivery
from campaigns.seen import Seen
from roster.samples import csv_bytes, sample_rows
from roster.services import check_roster_file, roster_import

OLIVIA = user("olivia", "contractor", "operator")
SAM = user("sam", "contractor", "supervisor")
OSCAR = user("oscar", "association", "observer")
ROSTER = roster_import(parsed=check_roster_file(csv_bytes(sample_rows(args.members)), "m.csv"),
                       name="drill", actor=OLIVIA)
EMAIL_TIMEOUT = 10


def released_campaign(n):
    campaign = workflow.create(user=OLIVIA, roster=ROSTER, name=f"drill {n}",
                               sender=settings.CAMPAIGN_SENDERS[0], canary_enabled=False,
                               subject="{name} 様",
                               body_text="{name} 様\n会員番号 {member_number}\n")
    workflow.submit(campaign=campaign, user=OLIVIA)
    workflow.test_send(campaign=campaign, user=OLIVIA, member=ROSTER.members.first(),
                       recipients=[SAM])
    workflow.approve(campaign=campaign, seen=Seen.current(campaign), user=SAM,
                     checklist=["recipients", "no_roster_data", "content", "test_read"])
    return workflow.release(campaign=campaign, seen=Seen.current(campaign), user=OSCAR,
                            checklist=["recipients", "content", "witness"])


def qclusters(port):
    env = {**os.environ, "DATABASE_URL": os.environ["DATABASE_URL"], "EMAIL_HOST": "127.0.0.1",
           "EMAIL_PORT": str(port), "EMAIL_TIMEOUT": str(EMAIL_TIMEOUT), "Q_WORKERS": "1",
           "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend"}
    return [subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "qcluster"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(2)]


def one_round(n, sink, *, wait=None):
    campaign = released_campaign(n)  # the release queues one task chain
    sink.clear()
    # More chains for the second process: a cluster keeps one task in memory besides the
    # one it runs (django-q2's queue_limit), so with one extra task the first cluster would
    # usually hold both. Chains that find the campaign stopped end at once.
    for _ in range(3):
        tasks.queue_send(campaign.pk)
    deadline = time.monotonic() + 60
    while sink.count() < 2:
        assert time.monotonic() < deadline, "the workers did not start sending"
        time.sleep(0.01)
    time.sleep(random.uniform(0, (args.rcpt_ms + args.data_ms) / 1000))  # anywhere in a hand-over
    started = time.monotonic()
    stopped = workflow.stop(campaign=campaign, user=OSCAR, wait=wait)
    stop_seconds, returned_ns = time.monotonic() - started, time.time_ns()
    time.sleep((args.rcpt_ms + args.data_ms) / 1000 * 2 + 1)  # anything late would arrive now
    arrivals = sink.received()
    after = sum(1 for t, _r in arrivals if t > returned_ns)
    workers = set(campaign.deliveries.exclude(worker="").values_list("worker", flat=True))
    sent = campaign.deliveries.filter(state=Delivery.State.SENT).count()
    agree = sent == len(arrivals) == len({r for _t, r in arrivals})
    print(f"{'baseline ' if wait == 0 else ''}round {n + 1:>2}: sent {sent:>2}, "
          f"workers {len(workers)}, stop took {stop_seconds:5.2f} s "
          f"(still handing over: {stopped.handing_over}), "
          f"accepted after it returned: {after}, ledger = server: {agree}", flush=True)
    return after, stop_seconds, agree, len(workers)


def main():
    port = free_port()
    sink = SinkProcess(port, args.data_ms, args.rcpt_ms)
    clusters = qclusters(port)
    results, baseline = [], []
    try:
        for n in range(args.rounds):
            results.append(one_round(n, sink))
            connection.close()
        for n in range(args.baseline_rounds):
            baseline.append(one_round(args.rounds + n, sink, wait=0))
            connection.close()
    finally:
        for cluster in clusters:
            cluster.terminate()
        for cluster in clusters:
            cluster.wait(30)
        sink.close()
    after = sum(r[0] for r in results)
    times = [r[1] for r in results]
    print(f"{args.rounds} rounds, database {connection.vendor}, 2 qcluster processes, relay "
          f"answering RCPT after {args.rcpt_ms:g} ms and DATA after {args.data_ms:g} ms")
    print(f"messages accepted after stop() returned: {after} (target 0): "
          f"{'PASS' if after == 0 else 'FAIL'}")
    print(f"stop() took: median {statistics.median(times):.2f} s, max {max(times):.2f} s "
          f"(EMAIL_TIMEOUT {EMAIL_TIMEOUT} s); ledger = server in every round: "
          f"{all(r[2] for r in results)}; rounds with both workers sending: "
          f"{sum(1 for r in results if r[3] == 2)}")
    if baseline:
        print(f"baseline, stop() not waiting for the hand-over in flight: accepted after it "
              f"returned: {sum(r[0] for r in baseline)} in {len(baseline)} rounds")


main()
