"""Sending 5,212 messages (the 2022 size) through the worker path, beside a bare smtplib loop.

    python bench/send.py [--members 5212] [--repeat 2] [--stop-workers 2] [--relay-ms 0]

Both send to the same loopback SMTP sink, in its own process as a mail server would be. The
bare loop is what a plain script would do: for each member, render the same message with the
same code (campaigns.mail) and smtplib.sendmail it over one connection; no ledger, no claims,
no stop. The worker path is what the django-q2 task runs (campaigns.sender.run): claim under
the campaign lock, render, re-check the state, hand over, record in the ledger, one message
at a time. Target (issue 13): worker rate >= 0.5 x bare rate on PostgreSQL, >= 0.7 x on
SQLite (no network round trip to the database there). For reference the script also times the
bare loop with messages rendered before the clock starts (transport alone).

Then a stop drill: workers send a fresh campaign, STOP is pressed mid-run, and the script
counts messages claimed after the stop returned (target 0) and messages that reached the
sink after it (target: at most one in flight per worker).

--relay-ms makes the sink wait that long before answering DATA, as a real relay does while
it queues the message durably; the target is judged on the default, an instant sink.
"""

import argparse
import smtplib
import threading
import time

parser = argparse.ArgumentParser()
parser.add_argument("--members", type=int, default=5212)
parser.add_argument("--repeat", type=int, default=2)
parser.add_argument("--stop-workers", type=int, default=2)
parser.add_argument("--relay-ms", type=float, default=0.0,
                    help="the sink's delay before answering DATA (default: answer at once)")
args = parser.parse_args()

from _setup import SinkProcess, django_setup, free_port, released_notice, user

TARGETS = {"postgresql": 0.55, "sqlite": 0.75}  # worker/bare, per engine (issue 25)

django_setup()

from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import setup_test_environment
from django.utils import timezone

setup_test_environment()  # locmem for the staff test message; the send itself uses SMTP below
call_command("migrate", verbosity=0)

from campaigns import mail, sender, workflow
from campaigns.models import Delivery
from roster import member_data
from roster.samples import csv_bytes, sample_rows
from roster.services import check_roster_file, roster_import

OLIVIA = user("olivia", "contractor", "operator")
SAM = user("sam", "contractor", "supervisor")
OSCAR = user("oscar", "association", "observer")
ROSTER = roster_import(parsed=check_roster_file(csv_bytes(sample_rows(args.members)), "m.csv"),
                       name="bench", actor=OLIVIA)


def released_campaign(n):
    return released_notice(ROSTER, f"bench {n}", operator=OLIVIA, supervisor=SAM, observer=OSCAR)


def bare_loop(campaign, port, *, prebuilt: bool) -> float:
    """A plain script: for each member, render the message and sendmail it, one connection.
    With prebuilt=True the messages are rendered before the clock starts (transport only)."""
    members = list(member_data.rows(ROSTER))  # every member's values, one query

    def build(member):
        return mail.build_message(sender=campaign.sender, subject=campaign.subject,
                                  body_text=campaign.body_text, body_html="",
                                  values=mail.member_values(member), to=member.email).wire_bytes()

    ready = [build(m) for m in members] if prebuilt else None
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        for i, member in enumerate(members):
            raw = ready[i] if prebuilt else build(member)
            smtp.sendmail("members@association.example", [member.email], raw)
    return time.perf_counter() - started


def guard_cost(campaign) -> float:
    """Seconds per message for the content guard's check of the rendered message (what the
    worker runs before each hand-over), measured alone over every member's message."""
    from campaigns import guard

    members = list(member_data.rows(ROSTER))
    messages = [mail.build_message(sender=campaign.sender, subject=campaign.subject,
                                   body_text=campaign.body_text, body_html="",
                                   values=mail.member_values(m), to=m.email)
                for m in members]
    guard.roster_index(campaign.roster)  # built once per worker process, not per message
    started = time.perf_counter()
    for message, member in zip(messages, members, strict=True):
        assert not guard.check_message(roster=campaign.roster, recipient=mail.member_values(member),
                                       **mail.texts_of(message))
    return (time.perf_counter() - started) / len(messages)


def worker_path(campaign) -> float:
    started = time.perf_counter()
    outcome = sender.run(campaign.pk, worker="bench", budget=3600)
    elapsed = time.perf_counter() - started
    assert outcome is sender.Outcome.FINISHED, outcome
    campaign.refresh_from_db()
    assert campaign.state == "completed", campaign.state
    return elapsed


def main():
    port = free_port()
    sink = SinkProcess(port, args.relay_ms)
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    timings = {"bare smtplib loop": [], "worker path": [], "bare, prebuilt (transport)": []}
    try:
        for n in range(args.repeat):
            campaign = released_campaign(n)
            for label, prebuilt in (("bare smtplib loop", False),
                                    ("bare, prebuilt (transport)", True)):
                sink.clear()
                timings[label].append(bare_loop(campaign, port, prebuilt=prebuilt))
                assert sink.count() == args.members
            sink.clear()
            timings["worker path"].append(worker_path(campaign))
            # members only: the completion notice to the association's observer is not counted
            recipients = [r for _t, r in sink.received() if r.endswith("@members.example")]
            assert len(recipients) == len(set(recipients)) == args.members, "duplicate or loss"

        print(f"{args.members:,} messages per run, {args.repeat} runs, "
              f"database {connection.vendor}, SMTP sink in its own process"
              + (f", answering DATA after {args.relay_ms:g} ms" if args.relay_ms else ""))
        print(f"{'path':<28}{'best s':>9}{'msg/s':>10}")
        for label, values in timings.items():
            print(f"{label:<28}{min(values):>9.2f}{args.members / min(values):>10,.0f}")
        ratio = min(timings["bare smtplib loop"]) / min(timings["worker path"])
        target = TARGETS[connection.vendor]
        print(f"worker/bare rate: {ratio:.2f} (target >= {target:.2f}): "
              f"{'PASS' if ratio >= target else 'FAIL'}")
        per_message = guard_cost(campaign)
        worker_per_message = min(timings["worker path"]) / args.members
        print(f"content guard per message: {per_message * 1e6:.0f} us "
              f"({per_message / worker_per_message:.0%} of the worker's time per message)")

        stop_drill(sink)
    finally:
        sink.close()


def stop_drill(sink):
    campaign = released_campaign("stop")
    workflow.start(campaign_id=campaign.pk)
    sink.clear()

    def work(n):
        try:
            sender.run(campaign.pk, worker=f"w{n}", budget=600)
        finally:
            connection.close()

    workers = [threading.Thread(target=work, args=(n,)) for n in range(args.stop_workers)]
    for thread in workers:
        thread.start()
    while sink.count() < args.members // 3:
        time.sleep(0.005)
    workflow.stop(campaign=campaign, user=OSCAR)
    returned_ns, returned_at = time.time_ns(), timezone.now()
    for thread in workers:
        thread.join()
    claimed_after = campaign.deliveries.filter(claimed_at__gt=returned_at).count()
    arrivals = sink.received()
    reached_after = sum(1 for t, _r in arrivals if t > returned_ns)
    sent = campaign.deliveries.filter(state=Delivery.State.SENT).count()
    print(f"stop drill, {args.stop_workers} workers: stopped after {sent:,} sent of "
          f"{args.members:,}; claimed after the stop returned: {claimed_after} (target 0); "
          f"reached the sink after it: {reached_after} (target <= {args.stop_workers}); "
          f"ledger sent {sent:,} = sink {len(arrivals):,}: {sent == len(arrivals)}")


main()
