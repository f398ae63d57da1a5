"""A delivery's message, derived: the same bytes from the same claim, every time.

A message's bytes are a pure function of what the claim already stores: the campaign's
content (frozen while it sends), the member's values (through the door), the delivery's
id and attempt, and the claim's time. Its Message-ID is an HMAC of (delivery, attempt, claim time)
under SECRET_KEY (not guessable: bounces and provider events are matched by it), its Date
the claim's time, its MIME boundary a hash of the Message-ID, and a nonce header an HMAC of
it under SECRET_KEY (so that a copy of the database cannot test guesses of a member's
values against the stored SHA-256: nonce_for). So nothing needs to be
written before the hand-over (one commit per message, issue 25): a message left in doubt
by a dead worker gets its Message-ID and SHA-256 recomputed when it is flagged, and the
relay's log, a bounce or the incident report are matched against exactly what was sent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parseaddr

from django.utils.crypto import salted_hmac

from campaigns import mail, unsubscribe
from roster import member_data

_SALT = "countersign.message-id"


def message_id_for(delivery_id: int, attempt: int, claimed_at: datetime, sender: str,
                   secret: str | None = None) -> str:
    """<hmac@sender's domain>: the Message-ID of this delivery's `attempt`-th message. The
    claim's time (to the microsecond) is in it: a database started afresh, or a second
    installation with the same SECRET_KEY, numbers its deliveries from 1 again, and two
    messages must never share a Message-ID (a relay's log would mix them up)."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "countersign.invalid"
    moment = claimed_at.astimezone(UTC).isoformat(timespec="microseconds")
    tag = salted_hmac(_SALT, f"{delivery_id}:{attempt}:{moment}", secret=secret).hexdigest()[:40]
    return f"<{tag}@{domain}>"


_NONCE_SALT = "countersign.message-nonce"


def nonce_for(message_id: str, secret: str | None = None) -> str:
    """A header value only SECRET_KEY makes: without it, every other byte of a message is
    known to a copy of the database (the text, the Message-ID, the claim's time) but the
    member's values, and the stored SHA-256 would confirm a guess of them offline (a
    reviewer rebuilt a held roster's names and addresses from a dump and a list of
    candidates). The SHA-256 of the bytes a member received still matches the ledger's."""
    return salted_hmac(_NONCE_SALT, message_id, secret=secret).hexdigest()[:32]


@dataclass(frozen=True)
class Composed:
    message: mail.NoAttachmentMessage
    own_links: tuple[str, ...]  # links the app made for this recipient (unsubscribe)

    @property
    def message_id(self) -> str:
        return self.message.extra_headers["Message-ID"]

    def wire(self) -> bytes:
        return self.message.wire_bytes()

    def sha256(self) -> str:
        return hashlib.sha256(self.wire()).hexdigest()


def compose(campaign, *, delivery_id: int, attempt: int, claimed_at: datetime,
            member: member_data.Values) -> Composed:
    """The message of one claim, exactly as the worker hands it over."""
    newsletter = {"kind": campaign.kind, "delivery_id": delivery_id}
    own_links = unsubscribe.values_for(**newsletter)
    message_id = message_id_for(delivery_id, attempt, claimed_at, campaign.sender)
    message = mail.build_message(
        sender=campaign.sender, subject=campaign.subject, body_text=campaign.body_text,
        body_html=campaign.body_html, values={**member.placeholders(), **own_links},
        to=member.email, message_id=message_id, date=format_datetime(claimed_at),
        charset=campaign.charset,
        headers={"X-Countersign-Campaign": str(campaign.pk),
                 "X-Countersign-Nonce": nonce_for(message_id),
                 **unsubscribe.headers_for(sender=campaign.sender, **newsletter)})
    return Composed(message, tuple(own_links.values()))


def evidence_of(delivery, campaign) -> tuple[str, str]:
    """(Message-ID, SHA-256) of the message a delivery's last claim handed over, recomputed:
    the SHA-256 is "" when the member's data is gone (erased), cannot be opened here (only
    the association holds the key and no window is open) or the claim's time is not known;
    the Message-ID is always known."""
    if delivery.claimed_at is None:  # never claimed: nothing was handed over
        return "", ""
    message_id = message_id_for(delivery.pk, delivery.attempts, delivery.claimed_at,
                                campaign.sender)
    member = member_data.values_of([delivery.member_id]).get(delivery.member_id) \
        if delivery.member_id else None
    if member is None or member.sealed or member.unreadable:
        return message_id, ""
    try:
        composed = compose(campaign, delivery_id=delivery.pk, attempt=delivery.attempts,
                           claimed_at=delivery.claimed_at, member=member)
        return message_id, composed.sha256()
    except Exception:  # noqa: BLE001 - bytes that cannot be built were never handed over;
        return message_id, ""  # the flagging of every other claim must go on
