"""The content guard at 100,000 members: submit-time check, and the check of each message.

    python bench/guard.py [--members 100000] [--messages 5000] [--held 3] [--held-size 10000]
                          [--worker-seconds 20] [--relay-ms 20]

The campaign's roster has the columns a real one has (reading, telephone, postal address,
branch), and the association holds `--held` other rosters beside it: the guard's index
covers every value of all of them (issue 21).

Baseline: building each member's message (campaigns.mail.build_message, what the worker
does for every member anyway). Then:

* the roster's index (built once per roster and process);
* the submit-time guard (campaigns.guard.check_campaign_content: template masked and
  emptied, rendered samples, every member's placeholder columns), which runs before the
  campaign row is locked;
* the whole submit (guard, content hash, version), and how long the row was locked in it;
* the per-message check beside building the message;
* the worker (`sender.run`) sending the released campaign, with the check timed where the
  worker calls it, to two loopback sinks: one that answers at once (the worker's own time,
  the strict figure) and one that answers DATA after --relay-ms, as bench/scale.py's relay.
"""

import argparse
import time

parser = argparse.ArgumentParser()
parser.add_argument("--members", type=int, default=100_000)
parser.add_argument("--messages", type=int, default=5_000)
parser.add_argument("--held", type=int, default=3, help="other rosters the association holds")
parser.add_argument("--held-size", type=int, default=10_000)
parser.add_argument("--worker-seconds", type=float, default=20.0,
                    help="how long the worker sends to each sink (its time measured)")
parser.add_argument("--relay-ms", type=float, default=20.0,
                    help="the second sink answers DATA after this long, as bench/scale.py's relay")
args = parser.parse_args()

from _setup import SinkProcess, countersigned, django_setup, free_port, user

django_setup()

from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import setup_test_environment

setup_test_environment()  # locmem for the staff test message; the send itself uses SMTP below
call_command("migrate", verbosity=0)

from campaigns import guard, mail, sender, workflow
from campaigns.workflow import door
from roster import member_data
from roster.samples import csv_bytes, sample_rows
from roster.services import check_roster_file, roster_import

OLIVIA = user("olivia", "contractor", "operator")
SAM = user("sam", "contractor", "supervisor")
OSCAR = user("oscar", "association", "observer")
BODY = ("{name} 様\n\n会員番号 {member_number}（{支部}支部）\n"
        "2026年7月1日から、感染症見舞金の給付額を30,000円から20,000円に変更します。\n"
        "詳しくは https://association.example/benefit をご覧ください。\n"
        "お問い合わせ: support@association.example / 03-1234-5678\n\n共済会 事務局\n")


HEADER = ["会員番号", "氏名", "メールアドレス", "支部", "フリガナ", "電話番号", "住所"]
KANA = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワ"


def rows(count: int, *, start: int = 1) -> list[list[str]]:
    """sample_rows with a reading, a telephone number and a postal address per member."""
    out = []
    for i, row in enumerate(sample_rows(count, start=start), start=start):
        reading = "".join(KANA[(i // 41 ** k) % 41] for k in range(4))
        phone = f"090-{i // 10000:04d}-{i % 10000:04d}"
        address = f"〒{100 + i % 800:03d}-{i % 10000:04d} 東京都千代田区千代田{i % 50}-{i % 7}-{i}"
        out.append([*row, f"{reading[:2]} {reading[2:]}", phone, address])
    return out


def timed(function):
    started = time.perf_counter()
    value = function()
    return time.perf_counter() - started, value


def released(campaign) -> None:
    """The campaign test-sent, approved, released and started (its own check of every member
    at the start is not timed)."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    countersigned(campaign, operator=OLIVIA, supervisor=SAM, observer=OSCAR)
    workflow.start(campaign_id=campaign.pk)


def in_the_worker(campaign, relay_ms: float) -> tuple[int, float, float]:
    """`sender.run` (what the django-q2 task runs) sending the released campaign to a
    loopback sink that answers DATA after `relay_ms` for --worker-seconds, with the guard's
    check timed where the worker calls it. Returns (messages sent, worker seconds, seconds
    inside the check)."""
    port = free_port()
    sink = SinkProcess(port, relay_ms)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    inside = [0.0]
    real_check = guard.check_message_in_parts

    def timed_check(**kwargs):  # the worker runs the parts between SMTP commands
        parts = real_check(**kwargs)
        while True:
            started = time.perf_counter()
            try:
                part = next(parts)
            except StopIteration:
                return
            finally:
                inside[0] += time.perf_counter() - started
            yield part

    guard.check_message_in_parts = timed_check
    try:
        sink.clear()
        started = time.perf_counter()
        sender.run(campaign.pk, worker="bench", budget=args.worker_seconds)
        elapsed = time.perf_counter() - started
        sent = len([r for _t, r in sink.received() if r.endswith("@members.example")])
    finally:
        guard.check_message_in_parts = real_check
        sink.close()
    return sent, elapsed, inside[0]


def main():
    started = time.perf_counter()
    for n in range(args.held):
        first = args.members + 1 + n * args.held_size
        roster_import(parsed=check_roster_file(csv_bytes(rows(args.held_size, start=first),
                                                         header=HEADER), f"held{n}.csv"),
                      name=f"held {n}", actor=OLIVIA)
    roster = roster_import(parsed=check_roster_file(csv_bytes(rows(args.members),
                                                              header=HEADER), "m.csv"),
                           name="bench", actor=OLIVIA)
    print(f"{args.members:,} members in the campaign's roster and {args.held} other rosters "
          f"of {args.held_size:,} imported in {time.perf_counter() - started:.1f} s "
          f"({connection.vendor})")
    campaign = workflow.create(user=OLIVIA, roster=roster, name="bench",
                               sender=settings.CAMPAIGN_SENDERS[0], canary_enabled=False,
                               subject="【重要】{name} 様: 見舞金の変更", body_text=BODY)

    index_s, _index = timed(lambda: guard.roster_index(roster))
    guard_s, report = timed(lambda: guard.check_campaign_content(
        roster=roster, subject=campaign.subject, body_text=campaign.body_text, body_html=""))
    assert report.ok, report.findings[:3]

    locked = []
    real_locked = door.locked

    def timing_the_lock(c):
        locked.append(time.perf_counter())
        return real_locked(c)

    door.locked = timing_the_lock
    submit_s, _c = timed(lambda: workflow.submit(campaign=campaign, user=OLIVIA))
    door.locked = real_locked
    lock_s = time.perf_counter() - locked[0]  # submit's last step is the locked one

    members = [m for _, m in zip(range(args.messages), member_data.rows(roster))]
    values = [mail.member_values(m) for m in members]
    build_s, messages = timed(lambda: [
        mail.build_message(sender=campaign.sender, subject=campaign.subject,
                           body_text=campaign.body_text, body_html="", values=v, to=v["email"])
        for v in values])
    check_s, found = timed(lambda: [
        guard.check_message(roster=roster, recipient=v, **mail.texts_of(m))
        for m, v in zip(messages, values, strict=True)])
    assert not any(found), [x for x in found if x][:3]
    wire_s, _w = timed(lambda: [m.wire_bytes() for m in messages])

    # Keyed tags alone (what is kept of purged rosters, and all the guard will have once the
    # association holds the key): tag the held rosters, then check a 5,000-character text.
    from campaigns import guard_tags
    from roster.models import Roster

    tag_s, kept = timed(lambda: guard_tags.keep_tags_of(Roster.objects.exclude(pk=roster.pk)))
    text = (BODY.replace("{name}", "会員").replace("{member_number}", "W0").replace(
        "{支部}", "東京") * 40)[:5000]
    tags_s, tag_found = timed(lambda: guard_tags.findings({"body_text": text}))
    assert not tag_found, tag_found[:3]

    per = 1e6 / len(messages)
    print(f"{'what':<52}{'seconds':>9}")
    print(f"{'roster index (once per roster and worker)':<52}{index_s:>9.2f}")
    print(f"{'submit-time guard, before the row lock':<52}{guard_s:>9.2f}")
    print(f"{'whole submit (guard, hash, version)':<52}{submit_s:>9.2f}")
    print(f"{'  of which the campaign row was locked':<52}{lock_s:>9.3f}")
    print(f"per message, over {len(messages):,} messages:")
    baseline_us = (build_s + wire_s) * per
    print(f"  baseline: build the message (render + MIME + bytes) {baseline_us:>7.0f} us")
    print(f"  the guard's check of the rendered message           {check_s * per:>7.0f} us "
          f"({check_s / (build_s + wire_s):.2f} x the baseline)")
    released(campaign)
    for relay_ms in (0.0, args.relay_ms):
        sent, worker_s, inside_s = in_the_worker(campaign, relay_ms)
        share = inside_s / worker_s
        print(f"in the worker, relay answering after {relay_ms:g} ms (sender.run, {sent:,} "
              f"messages in {worker_s:.1f} s):")
        print(f"  the worker's time per message                     "
              f"{worker_s / sent * 1e6:>7.0f} us")
        print(f"  of which the guard's check                        "
              f"{inside_s / sent * 1e6:>7.0f} us ({share:.1%}, target <= 10 %): "
              f"{'PASS' if share <= 0.10 else 'FAIL'}")
    print(f"keyed tags of the {args.held} other rosters: {kept['count']:,} kept in {tag_s:.1f} s")
    print(f"submit-time check of a {len(text):,}-character text on keyed tags alone: "
          f"{tags_s:.2f} s (target < 1 s): {'PASS' if tags_s < 1 else 'FAIL'}")


main()
