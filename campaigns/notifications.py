"""Nobody waits unseen: each step tells the people who must act next, in the app and by mail.

Who is told of which move is the `notify` column of the workflow's table (campaigns.states):
audiences below. The notifications are made, and audited (to whom, which event; never
member data), in the transaction of the move itself; the mails go out once it has
committed, through a django-q2 task, as NoAttachmentMessage like every mail of the app.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import get_connection
from django.db import transaction
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

import audit
from campaigns import doorbells, workflow
from campaigns.actions import Action
from campaigns.mail import NoAttachmentMessage
from campaigns.models import Campaign, Delivery, Notification, SignOff, State
from countersign import clock
from countersign.models import User
from countersign.roles import Role, has_role

log = logging.getLogger(__name__)


def _active(users):
    return [u for u in users if u.is_active]


def _supervisors(campaign):
    """Supervisors who may review it (never its author)."""
    users = User.objects.filter(groups__name=Role.SUPERVISOR).exclude(pk=campaign.author_id)
    return [u for u in users.distinct() if has_role(u, Role.SUPERVISOR)]


def _observers(campaign):
    """The association's observers (the data owner's witnesses)."""
    users = User.objects.filter(groups__name=Role.OBSERVER).distinct()
    return [u for u in users if has_role(u, Role.OBSERVER)]


def _author(campaign):
    return _active([campaign.author])


def _people(campaign):
    """Everyone on the campaign: its author and whoever signed, rejected or released it."""
    signers = User.objects.filter(pk__in=SignOff.objects.filter(campaign=campaign)
                                  .values("user_id"))
    return _active([campaign.author, *signers])


AUDIENCES = {"supervisors": _supervisors, "observers": _observers, "author": _author,
             "people": _people}


def recipients_of(transition, campaign, actor) -> list:
    """The transition's audiences, each person once, never the one who made the move."""
    seen, people = set(), []
    for audience in transition.notify:
        for person in AUDIENCES[audience](campaign):
            if person.pk not in seen and (actor is None or person.pk != actor.pk):
                seen.add(person.pk)
                people.append(person)
    return people


def notify(event: str, campaign, *, people, detail: dict | None = None) -> list[Notification]:
    """Inside the caller's transaction: the notifications and their audit entry; the mails
    go once it commits."""
    if not people:
        return []
    detail = detail or {}
    made = Notification.objects.bulk_create(
        [Notification(user=p, campaign=campaign, event=event, detail=detail) for p in people])
    audit.record(Action.NOTIFIED, system="worker", target=campaign, payload={
        "event": event, "to": sorted(p.get_username() for p in people)})
    ids = [n.pk for n in made]
    transaction.on_commit(lambda: _queue_mail(ids))
    return made


def on_transition(transition, campaign, actor, payload: dict) -> None:
    """Called by the workflow's one door after each move it records."""
    if not transition.notify:
        return
    detail = {}
    if transition.action == "reject":
        detail["reason"] = payload.get("comment", "")
    if transition.action == "pause":
        detail["reason"] = payload.get("reason", "")
    notify(transition.action, campaign, people=recipients_of(transition, campaign, actor),
           detail=detail)


def _queue_mail(ids: list[int]) -> None:
    doorbells.queue_notification_mail(ids)


def counts(campaign) -> dict:
    """Sent, not sent and in doubt: what the association needs after a stop. "Sent" is
    what the mail server accepted, bounced later or not, so the three add up."""
    states = dict(campaign.deliveries.values_list("state").annotate(n=Count("id")))
    total = campaign.roster.member_count
    sent = states.get(Delivery.State.SENT, 0) + states.get(Delivery.State.BOUNCED, 0)
    doubt = states.get(Delivery.State.IN_DOUBT, 0) + states.get(Delivery.State.SENDING, 0)
    return {"sent": sent, "in_doubt": doubt, "not_sent": total - sent - doubt}


def _absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def mail_text(notification: Notification) -> tuple[str, str]:
    """(subject, body) in the site's language."""
    campaign = notification.campaign
    event = notification.get_event_display()
    lines = [_("Campaign “%(name)s”: %(event)s.") % {"name": campaign.name, "event": event}]
    if notification.detail.get("reason"):
        lines.append(_("Reason: %(reason)s") % {"reason": notification.detail["reason"]})
    if notification.detail.get("expires_at"):  # one clock: the site's zone, named
        lines.append(_("The approval expires at %(time)s.") % {"time": clock.text(
            datetime.fromisoformat(notification.detail["expires_at"]))})
    if notification.event in (Notification.Event.STOP, Notification.Event.PAUSE,
                              Notification.Event.COMPLETE, Notification.Event.REFUSE_MESSAGE):
        numbers = counts(campaign)
        lines.append(_("Sent: %(sent)s  Not sent: %(not_sent)s  In doubt: %(in_doubt)s")
                     % {k: f"{v:,}" for k, v in numbers.items()})
        lines.append(_("Incident report (who got what): %(url)s")
                     % {"url": _absolute(reverse("audit:incident", args=[campaign.pk]))})
    lines.append(_("Open the campaign: %(url)s") % {"url": _absolute(campaign.get_absolute_url())})
    lines.append(_("This message carries no member data. Countersign"))
    subject = _("[Countersign] %(event)s: %(name)s") % {"event": event, "name": campaign.name}
    return subject, "\n\n".join(lines) + "\n"


def _has_its_own_mail(notification: Notification) -> bool:
    """The association's observers are mailed the completion notice (counts, ledger digest,
    the audit chain's head: campaigns.notices), so the completion's notification stays in
    the app for them: one completion mail, not two."""
    return (notification.event == Notification.Event.COMPLETE
            and has_role(notification.user, Role.OBSERVER))


def send_mail_for(ids: list[int]) -> int:
    """Mail the notifications (a task, after the move committed). Audited: to whom, which
    event, outcome."""
    notifications = list(Notification.objects.filter(pk__in=ids, mailed_at=None)
                         .select_related("user", "campaign", "campaign__roster"))
    with translation.override(settings.LANGUAGE_CODE):
        messages = [(n, NoAttachmentMessage(*mail_text(n), to=[n.user.email]))
                    for n in notifications if n.user.email and not _has_its_own_mail(n)]
    if not messages:
        return 0
    try:
        get_connection(fail_silently=False).send_messages([m for _n, m in messages])
        outcome, error = "sent", ""
    except Exception as failure:  # noqa: BLE001 - recorded; the app's state does not depend on it
        log.warning("notification mail not sent: %s", failure)
        outcome, error = "failed", str(failure)[:300]
    now = timezone.now()
    groups: dict[tuple, list] = {}
    for n, _m in messages:
        groups.setdefault((n.campaign_id, n.event), []).append(n)
    with transaction.atomic():
        Notification.objects.filter(pk__in=[n.pk for n, _m in messages]).update(
            mailed_at=now if outcome == "sent" else None, mail_error=error)
        for (_campaign, event), group in groups.items():
            audit.record(Action.NOTICE_MAILED, system="worker", target=group[0].campaign,
                         payload={"event": event, "outcome": outcome,
                                  "to": sorted(n.user.get_username() for n in group)})
    return len(messages)


def warn_of_expiring_approvals() -> int:
    """A schedule: an approval that expires within a day and has not been released yet
    tells the author (once per approval), so that it does not lapse unseen."""
    ttl = timedelta(hours=settings.APPROVAL_TTL_HOURS)
    soon = timezone.now() - ttl + timedelta(hours=24)
    told = 0
    for signoff in SignOff.objects.filter(
            kind=SignOff.Kind.APPROVAL, voided_at=None, created_at__lte=soon,
            created_at__gt=timezone.now() - ttl, campaign__state=State.APPROVED
    ).select_related("campaign", "campaign__author"):
        campaign = signoff.campaign
        if signoff.content_hash != campaign.content_hash or Notification.objects.filter(
                campaign=campaign, event=Notification.Event.APPROVAL_EXPIRING,
                detail__signoff=signoff.pk).exists():
            continue
        with transaction.atomic():
            notify(Notification.Event.APPROVAL_EXPIRING, campaign,
                   people=_author(campaign) + [p for p in _observers(campaign)],
                   detail={"signoff": signoff.pk,
                           "expires_at": signoff.expires_at().isoformat()})
        told += 1
    return told


def waiting_for(user) -> list[tuple[Campaign, list[str]]]:
    """The home page's "waiting for you": campaigns where this person has a step to take,
    with the steps, asked of the workflow's table like the buttons are."""
    steps = {"submit": _("submit it"), "approve": _("review it"), "release": _("release it"),
             "confirm_canary": _("confirm the first messages"),
             "decide": _("decide about messages in doubt")}
    waiting = []
    live = Campaign.objects.exclude(state__in=[State.COMPLETED, State.CANCELLED,
                                               State.RELEASED])  # stopped: may hold doubts
    live = live.exclude(Q(state=State.DRAFT) & ~Q(author=user))  # a draft waits for its author
    for campaign in live.select_related("roster").order_by("-updated_at")[:100]:
        can = workflow.checks_for(campaign, user)
        todo = [label for action, label in steps.items() if can.get(action)]
        if can.get("decide") and not campaign.deliveries.filter(
                state=Delivery.State.IN_DOUBT).exists():
            todo.remove(steps["decide"])
        if todo:
            waiting.append((campaign, todo))
    return waiting
