"""The kernel's own pages: turning two-step sign-in on or off, its second step, and the
changes to the association's people that wait for an observer's countersign."""

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from countersign import association_key, people, sealing, two_factor
from countersign.forms import AssociationKeyForm, CodeForm, RefuseForm
from countersign.models import AssociationKey, KeySlot, PersonChange
from countersign.roles import Role, record_denied_request, role_required


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
        "association": people.is_association(user),
        "as_administrator": two_factor.required_for(user) and not two_factor.required_by_role(
            user),
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


@role_required(Role.OBSERVER)
def people_changes(request):
    """What waits for a countersign (each with who asked, when, and a warning where two
    changes together would hand the account over), and what was decided lately."""
    observer = request.user
    waiting = [{"change": change, "what": people.describe(change), "risk": people.risks(change),
                "not_yours": people.why_not(change, observer, countersign=True)}
               for change in people.waiting()]
    decided = (PersonChange.objects.exclude(state=PersonChange.State.WAITING)
               .select_related("subject", "decided_by").order_by("-decided_at", "-pk")[:20])
    return render(request, "registration/people_changes.html", {
        "waiting": waiting, "decided": [(c, people.describe(c)) for c in decided],
        "has_device": two_factor.confirmed_device(observer) is not None,
        "code_form": CodeForm(), "refuse_form": RefuseForm()})


@role_required(Role.OBSERVER)
@require_POST
def countersign_change(request, pk):
    """A countersign takes a fresh code from the observer's phone (like a sudo prompt): a
    session left open, or a password alone, is not enough to hand someone's account over."""
    change = get_object_or_404(PersonChange, pk=pk)
    device = two_factor.confirmed_device(request.user)
    form = CodeForm(request.POST)
    try:
        people.may_decide(change.pk, request.user, countersign=True)
        if device is None:
            messages.error(request, _("Countersigning takes a code from your authenticator "
                                      "app: set up two-step sign-in first."))
        elif not form.is_valid():
            messages.error(request, " ".join(form.errors["code"]))
        else:
            passed, why = two_factor.check_code(request, device, form.cleaned_data["code"],
                                                where=two_factor.COUNTERSIGN)
            if not passed:
                messages.error(request, _("Too many wrong codes. Wait a little and try again.")
                               if why == "throttled" else _("That code is not valid now."))
            else:
                people.countersign(change.pk, observer=request.user)
                messages.success(request, _("Countersigned, and in effect now: %(person)s, "
                                            "%(what)s.") % {"person": change.subject,
                                                            "what": people.describe(change)})
    except people.NotAllowed as refusal:
        messages.error(request, str(refusal))
    return redirect("people_changes")


@role_required(Role.OBSERVER)
@require_POST
def refuse_change(request, pk):
    change = get_object_or_404(PersonChange, pk=pk)
    form = RefuseForm(request.POST)
    try:
        people.refuse(change.pk, observer=request.user,
                      reason=form.cleaned_data["reason"] if form.is_valid() else "")
        messages.success(request, _("Refused: %(person)s, %(what)s. It will not take "
                                    "effect.") % {"person": change.subject,
                                                  "what": people.describe(change)})
    except people.NotAllowed as refusal:
        messages.error(request, str(refusal))
    return redirect("people_changes")


def _next_page(request) -> str:
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(wanted, allowed_hosts={request.get_host()},
                                       require_https=request.is_secure()):
        return wanted
    return resolve_url(settings.LOGIN_REDIRECT_URL)


@never_cache
@login_required
def association_key_page(request):
    """The association's key: its fingerprint for everyone to compare, the keys before it;
    an observer of the association registers a new one with a fresh code from their phone
    (like a countersign: a session left open is not enough to choose where member data is
    sealed)."""
    may_register = association_key.may_register(request.user)
    device = two_factor.confirmed_device(request.user) if may_register else None
    form = AssociationKeyForm(request.POST or None)
    if request.method == "POST":
        if not may_register:  # a forged form: refused and audited, like any role's
            record_denied_request(request, required=(Role.OBSERVER,))
            raise PermissionDenied
        if device is None:
            messages.error(request, _("Registering the key takes a code from your "
                                      "authenticator app: set up two-step sign-in first."))
        elif form.is_valid():
            passed, why = two_factor.check_code(request, device, form.cleaned_data["code"],
                                                where=two_factor.REGISTER_KEY)
            if not passed:
                form.add_error("code", _("Too many wrong codes. Wait a little and try again.")
                               if why == "throttled" else _("That code is not valid now."))
            else:
                try:
                    key = association_key.register(user=request.user,
                                                   pem=form.cleaned_data["public_key"])
                except ValidationError as refusal:
                    form.add_error("public_key", refusal)
                else:
                    messages.success(request, _("The association's key is registered: %(fp)s. "
                                                "Compare it with the fingerprint the key tool "
                                                "printed.") % {
                                                    "fp": sealing.grouped(key.fingerprint)})
                    return redirect("association_key")
    if "PRIVATE KEY" in form.data.get("public_key", ""):  # never sent back to the browser
        form.data = form.data.copy()
        form.data["public_key"] = ""
    keys = AssociationKey.objects.select_related("registered_by")[:20]
    return render(request, "registration/association_key.html", {
        "keys": [(key, sealing.grouped(key.fingerprint)) for key in keys],
        "problem": association_key.problem()[1],
        "form": form if may_register else None, "has_device": device is not None,
        "slots": association_key.live_slots(request.user) if may_register else None,
        "current_fingerprint": association_key.current_fingerprint()})


@login_required
@require_POST
def key_slot_add(request):
    """The page's script records a passkey it set up (JSON: slot, fingerprint, label)."""
    try:
        data = json.loads(request.body)
        association_key.add_slot(user=request.user, slot=str(data["slot"]),
                                 key_fingerprint=str(data["fingerprint"]),
                                 label=str(data.get("label", "")))
    except PermissionDenied:
        record_denied_request(request, required=(Role.OBSERVER,))
        raise
    except (ValueError, KeyError, TypeError) as error:
        return JsonResponse({"error": str(error)}, status=400)
    except ValidationError as refusal:
        return JsonResponse({"error": " ".join(refusal.messages)}, status=400)
    return JsonResponse({"ok": True})


@login_required
@require_POST
def key_slot_revoke(request, pk):
    slot = get_object_or_404(KeySlot, pk=pk)
    if not association_key.may_register(request.user):
        record_denied_request(request, required=(Role.OBSERVER,))
        raise PermissionDenied
    association_key.revoke_slot(user=request.user, slot=slot)
    messages.success(request, _("The passkey is revoked. Remove it from the browser that holds "
                                "it too; if that device is out of the association's hands, "
                                "register a new key."))
    return redirect("association_key")
