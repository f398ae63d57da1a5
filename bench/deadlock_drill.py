"""No deadlock, and none that pauses: several workers on one campaign against a fast sink.

    DATABASE_URL=postgres://... python bench/deadlock_drill.py [--members 5212]
        [--workers 2,8] [--runs 5] [--pg-log /var/log/postgresql/postgresql-15-main.log]

For each worker count N and each run: a released 5,212-member campaign, one `manage.py
qcluster` with N worker processes (SEND_PARALLEL = N task chains) on the Redis broker, a
loopback SMTP sink that answers at once (the fastest relay, where claims collide most).
Printed per run: seconds, messages per second, pauses (the campaign's `campaign.paused`
audit entries), deadlocks PostgreSQL logged meanwhile ("deadlock detected" in its server
log), claims retried after a transient error (the workers' own log), duplicates (a
recipient the sink saw twice) and whether ledger and sink agree. Goal: 0 pauses, 0
deadlocks, 0 duplicates in every run.
"""

import argparse
import glob
import os
import sys
import tempfile
import time
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--members", type=int, default=5212)
parser.add_argument("--workers", default="2,8")
parser.add_argument("--runs", type=int, default=5)
parser.add_argument("--redis", default="redis://127.0.0.1:6379/7")
parser.add_argument("--pg-log", default=(sorted(glob.glob("/var/log/postgresql/*.log"))
                                         or [""])[-1])
parser.add_argument("--timeout", type=float, default=600)
args = parser.parse_args()

from _setup import ROOT, SinkProcess, django_setup, free_port, user

if "postgres" not in os.environ.get("DATABASE_URL", ""):
    sys.exit("bench/deadlock_drill.py needs PostgreSQL: set DATABASE_URL=postgres://...")
os.environ["Q_REDIS_URL"] = args.redis
django_setup()

import subprocess

from django.conf import settings
from django.core.management import call_command
from django.test.utils import setup_test_environment

setup_test_environment()  # the staff test message goes to locmem
call_command("migrate", verbosity=0)

from audit.models import AuditEntry
from campaigns import workflow
from campaigns.models import Campaign, Delivery
from campaigns.seen import Seen
from roster.samples import csv_bytes, sample_rows
from roster.services import check_roster_file, roster_import

OLIVIA = user("olivia", "contractor", "operator")
SAM = user("sam", "contractor", "supervisor")
OSCAR = user("oscar", "association", "observer")
ROSTER = roster_import(parsed=check_roster_file(csv_bytes(sample_rows(args.members)), "m.csv"),
                       name="deadlock drill", actor=OLIVIA)


def released_campaign(label):
    """Released; how many chains send it is the worker's SEND_PARALLEL (its environment)."""
    campaign = workflow.create(user=OLIVIA, roster=ROSTER, name=label,
                               sender=settings.CAMPAIGN_SENDERS[0], canary_enabled=False,
                               subject="{name} 様", body_text="{name} 様\n会員番号 "
                                                             "{member_number}\n")
    workflow.submit(campaign=campaign, user=OLIVIA)
    workflow.test_send(campaign=campaign, user=OLIVIA, member=ROSTER.members.first(),
                       recipients=[SAM])
    workflow.approve(campaign=campaign, seen=Seen.current(campaign), user=SAM,
                     checklist=["recipients", "no_roster_data", "content", "test_read"])
    return workflow.release(campaign=campaign, seen=Seen.current(campaign), user=OSCAR,
                            checklist=["recipients", "content", "witness"])


def deadlocks_logged(since: int) -> int:
    if not args.pg_log or not Path(args.pg_log).exists():
        return -1
    with open(args.pg_log, "rb") as log:
        log.seek(since)
        return log.read().count(b"deadlock detected")


def log_size() -> int:
    return Path(args.pg_log).stat().st_size if args.pg_log and Path(args.pg_log).exists() else 0


def one_run(workers, sink, port, run):
    import redis

    redis.Redis.from_url(args.redis).flushdb()
    sink.clear()
    worker_log = Path(tempfile.mkdtemp()) / "qcluster.log"
    env = {**os.environ, "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(port),
           "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
           "Q_WORKERS": str(workers), "SEND_PARALLEL": str(workers), "EMAIL_TIMEOUT": "10"}
    with open(worker_log, "w") as out:
        process = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "qcluster"],
                                   env=env, stdout=out, stderr=subprocess.STDOUT)
    pg_log_at = log_size()
    try:
        time.sleep(3)  # the cluster is up before the clock starts
        started = time.perf_counter()
        campaign = released_campaign(f"drill {workers}/{run}")
        while (state := Campaign.objects.get(pk=campaign.pk).state) not in ("completed",
                                                                            "stopped"):
            if state == "paused":  # a pause is a failure of the drill; resume to finish
                workflow.stop(campaign=campaign, user=OSCAR)
                break
            if time.perf_counter() - started > args.timeout:
                workflow.stop(campaign=campaign, user=OSCAR)
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - started
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
    arrivals = [r for _t, r in sink.received() if r.endswith("@members.example")]
    pauses = AuditEntry.objects.about(campaign).filter(action="campaign.paused").count()
    sent = campaign.deliveries.filter(state=Delivery.State.SENT).count()
    retried = worker_log.read_text(errors="replace").count("trying again")
    return {"seconds": seconds, "rate": len(arrivals) / seconds, "pauses": pauses,
            "deadlocks": deadlocks_logged(pg_log_at), "retried": retried,
            "duplicates": len(arrivals) - len(set(arrivals)),
            "agree": sent == len(set(arrivals)) == args.members}


def main():
    port = free_port()
    sink = SinkProcess(port, 0.0)
    rows = []
    try:
        for workers in [int(n) for n in args.workers.split(",")]:
            for run in range(1, args.runs + 1):
                rows.append((workers, run, one_run(workers, sink, port, run)))
                print(f"  ... {workers} workers, run {run}: {rows[-1][2]}", flush=True)
    finally:
        sink.close()
    print(f"{args.members:,} messages per run, PostgreSQL, Redis broker, a sink that answers "
          f"at once; server log {args.pg_log or '(none)'}")
    print(f"{'workers':>8}{'run':>5}{'seconds':>9}{'msg/s':>8}{'pauses':>8}{'deadlocks':>11}"
          f"{'retried':>9}{'duplicates':>12}{'ledger=sink':>13}")
    for workers, run, r in rows:
        print(f"{workers:>8}{run:>5}{r['seconds']:>9.1f}{r['rate']:>8.0f}{r['pauses']:>8}"
              f"{r['deadlocks']:>11}{r['retried']:>9}{r['duplicates']:>12}{r['agree']!s:>13}")
    bad = [r for _w, _n, r in rows if r["pauses"] or r["deadlocks"] or r["duplicates"]
           or not r["agree"]]
    print(f"{len(rows) - len(bad)} of {len(rows)} runs with 0 pauses, 0 deadlocks, "
          f"0 duplicates and ledger = sink: {'PASS' if not bad else 'FAIL'}")


main()
