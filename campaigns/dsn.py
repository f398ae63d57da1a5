"""What a returned message says, and which delivery it is about.

Each campaign message leaves with its own envelope sender (VERP),
`bounce+<delivery id>-<hmac>@BOUNCE_DOMAIN`, so a bounce names the delivery it is about. The
hmac (16 hex characters of HMAC-SHA256 over the delivery id, keyed from SECRET_KEY) makes the
address unguessable. A delivery status notification (RFC 3464) is read defensively (size and
nesting bounded) into a Report: who it was addressed to, its per-recipient blocks, the
original message's headers. campaigns.bounces decides what a report may change.
"""


import enum
import re
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message
from email.utils import getaddresses

from django.conf import settings
from django.utils.crypto import salted_hmac

from campaigns.models import Delivery
from countersign.signing import signed_by_a_current_key

TAG_LENGTH = 16
_VERP = re.compile(r"^bounce\+(?P<id>[0-9]{1,18})-(?P<tag>[0-9a-f]{16})@(?P<domain>[^@\s]+)$",
                   re.IGNORECASE)


def _tag(delivery_id: int, secret: str | None = None) -> str:
    return salted_hmac("countersign.bounces.verp", str(delivery_id), secret=secret,
                       algorithm="sha256").hexdigest()[:TAG_LENGTH]


def verp_address(delivery_id: int) -> str:
    """The envelope sender of one delivery's message ("" when BOUNCE_DOMAIN is not set)."""
    if not settings.BOUNCE_DOMAIN:
        return ""
    return f"bounce+{delivery_id}-{_tag(delivery_id)}@{settings.BOUNCE_DOMAIN}"


def delivery_id_of(address: str) -> int | None:
    """The delivery a VERP address names, if its hmac and domain verify; else None."""
    found = _VERP.match(address.strip().strip("<>"))
    if not found or not settings.BOUNCE_DOMAIN:
        return None
    if found["domain"].lower() != settings.BOUNCE_DOMAIN:
        return None
    delivery_id = int(found["id"])
    # Bounces of mail sent before a SECRET_KEY rotation verify too.
    if signed_by_a_current_key(found["tag"].lower(), lambda key: _tag(delivery_id, key)):
        return delivery_id
    return None


class BounceKind(enum.StrEnum):
    HARD = "hard"
    BLOCKED = "blocked"  # refused by policy (5.7.x): bounced, the address not suppressed
    SOFT = "soft"
    COMPLAINT = "complaint"



# --- reading a DSN (RFC 3464) ----------------------------------------------------------------

@dataclass
class Report:
    """What one DSN says: the addresses it was sent to, one (status, action, recipients) per
    recipient block, and the headers of the original message if it returned them."""

    addressed_to: list[str] = field(default_factory=list)
    recipients: list[dict] = field(default_factory=list)
    original: Message | None = None


_STATUS = re.compile(r"^([245])\.\d{1,3}\.\d{1,3}$")


def fields_of(text: str) -> list[dict]:
    """The blocks of a message/delivery-status part, as lower-cased header dicts."""
    blocks, current = [], {}
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            if current:
                blocks.append(current)
            current = {}
            continue
        if line[:1] in " \t" and current:  # a folded line
            last = next(reversed(current))
            current[last] += " " + line.strip()
            continue
        name, colon, value = line.partition(":")
        if colon:
            current[name.strip().lower()] = value.strip()
    if current:
        blocks.append(current)
    return blocks


def _address_of(value: str) -> str:
    """`rfc822; someone@example.org` -> the address."""
    _type, _semi, address = value.partition(";")
    return (address or _type).strip().strip("<>")


def status_text(part) -> str:
    payload = part.get_payload()
    if isinstance(payload, list):  # parsed as message/* (a list of header blocks)
        return "\n\n".join(block.as_string() for block in payload)
    data = part.get_payload(decode=True)
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(payload or "")


# A DSN is a few kilobytes; anyone can mail the bounce domain, so a mail far bigger or
# nested deeper than any DSN is not read at all (it must not stall the mailbox).
MAX_REPORT_BYTES = 1024 * 1024
MAX_NESTING = 20
_BOUNDARY_LINE = re.compile(rb"^--", re.MULTILINE)


def read_dsn(raw: bytes, *, envelope_recipient: str = "") -> Report | None:
    """Parse one mail; None when it is not a delivery status notification (or cannot be
    one: too big, too deeply nested, unparseable)."""
    if len(raw) > MAX_REPORT_BYTES or raw.count(b"multipart/") > MAX_NESTING:
        return None
    try:
        return _read_dsn(raw, envelope_recipient)
    except (RecursionError, ValueError, LookupError, TypeError, AttributeError, IndexError):
        return None


def _read_dsn(raw: bytes, envelope_recipient: str) -> Report | None:
    message = message_from_bytes(raw, policy=policy.compat32)
    report = Report()
    # Where it was delivered: the envelope (a pipe's argument) is the truth when given; else
    # the MTA's own headers on top, before the To header, which the DSN's sender wrote.
    if envelope_recipient:
        report.addressed_to.append(envelope_recipient)
    for header in () if envelope_recipient else ("Delivered-To", "X-Original-To", "To"):
        values = message.get_all(header) or []
        report.addressed_to += [address for _name, address in getaddresses(values[:1])]
    if message.get_content_type() != "multipart/report":
        return None
    for part in message.walk():
        kind = part.get_content_type()
        if kind in ("message/delivery-status", "message/global-delivery-status"):
            blocks = fields_of(status_text(part))
            for block in blocks[1:]:  # the first block is about the message, not a recipient
                report.recipients.append({
                    "action": block.get("action", "").lower(),
                    "status": block.get("status", "").split()[0] if block.get("status") else "",
                    "final": _address_of(block.get("final-recipient", "")),
                    "original": _address_of(block.get("original-recipient", ""))})
        elif kind in ORIGINAL_PARTS:
            report.original = original_of(part)
    return report if report.recipients else None


ORIGINAL_PARTS = ("text/rfc822-headers", "message/rfc822", "message/global-headers",
                   "message/global")


def original_of(part) -> Message:
    """The returned message (or its headers) inside a report."""
    payload = part.get_payload()
    if isinstance(payload, list) and payload:
        return payload[0]
    text = part.get_payload(decode=True) or b""
    return message_from_bytes(text, policy=policy.compat32)


def is_verp(address: str) -> bool:
    """Does `address` look like one of our VERP addresses (verified or not)?"""
    return bool(_VERP.match(address.strip().strip("<>")))


def kind_of(action: str, status: str) -> BounceKind | None:
    status_ok = _STATUS.match(status or "")
    if not status_ok:
        return None
    if action == "failed" and status.startswith(Delivery.POLICY_STATUS):
        return BounceKind.BLOCKED
    if action == "failed" and status.startswith("5."):
        return BounceKind.HARD
    if action in ("failed", "delayed") and status.startswith("4."):
        return BounceKind.SOFT
    return None  # delivered, relayed, expanded: nothing to record



def parse(raw: bytes) -> Message | None:
    if len(raw) > MAX_REPORT_BYTES or raw.count(b"multipart/") > MAX_NESTING:
        return None
    if raw.count(b"message/") > MAX_NESTING:  # nested messages need no multipart
        return None
    try:
        return message_from_bytes(raw, policy=policy.compat32)
    except (RecursionError, ValueError, LookupError, TypeError, AttributeError, IndexError):
        return None


