"""Attacks on the bounce handling and the evidence for messages in doubt.

A bounce is mail from anyone; a mail log is text anyone who can write a line into it
shapes. Each test states a promise (docs/operations.md, "Bounces and messages in doubt") as the
attacker would try to break it. Failing tests are the promises that bend."""

import hashlib
import io
import time
from datetime import timedelta
from email import message_from_bytes, policy
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import OperationalError
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from campaigns import bounces, composing, deliveries, workflow
from campaigns.bounces import Result
from campaigns.dsn import verp_address
from campaigns.models import Delivery, State
from campaigns.seen import Seen
from countersign.pseudonyms import pseudonym
from roster.models import Suppression
from roster.samples import HEADER
from tests.factories import (
    client_for,
    email_of,
    make_roster,
    released_campaign,
    run_until_done,
)
from tests.returned_mail import (
    DOMAIN,
    RelayLog,
    dsn,
    dsn_for,
    esp_event,
    maildir,
    postfix_log,
    reconcile,
    snapshot,
)

pytestmark = pytest.mark.usefixtures("sink", "bounce_domain")


def nested_report(to: str, depth: int) -> bytes:
    head = (f"To: {to}\nMIME-Version: 1.0\nContent-Type: multipart/report; "
            "report-type=delivery-status; boundary=\"b0\"\n\n")
    body = "".join(f"--b{i - 1}\nContent-Type: multipart/mixed; boundary=\"b{i}\"\n\n"
                   for i in range(1, depth))
    body += f"--b{depth - 1}\nContent-Type: text/plain\n\nx\n"
    body += "".join(f"--b{i}--\n" for i in reversed(range(depth)))
    return (head + body).encode()


# --- DSN content -----------------------------------------------------------------------------

def test_a_hard_failure_for_another_address_in_a_second_block_is_not_this_deliverys_bounce(
        sent):
    """The block about the delivery's own address says 'delayed'; the 5.1.1 is about someone
    else. Nothing about this delivery's address failed permanently."""
    mine, victim = sent.deliveries.all()[:2]
    raw = dsn(to=verp_address(mine.pk), message_id=mine.message_id,
                    campaign=sent.pk, blocks=[(email_of(mine), "delayed", "4.4.1"),
                                              (email_of(victim), "failed", "5.1.1")])
    assert bounces.process_dsn(raw) != Result.HARD
    mine.refresh_from_db()
    assert mine.state == Delivery.State.SENT
    assert not Suppression.objects.filter(reason="hard_bounce").exists()


def test_a_dsn_with_several_blocks_never_suppresses_another_members_address(sent):
    mine, victim, third = sent.deliveries.all()[:3]
    raw = dsn(to=verp_address(mine.pk), message_id=mine.message_id,
                    campaign=sent.pk, blocks=[(email_of(victim), "failed", "5.1.1"),
                                              (email_of(mine), "failed", "5.1.1"),
                                              (email_of(third), "failed", "5.1.1")])
    bounces.process_dsn(raw)
    for other in (victim, third):
        assert not Suppression.objects.filter(pseudonym=pseudonym(email_of(other))).exists()
        other.refresh_from_db()
        assert other.state == Delivery.State.SENT


@pytest.mark.parametrize(("action", "status"), [("delayed", "5.1.1"), ("delivered", "2.0.0"),
                                                ("relayed", "2.0.0"), ("failed", "5.1"),
                                                ("failed", "9.9.9"), ("expanded", "5.1.1")])
def test_a_dsn_that_is_not_a_permanent_failure_suppresses_nobody(sent, action, status):
    delivery = sent.deliveries.first()
    before = snapshot()
    raw = dsn(to=verp_address(delivery.pk), message_id=delivery.message_id,
                    campaign=sent.pk, blocks=[(email_of(delivery), action, status)])
    assert bounces.process_dsn(raw) in (Result.NOT_A_BOUNCE, Result.SOFT)
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.SENT
    assert not Suppression.objects.exists()
    assert snapshot()[1] == before[1]


def test_an_out_of_office_reply_to_the_verp_address_changes_nothing(sent):
    delivery = sent.deliveries.first()
    auto = (f"To: {verp_address(delivery.pk)}\nFrom: {email_of(delivery)}\n"
            "Auto-Submitted: auto-replied\nSubject: Out of office\nMIME-Version: 1.0\n"
            "Content-Type: multipart/mixed; boundary=\"X\"\n\n--X\nContent-Type: text/plain\n\n"
            "Away.\n--X\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\n"
            f"Final-Recipient: rfc822; {email_of(delivery)}\nAction: failed\nStatus: 5.1.1\n"
            "--X--\n").encode()
    before = snapshot()
    assert bounces.process_dsn(auto) == Result.NOT_A_BOUNCE
    assert snapshot() == before


@pytest.mark.parametrize("state", ["pending", "failed", "skipped", "refused"])
def test_a_bounce_for_a_message_not_handed_over_changes_nothing_in_any_state(sent, state):
    delivery = sent.deliveries.first()
    Delivery.objects.filter(pk=delivery.pk).update(state=state)  # Message-ID kept: harder
    before = snapshot()
    assert bounces.process_dsn(dsn_for(delivery)) == Result.NEVER_SENT
    esp_event("complained", delivery.message_id)
    esp_event("bounced", delivery.message_id, mta_response="550 5.1.1 gone")
    assert snapshot() == before


def test_a_bounce_for_a_claim_not_yet_noted_is_never_sent_and_one_noted_waits(sent):
    delivery = sent.deliveries.first()
    Delivery.objects.filter(pk=delivery.pk).update(state="sending", message_id="")
    assert bounces.process_dsn(dsn_for(delivery, message_id=None)) == Result.NEVER_SENT
    Delivery.objects.filter(pk=delivery.pk).update(message_id=delivery.message_id)
    assert bounces.process_dsn(dsn_for(delivery)) == Result.NOT_YET


def test_a_replayed_soft_bounce_is_counted_once(sent):
    delivery = sent.deliveries.first()
    raw = dsn_for(delivery, status="4.4.1", action="delayed")
    assert bounces.process_dsn(raw) == Result.SOFT
    entries = AuditEntry.objects.count()
    bounces.process_dsn(raw)  # the very same mail, delivered again
    delivery.refresh_from_db()
    assert delivery.soft_bounces == 1
    assert AuditEntry.objects.count() == entries


def test_a_replayed_hard_bounce_and_complaint_are_counted_once(sent):
    first, second = sent.deliveries.all()[:2]
    assert bounces.process_dsn(dsn_for(first)) == Result.HARD
    esp_event("complained", second.message_id)
    before = snapshot()
    assert bounces.process_dsn(dsn_for(first)) == Result.DUPLICATE
    esp_event("complained", second.message_id)
    esp_event("bounced", first.message_id, mta_response="550 5.1.1 x")
    assert snapshot() == before


def test_soft_bounces_never_pause_a_campaign(held, settings):
    settings.BOUNCE_PAUSE_RATE, settings.BOUNCE_PAUSE_MIN_SENT = 0.05, 10
    for delivery in held.deliveries.filter(state=Delivery.State.SENT):
        for _ in range(3):
            bounces.process_dsn(dsn_for(delivery, status="4.2.2", action="delayed"))
    held.refresh_from_db()
    assert held.state == State.HELD
    assert not Suppression.objects.exists()


# --- the pause: refusals by policy (5.7.x) are easy to forge ---------------------------------

PROVIDERS = ("docomo.ne.jp", "gmail.com", "yahoo.co.jp", "icloud.com", "ezweb.ne.jp")


@pytest.fixture
def held_across_providers(olivia, sam, oscar, sink):
    """Twenty members over five mail providers (member1 and member6 at gmail.com); the first
    ten went out and the campaign is held after them."""
    rows = [[f"W{i:06d}", f"会員 {i}", f"member{i}@{PROVIDERS[i % 5]}", "本部"]
            for i in range(1, 21)]
    campaign = released_campaign(olivia, sam, oscar, make_roster(olivia, rows=rows,
                                                                 header=HEADER),
                                 canary_enabled=True, canary_size=10)
    run_until_done(campaign)
    assert campaign.state == State.HELD
    return campaign


def _delivery_to(campaign, address):
    (delivery,) = [d for d in campaign.deliveries.all() if email_of(d) == address]
    return delivery


def _refused_by_policy(campaign, *addresses):
    """Each member writes a 5.7.1 DSN for their own message to its VERP address (their copy's
    Return-Path): the relay's own bounce format, their own address, their own message."""
    for address in addresses:
        delivery = _delivery_to(campaign, address)
        assert bounces.process_dsn(dsn_for(
            delivery, status="5.7.1",
            diagnostic=f"550 5.7.1 <{address}>: Message rejected as spam")) == Result.BLOCKED
    campaign.refresh_from_db()


def test_two_members_of_one_provider_cannot_pause_a_campaign_with_policy_bounces(
        held_across_providers, settings):
    """2 of 10 accepted is 20 %, four times the pause rate: two members refusing their own
    messages stopped the association's mailing to everyone else."""
    settings.BOUNCE_PAUSE_RATE, settings.BOUNCE_PAUSE_MIN_SENT = 0.05, 10
    _refused_by_policy(held_across_providers, "member1@gmail.com", "member6@gmail.com")
    assert held_across_providers.state == State.HELD
    assert bounces.rates(held_across_providers)["bounced"] == 2  # shown, just not a pause


def test_two_forged_policy_bounces_from_two_providers_cannot_pause_a_campaign(
        held_across_providers, settings):
    settings.BOUNCE_PAUSE_RATE, settings.BOUNCE_PAUSE_MIN_SENT = 0.05, 10
    _refused_by_policy(held_across_providers, "member1@gmail.com", "member2@yahoo.co.jp")
    assert held_across_providers.state == State.HELD


def test_a_few_policy_bounces_do_not_tip_hard_bounces_over_the_rate(held_across_providers,
                                                                   settings):
    settings.BOUNCE_PAUSE_RATE, settings.BOUNCE_PAUSE_MIN_SENT = 0.15, 10
    hard = _delivery_to(held_across_providers, "member3@icloud.com")
    assert bounces.process_dsn(dsn_for(hard)) == Result.HARD
    _refused_by_policy(held_across_providers, "member1@gmail.com", "member6@gmail.com")
    assert held_across_providers.state == State.HELD  # 1 hard of 10: within 15 %


def test_a_relay_wide_policy_refusal_across_providers_still_pauses(held_across_providers,
                                                                  settings):
    """The relay's address is on a blocklist: every provider refuses it. Carriers block
    senders that keep writing regardless; the campaign pauses for a person to look."""
    settings.BOUNCE_PAUSE_RATE, settings.BOUNCE_PAUSE_MIN_SENT = 0.05, 10
    _refused_by_policy(held_across_providers, "member1@gmail.com", "member2@yahoo.co.jp",
                       "member3@icloud.com", "member4@ezweb.ne.jp", "member5@docomo.ne.jp")
    assert held_across_providers.state == State.PAUSED
    assert "5 of 10" in held_across_providers.paused_reason


# --- the mailbox and the pipe ----------------------------------------------------------------

def test_a_deeply_nested_mail_does_not_block_the_bounce_mailbox(sent, tmp_path):
    """Anyone may mail the bounce domain (no VERP needed to be parsed). One hostile mail must
    not stop every later run from reading the real bounces behind it."""
    delivery = sent.deliveries.first()
    box = maildir(tmp_path, [nested_report(f"x@{DOMAIN}", 1500), dsn_for(delivery)])
    try:
        call_command("process_bounces", maildir=str(box), stdout=io.StringIO())
    finally:
        delivery.refresh_from_db()
    assert delivery.state == Delivery.State.BOUNCED
    assert not list((box / "new").iterdir())


def test_a_dsn_with_thousands_of_blocks_is_read_in_bounded_time(sent):
    delivery = sent.deliveries.first()
    blocks = [(f"n{n}@example.org", "failed", "5.1.1") for n in range(5000)]
    blocks.append((email_of(delivery), "failed", "5.1.1"))
    raw = dsn(to=verp_address(delivery.pk), blocks=blocks)
    started = time.monotonic()
    bounces.process_dsn(raw)
    assert time.monotonic() - started < 5
    assert Suppression.objects.count() <= 1


def _stdin(monkeypatch, raw):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(raw)))


def test_stdin_exits_75_for_a_bounce_that_beat_its_sent_record(sent, monkeypatch):
    delivery = sent.deliveries.first()
    Delivery.objects.filter(pk=delivery.pk).update(state=Delivery.State.SENDING)
    _stdin(monkeypatch, dsn_for(delivery))
    with pytest.raises(SystemExit) as exited:
        call_command("process_bounces", stdin=True, recipient=verp_address(delivery.pk),
                     stdout=io.StringIO())
    assert exited.value.code == 75


def test_stdin_exits_0_for_a_forged_bounce(sent, monkeypatch):
    delivery = sent.deliveries.first()
    _stdin(monkeypatch, dsn_for(delivery))
    out = io.StringIO()
    call_command("process_bounces", stdin=True, recipient=f"bounce+{delivery.pk}-{'c' * 16}@"
                 f"{DOMAIN}", stdout=out)  # no SystemExit: 0
    assert "forged or unknown 1" in out.getvalue()
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.SENT


def test_stdin_exits_75_when_the_database_is_unavailable(sent, monkeypatch):
    """Postfix's pipe retries only on EX_TEMPFAIL; any other failure status bounces the DSN
    (to the null sender: it is lost). A locked or unreachable database is temporary."""
    delivery = sent.deliveries.first()
    _stdin(monkeypatch, dsn_for(delivery))

    def down(**kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr(bounces, "record_bounce", down)
    with pytest.raises(SystemExit) as exited:
        call_command("process_bounces", stdin=True, recipient=verp_address(delivery.pk),
                     stdout=io.StringIO())
    assert exited.value.code == 75


def test_the_envelope_recipient_beats_a_verp_address_in_the_headers(sent, monkeypatch):
    """The pipe's ${recipient} is the truth; a To: header naming a (valid) VERP address of
    another delivery is the sender's text."""
    other = sent.deliveries.all()[1]
    raw = dsn_for(other)  # To: other's valid VERP address, reports other's address
    before = snapshot()
    assert bounces.process_dsn(raw, envelope_recipient=f"postmaster@{DOMAIN}") in (
        Result.FORGED, Result.NOT_A_BOUNCE)
    assert snapshot() == before


# --- what the auditor sees -------------------------------------------------------------------

def test_the_auditor_never_sees_a_member_address_after_bounces_complaints_and_decisions(
        held, audrey, sam, tmp_path):
    sent = held
    first, second, third, fourth = held.deliveries.filter(state=Delivery.State.SENT)[:4]
    quoted = f"550 5.1.1 <{email_of(first)}>: Recipient address rejected: {email_of(first)}"
    bounces.process_dsn(dsn(to=verp_address(first.pk), diagnostic=quoted,
                                  message_id=first.message_id, campaign=sent.pk,
                                  blocks=[(email_of(first), "failed", "5.1.1")]))
    bounces.process_dsn(dsn_for(second, status="4.2.2", action="delayed"))
    esp_event("complained", third.message_id, mta_response=f"550 5.7.1 spam from {email_of(third)}")
    Delivery.objects.filter(pk=fourth.pk).update(
        state=Delivery.State.IN_DOUBT, claimed_at=timezone.now(),
        smtp_reply="ConnectionResetError: [Errno 104] Connection reset by peer")
    esp_event("delivered", fourth.message_id, mta_response=f"250 ok {email_of(fourth)}")
    bounces.process_dsn(dsn_for(fourth))
    reconcile(postfix_log(tmp_path, accepted=[Delivery.objects.get(pk=fourth.pk)]))
    doubtful = Delivery.objects.get(pk=fourth.pk)
    workflow.decide(delivery=doubtful, seen=Seen.current(doubtful), user=sam, decision="skip")
    addresses = [email_of(d) for d in (first, second, third, fourth)]
    for entry in AuditEntry.objects.all():
        for address in addresses:
            assert address not in str(entry.payload), entry.action
    client = client_for(audrey)
    pages = [client.get(reverse("audit:log"), HTTP_ACCEPT_LANGUAGE="en"),
             client.get(reverse("audit:export")),
             client.get(reverse("audit:incident", args=[sent.pk]), HTTP_ACCEPT_LANGUAGE="en"),
             client.get(reverse("audit:incident", args=[sent.pk]) + "?format=csv")]
    for page in pages:
        assert page.status_code == 200
        body = b"".join(page.streaming_content) if page.streaming else page.content
        text = body.decode("utf-8", "replace")
        for address in addresses:
            assert address not in text
            assert address.split("@")[0] + "@" not in text


def test_the_auditors_incident_export_carries_no_member_address_in_the_server_reply(
        olivia, sam, oscar, roster, sink, audrey):
    """Postfix's usual refusal quotes the address: 550 5.1.1 <addr>: Recipient address
    rejected. The auditor's incident report is keyed by member number only."""
    victim = roster.members.order_by("row_number")[3]
    sink.handler.refuse[email_of(victim)] = (
        f"550 5.1.1 <{email_of(victim)}>: Recipient address rejected: User unknown")
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    run_until_done(campaign)
    assert campaign.deliveries.get(member=victim).state == Delivery.State.FAILED
    client = client_for(audrey)
    for query in ("", "?format=csv"):
        page = client.get(reverse("audit:incident", args=[campaign.pk]) + query,
                          HTTP_ACCEPT_LANGUAGE="en")
        body = b"".join(page.streaming_content) if page.streaming else page.content
        assert email_of(victim) not in body.decode("utf-8", "replace"), query or "html"


# --- the Message-ID and the bytes ------------------------------------------------------------

def test_the_ledgers_message_id_and_hash_are_those_of_the_bytes_the_relay_received(sent, sink):
    received = {recipient: raw for _t, recipient, raw in sink.handler.received}
    for delivery in sent.deliveries.all():
        raw = received[email_of(delivery)]
        got = message_from_bytes(raw, policy=policy.compat32)
        assert got["Message-ID"] == delivery.message_id
        assert hashlib.sha256(raw).hexdigest() == delivery.message_sha256


def test_an_esp_event_carrying_the_esps_own_message_id_finds_the_delivery(
        settings, olivia, sam, oscar, roster):
    """With django-anymail the webhook's event.message_id is the ESP's id (what the send
    returned in anymail_status), not the Message-ID header the ledger keeps."""
    from django.core import mail as django_mail

    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    settings.ANYMAIL = {}
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    run_until_done(campaign)
    sent_message = next(m for m in django_mail.outbox if m.to == [
        email_of(campaign.deliveries.first())])
    esp_id = sent_message.anymail_status.message_id
    esp_event("bounced", str(esp_id), mta_response="550 5.1.1 no such user")
    delivery = campaign.deliveries.first()
    assert delivery.state == Delivery.State.BOUNCED


# --- reconcile_in_doubt: forged and partial logs ---------------------------------------------
# (tests/test_reconcile_evidence_corpus.py has the whole corpus; these are the first finds.)

def _around(delivery, **options) -> RelayLog:
    """A log of the relay logging all along around the claim of `delivery`."""
    claimed = delivery.claimed_at
    return RelayLog(**options).traffic(claimed - timedelta(minutes=10),
                                       claimed + timedelta(minutes=8))


def test_a_log_that_ends_before_the_claim_cannot_say_no_trace(three_in_doubt, tmp_path):
    """Only yesterday's rotated file was given: it starts before the claim, and says nothing
    about it. 'No trace' there invites a resend of a message the relay may have taken."""
    old = three_in_doubt[0].claimed_at - timedelta(hours=3)
    log = RelayLog().postfix(old, "master", "daemon started", pid=1)
    log.postfix(old + timedelta(minutes=5), "anvil", "statistics: max cache size 1 at x")
    out = reconcile(log.write(tmp_path / "mail.log.1"))
    assert "not covered by the log: 3" in out
    three_in_doubt[0].refresh_from_db()
    assert three_in_doubt[0].relay_evidence["accepted"] is None


def test_a_gap_between_rotated_logs_cannot_say_no_trace(three_in_doubt, tmp_path):
    """mail.log.2 (old) and mail.log (started after the claim) were given; mail.log.1, the
    file that covers the claim, was not."""
    claimed = three_in_doubt[0].claimed_at
    oldest = RelayLog().traffic(claimed - timedelta(hours=5), claimed - timedelta(hours=4))
    newest = RelayLog().traffic(claimed + timedelta(minutes=5), claimed + timedelta(minutes=9))
    out = io.StringIO()
    call_command("reconcile_in_doubt", "--maillog", str(oldest.write(tmp_path / "mail.log.2")),
                 "--maillog", str(newest.write(tmp_path / "mail.log")), log_zone="UTC",
                 stdout=out)
    assert "no trace: 0" in out.getvalue()


def test_a_reused_queue_id_does_not_make_a_cut_off_message_accepted(three_in_doubt, tmp_path):
    """Postfix's short queue ids are reused. Our message reached cleanup and was cut off;
    later another message got the same queue id and was queued."""
    cut = three_in_doubt[0]
    log = _around(cut)
    log.cut_off(cut, cut.claimed_at, queue="4B2C1EA2000")
    later = cut.claimed_at + timedelta(seconds=30)
    log.postfix(later, "smtpd", "4B2C1EA2000: client=other.example[192.0.2.7]")
    log.postfix(later, "cleanup", "4B2C1EA2000: message-id=<unrelated@staff.example>")
    log.postfix(later, "qmgr", "4B2C1EA2000: from=<staff@association.example>, size=900, "
                               "nrcpt=1 (queue active)")
    reconcile(log.write(tmp_path / "maillog"))
    cut.refresh_from_db()
    assert cut.relay_evidence["accepted"] is False


def test_a_qmgr_line_for_another_queue_id_is_not_evidence(three_in_doubt, tmp_path):
    cut = three_in_doubt[0]
    at = cut.claimed_at
    log = _around(cut)
    log.postfix(at, "cleanup", f"4B2C1EA2000: message-id={cut.message_id}")
    log.postfix(at, "qmgr", "4B2C1EA2001: from=<x@y>, size=9, nrcpt=1 (queue active)")
    log.postfix(at, "cleanup", f"5B2C1EA2000: message-id=<{cut.message_id.strip('<>')}.evil>")
    log.postfix(at, "qmgr", "5B2C1EA2000: from=<x@y>, size=9, nrcpt=1 (queue active)")
    reconcile(log.write(tmp_path / "maillog"))
    cut.refresh_from_db()
    assert cut.relay_evidence["accepted"] is False


def test_a_qmgr_line_before_the_cleanup_line_is_not_evidence(three_in_doubt, tmp_path):
    cut = three_in_doubt[0]
    log = _around(cut)
    log.postfix(cut.claimed_at, "qmgr", "4B2C1EA2000: from=<x@y>, size=9, nrcpt=1 "
                                        "(queue active)")
    log.postfix(cut.claimed_at + timedelta(seconds=1), "cleanup",
                f"4B2C1EA2000: message-id={cut.message_id}")
    reconcile(log.write(tmp_path / "maillog"))
    cut.refresh_from_db()
    assert cut.relay_evidence["accepted"] is False


def test_another_programs_line_quoting_postfix_lines_is_not_evidence(three_in_doubt, tmp_path):
    """smtpd logs the client's MAIL FROM verbatim; a quoted local part may hold spaces. A
    client that writes a cleanup and a qmgr line into its address writes evidence."""
    cut = three_in_doubt[0]
    fake_cleanup = f"postfix/cleanup[1]: QQQQ: message-id={cut.message_id}"
    fake_qmgr = "postfix/qmgr[1]: QQQQ: from=<a>, size=1, nrcpt=1 (queue active)"
    log = _around(cut)
    for fake in (fake_cleanup, fake_qmgr):
        log.postfix(cut.claimed_at, "smtpd", "NOQUEUE: reject: RCPT from x[192.0.2.9]: 554 "
                    f"5.7.1; from=<\"{fake}\"@evil.example> proto=ESMTP")
    reconcile(log.write(tmp_path / "maillog"))
    cut.refresh_from_db()
    assert cut.relay_evidence["accepted"] is False


def test_an_acceptance_logged_an_hour_before_the_claim_is_not_evidence_for_it(three_in_doubt,
                                                                             tmp_path):
    cut = three_in_doubt[0]
    path = postfix_log(tmp_path, accepted=[cut], start=cut.claimed_at - timedelta(hours=1))
    reconcile(path)
    cut.refresh_from_db()
    assert cut.relay_evidence["accepted"] is not True


def test_a_log_in_another_zone_read_with_its_zone_finds_the_message(three_in_doubt, tmp_path):
    taken = three_in_doubt[0]
    log = _around(taken, zone=ZoneInfo("Asia/Tokyo"))  # wall clock in Asia/Tokyo
    log.accepted(taken, taken.claimed_at)
    out = io.StringIO()
    call_command("reconcile_in_doubt", maillog=[str(log.write(tmp_path / "maillog"))],
                 log_zone="Asia/Tokyo", stdout=out)
    taken.refresh_from_db()
    assert taken.relay_evidence["accepted"] is True
    assert "not covered by the log: 0" in out.getvalue()


def test_a_resent_message_that_died_before_its_hand_over_is_not_shown_as_accepted(
        three_in_doubt, tmp_path, sam, settings):
    """First attempt: in doubt, decided 'resend' before the log was read. Second attempt:
    claimed, then the worker died before building the message (no new Message-ID noted). The
    relay log of the FIRST attempt must not be shown as the evidence for the second."""
    delivery = three_in_doubt[0]
    first_id = delivery.message_id
    first_log = postfix_log(tmp_path, accepted=[delivery],
                            start=timezone.now() - timedelta(minutes=1))
    workflow.decide(delivery=delivery, seen=Seen.current(delivery), user=sam, decision="resend")
    # The second claim (a claim counts its attempt), left by a dead worker before the hand-over.
    long_ago = timezone.now() - timedelta(seconds=settings.EMAIL_TIMEOUT
                                          + settings.SEND_STALE_MARGIN_SECONDS + 5)
    Delivery.objects.filter(pk=delivery.pk).update(state=Delivery.State.SENDING,
                                                   claimed_at=long_ago,
                                                   attempts=F("attempts") + 1)
    deliveries.flag_stale_claims(delivery.campaign_id, evidence=composing.evidence_of)
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.IN_DOUBT
    reconcile(first_log)
    delivery.refresh_from_db()
    assert not (delivery.message_id == first_id and delivery.relay_evidence.get("accepted"))


def test_an_esp_acceptance_is_not_overwritten_by_a_log_without_it(three_in_doubt, tmp_path):
    """The ESP said it took the message; a later run over the local relay's log (which never
    saw it) must not turn that into 'no trace', an invitation to send it twice."""
    taken = three_in_doubt[0]
    esp_event("delivered", taken.message_id)
    taken.refresh_from_db()
    assert taken.relay_evidence["accepted"] is True
    reconcile(postfix_log(tmp_path))
    taken.refresh_from_db()
    assert taken.relay_evidence["accepted"] is True


def test_a_hard_bounce_of_a_message_in_doubt_is_not_overwritten_by_a_log_without_it(
        three_in_doubt, tmp_path):
    taken = three_in_doubt[0]
    bounces.process_dsn(dsn_for(taken))
    reconcile(postfix_log(tmp_path))
    taken.refresh_from_db()
    assert taken.relay_evidence["accepted"] is True


def test_an_esp_event_for_a_message_never_claimed_is_not_evidence(held):
    pending = held.deliveries.filter(state=Delivery.State.PENDING).first()
    Delivery.objects.filter(pk=pending.pk).update(message_id="<guess@association.example>")
    esp_event("delivered", "<guess@association.example>")
    esp_event("bounced", "<guess@association.example>", mta_response="550 5.1.1 x")
    pending.refresh_from_db()
    assert pending.state == Delivery.State.PENDING and pending.relay_evidence == {}
    assert not Suppression.objects.exists()
