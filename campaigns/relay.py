"""The SMTP conversation with the relay, and what its answers mean for one recipient.

`Courier` holds one backend connection and hands one message over within its claim's
lease (each SMTP command gets the time left, none starts after it ran out), telling a
failure before the DATA command (certainly not taken) from one during it (in doubt).
`classify` turns what went wrong into what the ledger records for that recipient.
"""

from __future__ import annotations

import smtplib
import time
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

    def send(self, message: mail.NoAttachmentMessage, wire: bytes, *, deadline: float,
             envelope_sender: str = "") -> str:
        """Hand the message over, all of it before `deadline` (time.monotonic()): a stop
        waits for claims younger than EMAIL_TIMEOUT, so no hand-over may outlive that. Each
        SMTP command gets the time that is left; none starts once it has run out.
        `envelope_sender`: the SMTP MAIL FROM (the delivery's VERP address); empty: the
        From address."""
        if not isinstance(self.connection, SMTPBackend):
            _time_left(deadline)
            if envelope_sender:  # honoured by django-anymail's backends
                message.envelope_sender = envelope_sender
            self.connection.send_messages([message])
            return "accepted"
        smtp = self.connection.connection
        encoding = message.encoding or settings.DEFAULT_CHARSET
        if message.from_email not in self._envelope_senders:  # the same for every message
            self._envelope_senders[message.from_email] = self._envelope(message.from_email,
                                                                        encoding)
        sender = envelope_sender or self._envelope_senders[message.from_email]
        (recipient,) = [self._envelope(a, encoding) for a in message.recipients()]
        try:
            smtp.sock.settimeout(_time_left(deadline))
            smtp.ehlo_or_helo_if_needed()
            code, reply = smtp.mail(sender)
            if code == 250:
                smtp.sock.settimeout(_time_left(deadline))
                rcpt_code, rcpt_reply = smtp.rcpt(recipient)
        except smtplib.SMTPResponseException:
            raise  # a definite answer from the server, classified by its code
        except OSError as error:  # includes SMTPServerDisconnected: lost before the data
            raise NotHandedOver(str(error)) from error
        if code != 250:
            smtp.rset()
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        if rcpt_code not in (250, 251):
            smtp.rset()
            raise smtplib.SMTPRecipientsRefused({recipient: (rcpt_code, rcpt_reply)})
        try:
            smtp.sock.settimeout(_time_left(deadline))
        except NotHandedOver:
            smtp.rset()
            raise
        code, reply = smtp.data(wire)  # from here on, a broken connection leaves it in doubt
        if code != 250:
            smtp.rset()
            raise smtplib.SMTPDataError(code, reply)
        return _reply(code, reply)

    def close(self) -> None:
        if self.is_open:
            try:
                self.connection.close()
            finally:
                self.is_open = False
