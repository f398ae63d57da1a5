"""Sending scales out: one 5,212-member campaign with 1, 2, 4 and 8 worker processes.

    DATABASE_URL=postgres://... python bench/scale.py [--members 5212] [--relay-ms 20]
        [--workers 1,2,4,8] [--rate-check 4] [--held]

The loopback SMTP sink (its own process) takes --relay-ms before answering DATA, as a
remote relay does. For each worker count N: a released campaign with SEND_PARALLEL = N,
one `manage.py qcluster` with N worker processes on the Redis broker (Q_REDIS_URL), timed
from the release until the campaign is completed. Baseline: the same with one worker.
Printed per row: seconds, messages per second, speed-up over one worker, duplicates (a
recipient the sink saw twice) and whether ledger and sink agree. Goal (issue 25): 4 workers
>= 3.8x, 8 workers >= 7x, duplicates 0.

Then the rate limit across workers: --rate-check workers on a campaign limited to 600 per
minute (10 a second) for 15 seconds: the most messages the sink accepted in any one second
(target <= 10, one slot of slack for the second's edge).
"""

import argparse
import os
import subprocess
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--members", type=int, default=5212)
parser.add_argument("--relay-ms", type=float, default=20)
parser.add_argument("--workers", default="1,2,4,8")
parser.add_argument("--rate-check", type=int, default=4)
parser.add_argument("--redis", default="redis://127.0.0.1:6379/7")
parser.add_argument("--held", action="store_true",
                    help="the roster's key held by the association (issue 22): the observer "
                         "imports it and each release carries a grant sealed to the "
                         "cluster's workers")
args = parser.parse_args()

from _setup import ROOT, SinkProcess, django_setup, free_port, user

if "postgres" not in os.environ.get("DATABASE_URL", ""):
    sys.exit("bench/scale.py needs PostgreSQL: set DATABASE_URL=postgres://...")
os.environ["Q_REDIS_URL"] = args.redis
django_setup()

from django.conf import settings
from django.core.management import call_command
from django.test.utils import setup_test_environment

setup_test_environment()  # the staff test message goes to locmem
call_command("migrate", verbosity=0)

from campaigns import workflow
from campaigns.models import Campaign, Delivery
from campaigns.seen import Seen
from roster.samples import csv_bytes, sample_rows
from roster.services import check_roster_file, roster_import

OLIVIA = user("olivia", "contractor", "operator")
SAM = user("sam", "contractor", "supervisor")
OSCAR = user("oscar", "association", "observer")
PRIVATE = None
if args.held:
    from countersign import association_key, sealing

    PRIVATE = sealing.new_private_key()
    association_key.register(user=OSCAR, pem=sealing.public_pem(PRIVATE.public_key()))
ROSTER = roster_import(parsed=check_roster_file(csv_bytes(sample_rows(args.members)), "m.csv"),
                       name="scale", actor=OSCAR if args.held else OLIVIA)


def approved_campaign(label, **sending):
    """Created, submitted, test-sent and approved: the observer's release is all it needs.
    (How many chains send it is the worker's SEND_PARALLEL: `cluster`.)"""
    campaign = workflow.create(user=OLIVIA, roster=ROSTER, name=f"scale {label}",
                               sender=settings.CAMPAIGN_SENDERS[0], canary_enabled=False,
                               subject="{name} 様",
                               body_text="{name} 様\n会員番号 {member_number}\n支部 {支部}\n",
                               **sending)
    workflow.submit(campaign=campaign, user=OLIVIA)
    workflow.test_send(campaign=campaign, user=OLIVIA, member=ROSTER.members.first(),
                       recipients=[SAM])
    workflow.approve(campaign=campaign, seen=Seen.current(campaign), user=SAM,
                     checklist=["recipients", "no_roster_data", "content", "test_read"])
    return campaign


def release(campaign):
    return workflow.release(campaign=campaign, seen=Seen.current(campaign), user=OSCAR,
                            checklist=["recipients", "content", "witness"], grant=grant(campaign))


def grant(campaign):
    """With --held: what the observer's key tool makes from the release's request, sealed to
    the workers the cluster started (each published its key as it spawned)."""
    if PRIVATE is None:
        return None
    import json

    from django.utils import timezone

    from campaigns import key_window

    made = timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    campaign = Campaign.objects.select_related("roster").get(pk=campaign.pk)  # as released
    return json.dumps(sealing.make_grant(key_window.request_for(campaign), PRIVATE,
                                         made=made)).encode()


def cluster(workers, port):
    env = {**os.environ, "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(port),
           "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
           "Q_WORKERS": str(workers), "SEND_PARALLEL": str(workers), "EMAIL_TIMEOUT": "10"}
    return subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "qcluster"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(process):
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()


def flush_queue():
    import redis

    redis.Redis.from_url(args.redis).flushdb()


def one_run(workers, sink, port):
    flush_queue()
    sink.clear()
    process = cluster(workers, port)
    try:
        campaign = approved_campaign(f"{workers} workers")  # the submit's guard
        time.sleep(3)  # and the cluster are done and up before the clock starts
        started, started_ns = time.perf_counter(), time.time_ns()
        campaign = release(campaign)
        while Campaign.objects.get(pk=campaign.pk).state != "completed":
            time.sleep(0.05)
        seconds = time.perf_counter() - started
    finally:
        stop(process)
    received = [(t, r) for t, r in sink.received() if r.endswith("@members.example")]
    arrivals = [r for _t, r in received]
    first, last = (min(t for t, _r in received) - started_ns) / 1e9, \
        (max(t for t, _r in received) - started_ns) / 1e9
    print(f"  {workers} workers: first message at the sink {first:.2f} s after the release, "
          f"the last at {last:.2f} s, completed at {seconds:.2f} s")
    duplicates = len(arrivals) - len(set(arrivals))
    sent = campaign.deliveries.filter(state=Delivery.State.SENT).count()
    workers_seen = campaign.deliveries.values("worker").distinct().count()
    return seconds, duplicates, sent == len(set(arrivals)) == args.members, workers_seen


def rate_check(workers, sink, port):
    flush_queue()
    process = cluster(workers, port)
    try:
        time.sleep(3)
        campaign = release(approved_campaign("rate", rate_limit=600, rate_unit="minute"))
        while Campaign.objects.get(pk=campaign.pk).state == "released":
            time.sleep(0.05)
        sink.clear()
        time.sleep(15)
        workflow.stop(campaign=campaign, user=OSCAR)
    finally:
        stop(process)
    times = sorted(t for t, r in sink.received() if r.endswith("@members.example"))
    worst = max((sum(1 for u in times if t <= u < t + 1_000_000_000) for t in times), default=0)
    seen = campaign.deliveries.exclude(worker="").values("worker").distinct().count()
    return worst, len(times), seen


def main():
    port = free_port()
    sink = SinkProcess(port, args.relay_ms)
    rows = []
    try:
        for workers in [int(n) for n in args.workers.split(",")]:
            rows.append((workers, *one_run(workers, sink, port)))
            print(f"  ... {workers} workers done", flush=True)
        worst, accepted, seen = rate_check(args.rate_check, sink, port)
    finally:
        sink.close()
    base = rows[0][1]
    print(f"{args.members:,} messages per run, PostgreSQL, Redis broker, relay answering DATA "
          f"after {args.relay_ms:g} ms"
          f"{', the roster held by the association' if args.held else ''}")
    print(f"{'workers':>8}{'seconds':>9}{'msg/s':>8}{'speed-up':>10}{'duplicates':>12}"
          f"{'ledger=sink':>13}{'workers seen':>14}")
    for workers, seconds, duplicates, agree, seen in rows:
        print(f"{workers:>8}{seconds:>9.1f}{args.members / seconds:>8.0f}{base / seconds:>9.2f}x"
              f"{duplicates:>12}{agree!s:>13}{seen:>14}")
    goals = {4: 3.8, 8: 7.0}  # issue 25
    for workers, seconds, *_rest in rows:
        if workers in goals:
            ok = base / seconds >= goals[workers]
            print(f"{workers} workers: {base / seconds:.2f}x (goal >= {goals[workers]}x): "
                  f"{'PASS' if ok else 'FAIL'}")
    print(f"rate limit 600/min with {args.rate_check} workers ({seen} worker processes took "
          f"part): at most {worst} accepted in any second over {accepted} messages (limit 10): "
          f"{'PASS' if worst <= 11 else 'FAIL'}")


main()
