"""Reads over the audit log: filters, the chain head, the last verification."""

from datetime import datetime, time, timedelta

from django.utils import timezone

from audit.actions import Action
from audit.models import AuditEntry

VERIFIED = Action.VERIFIED


def filtered_entries(*, date_from=None, date_to=None, object_type: str = "",
                     object_id: str = "", actor: str = "", role: str = "",
                     organisation: str = "", action: str = ""):
    """Entries matching every given filter, in chain order. Dates are whole days in the
    current time zone, both ends included. An object is named as entries store it: its
    type ("app_label.model", see audit.models.object_key) and, optionally, its id."""
    if object_id and not object_type:
        raise ValueError("an object id needs its object type: ids repeat across models")
    entries = AuditEntry.objects.order_by("sequence")
    if date_from:
        entries = entries.filter(created_at__gte=_start_of(date_from))
    if date_to:
        entries = entries.filter(created_at__lt=_start_of(date_to) + timedelta(days=1))
    if object_type:
        entries = entries.filter(object_type=object_type)
    if object_id:
        entries = entries.filter(object_id=object_id)
    if actor:
        entries = entries.filter(actor_name=actor)
    if role:
        entries = entries.filter(role=role)
    if organisation:
        entries = entries.filter(organisation=organisation)
    if action:
        entries = entries.filter(action=action)
    return entries


def _start_of(day):
    return timezone.make_aware(datetime.combine(day, time.min))


def chain_head():
    return AuditEntry.objects.order_by("-sequence").only("sequence", "hash", "created_at").first()


def last_verification():
    return AuditEntry.objects.filter(action=VERIFIED).order_by("-sequence").first()


def known_actions() -> list[str]:
    return list(AuditEntry.objects.order_by("action").values_list("action", flat=True).distinct())
