"""The relay's log as an attacker, a broken syslog or a careless operator shapes it.

A person decides "resend" or "skip" for a message in doubt from what reconcile_in_doubt
shows. A wrong "accepted" makes them skip a message the member never got; a wrong "no trace"
makes them resend one the member already has. Each case below is a log (or a set of rotated
files) and what truly happened to the three messages in doubt, a, b and c: the relay took
the message (True) or not (False). Anyone on the relay's machine can write syslog lines
under any tag (`logger -t`), any client chooses its Message-ID, sender and login name, and
syslog loses, repeats, reorders and cuts lines. None of it may show a wrong "accepted" or a
wrong "no trace"; where the log says enough, it is read as it says.
"""

import io
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from campaigns import dsn
from campaigns.mail import bare_message_id
from campaigns.models import Delivery
from tests.factories import client_for
from tests.returned_mail import DOMAIN, RelayLog

pytestmark = pytest.mark.usefixtures("sink")

TOKYO, NEW_YORK = ZoneInfo("Asia/Tokyo"), ZoneInfo("America/New_York")
AROUND = timedelta(minutes=10)  # other mail before and after the claim in a complete log
CLEAN = ("accepted", "no_trace", "no_trace")  # a taken, b cut off, c never reached the relay
NONE_COVERED = ("not_covered",) * 3
S = timedelta(seconds=1)


@dataclass
class Context:
    """The three messages in doubt (claimed at `claimed`), the campaign's messages the relay
    took (`sent`), and the time of the claim."""

    a: Delivery
    b: Delivery
    c: Delivery
    sent: list
    claimed: datetime


@dataclass
class Case:
    files: list  # [(file name, lines)], in the order given to --maillog
    truth: tuple  # did the relay take a, b, c
    expect: tuple | None = None  # what a log that says enough shows (None: anything right)
    log_zone: str = "UTC"
    syslog_name: str = ""
    claimed: datetime | None = None
    prepare: object = None


def clean_log(ctx, **options) -> RelayLog:
    """A complete log: the relay logging all along, a queued, b cut off, c absent."""
    log = RelayLog(**options).traffic(ctx.claimed - AROUND, ctx.claimed + AROUND)
    log.accepted(ctx.a, ctx.claimed + S)
    log.cut_off(ctx.b, ctx.claimed + 2 * S)
    return log


def one(log, name="maillog"):
    return [(name, log.lines())]


def bare(delivery) -> str:
    return bare_message_id(delivery.message_id)


def queued_as(log, moment, message_id_field, *, daemon_prefix="postfix", queue=None):
    """Another message queued by the relay whose cleanup line logs `message_id_field`."""
    queue = queue or log.queue_id()
    log.raw(moment, f"{daemon_prefix}/smtpd[2101]: {queue}: client=mx.evil.example[192.0.2.9]")
    log.raw(moment, f"{daemon_prefix}/cleanup[2102]: {queue}: message-id={message_id_field}")
    log.raw(moment, f"{daemon_prefix}/qmgr[2103]: {queue}: from=<x@evil.example>, size=900, "
                    "nrcpt=1 (queue active)")
    return queue


# --- logs that say what happened -------------------------------------------------------------

def a_clean_log(ctx):
    return Case(one(clean_log(ctx)), (True, False, False), CLEAN)


def postlogds_maillog_file(ctx):
    return Case(one(clean_log(ctx, style="postlog")), (True, False, False), CLEAN)


def rfc3339_stamps_with_tokyos_offset(ctx):
    return Case(one(clean_log(ctx, style="rfc3339", zone=TOKYO)), (True, False, False), CLEAN)


def a_tokyo_log_read_in_its_zone(ctx):
    return Case(one(clean_log(ctx, zone=TOKYO)), (True, False, False), CLEAN,
                log_zone="Asia/Tokyo")


def crlf_line_endings(ctx):
    return Case([("maillog", [line + "\r" for line in clean_log(ctx).lines()])],
                (True, False, False), CLEAN)


def rotated_files_given_newest_first_split_inside_a_message(ctx):
    lines = clean_log(ctx).lines()
    split = next(n for n, line in enumerate(lines) if f"message-id={ctx.a.message_id}" in line)
    return Case([("mail.log", lines[split + 1:]), ("mail.log.1", lines[:split + 1])],
                (True, False, False), CLEAN)


def the_same_log_given_twice(ctx):
    lines = clean_log(ctx).lines()
    return Case([("mail.log", lines), ("mail.log.copy", lines)], (True, False, False), CLEAN)


def every_line_written_twice(ctx):
    lines = [line for line in clean_log(ctx).lines() for _ in (1, 2)]
    return Case([("maillog", lines)], (True, False, False), CLEAN)


def lines_out_of_order(ctx):
    log = RelayLog().traffic(ctx.claimed - AROUND, ctx.claimed + AROUND)
    sender = RelayLog.sender(ctx.a)
    log.postfix(ctx.claimed + S, "smtpd", "4B9C1EA2000: client=localhost[127.0.0.1]")
    log.postfix(ctx.claimed + 2 * S, "cleanup", f"4B9C1EA2000: message-id={ctx.a.message_id}")
    log.postfix(ctx.claimed + 3 * S, "qmgr", f"4B9C1EA2000: from=<{sender}>, size=2048, "
                                              "nrcpt=1 (queue active)")
    log.cut_off(ctx.b, ctx.claimed + 4 * S)
    lines = log.lines()
    random.Random(24).shuffle(lines)
    return Case([("maillog", lines)], (True, False, False), CLEAN)


def a_deferred_message_taken_up_again(ctx):
    log = clean_log(ctx)
    queue = log.accepted(ctx.c, ctx.claimed + 3 * S, delivered="deferred")
    log.postfix(ctx.claimed + 300 * S, "qmgr", f"{queue}: from=<x@y.example>, size=2048, "
                                                "nrcpt=1 (queue active)")
    return Case(one(log), (True, False, True), ("accepted", "no_trace", "accepted"))


def long_queue_ids(ctx):
    log = RelayLog().traffic(ctx.claimed - AROUND, ctx.claimed + AROUND)
    log.accepted(ctx.a, ctx.claimed + S, queue="4XyZ1b2CD3z9sWH")
    log.cut_off(ctx.b, ctx.claimed + 2 * S, queue="4XyZ1b2CD4z9sWJ")
    return Case(one(log), (True, False, False), CLEAN)


def a_submission_services_smtpd(ctx):
    log = RelayLog().traffic(ctx.claimed - AROUND, ctx.claimed + AROUND)
    queue = log.queue_id()
    log.raw(ctx.claimed + S, f"postfix/submission/smtpd[2201]: {queue}: client=app[10.0.0.5]")
    log.postfix(ctx.claimed + S, "cleanup", f"{queue}: message-id={ctx.a.message_id}")
    log.postfix(ctx.claimed + S, "qmgr", f"{queue}: from=<{RelayLog.sender(ctx.a)}>, size=9, "
                                         "nrcpt=1 (queue active)")
    log.cut_off(ctx.b, ctx.claimed + 2 * S)
    return Case(one(log), (True, False, False), CLEAN)


def another_syslog_name(ctx):
    return Case(one(clean_log(ctx, name="postfix-out")), (True, False, False), CLEAN,
                syslog_name="postfix-out")


def an_exim_mainlog(ctx):
    return Case([("mainlog", exim_log(ctx))], (True, False, False), CLEAN)


# --- queue ids: reused, deleted, bounced -----------------------------------------------------

def a_cut_off_queue_id_reused_by_mail_without_a_message_id(ctx):
    log = clean_log(ctx)
    queue = log.cut_off(ctx.c, ctx.claimed + 3 * S)
    later = ctx.claimed + 20 * S
    log.postfix(later, "smtpd", f"{queue}: client=mx.evil.example[192.0.2.9]")
    log.postfix(later, "qmgr", f"{queue}: from=<x@evil.example>, size=900, nrcpt=1 "
                               "(queue active)")
    log.postfix(later + S, "qmgr", f"{queue}: removed")
    return Case(one(log), (True, False, False), CLEAN)


def a_cut_off_queue_id_reused_by_mail_with_its_own_message_id(ctx):
    log = clean_log(ctx)
    queue = log.cut_off(ctx.c, ctx.claimed + 3 * S)
    queued_as(log, ctx.claimed + 20 * S, "<unrelated@staff.example>", queue=queue)
    return Case(one(log), (True, False, False), CLEAN)


def an_accepted_message_deleted_and_its_queue_id_reused(ctx):
    log = RelayLog().traffic(ctx.claimed - AROUND, ctx.claimed + AROUND)
    queue = log.accepted(ctx.a, ctx.claimed + S, delivered=None)
    log.raw(ctx.claimed + 10 * S, f"postfix/postsuper[77]: {queue}: removed")
    log.cut_off(ctx.b, ctx.claimed + 20 * S, queue=queue)
    queued_as(log, ctx.claimed + 40 * S, "<unrelated@staff.example>", queue=queue)
    return Case(one(log), (True, False, False), CLEAN)


def an_accepted_message_bounced_by_the_relay(ctx):
    log = RelayLog().traffic(ctx.claimed - AROUND, ctx.claimed + AROUND)
    queue = log.accepted(ctx.a, ctx.claimed + S, delivered="bounced")
    log.postfix(ctx.claimed + 2 * S, "bounce",
                f"{queue}: sender non-delivery notification: 5D001EA2001")
    log.postfix(ctx.claimed + 2 * S, "cleanup",
                "5D001EA2001: message-id=<20261204.5D001EA2001@relay.countersign.test>")
    log.postfix(ctx.claimed + 2 * S, "qmgr", "5D001EA2001: from=<>, size=3000, nrcpt=1 "
                                             "(queue active)")
    log.cut_off(ctx.b, ctx.claimed + 3 * S)
    return Case(one(log), (True, False, False), CLEAN)


# --- Message-IDs that only look like ours ----------------------------------------------------

def another_message_whose_message_id_is_ours_in_double_brackets(ctx):
    log = clean_log(ctx)
    queued_as(log, ctx.claimed + 5 * S, f"<{ctx.b.message_id}>")
    queued_as(log, ctx.claimed + 6 * S, f"<{ctx.c.message_id}>")
    return Case(one(log), (True, False, False), CLEAN)


def message_ids_that_contain_ours(ctx):
    log = clean_log(ctx)
    for n, field_value in enumerate([
            f"{ctx.c.message_id} (comment)", f"<{bare(ctx.c)}.evil>", f"<evil.{bare(ctx.c)}>",
            bare(ctx.c), f"<{bare(ctx.c).upper()}>", f"{ctx.c.message_id},<x@y>",
            f"<x@y> {ctx.c.message_id}"]):
        queued_as(log, ctx.claimed + (5 + n) * S, field_value)
    return Case(one(log), (True, False, False), CLEAN)


def a_postfix_line_quoted_in_another_programs_line(ctx):
    log = clean_log(ctx)
    fake = (f"postfix/cleanup[1]: QQQQ: message-id={ctx.c.message_id} "
            "postfix/qmgr[1]: QQQQ: from=<a>, size=1, nrcpt=1 (queue active)")
    log.postfix(ctx.claimed + 5 * S, "smtpd", "NOQUEUE: reject: RCPT from x[192.0.2.9]: 554 "
                f"5.7.1 <x@y>: Relay access denied; from=<\"{fake}\"@evil.example> proto=ESMTP")
    log.postfix(ctx.claimed + 5 * S, "smtpd", f"QQQQ: client=x[192.0.2.9] {fake}")
    return Case(one(log), (True, False, False), CLEAN)


def our_message_id_queued_from_another_sender(ctx):
    """Someone who reads the relay's log saw b's Message-ID on its cut-off cleanup line and,
    within the minute, sent a message of their own carrying it through the relay."""
    log = clean_log(ctx)
    queue = log.queue_id()
    log.postfix(ctx.claimed + 4 * S, "smtpd", f"{queue}: client=mx.evil.example[192.0.2.9]")
    log.postfix(ctx.claimed + 4 * S, "cleanup", f"{queue}: message-id={ctx.b.message_id}")
    log.postfix(ctx.claimed + 4 * S, "qmgr", f"{queue}: from=<x@evil.example>, size=900, "
                                             "nrcpt=1 (queue active)")
    return Case(one(log), (True, False, False), ("accepted", "not_covered", "no_trace"))


def a_clean_log_with_verp_senders(ctx):
    return Case(one(clean_log(ctx)), (True, False, False), CLEAN)


def a_forged_queue_manager_line_under_the_relays_own_name(ctx):
    """`logger -t postfix/qmgr` right after b was cut off: exact program name, exact queue
    id. With VERP the sender gives it away: b's address carries an hmac nobody outside the
    app can compute, and b never reached the queue manager, which alone logs it."""
    log = clean_log(ctx)
    queue = next(line.split(": ")[1] for line in log.lines()
                 if f"message-id={ctx.b.message_id}" in line)
    for sender in ("members@association.example", f"bounce+{ctx.b.pk}-{'0' * 16}@{DOMAIN}"):
        log.postfix(ctx.claimed + 3 * S, "qmgr", f"{queue}: from=<{sender}>, size=9, nrcpt=1 "
                                                 "(queue active)", pid=31337)
    return Case(one(log), (True, False, False), ("accepted", "not_covered", "no_trace"))


def a_forged_smtpd_line_between_our_cleanup_and_queue_manager_lines(ctx):
    """`logger -t postfix/smtpd` writes "client=" for b's queue id between its cleanup and
    its queue manager line, so that the relay's acceptance of b looks like another
    message's and b like one cut off. The queue manager's line still names b's VERP
    address."""
    log = RelayLog().traffic(ctx.claimed - AROUND, ctx.claimed + AROUND)
    log.accepted(ctx.a, ctx.claimed + S)
    queue = log.queue_id()
    log.postfix(ctx.claimed + 2 * S, "smtpd", f"{queue}: client=localhost[127.0.0.1]")
    log.postfix(ctx.claimed + 2 * S, "cleanup", f"{queue}: message-id={ctx.b.message_id}")
    log.postfix(ctx.claimed + 2 * S, "smtpd", f"{queue}: client=unknown[127.0.0.2]",
                pid=31337)
    log.postfix(ctx.claimed + 2 * S, "qmgr", f"{queue}: from=<{RelayLog.sender(ctx.b)}>, "
                                             "size=2048, nrcpt=1 (queue active)")
    return Case(one(log), (True, True, False), ("accepted", "not_covered", "no_trace"))


WITH_VERP = {a_clean_log_with_verp_senders, a_forged_queue_manager_line_under_the_relays_own_name,
             a_forged_smtpd_line_between_our_cleanup_and_queue_manager_lines}


# --- tags anyone on the machine can write ----------------------------------------------------

def a_postfix_x_tag(ctx):
    log = clean_log(ctx)
    queued_as(log, ctx.claimed + 5 * S, ctx.c.message_id, daemon_prefix="postfix-x")
    queued_as(log, ctx.claimed + 6 * S, ctx.c.message_id, daemon_prefix="postfix.local")
    return Case(one(log), (True, False, False), CLEAN)


def tags_written_with_logger(ctx):
    log = clean_log(ctx)
    moment = ctx.claimed + 5 * S
    for n, (cleanup, qmgr) in enumerate([
            ("cleanup[77]", "qmgr[77]"), ("postfix[77]", "postfix[77]"),
            ("postfix/cleanup", "postfix/qmgr"), ("Postfix/cleanup[77]", "Postfix/qmgr[77]"),
            ("postfix/x/cleanup[77]", "postfix/x/qmgr[77]"),
            ("postfix/cleanup[77] ", "postfix/qmgr[77] "), ("logger[77]", "logger[77]")]):
        queue = f"7A{n:03d}EA2000"
        log.raw(moment, f"{cleanup}: {queue}: message-id={ctx.c.message_id}")
        log.raw(moment, f"{qmgr}: {queue}: from=<x@y>, size=9, nrcpt=1 (queue active)")
    return Case(one(log), (True, False, False), CLEAN)


def another_hosts_line_with_the_queue_id_of_a_cut_off_message(ctx):
    log = RelayLog().traffic(ctx.claimed - AROUND, ctx.claimed + AROUND)
    other = RelayLog(host="relay2").traffic(ctx.claimed - AROUND, ctx.claimed + AROUND)
    log.accepted(ctx.a, ctx.claimed + S)
    queue = log.cut_off(ctx.b, ctx.claimed + 2 * S)
    other.postfix(ctx.claimed + 3 * S, "smtpd", f"{queue}: client=mx.evil.example[192.0.2.9]")
    other.postfix(ctx.claimed + 3 * S, "qmgr", f"{queue}: from=<x@evil.example>, size=900, "
                                                "nrcpt=1 (queue active)")
    log.entries += other.entries
    return Case(one(log), (True, False, False), CLEAN)


# --- dates -----------------------------------------------------------------------------------

def impossible_dates(ctx):
    log = clean_log(ctx)
    stamps = ["Feb 30 12:00:00", "Jun 31 08:00:00", "Dec 32 10:00:00", "Apr 10 24:00:00",
              "Apr 10 23:59:60", "Foo 10 12:00:00", "Feb 29 12:00:00", "2026-02-30T12:00:00Z",
              "2026-13-01T12:00:00+00:00", "Dec  4 16:15:5"]
    for n, stamp in enumerate(stamps):
        queue = f"8A{n:03d}EA2000"
        log.verbatim(ctx.claimed + 5 * S, f"{stamp} relay postfix/cleanup[2102]: {queue}: "
                                          f"message-id={ctx.c.message_id}")
        log.verbatim(ctx.claimed + 5 * S, f"{stamp} relay postfix/qmgr[2103]: {queue}: "
                                          "from=<x@y>, size=9, nrcpt=1 (queue active)")
    return Case(one(log), (True, False, False), ("accepted", None, None))


def an_acceptance_dated_in_the_future(ctx):
    log = clean_log(ctx)
    now = timezone.now()
    for moment, style in ((now + timedelta(days=2), "rfc3339"), (now + timedelta(hours=12),
                                                                  "syslog")):
        future = RelayLog(style=style)
        future.accepted(ctx.c, moment)
        log.entries += [(ctx.claimed + 5 * S, line) for line in future.lines()]
    return Case(one(log), (True, False, False), ("accepted", "no_trace", None))


def an_acceptance_an_hour_before_the_claim(ctx):
    log = clean_log(ctx)
    log.traffic(ctx.claimed - timedelta(minutes=70), ctx.claimed - timedelta(minutes=50))
    log.accepted(ctx.c, ctx.claimed - timedelta(hours=1))
    return Case(one(log), (True, False, False), ("accepted", "no_trace", None))


def a_tokyo_log_read_as_utc(ctx):
    """Nine hours ahead: every line is in the future, none is evidence."""
    return Case(one(clean_log(ctx, zone=TOKYO)), (True, False, False), NONE_COVERED)


def a_utc_log_read_as_tokyo_time(ctx):
    return Case(one(clean_log(ctx)), (True, False, False), NONE_COVERED, log_zone="Asia/Tokyo")


def last_fall_back(zone, before):
    """The latest moment before `before` at which `zone`'s clocks went back."""
    moment = before.replace(minute=0, second=0, microsecond=0)
    for _ in range(24 * 800):
        earlier = moment - timedelta(hours=1)
        if earlier.astimezone(zone).utcoffset() > moment.astimezone(zone).utcoffset():
            return moment
        moment = earlier
    raise AssertionError("no fall-back found")


def the_repeated_hour_when_clocks_go_back(ctx):
    """New York's 01:30 comes twice in November; a syslog stamp does not say which. The
    claim is in the second one; lines after the repeated hour are plain."""
    claimed = last_fall_back(NEW_YORK, timezone.now() - timedelta(hours=2)) + timedelta(
        minutes=30)
    moved = Context(ctx.a, ctx.b, ctx.c, ctx.sent, claimed)
    log = clean_log(moved, zone=NEW_YORK)
    log.traffic(claimed + timedelta(minutes=30), claimed + timedelta(minutes=40))
    return Case(one(log), (True, False, False), NONE_COVERED, log_zone="America/New_York",
                claimed=claimed)


# --- logs that do not cover the claim --------------------------------------------------------

def a_gap_across_the_claim(ctx):
    """syslog was down for twenty minutes: the relay took all three, and nothing says so."""
    log = RelayLog().traffic(ctx.claimed - timedelta(minutes=30),
                             ctx.claimed - timedelta(minutes=5))
    log.traffic(ctx.claimed + timedelta(minutes=15), ctx.claimed + timedelta(minutes=25))
    return Case(one(log), (True, True, True), NONE_COVERED)


def a_gap_filled_with_lines_anyone_can_write(ctx):
    log = RelayLog().traffic(ctx.claimed - timedelta(minutes=30),
                             ctx.claimed - timedelta(minutes=5))
    log.traffic(ctx.claimed + timedelta(minutes=15), ctx.claimed + timedelta(minutes=25))
    moment = ctx.claimed - timedelta(minutes=5)
    while moment < ctx.claimed + timedelta(minutes=15):
        log.raw(moment, "postfix-x/smtpd[1]: connect from localhost[127.0.0.1]")
        log.raw(moment, "postfix[1]: connect from localhost[127.0.0.1]")
        log.raw(moment, "mallory[4242]: postfix/smtpd[2101]: connect from x[192.0.2.1]")
        moment += timedelta(seconds=10)
    return Case(one(log), (True, True, True), NONE_COVERED)


def rotated_files_without_the_one_that_covers_the_claim(ctx):
    old = RelayLog().traffic(ctx.claimed - timedelta(hours=3), ctx.claimed - timedelta(hours=1))
    new = RelayLog().traffic(ctx.claimed + timedelta(minutes=10),
                             ctx.claimed + timedelta(minutes=25))
    return Case([("mail.log.2", old.lines()), ("mail.log", new.lines())], (True, True, True),
                NONE_COVERED)


def the_log_stops_before_the_hand_over_ended(ctx):
    log = RelayLog().traffic(ctx.claimed - AROUND, ctx.claimed - S)
    return Case(one(log), (True, False, False), NONE_COVERED)


def the_log_starts_after_the_claim(ctx):
    log = RelayLog().traffic(ctx.claimed + 4 * S, ctx.claimed + AROUND)
    return Case(one(log), (True, False, False), NONE_COVERED)


def syslog_dropped_lines_for_rate_limiting(ctx):
    log = RelayLog().traffic(ctx.claimed - AROUND, ctx.claimed + AROUND)
    log.cut_off(ctx.b, ctx.claimed + 2 * S)  # a's lines were dropped
    log.raw(ctx.claimed + S, "rsyslogd[400]: imuxsock[pid 2101]: begin to drop messages due "
                             "to rate-limiting")
    log.raw(ctx.claimed + 6 * S, "rsyslogd[400]: imuxsock: 87 messages lost due to "
                                 "rate-limiting (20 allowed within 5 seconds)")
    return Case(one(log), (True, False, False), NONE_COVERED)


def journald_suppressed_lines(ctx):
    log = RelayLog().traffic(ctx.claimed - AROUND, ctx.claimed + AROUND)
    log.cut_off(ctx.b, ctx.claimed + 2 * S)
    log.raw(ctx.claimed + 6 * S, "systemd-journald[300]: Suppressed 1204 messages from "
                                 "postfix@-.service")
    return Case(one(log), (True, False, False), NONE_COVERED)


def a_second_relay_took_some_messages(ctx):
    """Two relays behind one name: this log is one of them. The ledger knows two messages the
    relays took during the claim; this log has only one of them. c went to the other relay."""
    first, second = ctx.sent[:2]

    def prepare():
        for delivery, offset in ((first, 1), (second, 3)):
            Delivery.objects.filter(pk=delivery.pk).update(
                claimed_at=ctx.claimed + (offset - 1) * S, sent_at=ctx.claimed + offset * S)

    log = clean_log(ctx)
    log.accepted(first, ctx.claimed + S)
    return Case(one(log), (True, False, True), ("accepted", "not_covered", "not_covered"),
                prepare=prepare)


def a_second_relay_host_silent_across_the_claim(ctx):
    """One syslog for two relays: relay2's logging broke hours before the claim and came back
    after it; c went through relay2 meanwhile."""
    log = clean_log(ctx)
    other = RelayLog(host="relay2").traffic(ctx.claimed - timedelta(hours=4),
                                            ctx.claimed - timedelta(hours=3))
    other.traffic(ctx.claimed + timedelta(minutes=20), ctx.claimed + timedelta(minutes=25))
    log.entries += other.entries
    return Case(one(log), (True, False, True), ("accepted", "not_covered", "not_covered"))


def only_other_programs_lines(ctx):
    """The relay logs elsewhere; this file has cron's and sshd's lines all along."""
    log = RelayLog()
    moment = ctx.claimed - AROUND
    while moment <= ctx.claimed + AROUND:
        log.raw(moment, "CRON[812]: (root) CMD (command -v debian-sa1 > /dev/null)")
        log.raw(moment, "sshd[913]: Connection closed by 192.0.2.44 port 51234")
        moment += timedelta(seconds=15)
    return Case(one(log), (True, False, False), NONE_COVERED)


def a_log_of_another_syslog_name_read_with_the_default(ctx):
    return Case(one(clean_log(ctx, name="postfix-out")), (True, False, False), NONE_COVERED)


# --- lines cut short -------------------------------------------------------------------------

def a_cleanup_line_cut_short(ctx):
    log = RelayLog().traffic(ctx.claimed - AROUND, ctx.claimed + AROUND)
    queue = log.queue_id()
    log.postfix(ctx.claimed + S, "smtpd", f"{queue}: client=localhost[127.0.0.1]")
    log.postfix(ctx.claimed + S, "cleanup", f"{queue}: message-id={ctx.a.message_id[:12]}")
    log.postfix(ctx.claimed + S, "qmgr", f"{queue}: from=<{RelayLog.sender(ctx.a)}>, size=9, "
                                         "nrcpt=1 (queue active)")
    log.cut_off(ctx.b, ctx.claimed + 2 * S)
    return Case(one(log), (True, False, False), NONE_COVERED)


def a_queue_manager_line_cut_short(ctx):
    log = RelayLog().traffic(ctx.claimed - AROUND, ctx.claimed + AROUND)
    queue = log.queue_id()
    log.postfix(ctx.claimed + S, "smtpd", f"{queue}: client=localhost[127.0.0.1]")
    log.postfix(ctx.claimed + S, "cleanup", f"{queue}: message-id={ctx.a.message_id}")
    log.postfix(ctx.claimed + S, "qmgr", f"{queue}: from=<bounce+1-0123456789abcdef@b.example>,"
                                         " size=20")
    log.cut_off(ctx.b, ctx.claimed + 2 * S)
    return Case(one(log), (True, False, False), ("not_covered", "no_trace", "no_trace"))


def a_line_cut_short_and_run_into_the_next(ctx):
    """The disk filled or the machine stopped mid-write: the queue manager's line for a ends
    inside its queue id, and the next line runs on from there."""
    log = RelayLog().traffic(ctx.claimed - AROUND, ctx.claimed + AROUND)
    queue = log.queue_id()
    log.postfix(ctx.claimed + S, "smtpd", f"{queue}: client=localhost[127.0.0.1]")
    log.postfix(ctx.claimed + S, "cleanup", f"{queue}: message-id={ctx.a.message_id}")
    lines = log.lines()
    joined = f"{log.stamp(ctx.claimed + S)} relay postfix/qmgr[2103]: {queue[:4]}"
    at = next(n for n, line in enumerate(lines) if f"message-id={ctx.a.message_id}" in line)
    lines[at + 1] = joined + lines[at + 1]
    return Case([("maillog", lines)], (True, False, False), NONE_COVERED)


def the_queue_managers_line_first_in_the_same_second(ctx):
    log = RelayLog().traffic(ctx.claimed - AROUND, ctx.claimed + AROUND)
    queue = log.queue_id()
    log.postfix(ctx.claimed + S, "smtpd", f"{queue}: client=localhost[127.0.0.1]")
    log.postfix(ctx.claimed + S, "qmgr", f"{queue}: from=<{RelayLog.sender(ctx.a)}>, size=9, "
                                         "nrcpt=1 (queue active)")
    log.postfix(ctx.claimed + S, "cleanup", f"{queue}: message-id={ctx.a.message_id}")
    log.cut_off(ctx.b, ctx.claimed + 2 * S)
    return Case(one(log), (True, False, False), (None, "no_trace", "no_trace"))


# --- Exim ------------------------------------------------------------------------------------

def exim_log(ctx, extra=()):
    """Exim's mainlog: connections all along, a received (`<=`), b and c not."""
    lines = []
    moment, n = ctx.claimed - AROUND, 0
    while moment <= ctx.claimed + AROUND:
        n += 1
        text = (f"SMTP connection from [192.0.2.{n % 200 + 1}]:4{n:04d} "
                "(TCP/IP connection count = 1)")
        lines.append((moment, text))
        moment += timedelta(seconds=15)
    sender = dsn.verp_address(ctx.a.pk) or "members@association.example"
    received = (f"1vXyZa-000001-AB <= {sender} H=localhost [127.0.0.1] P=esmtp S=2048 "
                f"id={bare(ctx.a)}")
    delivered = ("1vXyZa-000001-AB => member@countersign.test R=dnslookup T=remote_smtp "
                 "H=mx.countersign.test [192.0.2.80]")
    lines += [(ctx.claimed + S, received), (ctx.claimed + 2 * S, delivered),
              (ctx.claimed + 2 * S, "1vXyZa-000001-AB Completed")]
    lines += [(ctx.claimed + 5 * S, line) for line in extra]
    lines.sort(key=lambda entry: entry[0])
    return [f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} {text}" for moment, text in lines]


def exim_a_sender_or_login_name_containing_id(ctx):
    return Case([("mainlog", exim_log(ctx, [
        (f"1vXyZa-000002-AB <= \"x id={bare(ctx.b)} \"@evil.example H=mx.evil.example "
         "[192.0.2.9] P=esmtp S=900"),
        (f"1vXyZa-000003-AB <= x@evil.example H=mx.evil.example [192.0.2.9] P=esmtpa "
         f"A=login:x id={bare(ctx.c)} S=900"),
        (f"1vXyZa-000004-AB <= x@evil.example H=mx.evil.example [192.0.2.9] P=esmtpa "
         f"A=login:S=1 id={bare(ctx.c)} S=900 id=own@evil.example"),
    ]))], (True, False, False), CLEAN)


def exim_a_subject_or_message_id_quoting_the_id(ctx):
    return Case([("mainlog", exim_log(ctx, [
        (f"1vXyZa-000005-AB <= x@evil.example H=mx.evil.example [192.0.2.9] P=esmtp S=900 "
         f"T=\"re: id={bare(ctx.b)} \""),
        (f"1vXyZa-000006-AB <= x@evil.example H=mx.evil.example [192.0.2.9] P=esmtp S=900 "
         f"id=<{bare(ctx.b)}>"),
        (f"1vXyZa-000007-AB <= x@evil.example H=mx.evil.example [192.0.2.9] P=esmtp S=900 "
         f"id={bare(ctx.c)}.evil"),
    ]))], (True, False, False), CLEAN)


CORPUS = {function.__name__.replace("_", " "): function for function in [
    a_clean_log, postlogds_maillog_file, rfc3339_stamps_with_tokyos_offset,
    a_tokyo_log_read_in_its_zone, crlf_line_endings,
    rotated_files_given_newest_first_split_inside_a_message, the_same_log_given_twice,
    every_line_written_twice, lines_out_of_order, a_deferred_message_taken_up_again,
    long_queue_ids, a_submission_services_smtpd, another_syslog_name, an_exim_mainlog,
    a_cut_off_queue_id_reused_by_mail_without_a_message_id,
    a_cut_off_queue_id_reused_by_mail_with_its_own_message_id,
    an_accepted_message_deleted_and_its_queue_id_reused,
    an_accepted_message_bounced_by_the_relay,
    another_message_whose_message_id_is_ours_in_double_brackets,
    message_ids_that_contain_ours, a_postfix_line_quoted_in_another_programs_line,
    our_message_id_queued_from_another_sender, a_clean_log_with_verp_senders,
    a_forged_queue_manager_line_under_the_relays_own_name,
    a_forged_smtpd_line_between_our_cleanup_and_queue_manager_lines,
    a_postfix_x_tag, tags_written_with_logger,
    another_hosts_line_with_the_queue_id_of_a_cut_off_message,
    impossible_dates, an_acceptance_dated_in_the_future, an_acceptance_an_hour_before_the_claim,
    a_tokyo_log_read_as_utc, a_utc_log_read_as_tokyo_time,
    the_repeated_hour_when_clocks_go_back,
    a_gap_across_the_claim, a_gap_filled_with_lines_anyone_can_write,
    rotated_files_without_the_one_that_covers_the_claim,
    the_log_stops_before_the_hand_over_ended, the_log_starts_after_the_claim,
    syslog_dropped_lines_for_rate_limiting, journald_suppressed_lines,
    a_second_relay_took_some_messages, a_second_relay_host_silent_across_the_claim,
    only_other_programs_lines,
    a_log_of_another_syslog_name_read_with_the_default,
    a_cleanup_line_cut_short, a_queue_manager_line_cut_short,
    a_line_cut_short_and_run_into_the_next, the_queue_managers_line_first_in_the_same_second,
    exim_a_sender_or_login_name_containing_id, exim_a_subject_or_message_id_quoting_the_id,
]}
SHOWN = {True: "accepted", False: "no_trace", None: "not_covered"}


@pytest.fixture
def corpus_context(three_in_doubt, held):
    claimed = (timezone.now() - timedelta(minutes=30)).replace(microsecond=0)
    return Context(*three_in_doubt, list(held.deliveries.filter(state=Delivery.State.SENT)),
                   claimed)


def run_case(name, ctx, folder) -> tuple[Case, tuple]:
    """Write the case's files, run reconcile_in_doubt over them; what it shows for a, b, c."""
    with override_settings(BOUNCE_DOMAIN=DOMAIN if CORPUS[name] in WITH_VERP else ""):
        return _run_case(name, ctx, folder)


def _run_case(name, ctx, folder):
    case = CORPUS[name](ctx)
    doubtful = [ctx.a, ctx.b, ctx.c]
    Delivery.objects.filter(pk__in=[d.pk for d in doubtful]).update(
        claimed_at=case.claimed or ctx.claimed, relay_evidence={})
    if case.prepare:
        case.prepare()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for file_name, lines in case.files:
        (folder / file_name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(str(folder / file_name))
    options = {"syslog_name": case.syslog_name} if case.syslog_name else {}
    call_command("reconcile_in_doubt", *[arg for path in paths for arg in ("--maillog", path)],
                 log_zone=case.log_zone, stdout=io.StringIO(), **options)
    shown = tuple(SHOWN[Delivery.objects.get(pk=d.pk).relay_evidence.get("accepted")]
                  for d in doubtful)
    return case, shown


def wrong(case, shown) -> list[str]:
    """Wrong evidence: "accepted" for a message the relay never took, "no trace" for one it
    took."""
    return [f"{label}: wrong {what}" for label, taken, what in zip("abc", case.truth, shown,
                                                                      strict=True)
            if (what == "accepted" and not taken) or (what == "no_trace" and taken)]


@pytest.mark.parametrize("name", list(CORPUS))
def test_no_log_in_the_corpus_shows_wrong_evidence(name, corpus_context, tmp_path):
    case, shown = run_case(name, corpus_context, tmp_path)
    assert not wrong(case, shown), shown


@pytest.mark.parametrize("name", list(CORPUS))
def test_a_log_that_says_enough_is_read_as_it_says(name, corpus_context, tmp_path):
    case, shown = run_case(name, corpus_context, tmp_path)
    expected = tuple(got if want is None else want
                     for want, got in zip(case.expect, shown, strict=True))
    assert shown == expected


class _Undo(Exception):
    pass


def test_the_whole_corpus_gives_no_wrong_accepted_and_no_wrong_no_trace(corpus_context,
                                                                        tmp_path):
    found, errors = [], []
    for n, name in enumerate(CORPUS):
        try:
            with transaction.atomic():
                case, shown = run_case(name, corpus_context, tmp_path / str(n))
                found += [f"{name} ({mistake})" for mistake in wrong(case, shown)]
                raise _Undo
        except _Undo:
            pass
        except Exception as error:  # noqa: BLE001 - a case the reader cannot even run
            errors.append(f"{name}: {type(error).__name__}: {error}")
    wrong_accepted = [f for f in found if "wrong accepted" in f]
    wrong_no_trace = [f for f in found if "wrong no_trace" in f]
    print(f"\nevidence corpus: {len(CORPUS)} logs, {3 * len(CORPUS)} messages; wrong "
          f"accepted: {len(wrong_accepted)}, wrong no trace: {len(wrong_no_trace)}, "
          f"logs that could not be read: {len(errors)}")
    assert not (wrong_accepted or wrong_no_trace or errors), "\n".join(
        wrong_accepted + wrong_no_trace + errors)


# --- a later run corrects an "accepted" read from a log ------------------------------------------

def test_a_later_run_corrects_an_accepted_read_from_a_log_and_keeps_both_records(
        corpus_context, tmp_path):
    """Syslog takes any tag from anyone on the machine: the first run read a forged queue
    manager line under the relay's own name, with the campaign's public From address as its
    sender (no BOUNCE_DOMAIN, so no VERP address to guess), and showed b "accepted". The
    relay's own file (postlogd's maillog_file, which only Postfix writes) says b was cut
    off. The second run shows that, keeps the first record beside it, and audits the
    correction."""
    ctx = corpus_context
    Delivery.objects.filter(pk__in=[ctx.a.pk, ctx.b.pk, ctx.c.pk]).update(
        claimed_at=ctx.claimed)
    forged = clean_log(ctx)
    queue = next(line.split(": ")[1] for line in forged.lines()
                 if f"message-id={ctx.b.message_id}" in line)
    forged.postfix(ctx.claimed + 3 * S, "qmgr", f"{queue}: from=<{RelayLog.sender(ctx.b)}>, "
                                                "size=9, nrcpt=1 (queue active)", pid=31337)
    call_command("reconcile_in_doubt", maillog=[str(forged.write(tmp_path / "syslog"))],
                 log_zone="UTC", stdout=io.StringIO())
    ctx.b.refresh_from_db()
    first = ctx.b.relay_evidence
    assert first["accepted"] is True and first["queue_id"] == queue

    out = io.StringIO()
    own = clean_log(ctx, style="postlog").write(tmp_path / "maillog")
    call_command("reconcile_in_doubt", maillog=[str(own)], log_zone="UTC", stdout=out)
    ctx.b.refresh_from_db()
    now = ctx.b.relay_evidence
    assert now["accepted"] is False
    assert [record["accepted"] for record in now["earlier"]] == [True]
    assert now["earlier"][0]["queue_id"] == queue
    assert "corrected: 1" in out.getvalue()
    entry = AuditEntry.objects.get(action="campaign.in_doubt_evidence_corrected")
    assert entry.payload["delivery"] == ctx.b.pk
    assert entry.payload["earlier"]["accepted"] is True
    assert entry.payload["earlier"]["queue_id"] == queue
    assert entry.payload["now"]["accepted"] is False


def test_the_signer_sees_the_corrected_evidence_and_the_earlier_one(corpus_context, tmp_path,
                                                                    held, sam):
    ctx = corpus_context
    Delivery.objects.filter(pk__in=[ctx.a.pk, ctx.b.pk, ctx.c.pk]).update(
        claimed_at=ctx.claimed)
    forged = clean_log(ctx)
    queue = next(line.split(": ")[1] for line in forged.lines()
                 if f"message-id={ctx.b.message_id}" in line)
    forged.postfix(ctx.claimed + 3 * S, "qmgr", f"{queue}: from=<{RelayLog.sender(ctx.b)}>, "
                                                "size=9, nrcpt=1 (queue active)", pid=31337)
    for log, name in ((forged, "syslog"), (clean_log(ctx, style="postlog"), "maillog")):
        call_command("reconcile_in_doubt", maillog=[str(log.write(tmp_path / name))],
                     log_zone="UTC", stdout=io.StringIO())
    page = client_for(sam).get(reverse("campaigns:detail", args=[held.pk]),
                               HTTP_ACCEPT_LANGUAGE="en").content.decode()
    row = page[page.index(f"<td>{ctx.b.member_number}</td>"):]
    row = row[:row.index("</tr>")]
    assert 'data-evidence="no_trace"' in row
    assert "but the connection broke before the relay queued it" in row
    assert 'data-earlier-evidence="1"' in row and "Earlier evidence" in row
    earlier = row[row.index("Earlier evidence"):]
    assert "Accepted by the relay at" in earlier and queue in earlier and "read on" in earlier


def test_what_the_relay_did_after_taking_a_message_is_shown(corpus_context, tmp_path, held,
                                                            sam):
    """Accepted, then deleted from the relay's queue by its administrator: the member never
    got it, and the person deciding should know."""
    ctx = corpus_context
    Delivery.objects.filter(pk=ctx.a.pk).update(claimed_at=ctx.claimed)
    log = RelayLog().traffic(ctx.claimed - AROUND, ctx.claimed + AROUND)
    queue = log.accepted(ctx.a, ctx.claimed + S, delivered=None)
    log.raw(ctx.claimed + 10 * S, f"postfix/postsuper[77]: {queue}: removed")
    call_command("reconcile_in_doubt", maillog=[str(log.write(tmp_path / "maillog"))],
                 log_zone="UTC", stdout=io.StringIO())
    ctx.a.refresh_from_db()
    assert ctx.a.relay_evidence["accepted"] is True
    assert ctx.a.relay_evidence["after"] == "deleted"
    page = client_for(sam).get(reverse("campaigns:detail", args=[held.pk]),
                               HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "then deleted from the relay&#x27;s queue" in page


def test_a_run_that_reads_the_same_again_leaves_the_evidence_as_it_was(corpus_context,
                                                                       tmp_path):
    """reconcile_in_doubt may run every few minutes: a page showing the evidence must stay
    right (a decision is taken on what the page showed) unless the reading changed."""
    ctx = corpus_context
    Delivery.objects.filter(pk__in=[ctx.a.pk, ctx.b.pk, ctx.c.pk]).update(
        claimed_at=ctx.claimed)
    path = str(clean_log(ctx).write(tmp_path / "maillog"))
    call_command("reconcile_in_doubt", maillog=[path], log_zone="UTC", stdout=io.StringIO())
    first = {d.pk: Delivery.objects.get(pk=d.pk).relay_evidence for d in (ctx.a, ctx.b, ctx.c)}
    call_command("reconcile_in_doubt", maillog=[path], log_zone="UTC", stdout=io.StringIO())
    assert {pk: Delivery.objects.get(pk=pk).relay_evidence for pk in first} == first
    assert [first[d.pk]["accepted"] for d in (ctx.a, ctx.b, ctx.c)] == [True, False, False]


def test_a_later_run_whose_log_does_not_reach_the_claim_changes_no_evidence(corpus_context,
                                                                           tmp_path):
    ctx = corpus_context
    Delivery.objects.filter(pk__in=[ctx.a.pk, ctx.b.pk, ctx.c.pk]).update(
        claimed_at=ctx.claimed)
    call_command("reconcile_in_doubt", maillog=[str(clean_log(ctx).write(tmp_path / "a"))],
                 log_zone="UTC", stdout=io.StringIO())
    before = {d.pk: Delivery.objects.get(pk=d.pk).relay_evidence for d in (ctx.a, ctx.b)}
    later = RelayLog().traffic(ctx.claimed + timedelta(minutes=15),
                               ctx.claimed + timedelta(minutes=25))
    call_command("reconcile_in_doubt", maillog=[str(later.write(tmp_path / "b"))],
                 log_zone="UTC", stdout=io.StringIO())
    assert before[ctx.a.pk]["accepted"] is True and before[ctx.b.pk]["accepted"] is False
    assert {pk: Delivery.objects.get(pk=pk).relay_evidence for pk in before} == before
    assert not AuditEntry.objects.filter(action="campaign.in_doubt_evidence_corrected").exists()
