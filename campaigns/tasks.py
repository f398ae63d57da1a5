"""django-q2 entry points: thin, by id. The queue is a doorbell; the ledger is the truth."""

from datetime import timedelta
from importlib import import_module

from django.conf import settings
from django.utils import timezone

from campaigns import (
    carrier_outcomes,
    notices,
    notifications,
    retention,
    schedules,
    sender,
    workflow,
)
from campaigns.doorbells import queue_send
from campaigns.models import Campaign, State


def mail_audit_anchor(reason: str = "schedule") -> str:
    return notices.send_anchor(reason)["outcome"]


def mail_notifications(ids: list[int]) -> int:
    return notifications.send_mail_for(ids)


def purge_rosters() -> int:
    """Daily: erase member data past its retention (campaigns.retention)."""
    return len(retention.purge_rosters())


def warn_of_expiring_approvals() -> int:
    return notifications.warn_of_expiring_approvals()


def send_campaign(campaign_id: int) -> str:
    outcome = sender.run(campaign_id)
    if outcome is sender.Outcome.CONTINUE:
        queue_send(campaign_id)
    return outcome.value


def watchdog() -> list[int]:
    """Every minute: put the schedules back to the plan if anyone changed them, stop
    campaigns past their "do not send after" that no worker is running, and ring
    again for campaigns whose worker went quiet (a killed worker, a lost task) and for
    released campaigns no worker has picked up yet."""
    schedules.ensure(record=True)  # nobody silences the anchor by editing the table
    workflow.stop_overdue()  # a paused or held campaign past its "do not send after"
    quiet = timezone.now() - timedelta(seconds=3 * settings.SEND_SLICE_SECONDS)
    sending = Campaign.objects.filter(state=State.SENDING).exclude(last_worker_at__gte=quiet)
    released = Campaign.objects.filter(state=State.RELEASED, release_expires_at__gt=timezone.now())
    ids = sorted({*sending.values_list("pk", flat=True), *released.values_list("pk", flat=True)})
    for campaign_id in ids:
        queue_send(campaign_id)
    return ids


def poll_bounce_mailbox() -> str:
    """A django-q2 schedule's entry point (docs/operations.md): read the IMAP bounce mailbox."""
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("process_bounces", imap=True, stdout=out)
    return out.getvalue().strip()


def track_carriers() -> str:
    """A django-q2 schedule's entry point (RELAY_MAILLOG set): what the relay's log says
    became of the messages at the carriers."""
    counts = carrier_outcomes.track_configured()
    return ", ".join(f"{status} {counts[status]}" for status in sorted(counts)) or "no change"


def clear_expired_sessions() -> None:
    """What `manage.py clearsessions` does, for the session engine in use."""
    import_module(settings.SESSION_ENGINE).SessionStore.clear_expired()
