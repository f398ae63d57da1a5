"""The worker's schedules, defined here and nowhere else.

django-q2 keeps schedules in a table that its admin can edit: an administrator could move
the audit anchor to 2099, delete it, or schedule any function. Here the plan is code: the
admin shows the table read-only (campaigns.admin), `ensure()` writes the plan after every
`migrate`, and the watchdog (every minute) puts it back whenever the table drifted from it:
a schedule missing, changed, moved further than one period ahead, or one that is not in the
plan (removed). Each correction is an audit entry saying what was found.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

import audit
from campaigns.actions import Action

WATCHDOG = "countersign-watchdog"
ANCHOR = "countersign-audit-anchor"
EXPIRING = "countersign-expiring-approvals"
PURGE = "countersign-purge-rosters"
SESSIONS = "countersign-clear-sessions"
BOUNCE_MAILBOX = "countersign-bounce-mailbox"
CARRIERS = "countersign-track-carriers"


@dataclass(frozen=True)
class Planned:
    name: str
    func: str
    minutes: int

    def fields(self) -> dict:
        return {"func": self.func, "schedule_type": Schedule.MINUTES, "minutes": self.minutes,
                "repeats": -1, "args": None, "kwargs": None, "hook": None, "cron": None,
                "cluster": None, "intended_date_kwarg": None}


def plan() -> list[Planned]:
    """Every schedule the worker runs (settings read now, not at import)."""
    planned = [
        # The watchdog rings again for quiet campaigns and keeps this plan (tasks.watchdog).
        Planned(WATCHDOG, "campaigns.tasks.watchdog", 1),
        # The audit chain's head goes to the association (campaigns.notices.send_anchor).
        Planned(ANCHOR, "campaigns.tasks.mail_audit_anchor", settings.AUDIT_ANCHOR_HOURS * 60),
        # Approvals that expire within a day tell their author and the observers.
        Planned(EXPIRING, "campaigns.tasks.warn_of_expiring_approvals", 60),
        # Member data past ROSTER_RETENTION_DAYS is erased (campaigns.retention).
        Planned(PURGE, "campaigns.tasks.purge_rosters", 24 * 60),
        # Expired sessions go (Django's clearsessions): nothing outlives its login.
        Planned(SESSIONS, "campaigns.tasks.clear_expired_sessions", 24 * 60),
    ]
    if settings.BOUNCE_IMAP_HOST:  # returned mail from an IMAP mailbox (docs/operations.md)
        planned.append(Planned(BOUNCE_MAILBOX, "campaigns.tasks.poll_bounce_mailbox",
                               settings.BOUNCE_IMAP_MINUTES))
    if settings.RELAY_MAILLOG:  # what the relay did next, per carrier (campaigns.carrier_outcomes)
        planned.append(Planned(CARRIERS, "campaigns.tasks.track_carriers",
                               settings.RELAY_MAILLOG_MINUTES))
    return planned


def _drift(schedule, planned: Planned, now) -> dict:
    """What differs between a stored schedule and its plan ({} when nothing)."""
    wanted = planned.fields()
    found = {key: getattr(schedule, key) for key, value in wanted.items()
             if getattr(schedule, key) != value and not (value is None and not
                                                         getattr(schedule, key))}
    if schedule.next_run is None or schedule.next_run > now + timedelta(
            minutes=planned.minutes, seconds=60):
        found["next_run"] = schedule.next_run.isoformat() if schedule.next_run else None
    return {key: str(value) if value is not None else None for key, value in found.items()}


def ensure(using: str = "default", *, record: bool) -> list[dict]:
    """Make the schedule table the plan; returns the corrections, each audited when
    `record` (the watchdog; `migrate` writes the first plan without an entry)."""

    now = timezone.now()
    corrections = []
    with transaction.atomic(using=using):
        stored = {s.name: s for s in Schedule.objects.using(using).select_for_update()}
        for planned in plan():
            schedule = stored.pop(planned.name, None)
            if schedule is None:
                Schedule.objects.using(using).create(name=planned.name, next_run=now,
                                                     **planned.fields())
                corrections.append({"schedule": planned.name, "found": "missing"})
                continue
            found = _drift(schedule, planned, now)
            if found:
                Schedule.objects.using(using).filter(pk=schedule.pk).update(
                    **planned.fields(), next_run=min(schedule.next_run or now, now)
                    if "next_run" in found else schedule.next_run)
                corrections.append({"schedule": planned.name, "found": found})
        for name, schedule in stored.items():  # not in the plan: nobody schedules by hand
            Schedule.objects.using(using).filter(pk=schedule.pk).delete()
            corrections.append({"schedule": name or f"#{schedule.pk}",
                                "found": {"func": schedule.func}, "removed": True})
        if record:
            for correction in corrections:
                audit.record(Action.SCHEDULE_RESTORED, system="worker", payload=correction)
    return corrections


def ensure_after_migrate(using="default", **kwargs):
    ensure(using, record=False)
