import re
from email.utils import parsedate_to_datetime

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from campaigns.models import Campaign, State
from countersign import access, mailcatcher, two_factor
from countersign.forms import CodeForm
from countersign.roles import Role, role_required, roles_of

STAFF_ROLES = (Role.OPERATOR, Role.SUPERVISOR, Role.OBSERVER, Role.AUDITOR)
_EML_NAME = re.compile(r"\d+-\d+\.eml")


def health(request):
    """For the load balancer: the database answers and the audit log is still append-only."""
    from django.db import connection

    from audit import triggers

    try:
        wrong = triggers.problems(connection)
    except Exception as error:  # noqa: BLE001 - any database failure means unhealthy
        return JsonResponse({"database": f"error: {type(error).__name__}"}, status=503)
    status = {"database": "ok", "audit_triggers": "ok" if not wrong else ", ".join(wrong)}
    return JsonResponse(status, status=200 if not wrong else 503)


def health_worker(request):
    """For monitoring: a worker (qcluster) is running its scheduler, i.e. the watchdog's next
    run is not overdue."""
    from django_q.models import Schedule

    from campaigns.apps import WATCHDOG

    schedule = Schedule.objects.filter(name=WATCHDOG).first()
    if schedule is None or schedule.next_run is None:
        return JsonResponse({"worker": "no watchdog schedule"}, status=503)
    overdue = (timezone.now() - schedule.next_run).total_seconds()
    healthy = overdue < 180
    return JsonResponse({"worker": "ok" if healthy else "not running",
                         "watchdog_next_run": schedule.next_run.isoformat()},
                        status=200 if healthy else 503)


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
    return render(request, "home.html", {
        "roles": sorted(roles), "waiting": waiting,
        "mailbox": settings.MAILCATCHER_INBOX and access.may_see(request.user,
                                                                 access.Data.MEMBER_MAIL)})


def _received(message):
    try:
        return parsedate_to_datetime(message["Date"])
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


@login_required
def two_factor_settings(request):
    """Turn two-step sign-in on (scan the code, then prove it with one code) or off."""
    user, form = request.user, CodeForm(request.POST or None)
    device = two_factor.confirmed_device(user)
    pending = None if device else two_factor.pending_device(user)
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["code"]
        if pending and two_factor.turn_on(request, pending, code):
            messages.success(request, _("Two-step sign-in is on. You will be asked for a code "
                                        "each time you log in."))
            return redirect(_next_page(request))
        if device and two_factor.turn_off(request, device, code):
            messages.success(request, _("Two-step sign-in is off."))
            return redirect("two_factor")
        throttled = not (pending or device).verify_is_allowed()[0]
        form.add_error("code", _("Too many wrong codes. Wait a little and try again.")
                       if throttled else _("That code is not valid now. Check the clock of "
                                           "your phone and enter the newest code."))
    return render(request, "registration/two_factor.html", {
        "form": form, "device": device, "required": two_factor.required_for(user),
        "secret": pending and two_factor.secret_text(pending),
        "qr_svg": pending and two_factor.qr_svg(pending), "next": _next_page(request)})


@login_required
def two_factor_verify(request):
    """The second step of signing in."""
    device = two_factor.confirmed_device(request.user)
    if device is None or request.user.is_verified():
        return redirect(_next_page(request))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        passed, why = two_factor.verify(request, device, form.cleaned_data["code"])
        if passed:
            return redirect(_next_page(request))
        form.add_error("code", _("Too many wrong codes. Wait a little and try again.")
                       if why == "throttled" else _("That code is not valid now."))
    return render(request, "registration/two_factor_verify.html",
                  {"form": form, "next": _next_page(request)})


def _next_page(request) -> str:
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(wanted, allowed_hosts={request.get_host()},
                                       require_https=request.is_secure()):
        return wanted
    return resolve_url(settings.LOGIN_REDIRECT_URL)
