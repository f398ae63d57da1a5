"""Reads over the audit log: filters, the chain head, the last verification."""

from datetime import datetime, time, timedelta

from django.utils import timezone

from audit.models import AuditEntry

VERIFIED = "audit.verified"


def filtered_entries(*, date_from=None, date_to=None, campaign=None, actor: str = "",
                     role: str = "", organisation: str = "", action: str = ""):
    """Entries matching every given filter, in chain order. Dates are whole days in the
    current time zone, both ends included."""
    entries = AuditEntry.objects.order_by("sequence")
    if date_from:
        entries = entries.filter(created_at__gte=_start_of(date_from))
    if date_to:
        entries = entries.filter(created_at__lt=_start_of(date_to) + timedelta(days=1))
    if campaign is not None:
        entries = entries.filter(object_type="campaigns.campaign", object_id=str(campaign.pk))
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
