"""Mail that comes back and the relay's log, as the tests write them: DSNs the way Postfix
writes one, a Maildir, ESP events through django-anymail's signal, a Postfix mail log. The
fixtures that use them (`bounce_domain`, `sent`, `three_in_doubt`) are in conftest.py."""

import io
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import ClassVar

from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditEntry
from campaigns import unsubscribe
from campaigns.dsn import verp_address
from campaigns.models import Delivery
from roster.models import Suppression
from tests.factories import email_of

DOMAIN = "bounces.association.example"


def dsn(*, to: str, recipient: str = "", status="5.1.1", action="failed", message_id=None,
        campaign=None, original_recipient=None, blocks=None, diagnostic="") -> bytes:
    """A DSN the way Postfix writes one (multipart/report, the original's headers): one
    recipient block, or several: blocks = [(address, action, status)]."""
    original = "".join([f"Message-ID: {message_id}\n" if message_id else "",
                        f"X-Countersign-Campaign: {campaign}\n" if campaign else "",
                        "Subject: x\n"])
    orcpt = f"Original-Recipient: rfc822; {original_recipient}\n" if original_recipient else ""
    per_recipient = "\n".join(
        f"Final-Recipient: rfc822; {address}\n{orcpt}Action: {act}\nStatus: {code}\n"
        f"Diagnostic-Code: smtp; {diagnostic or f'550 5.1.1 <{address}>: User unknown'}\n"
        for address, act, code in blocks or [(recipient, action, status)])
    first = (blocks or [(recipient,)])[0][0]
    return f"""From: MAILER-DAEMON@relay.example (Mail Delivery System)
To: {to}
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B1"

--B1
Content-Type: text/plain

The mail system could not deliver to <{first}>.

--B1
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.example

{per_recipient}
--B1
Content-Type: text/rfc822-headers

{original}
--B1--
""".encode()


def dsn_for(delivery, **changes) -> bytes:
    fields = {"to": verp_address(delivery.pk), "recipient": email_of(delivery),
              "message_id": delivery.message_id, "campaign": delivery.campaign_id, **changes}
    return dsn(**fields)


def snapshot():
    """Everything a bounce could change."""
    return (list(Delivery.objects.values_list("id", "state", "bounced_at", "soft_bounces",
                                              "bounce_status", "complained_at")),
            list(Suppression.objects.values_list("pseudonym", "reason")),
            AuditEntry.objects.count())


def maildir(tmp_path, mails):
    for sub in ("new", "cur", "tmp"):
        (tmp_path / sub).mkdir()
    for n, raw in enumerate(mails):
        (tmp_path / "new" / f"{n}.mail").write_bytes(raw)
    return tmp_path


def esp_event(event_type, message_id, **fields):
    from anymail.signals import AnymailTrackingEvent, tracking

    event = AnymailTrackingEvent(event_type=event_type, message_id=message_id, **fields)
    tracking.send(sender=object, event=event, esp_name="TestESP")


# three_in_doubt's claim lies this far back: a log can cover it on both sides.
CLAIMED_AGO = timedelta(minutes=10)


def postfix_log(tmp_path, *, accepted=(), cut_off=(), start=None, zone=UTC):
    """A Postfix mail log as maillog_file writes it, the relay logging all along from five
    minutes before `start` (default: three_in_doubt's claim) to five minutes after: at
    `start`, `accepted` went through cleanup and into the queue (qmgr); `cut_off` reached
    cleanup, then the client vanished mid-DATA."""
    at = start or timezone.now() - CLAIMED_AGO
    log = RelayLog(zone=zone, style="postlog")
    log.postfix(at - timedelta(minutes=5), "master", "daemon started -- version 3.7.11", pid=1)
    log.traffic(at - timedelta(minutes=5), at + timedelta(minutes=5))
    for n, delivery in enumerate(accepted):
        log.accepted(delivery, at, queue=f"4B{n:03d}EA2{n:03d}", delivered=None)
    for n, delivery in enumerate(cut_off):
        log.cut_off(delivery, at, queue=f"5C{n:03d}FA2{n:03d}")
    return log.write(tmp_path / "maillog")


class RelayLog:
    """A relay's mail log written line by line, as the tests need it: Postfix lines under the
    relay's own program names (`name`/daemon[pid]) on `host`, stamped the way syslog writes
    them ("Dec  4 16:15:57"), postlogd's maillog_file does ("Dec 04 16:15:57") or rsyslog's
    RFC 3339 format does ("2026-12-04T16:15:57.000000+09:00"), in `zone`. `traffic` fills a
    stretch of time with other mail's connections, so the log shows the relay logging."""

    FORMATS: ClassVar[dict] = {"syslog": "%b %e %H:%M:%S", "postlog": "%b %d %H:%M:%S"}

    def __init__(self, *, zone=UTC, host="relay", name="postfix", style="syslog"):
        self.zone, self.host, self.name, self.style = zone, host, name, style
        self.entries: list[tuple[datetime, str]] = []
        self.queues = 0

    def stamp(self, moment: datetime) -> str:
        local = moment.astimezone(self.zone)
        if self.style == "rfc3339":
            return local.isoformat(timespec="microseconds")
        return local.strftime(self.FORMATS[self.style])

    def raw(self, moment: datetime, text: str) -> "RelayLog":
        """A line as anyone could have written it: `text` follows the stamp and the host."""
        self.entries.append((moment, f"{self.stamp(moment)} {self.host} {text}"))
        return self

    def verbatim(self, moment: datetime, line: str) -> "RelayLog":
        """A whole line as given (its own stamp or none), placed among the others at
        `moment`."""
        self.entries.append((moment, line))
        return self

    def postfix(self, moment: datetime, daemon: str, text: str, pid=None) -> "RelayLog":
        pid = pid or {"smtpd": 2101, "cleanup": 2102, "qmgr": 2103}.get(daemon, 2109)
        return self.raw(moment, f"{self.name}/{daemon}[{pid}]: {text}")

    def traffic(self, start: datetime, end: datetime, every=timedelta(seconds=15)):
        """Other clients connecting and leaving every `every` from start to end."""
        moment, n = start, 0
        while moment <= end:
            n += 1
            client = f"mx{n % 7}.example[192.0.2.{n % 200 + 1}]"
            self.postfix(moment, "smtpd", f"connect from {client}", pid=3000 + n % 5)
            self.postfix(moment, "smtpd", f"disconnect from {client} ehlo=1 quit=1 commands=2",
                         pid=3000 + n % 5)
            moment += every
        return self

    @staticmethod
    def sender(delivery) -> str:
        """The envelope sender the worker handed `delivery`'s message over with: its VERP
        address, or without BOUNCE_DOMAIN the campaigns' default From address."""
        return verp_address(delivery.pk) or "members@association.example"

    def queue_id(self) -> str:
        self.queues += 1
        return f"4B{self.queues:03d}EA2{self.queues:03d}"

    def accepted(self, delivery, moment: datetime, queue=None, delivered="sent") -> str:
        """The relay took the message: smtpd, cleanup (its Message-ID), qmgr (queued), the
        delivery agent, qmgr (removed). Returns the queue id."""
        queue = queue or self.queue_id()
        sender = self.sender(delivery)
        self.postfix(moment, "smtpd", f"{queue}: client=localhost[127.0.0.1]")
        self.postfix(moment, "cleanup", f"{queue}: message-id={delivery.message_id}")
        self.postfix(moment, "qmgr", f"{queue}: from=<{sender}>, size=2048, nrcpt=1 "
                                     "(queue active)")
        later = moment + timedelta(seconds=1)
        if delivered:
            self.postfix(later, "virtual", f"{queue}: to=<member@countersign.test>, "
                         f"relay=virtual, delay=0.1, dsn=2.0.0, status={delivered} (x)")
            self.postfix(later, "qmgr", f"{queue}: removed")
        return queue

    def cut_off(self, delivery, moment: datetime, queue=None) -> str:
        """The message reached cleanup (its Message-ID logged while the data arrived), then
        the client vanished before the final dot: never queued."""
        queue = queue or self.queue_id()
        self.postfix(moment, "smtpd", f"{queue}: client=localhost[127.0.0.1]")
        self.postfix(moment, "cleanup", f"{queue}: message-id={delivery.message_id}")
        self.postfix(moment, "smtpd", "lost connection after DATA (812 bytes) from "
                                      "localhost[127.0.0.1]")
        return queue

    def lines(self, *, ordered=True) -> list[str]:
        """The lines by time (as the relay wrote them), or in the order they were added."""
        entries = sorted(self.entries, key=lambda e: e[0]) if ordered else self.entries
        return [text for _moment, text in entries]

    def write(self, path, *, ordered=True):
        path.write_text("\n".join(self.lines(ordered=ordered)) + "\n")
        return path


def reconcile(path) -> str:
    out = io.StringIO()
    call_command("reconcile_in_doubt", maillog=[str(path)], log_zone="UTC", stdout=out)
    return out.getvalue()


def token_of(delivery) -> str:
    """The signed unsubscribe token in a newsletter message to this delivery."""
    return unsubscribe.token_for(delivery.pk)


def unsubscribe_mail(subject, *, to=f"unsubscribe@{DOMAIN}", body="", sender="x@example.jp"):
    """What a mail reader sends for the mailto: of a List-Unsubscribe header."""
    message = EmailMessage()
    message["From"], message["To"] = sender, to
    message["Subject"] = subject
    message.set_content(body or "This message was sent by the mail reader to unsubscribe.")
    return message.as_bytes()


def original_of(delivery, *, return_path=None, message_id=None, list_unsubscribe=None,
                campaign=None, extra="") -> str:
    """The complained-about message's headers, as the provider returns them (the recipient
    address is often redacted; the Return-Path the provider's MTA added is kept, unless
    `return_path` is "")."""
    verp = verp_address(delivery.pk) if return_path is None else return_path
    lines = [f"Return-Path: <{verp}>"] if verp else []
    lines += ["From: association@association.example", "To: [redacted]",
              f"Message-ID: {delivery.message_id if message_id is None else message_id}",
              f"X-Countersign-Campaign: {delivery.campaign_id if campaign is None else campaign}",
              "Subject: =?utf-8?b?5Lya5ZOh44Gu55qG5qeY44G4?="]
    if list_unsubscribe:
        lines.append(f"List-Unsubscribe: {list_unsubscribe}")
    return "\n".join(lines) + "\n" + extra


def arf(*originals: str, feedback_type="abuse", feedback_fields="",
        original_type="text/rfc822-headers", to=f"fbl@{DOMAIN}") -> bytes:
    """A complaint the way a mailbox provider's feedback loop sends one (RFC 5965): one part
    per returned original (normally exactly one)."""
    parts = "".join(f"--F1\nContent-Type: {original_type}\n\n{original}\n"
                    for original in originals)
    return f"""From: feedback@mailbox-provider.example
To: {to}
Subject: FW: complaint about message from 203.0.113.5
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="F1"

--F1
Content-Type: text/plain

This is an email abuse report for an email message received from IP 203.0.113.5.

--F1
Content-Type: message/feedback-report

Feedback-Type: {feedback_type}
User-Agent: SomeProvider-FBL/1.0
Version: 1
{feedback_fields}Arrival-Date: Thu, 26 Nov 2026 10:00:00 +0900

{parts}--F1--
""".encode()


def process_maildir(tmp_path, *mails) -> str:
    """process_bounces over a Maildir holding `mails` in this order; what it printed."""
    out = io.StringIO()
    call_command("process_bounces", maildir=str(maildir(tmp_path, list(mails))), stdout=out)
    return out.getvalue()
