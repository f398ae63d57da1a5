"""The worker checks a message while the relay answers its MAIL command (campaigns.relay's
HandOver): what the relay gets must still be as if the check ran first. Seen from the relay's
side of the connection: a refused message is an envelope and a reset, never a byte of it; no
message's data arrives before its check has passed; a connection lost while the check runs
leaves the message certainly not sent (retried once, never in doubt); a relay that refuses
the sender at MAIL pauses the campaign as before."""

import socket
import time

import pytest

from campaigns import guard, mail, relay, sender, workflow
from campaigns.models import Delivery, State
from roster import member_data
from tests.factories import email_of, released_campaign, run_until_done
from tests.test_campaign_charset import with_a_member_value


class Recording:
    """Every command the relay gets, in order, as (time_ns, command, argument)."""

    def __init__(self, sink):
        self.commands = []
        self.refuse_mail = ""
        handler = sink.handler

        async def handle_MAIL(server, session, envelope, address, mail_options):
            self.commands.append((time.time_ns(), "MAIL", address))
            if self.refuse_mail:
                return self.refuse_mail
            envelope.mail_from = address
            envelope.mail_options.extend(mail_options)
            return "250 OK"

        async def handle_RSET(server, session, envelope):
            self.commands.append((time.time_ns(), "RSET", ""))
            return "250 OK"

        real_rcpt, real_data = handler.handle_RCPT, handler.handle_DATA

        async def handle_RCPT(server, session, envelope, address, rcpt_options):
            self.commands.append((time.time_ns(), "RCPT", address))
            return await real_rcpt(server, session, envelope, address, rcpt_options)

        async def handle_DATA(server, session, envelope):
            self.commands.append((time.time_ns(), "DATA", ",".join(envelope.rcpt_tos)))
            return await real_data(server, session, envelope)

        handler.handle_MAIL, handler.handle_RSET = handle_MAIL, handle_RSET
        handler.handle_RCPT, handler.handle_DATA = handle_RCPT, handle_DATA

    def verbs(self):
        return [verb for _t, verb, _a in self.commands]


@pytest.fixture
def relay_log(sink):
    return Recording(sink)


@pytest.fixture
def live(olivia, sam, oscar, roster, sink):
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    sink.handler.received.clear()
    return campaign


def test_a_message_the_check_refuses_reaches_the_relay_as_an_envelope_and_a_reset(
        live, roster, sink, relay_log, monkeypatch):
    workflow.start(campaign_id=live.pk)  # its own check of every member is passed
    first, other = roster.members.order_by("row_number")[:2]
    # The first member's name, as the door gives it, is another member's address: the
    # check before the hand-over refuses that message (the submit's check never saw it).
    with_a_member_value(monkeypatch, first, name=email_of(other))
    relay_log.commands.clear()
    run_until_done(live)
    assert live.state == State.PAUSED
    assert Delivery.objects.get(campaign=live, member=first).state == Delivery.State.REFUSED
    assert relay_log.verbs() == ["MAIL", "RSET"]  # no RCPT, no DATA: not one byte of it
    assert sink.handler.received == []


def test_no_message_data_reaches_the_relay_before_its_check_has_passed(
        live, roster, sink, relay_log, monkeypatch):
    first_part, passed = {}, {}  # recipient -> time_ns when that part of its check was done
    real_parts = guard.check_message_in_parts

    def parts(**kwargs):
        found, recipient = [], kwargs["recipient"]["email"]
        for number, part in enumerate(real_parts(**kwargs)):
            found += part
            if not found:
                (first_part if number == 0 else passed)[recipient] = time.time_ns()
            yield part

    monkeypatch.setattr(guard, "check_message_in_parts", parts)
    run_until_done(live)
    assert live.state == State.COMPLETED
    members = sorted(email_of(m) for m in roster.members.all())
    assert sorted(sink.handler.recipients()) == members
    data_at = {recipient: t for t, verb, recipient in relay_log.commands if verb == "DATA"}
    rcpt_at = {recipient: t for t, verb, recipient in relay_log.commands if verb == "RCPT"}
    received_at = {recipient: t for t, recipient, _raw in sink.handler.received}
    for recipient in members:
        assert first_part[recipient] < rcpt_at[recipient]  # RCPT only once part one passed
        assert passed[recipient] < data_at[recipient] <= received_at[recipient]


def test_a_message_whose_links_are_refused_gets_a_reset_after_its_recipient(
        olivia, sam, oscar, roster, sink, relay_log, monkeypatch, settings):
    """The check's second part (links) refuses after RCPT went out: still no DATA."""
    settings.CAMPAIGN_LINK_DOMAINS = ["association.example"]
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    workflow.start(campaign_id=campaign.pk)
    first = roster.members.order_by("row_number").first()
    # The first member's branch, as the door gives it, is a link to a domain not allowed.
    extra = dict(member_data.values(first).extra, 支部="https://collect.evil.example/x")
    with_a_member_value(monkeypatch, first, extra=extra)
    sink.handler.received.clear()
    relay_log.commands.clear()
    run_until_done(campaign)
    assert campaign.state == State.PAUSED
    assert Delivery.objects.get(campaign=campaign, member=first).state == \
        Delivery.State.REFUSED
    assert relay_log.verbs() == ["MAIL", "RCPT", "RSET"]
    assert sink.handler.received == []


def test_a_connection_lost_while_the_check_runs_leaves_the_message_certainly_not_sent(
        live, roster, sink, monkeypatch, settings):
    settings.SEND_RETRY_SECONDS = 0
    first = roster.members.order_by("row_number").first()
    target, dropped = member_data.values(first).email, []
    real_next = relay.HandOver.recipient_next

    def drop_first(hand_over):
        if hand_over.recipient == target and not dropped:
            dropped.append(True)  # the relay went away while the guard read the message
            hand_over.smtp.sock.shutdown(socket.SHUT_RDWR)
        return real_next(hand_over)

    monkeypatch.setattr(relay.HandOver, "recipient_next", drop_first)
    run_until_done(live)
    assert dropped and live.state == State.COMPLETED
    delivery = Delivery.objects.get(campaign=live, member=first)
    assert delivery.state == Delivery.State.SENT and delivery.attempts == 2  # retried, once
    assert sink.handler.recipients().count(target) == 1
    assert not live.deliveries.filter(state=Delivery.State.IN_DOUBT).exists()


def test_a_relay_that_refuses_the_sender_pauses_the_campaign_and_the_message_waits_in_the_queue(
        live, sink, relay_log):
    relay_log.refuse_mail = "550 5.7.1 Sender not allowed"
    outcome = sender.run(live.pk, worker="test", budget=3, sleep=lambda s: None)
    live.refresh_from_db()
    assert outcome is sender.Outcome.FINISHED and live.state == State.PAUSED
    assert "Sender not allowed" in live.paused_reason
    assert sink.handler.received == []
    # Refused at MAIL: certainly not taken, so back in the queue, not in doubt for a person
    # (it was, before); released again, it is sent once.
    assert not live.deliveries.exclude(state=Delivery.State.PENDING).exists()
    assert set(live.deliveries.values_list("attempts", flat=True)) == {0}


@pytest.mark.parametrize("what", ["the bytes cannot be built", "the lease ran out meanwhile"])
def test_a_message_stopped_between_its_data_command_and_its_bytes_is_certainly_not_sent(
        live, roster, sink, relay_log, monkeypatch, settings, what):
    """The bytes are built while the relay answers DATA: if that fails, or the claim's time
    ran out meanwhile, the connection is dropped before any byte of the message goes (the
    relay keeps nothing of a DATA it did not see end), and the message is retried once."""
    settings.SEND_RETRY_SECONDS = 0
    first = roster.members.order_by("row_number").first()
    target, spoiled = member_data.values(first).email, []
    real_data = relay.HandOver.data

    def data(hand_over, build):
        if hand_over.recipient == target and not spoiled:
            spoiled.append(True)
            if what == "the bytes cannot be built":
                def build():
                    raise ValueError("no bytes")
            else:
                real_build = build

                def build():
                    hand_over.deadline = time.monotonic() - 1  # the lease ends under it
                    return real_build()
        return real_data(hand_over, build)

    monkeypatch.setattr(relay.HandOver, "data", data)
    run_until_done(live)
    assert spoiled and live.state == State.COMPLETED
    delivery = Delivery.objects.get(campaign=live, member=first)
    assert delivery.state == Delivery.State.SENT and delivery.attempts == 2
    assert sink.handler.recipients().count(target) == 1
    assert [r for _t, verb, r in relay_log.commands if verb == "DATA"].count(target) == 1
    assert not live.deliveries.filter(state=Delivery.State.IN_DOUBT).exists()


def test_a_message_whose_bytes_never_build_is_retried_then_failed_never_in_doubt(
        live, roster, sink, monkeypatch, settings):
    """A reviewer's attack: the bytes fail every time. Each try is dropped before any byte
    goes (not handed over); the worker does not crash on working out the failure's evidence
    (it did: the SHA-256 was taken by building the bytes again), and the rest are sent."""
    settings.SEND_RETRY_SECONDS = 0
    first = roster.members.order_by("row_number").first()
    target = member_data.values(first).email
    real_wire = mail.NoAttachmentMessage.wire_bytes

    def wire_bytes(message):
        if message.to == [target]:
            raise ValueError("cannot be built")
        return real_wire(message)

    monkeypatch.setattr(mail.NoAttachmentMessage, "wire_bytes", wire_bytes)
    run_until_done(live, rounds=10)
    delivery = Delivery.objects.get(campaign=live, member=first)
    assert delivery.state == Delivery.State.FAILED
    assert delivery.attempts == settings.SEND_MAX_ATTEMPTS and delivery.message_sha256 == ""
    assert target not in sink.handler.recipients()
    assert len(sink.handler.recipients()) == roster.members.count() - 1
    assert not live.deliveries.filter(state=Delivery.State.IN_DOUBT).exists()


def test_a_check_that_breaks_after_the_recipient_went_out_sends_nothing_and_pauses(
        live, roster, sink, monkeypatch):
    """A reviewer's attack: the guard's second part raises after RCPT went out. The message
    goes back to the queue (it was left claimed, to be flagged in doubt), the campaign
    pauses with the reason, and nothing of it reached the relay."""
    first = roster.members.order_by("row_number").first()
    target = member_data.values(first).email
    real_parts = guard.check_message_in_parts

    def parts(**kwargs):
        found = real_parts(**kwargs)
        yield next(found)
        if kwargs["recipient"]["email"] == target:
            raise RuntimeError("the guard broke")
        yield next(found)

    monkeypatch.setattr(guard, "check_message_in_parts", parts)
    run_until_done(live)
    assert live.state == State.PAUSED and "RuntimeError" in live.paused_reason
    delivery = Delivery.objects.get(campaign=live, member=first)
    assert delivery.state == Delivery.State.PENDING and delivery.attempts == 0
    assert sink.handler.received == []
