"""A scripted loopback SMTP server for the sending tests, and helpers to read what it got."""

import asyncio
import threading
import time
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller

from tests.factories import free_port


class ScriptedSink:
    """Accepts mail over real SMTP and keeps it in memory; can refuse, defer or call back."""

    def __init__(self):
        self.received = []  # (time.time_ns(), recipient, raw bytes)
        self.envelope_senders = {}  # recipient -> the SMTP MAIL FROM of its last message
        self.refuse = {}  # address -> "550 ..." reply to RCPT
        self.defer = {}  # address -> how many times to answer 451 first
        self.after_message = None  # called (in a plain thread) with the count so far
        self.rcpt_delay = self.data_delay = 0.0  # seconds before answering, like a slow relay
        self.in_rcpt = threading.Event()  # set from a RCPT until its message is taken
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_delay:
            self.in_rcpt.set()
            await asyncio.sleep(self.rcpt_delay)
        if address in self.refuse:
            return self.refuse[address]
        if self.defer.get(address, 0) > 0:
            self.defer[address] -= 1
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        with self.lock:
            for recipient in envelope.rcpt_tos:
                self.received.append((time.time_ns(), recipient, envelope.original_content))
                self.envelope_senders[recipient] = envelope.mail_from
            count = len(self.received)
            self.in_rcpt.clear()
        if self.after_message is not None:
            # Django's ORM refuses to run inside an event loop: call back from a plain thread.
            thread = threading.Thread(target=self.after_message, args=(count,))
            thread.start()
            thread.join()
        return "250 2.0.0 Ok: queued"

    def campaign_mail(self):
        """What went to members (the completion notice to observers is not counted)."""
        return [(t, r, raw) for t, r, raw in self.received if b"X-Countersign-Campaign:" in raw]

    def recipients(self):
        return [recipient for _t, recipient, _raw in self.campaign_mail()]

    def messages(self):
        return [message_from_bytes(raw, policy=policy.default)
                for _t, _r, raw in self.campaign_mail()]

    def notices(self):
        return [message_from_bytes(raw, policy=policy.default)
                for _t, _r, raw in self.received if b"X-Countersign-Campaign:" not in raw]


class SinkServer:
    def __init__(self):
        self.handler = ScriptedSink()
        self.port = free_port()
        self.controller = None

    def start(self):
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def point_django_at(settings, port: int) -> None:
    """Django's SMTP backend pointed at a relay on loopback `port`, plain, no login."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
