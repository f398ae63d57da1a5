"""The SMTP conversation with the relay, and what its answers mean for one recipient.

`Courier` holds one backend connection; its `HandOver` hands one message over within its
claim's lease (each SMTP command gets the time left, none starts after it ran out), in
steps the worker's own work runs between, telling a failure before the DATA command
(certainly not taken) from one during it (in doubt).
`classify` turns what went wrong into what the ledger records for that recipient.
"""

from __future__ import annotations

import hashlib
import re
import smtplib
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.core.mail.message import sanitize_address

from campaigns import mail


@dataclass(frozen=True)
class Failure:
    kind: str  # "failed" | "retry" | "in_doubt" | "pause"
    reply: str


class NotHandedOver(Exception):
    """The server was lost before the message data went out: certainly not delivered."""


class Unanswered(Exception):
    """The message's data went out and no plain answer came back (a reply that cannot be
    read, too long, or a code that is neither taken, 2xx, nor refused, 4xx/5xx): the server
    may have taken it. In doubt, for a person; never retried by itself."""


def classify(error: Exception) -> Failure:
    """What an exception from the hand-over means for this one recipient."""
    if isinstance(error, NotHandedOver):
        return Failure("retry", f"not handed over: {error.__cause__ or error}")
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(error.recipients.values()), (550, b""))
        return Failure("failed" if code >= 500 else "retry", _reply(code, text))
    if isinstance(error, smtplib.SMTPSenderRefused):
        return Failure("pause" if error.smtp_code >= 500 else "retry",
                       _reply(error.smtp_code, error.smtp_error))
    if isinstance(error, smtplib.SMTPResponseException):
        return Failure("failed" if error.smtp_code >= 500 else "retry",
                       _reply(error.smtp_code, error.smtp_error))
    # The connection broke or timed out while the data was going out (or a backend we do
    # not know failed): the server may have taken it. A person decides.
    return Failure("in_doubt", f"{type(error).__name__}: {error}")


def _reply(code, text) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {text}".strip()


def _time_left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise NotHandedOver("the hand-over's time (EMAIL_TIMEOUT from the claim) ran out "
                            "before the message data was sent")
    return left


class Courier:
    """One backend connection, opened when needed and closed when idle or broken.

    With Django's SMTP backend the SMTP transaction is driven step by step, so that a
    failure before the DATA command (the message certainly not taken) is told apart from one
    during it (in doubt), and the server's reply is kept. Any other backend (an e-mail
    provider through django-anymail, say) is used through send_messages().
    """

    def __init__(self):
        self.connection = get_connection(fail_silently=False)
        self.is_open = False
        self._envelope_senders = {}

    def _envelope(self, address: str, encoding: str) -> str:
        """The bare address for the SMTP envelope (IDN domains made ASCII)."""
        if address.isascii() and "<" not in address:
            return address
        return parseaddr(sanitize_address(address, encoding))[1]

    def open(self) -> None:
        if not self.is_open:
            self.connection.open()
            self.is_open = True

    def begin(self, message: mail.NoAttachmentMessage, *, deadline: float,
              envelope_sender: str = "") -> HandOver:
        """Start handing the message over, all of it before `deadline` (time.monotonic()):
        a stop waits for claims younger than EMAIL_TIMEOUT, so no hand-over may outlive
        that. The MAIL command goes out now; see HandOver for the rest.
        `envelope_sender`: the SMTP MAIL FROM (the delivery's VERP address); empty: the
        From address."""
        return HandOver(self, message, deadline, envelope_sender)

    def envelope_sender(self, address: str, encoding: str) -> str:
        if address not in self._envelope_senders:  # the same for every message
            self._envelope_senders[address] = self._envelope(address, encoding)
        return self._envelope_senders[address]

    def close(self) -> None:
        """Close the connection (QUIT). Whatever goes wrong closing it is no news: the
        message's outcome is already known, and an error here must not replace it."""
        if self.is_open:
            try:
                self.connection.close()
            except Exception:  # noqa: BLE001, S110 - see above
                pass
            finally:
                self.is_open = False

    def drop(self) -> None:
        """Close the connection without a word: in the middle of DATA a QUIT would be a line
        of the message; without the final dot the server keeps nothing of it."""
        smtp = getattr(self.connection, "connection", None)
        if smtp is not None:
            smtp.close()  # smtplib's close: the socket only
        self.close()


class HandOver:
    """One message's SMTP transaction in steps, so that the worker's own work on the
    message runs while the server answers: each command is sent, the worker works (the
    guard's check while MAIL and RCPT are answered, the message's bytes while DATA is),
    then the reply is read. Strictly lock-step, as plain SMTP asks: no command goes out before the
    last one's reply is read (no PIPELINING needed), and nothing of the message goes out
    before `data`, which the worker calls only once its check passed; `cancel` ends a
    transaction whose message will not be sent (RSET: the server took only an envelope).

    Each SMTP command gets the time left before the deadline; none starts once it has run
    out, nor does the message's data. What goes wrong before the data (the message
    certainly not taken) is raised by `data`, told apart from what goes wrong once it went
    or while DATA was answered (in doubt, unless the answer was a plain 2xx, 4xx or 5xx).
    Any backend but Django's SMTP one (an e-mail provider through django-anymail, say) is
    used through send_messages() in `data`."""

    def __init__(self, courier: Courier, message: mail.NoAttachmentMessage, deadline: float,
                 envelope_sender: str):
        self.message, self.deadline, self.courier = message, deadline, courier
        self.envelope_sender = envelope_sender
        self.failed: Exception | None = None  # raised by `data`: nothing was handed over
        self.wire: bytes | None = None  # the message's bytes, once `data` built them
        self.smtp = courier.connection.connection if isinstance(
            courier.connection, SMTPBackend) else None
        if self.smtp is None:
            return
        encoding = message.encoding or settings.DEFAULT_CHARSET
        self.sender = envelope_sender or courier.envelope_sender(message.from_email, encoding)
        (self.recipient,) = [courier._envelope(a, encoding) for a in message.recipients()]
        self._put("mail", f"FROM:{smtplib.quoteaddr(self.sender)}")
        self._step = "mail"

    def _put(self, verb: str, argument: str) -> None:
        """Send one command; its reply is read by the next step. A failure is kept for
        `data` to raise (nothing more is sent on this transaction)."""
        try:
            self.smtp.sock.settimeout(_time_left(self.deadline))
            self.smtp.ehlo_or_helo_if_needed()
            self.smtp.putcmd(verb, argument)
        except smtplib.SMTPHeloError as error:  # the greeting refused: nothing was asked for
            self.failed = _not_handed_over(error)
        except (smtplib.SMTPResponseException, NotHandedOver) as error:
            self.failed = error  # a definite answer from the server, classified by its code
        except OSError as error:  # includes SMTPServerDisconnected: lost before the data
            self.failed = _not_handed_over(error)
        except Exception as error:  # noqa: BLE001 - raised as it is, by `data`
            self.failed = error

    def _answer(self) -> tuple[int, bytes]:
        try:
            self.smtp.sock.settimeout(_time_left(self.deadline))
            return self.smtp.getreply()
        except OSError as error:
            raise _not_handed_over(error) from error

    def recipient_next(self) -> None:
        """Read the answer to MAIL and send RCPT (its answer is read by `data`)."""
        if self.smtp is None or self.failed:
            return
        try:
            code, reply = self._answer()
        except (smtplib.SMTPResponseException, NotHandedOver) as error:
            self.failed = error
            return
        if code != 250:
            self.failed = smtplib.SMTPSenderRefused(code, reply, self.sender)
            self._reset()
            return
        self._put("rcpt", f"TO:{smtplib.quoteaddr(self.recipient)}")
        self._step = "rcpt"

    def data(self, build: Callable[[], bytes]) -> str:
        """Hand the message over: the DATA command goes out, `build()` makes the message's
        bytes while the relay answers it, then the bytes go (kept in `wire`). The server's
        reply; raises what went wrong."""
        if self.smtp is None:
            self.wire = build()
            _time_left(self.deadline)
            if self.envelope_sender:  # honoured by django-anymail's backends
                self.message.envelope_sender = self.envelope_sender
            self.courier.connection.send_messages([self.message])
            return "accepted"
        if self._step == "mail":
            self.recipient_next()
        if self.failed:
            raise self.failed
        code, reply = self._answer()
        if code not in (250, 251):
            self._reset()
            raise smtplib.SMTPRecipientsRefused({self.recipient: (code, reply)})
        try:
            self.smtp.sock.settimeout(_time_left(self.deadline))
        except NotHandedOver:
            self._reset()
            raise
        # From here on, a broken connection leaves the message in doubt.
        self.smtp.putcmd("data")
        try:
            self.wire = build()
            self.smtp.sock.settimeout(_time_left(self.deadline))  # none left: nothing goes
            code, reply = self.smtp.getreply()
            if code == 354:
                self.smtp.sock.settimeout(_time_left(self.deadline))  # a slow 354 ate it
        except NotHandedOver:  # no byte of it went out: the connection is dropped
            self.courier.drop()  # mid-DATA, so that the server keeps nothing
            raise
        except smtplib.SMTPServerDisconnected:
            raise  # lost after the DATA command: in doubt, as always
        except Exception as error:  # the bytes could not be built, a reply not read:
            self.courier.drop()  # nothing of the message went; the error says why
            raise _not_handed_over(error) from error
        if code != 354:  # refused (4xx/5xx: classified by the code) or not understood
            self.courier.drop()  # nothing of the message went
            if 400 <= code < 600:
                raise smtplib.SMTPDataError(code, reply)
            raise _not_handed_over(smtplib.SMTPDataError(code, reply))
        self.smtp.send(_dot_stuffed(self.wire))
        try:
            code, reply = self.smtp.getreply()
        except smtplib.SMTPResponseException as error:  # a reply too long to read
            raise Unanswered(f"{error.smtp_code} {error.smtp_error!r}") from error
        if 200 <= code < 300:
            return _reply(code, reply)
        if 400 <= code < 600:  # a plain refusal of the data: not taken
            self.smtp.rset()
            raise smtplib.SMTPDataError(code, reply)
        raise Unanswered(_reply(code, reply))  # -1 (unreadable), 354 out of turn, ...

    def sha256(self) -> str:
        """The SHA-256 of the message's bytes (built here if `data` did not get to it: they
        are the same bytes, derived from the claim); "" if they cannot be built."""
        if self.wire is None:
            try:
                self.wire = self.message.wire_bytes()
            except Exception:  # noqa: BLE001 - then nothing of it can have gone
                return ""
        return hashlib.sha256(self.wire).hexdigest()

    def cancel(self) -> None:
        """The message will not be sent: its transaction is reset (the server took an
        envelope, never a byte of the message). A connection in any doubt is closed."""
        if self.smtp is None:
            return
        try:
            if self.failed:
                raise self.failed
            self._answer()  # the last command's answer, whatever it is
            self.smtp.rset()
        except Exception:  # noqa: BLE001 - nothing was handed over; a new connection next
            self.courier.close()

    def _reset(self) -> None:
        try:
            self.smtp.rset()
        except (smtplib.SMTPException, OSError):
            pass  # as before: the refusal is what counts; the next message reconnects


_LINE_STARTING_WITH_A_DOT = re.compile(rb"(?m)^\.")


def _dot_stuffed(wire: bytes) -> bytes:
    """The message's bytes as SMTP's DATA carries them (RFC 5321 4.5.2), as smtplib's
    data() sends them: a line's leading dot doubled, the end marked by a lone dot."""
    stuffed = _LINE_STARTING_WITH_A_DOT.sub(b"..", wire)
    return stuffed + (b"" if stuffed.endswith(b"\r\n") else b"\r\n") + b".\r\n"


def _not_handed_over(error: Exception) -> NotHandedOver:
    lost = NotHandedOver(str(error))
    lost.__cause__ = error
    return lost
