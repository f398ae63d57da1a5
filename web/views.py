"""The pages that belong to no single app: home, health checks, the demo inbox."""

import re
from email.utils import parsedate_to_datetime

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import connection
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django_q.models import Schedule

from audit import anchors, triggers
from campaigns import ledger, notifications
from campaigns.models import Campaign, DeletionCertificate, State
from campaigns.schedules import WATCHDOG
from countersign import access, clock, mailcatcher
from countersign.roles import Role, role_required, roles_of
from roster import services as roster_services

_EML_NAME = re.compile(r"\d+-\d+\.eml")


def health(request):
    """For the load balancer and monitoring: the database answers, the audit log is still
    append-only, and its anchors still reach the association (none overdue)."""
    try:
        wrong, late = triggers.problems(connection), anchors.overdue()
    except Exception as error:  # noqa: BLE001 - any database failure means unhealthy
        return JsonResponse({"database": f"error: {type(error).__name__}"}, status=503)
    status = {"database": "ok", "audit_triggers": "ok" if not wrong else ", ".join(wrong),
              "audit_anchor": late or "ok"}
    return JsonResponse(status, status=200 if not (wrong or late) else 503)


def health_worker(request):
    """For monitoring: a worker (qcluster) is running its scheduler, i.e. the watchdog's next
    run is not overdue, and no campaign's send is stalled (sending, messages left, no
    worker's heartbeat for SEND_STALL_MINUTES: the scheduler may live while the workers
    that send are dead)."""
    schedule = Schedule.objects.filter(name=WATCHDOG).first()
    if schedule is None or schedule.next_run is None:
        return JsonResponse({"worker": "no watchdog schedule"}, status=503)
    overdue = (timezone.now() - schedule.next_run).total_seconds()
    stalled = ledger.stalled_campaigns()
    state = "not running" if overdue >= 180 else "stalled" if stalled else "ok"
    return JsonResponse({"worker": state, "watchdog_next_run": schedule.next_run.isoformat(),
                         "stalled_campaigns": stalled}, status=200 if state == "ok" else 503)


@login_required
def home(request):
    """Tell each role what is waiting for them."""
    roles = roles_of(request.user)
    waiting = {}
    if Role.OPERATOR in roles:
        waiting["drafts"] = Campaign.objects.filter(author=request.user, state=State.DRAFT).count()
    if Role.SUPERVISOR in roles:
        waiting["review"] = (Campaign.objects.filter(state=State.SUBMITTED)
                             .exclude(author=request.user).count())
        waiting["held"] = Campaign.objects.filter(state=State.HELD).count()
    if Role.OBSERVER in roles:
        waiting["release"] = Campaign.objects.filter(state=State.APPROVED).count()
        waiting["held"] = Campaign.objects.filter(state=State.HELD).count()
        waiting["certificates"] = DeletionCertificate.objects.filter(
            countersigned_at=None).count()
    return render(request, "home.html", {
        "waiting_for_you": notifications.waiting_for(request.user),
        "roles": sorted(roles), "waiting": waiting,
        "may_import": roster_services.may_import(request.user),
        "mailbox": settings.MAILCATCHER_INBOX and access.may_see(request.user,
                                                                 access.Data.MEMBER_MAIL)})


def _received(message):
    """The Date header as a time in the site's zone. A "-0000" header (no zone given, as
    Django writes it unless EMAIL_USE_LOCALTIME) parses naive and means UTC: shown as it
    was, it put the demo inbox nine hours behind every other page."""
    try:
        return clock.local(parsedate_to_datetime(message["Date"]))
    except (TypeError, ValueError):
        return None


def _require_inbox():
    if not settings.MAILCATCHER_INBOX:
        raise Http404("the demo inbox is off")


@role_required(*access.roles_for(access.Data.MEMBER_MAIL))
def mailbox(request):
    """The demo mail catcher's inbox: what members would have received."""
    _require_inbox()
    page = Paginator(mailcatcher.caught_files(settings.MAILCATCHER_DIR), 50).get_page(
        request.GET.get("page"))
    rows = [(path.name, message, _received(message))
            for path, message in ((p, mailcatcher.read(p)) for p in page.object_list)]
    return render(request, "mailbox/list.html", {"page": page, "rows": rows})


@role_required(*access.roles_for(access.Data.MEMBER_MAIL))
def mailbox_message(request, name):
    _require_inbox()
    path = settings.MAILCATCHER_DIR / name
    if not _EML_NAME.fullmatch(name) or not path.is_file():
        raise Http404
    message = mailcatcher.read(path)
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    return render(request, "mailbox/message.html", {
        "name": name, "message": message, "received": _received(message),
        "text": text.get_content() if text else "", "html": html.get_content() if html else "",
        "attachments": [part.get_filename() for part in message.iter_attachments()],
    })
