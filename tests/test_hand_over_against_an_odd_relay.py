"""The stepped hand-over (campaigns.relay.HandOver) against a relay that answers oddly: what
it means for the ledger must follow from what the relay can have taken. After the message's
data went out, only a plain 2xx is "sent" and a plain 4xx/5xx "not taken"; anything else
(a reply too long or unreadable, a 354 out of turn) is in doubt, never retried by itself:
retrying it sent the message twice (a reviewer's attack). Before the data, nothing can have
been taken. No byte of the message starts after the claim's time ran out."""

import smtplib
import time

import pytest
from django.core.mail import EmailMessage

from campaigns import relay
from tests.raw_relay import RawRelay
from tests.sending_helpers import point_django_at

WIRE = b"Subject: s\r\n\r\nbody\r\n"


@pytest.fixture
def raw(settings):
    server = RawRelay()
    point_django_at(settings, server.port)
    yield server
    server.close()


def hand_over(courier, *, to="a@members.example", seconds=5.0, build=lambda: WIRE):
    """(what the ledger would record, the reply or the error, the HandOver)"""
    courier.open()
    step = courier.begin(EmailMessage("s", "b", "from@association.example", [to]),
                         deadline=time.monotonic() + seconds,
                         envelope_sender="bounce@association.example")
    step.recipient_next()
    try:
        return "sent", step.data(build), step
    except Exception as error:  # noqa: BLE001 - what the worker would classify
        return relay.classify(error).kind, error, step


@pytest.mark.parametrize(("final", "kind"), [
    (b"250 " + b"x" * 9000 + b"\r\n", "in_doubt"),  # too long for smtplib to read
    (b"25O queued\r\n", "in_doubt"),  # a code that cannot be read
    (b"250-queued as X\r\nbogus\r\n", "in_doubt"),  # a broken continuation
    (b"354 go on\r\n", "in_doubt"),  # out of turn
    (b"251 queued\r\n", "sent"),  # taken, in another 2xx
    (b"451 try later\r\n", "retry"),  # plainly not taken
    (b"554 no\r\n", "failed"),
])
def test_after_the_data_only_a_plain_answer_is_taken_at_its_word(raw, final, kind):
    raw.script["FINAL"] = final
    outcome, detail, _step = hand_over(relay.Courier())
    assert len(raw.messages) == 1  # the relay has the whole message every time
    assert outcome == kind, detail


def test_a_stray_354_after_the_recipient_is_never_a_reason_to_send_again(raw):
    """The relay answers RCPT with "250" and a stray "354": read in turn, the stray line is
    taken for DATA's answer and the real 354 for the data's answer."""
    raw.script["RCPT"] = b"250 ok\r\n354 stray\r\n"
    outcome, detail, _step = hand_over(relay.Courier())
    if raw.messages:
        assert outcome in ("sent", "in_doubt"), detail


@pytest.mark.parametrize("verb", ["MAIL", "RCPT", "DATA"])
def test_before_the_data_nothing_is_taken_whatever_the_answer(raw, verb):
    raw.script[verb] = b"250 " + b"y" * 9000 + b"\r\n"
    outcome, detail, _step = hand_over(relay.Courier())
    assert raw.messages == [] and outcome == "retry", detail


def test_no_byte_of_the_message_starts_after_the_claims_time_ran_out(raw):
    """The relay sends its 354 a byte at a time, the last after the claim's deadline."""
    def slowly(connection):
        connection.sendall(b"3")
        time.sleep(0.7)
        connection.sendall(b"5")
        time.sleep(0.7)
        return b"4 go\r\n"

    raw.script["DATA"], raw.script["DATA_READS"] = slowly, True
    outcome, detail, _step = hand_over(relay.Courier(), seconds=1.0)
    time.sleep(0.3)
    assert outcome == "retry" and isinstance(detail, relay.NotHandedOver)
    assert raw.messages == []
    assert ("EOF-IN-DATA", b"") in raw.log  # dropped mid-DATA: not one line, not even QUIT


def test_a_courier_goes_on_cleanly_after_a_cancelled_message(raw):
    raw.script["MAIL"] = lambda connection: (time.sleep(0.3), b"250 ok\r\n")[1]
    courier = relay.Courier()
    courier.open()
    refused = courier.begin(EmailMessage("s", "b", "from@association.example",
                                         ["refused@members.example"]),
                            deadline=time.monotonic() + 5, envelope_sender="b@a.example")
    refused.cancel()  # before the late answer to its MAIL came
    outcome, detail, _step = hand_over(courier, to="ok@members.example")
    assert outcome == "sent", detail
    assert [recipients for recipients, _data in raw.messages] == [["rcpt TO:<ok@members.example>"]]
    assert [verb for verb, _c in raw.log if verb != "EHLO"][:4] == ["MAIL", "RSET", "MAIL", "RCPT"]


@pytest.mark.parametrize("wire", [b"", b".", b".\r\n", b"a\r\n.\r\nb", b"a\n.\nb\n", b"..x\r\n",
                                  b"end without a line break", b"a\r\n\r\n.\r\n.\r\n", b"\r\n"])
def test_the_data_is_dot_stuffed_exactly_as_smtplib_does_it(wire):
    class Recorder(smtplib.SMTP):
        def __init__(self):
            self.out, self.debuglevel, self.replies = b"", 0, [(354, b""), (250, b"")]

        def putcmd(self, *args):
            pass

        def getreply(self):
            return self.replies.pop(0)

        def send(self, data):
            self.out += data

    recorder = Recorder()
    recorder.data(wire)
    assert relay._dot_stuffed(wire) == recorder.out
