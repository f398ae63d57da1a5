"""An e-mail provider's events, through django-anymail's tracking signal: a bounce, a
complaint or the provider's own unsubscribe recorded as returned mail is
(campaigns.bounces), what became of the message at its carrier, and any event that shows
the provider took a message in doubt kept as the relay's evidence for the person who
decides on it."""

from __future__ import annotations

import re

from django.db import transaction
from django.db.models import Q

import audit
from campaigns import carrier_outcomes, mail
from campaigns.actions import Action
from campaigns.bounces import Result, record_bounce, unsubscribed
from campaigns.dsn import BounceKind
from campaigns.models import Delivery

_ANYMAIL_KINDS = {"bounced": BounceKind.HARD, "complained": BounceKind.COMPLAINT,
                  "deferred": BounceKind.SOFT, "autoresponded": None}
_ACCEPTED_EVENTS = {"queued", "sent", "delivered", "deferred", "bounced", "complained",
                    "opened", "clicked", "unsubscribed"}


def delivery_for_message_id(message_id: str) -> Delivery | None:
    """By the Message-ID header, or by the id the e-mail provider gave the message when it
    took it (what its webhooks report)."""
    bare = mail.bare_message_id(message_id)
    if not bare:
        return None
    return Delivery.objects.filter(Q(message_id__in=[f"<{bare}>", bare])
                                   | Q(esp_message_id=str(message_id).strip())).first()


def on_tracking_event(sender, event, esp_name, **kwargs) -> Result | None:
    """django-anymail's tracking signal: bounced (hard, or blocked by policy), complained,
    deferred (soft), unsubscribed (the provider's own unsubscribe handling); any event that
    shows the ESP took the message is relay evidence for a delivery in doubt.
    Matched by the event's message_id against the ledger's Message-ID."""
    delivery = delivery_for_message_id(getattr(event, "message_id", "") or "")
    if delivery is None:
        return None
    source = f"esp:{esp_name}".lower()[:40]
    event_type = getattr(event, "event_type", "")
    if event_type in _ACCEPTED_EVENTS and delivery.state == Delivery.State.IN_DOUBT:
        store_relay_evidence(delivery.pk, accepted=True, source=source,
                             at=getattr(event, "timestamp", None))
    carrier_outcomes.provider_event(delivery, event_type, at=getattr(event, "timestamp", None),
                                    status=_enhanced_status(event), source=source,
                                    recipient=getattr(event, "recipient", None) or "")
    if event_type == "unsubscribed":  # through the provider's own unsubscribe handling
        return unsubscribed(delivery, source)
    kind = _ANYMAIL_KINDS.get(event_type)
    if kind is None:
        return None
    if kind == BounceKind.HARD and getattr(event, "reject_reason", None) in ("blocked", "spam"):
        kind = BounceKind.BLOCKED  # the provider refused the sender, not the address
    status = _enhanced_status(event)
    event_id = getattr(event, "event_id", None)
    return record_bounce(delivery_id=delivery.pk, kind=kind, status=status, source=source,
                         report_id=f"esp:{event_id}" if event_id else "",
                         recipient=getattr(event, "recipient", None) or "")


def _enhanced_status(event) -> str:
    """The enhanced status code (RFC 3463) in the receiving server's reply, or ""."""
    found = re.search(r"\b([245]\.\d{1,3}\.\d{1,3})\b",
                      str(getattr(event, "mta_response", None) or ""))
    return found[1] if found else ""


def store_relay_evidence(delivery_id: int, *, accepted: bool, source: str, at=None,
                         queue_id: str = "") -> bool:
    """What the relay's records say of a message in doubt (never changes its state); audited
    in the same transaction, as a person will decide on it."""
    evidence = {"accepted": accepted, "source": source}
    if accepted:
        evidence["at"] = at.isoformat() if at else None
        if queue_id:
            evidence["queue_id"] = queue_id
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().filter(
            pk=delivery_id, state=Delivery.State.IN_DOUBT).only("pk", "campaign_id").first()
        if delivery is None:
            return False
        Delivery.objects.filter(pk=delivery.pk).update(relay_evidence=evidence)
        audit.record(Action.IN_DOUBT_RECONCILED, system=source, target=delivery.campaign,
                     payload={"delivery": delivery.pk, "checked": 1,
                              "accepted": int(accepted is True),
                              "no_trace": int(accepted is False), "not_covered": 0,
                              "source": source})
    return True
