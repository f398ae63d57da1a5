"""Two-step sign-in: a time-based one-time code (TOTP, RFC 6238) after the password.

Anyone may turn it on for their own account; the roles in settings.TOTP_REQUIRED_ROLES
(for example the supervisor and the observer, whose approval and release are the two
countersignatures) must, and so must staff and superusers whenever any role must (the admin
reaches every account). django-otp keeps the device and checks the code (with its own
throttling of wrong codes); this module holds the rule of who must, and the gate: a signed-in
user who has a device, or must have one, reaches nothing but these pages until the code is
given in this session. Only the person sets up their own device (countersign.people refuses
anyone else's); every wrong code, wherever it is entered, is audited.
"""

from base64 import b32encode
from urllib.parse import urlencode

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.core.checks import Error, Tags, register
from django.db import transaction
from django.shortcuts import redirect
from django.urls import Resolver404, resolve, reverse
from django_otp import login as otp_login
from django_otp import user_has_device
from django_otp.plugins.otp_totp.models import TOTPDevice

import audit
from countersign.actions import Action
from countersign.roles import Role, roles_of
from countersign.security import client_address

DEVICE_NAME = "authenticator"
# What a signed-in user may still reach before giving the code.
OPEN_PAGES = {"login", "logout", "two_factor", "two_factor_verify", "set_language", "health",
              "health_worker"}


@register(Tags.security)
def check_required_roles(app_configs, **kwargs):
    unknown = sorted(set(settings.TOTP_REQUIRED_ROLES) - set(Role.values))
    return [Error(f"TOTP_REQUIRED_ROLES names unknown roles: {', '.join(unknown)}",
                  hint=f"Use any of: {', '.join(Role.values)}", id="countersign.E001")
            ] if unknown else []


def required_for(user) -> bool:
    """Whether this person must sign in with a code: a role of theirs requires it, or they
    are staff or a superuser while any role does (whoever holds the admin reaches the
    accounts of those roles, so a password alone must not open it)."""
    required = set(settings.TOTP_REQUIRED_ROLES)
    if not required or not user.is_authenticated:
        return False
    return bool(user.is_staff or user.is_superuser or required_by_role(user))


def required_by_role(user) -> bool:
    return bool(roles_of(user) & set(settings.TOTP_REQUIRED_ROLES))


def confirmed_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).first()


def pending_device(user) -> TOTPDevice:
    """The device being set up: made once and kept until confirmed, so reloading the set-up
    page does not change the secret the person has just scanned."""
    device = TOTPDevice.objects.devices_for_user(user, confirmed=False).first()
    return device or TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)


def secret_text(device: TOTPDevice) -> str:
    """The secret as authenticator apps accept it typed in: base32, in groups of four."""
    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def qr_svg(device: TOTPDevice) -> str:
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage,
                        box_size=8)
    return image.to_string(encoding="unicode")


class SecondFactorGate:
    """Until the code is given, a user with a device is sent to enter it, and a user whose
    role requires one is sent to set it up."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated and not user.is_verified() and not self._open(request):
            if user_has_device(user, confirmed=True):
                return self._to("two_factor_verify", request)
            if required_for(user):
                return self._to("two_factor", request)
        return self.get_response(request)

    @staticmethod
    def _open(request) -> bool:
        if request.path_info.startswith(settings.STATIC_URL):
            return True
        try:
            return resolve(request.path_info).url_name in OPEN_PAGES
        except Resolver404:
            return True  # a 404 is a 404 for everyone

    @staticmethod
    def _to(name, request):
        return redirect(f"{reverse(name)}?{urlencode({'next': request.get_full_path()})}")


# --- the checks of a code, each audited in its own transaction -------------------------------

# Where a code was entered, as the audit entry's "where" stores it.
SIGN_IN, TURN_ON, TURN_OFF, COUNTERSIGN = "sign_in", "turn_on", "turn_off", "countersign"
REGISTER_KEY = "register_key"


def check_code(request, device: TOTPDevice, code: str, *, where: str) -> tuple[bool, str]:
    """One code against the person's device. A wrong or throttled code is audited wherever it
    was entered (a run of them is someone with the session or the password and not the
    phone): who, where, how many wrong in a row, from which address; never the code. At sign-in
    the accepted code is audited too. Returns (passed, why not)."""
    allowed, details = device.verify_is_allowed()
    passed = allowed and device.verify_token(code)
    why = "" if passed else ("throttled" if not allowed else "wrong code")
    if passed and where != SIGN_IN:
        return True, ""
    with transaction.atomic():
        audit.record(Action.SECOND_FACTOR, actor=request.user, payload={
            "device": device.persistent_id, "where": where, "outcome": "ok" if passed else why,
            "address": client_address(request),
            **({} if passed else {"failures": device.throttling_failure_count}),
            **({"locked_until": str(details.get("locked_until"))}
               if details and details.get("locked_until") else {})})
    return passed, why


def turn_on(request, device: TOTPDevice, code: str) -> bool:
    """Confirm the device being set up with a code from it; this session counts as verified."""
    if not check_code(request, device, code, where=TURN_ON)[0]:
        return False
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.devices_for_user(request.user, confirmed=False).delete()
        audit.record(Action.TWO_FACTOR_ON, actor=request.user,
                     payload={"device": device.persistent_id})
    otp_login(request, device)
    return True


def turn_off(request, device: TOTPDevice, code: str) -> bool:
    if required_for(request.user) or not check_code(request, device, code, where=TURN_OFF)[0]:
        return False
    with transaction.atomic():
        TOTPDevice.objects.devices_for_user(request.user).delete()
        audit.record(Action.TWO_FACTOR_OFF, actor=request.user,
                     payload={"device": device.persistent_id})
    return True


def verify(request, device: TOTPDevice, code: str) -> tuple[bool, str]:
    """The sign-in check (every attempt audited). Returns (passed, why not)."""
    passed, why = check_code(request, device, code, where=SIGN_IN)
    if passed:
        otp_login(request, device)
    return passed, why
