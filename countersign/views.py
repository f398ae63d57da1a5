"""The kernel's own pages: turning two-step sign-in on or off, and its second step."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from countersign import two_factor
from countersign.forms import CodeForm


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
