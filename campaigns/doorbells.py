"""Doorbells: what queues work for the worker (django-q2 tasks named by their path).

The queue is a doorbell, the ledger is the truth: a task carries ids only and loads what it
needs. Here, below everything that rings (the workflow's hooks, notifications, the
watchdog), so that ringing imports nothing above it; the tasks themselves are in
campaigns.tasks.
"""

from django.conf import settings
from django_q.tasks import async_task


def queue_audit_anchor(reason: str) -> None:
    async_task("campaigns.tasks.mail_audit_anchor", reason)


def queue_notification_mail(ids: list[int]) -> None:
    async_task("campaigns.tasks.mail_notifications", ids)


def queue_send(campaign_id: int) -> None:
    async_task("campaigns.tasks.send_campaign", campaign_id, group=f"campaign-{campaign_id}")


def queue_sending(campaign_id: int, *, already: int = 0) -> None:
    """SEND_PARALLEL task chains, so that as many workers send the campaign side by side
    (each claim is its own; the rate limit and the hold are shared through the campaign
    row); `already`: chains running now. At release one chain starts the campaign (the
    start runs the content guard over every member), and the start rings the others: rung
    all at once, every worker ran that guard side by side and all but one threw it away
    (eight workers sent their first message 1.8 s after the release instead of 0.6 s)."""
    for _ in range(settings.SEND_PARALLEL - already):
        queue_send(campaign_id)
