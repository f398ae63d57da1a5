"""Two-step sign-in (TOTP): optional for everyone, required for the roles configured; until
the code is given, nothing but the code page opens; every sign-in check is audited."""

from urllib.parse import urlencode

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEntry
from campaigns.models import State
from tests.factories import (
    client_for,
    make_campaign,
    make_roster,
    sign_in,
    with_device,
    wrong_code,
)
from tests.factories import totp_code as code


@pytest.fixture(autouse=True)
def _no_wait_between_wrong_codes(settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # the throttling test turns it back on


def test_without_a_device_or_a_rule_signing_in_is_unchanged(olivia):
    assert sign_in(olivia).get(reverse("campaigns:list")).status_code == 200


def test_turning_it_on_takes_a_code_from_the_scanned_key(olivia):
    client = client_for(olivia)
    page = client.get(reverse("two_factor"))
    assert page.status_code == 200 and b"<svg" in page.content
    pending = TOTPDevice.objects.get(user=olivia, confirmed=False)
    assert client.get(reverse("two_factor")).context["secret"] == page.context["secret"]

    wrong = client.post(reverse("two_factor"), {"code": "000000" if code(pending) != "000000"
                                                 else "111111"})
    assert wrong.status_code == 200 and wrong.context["form"].errors["code"]
    assert not TOTPDevice.objects.filter(user=olivia, confirmed=True).exists()

    assert client.post(reverse("two_factor"), {"code": code(pending)}).status_code == 302
    assert TOTPDevice.objects.get(user=olivia).confirmed
    entry = AuditEntry.objects.get(action="account.two_factor_on")
    assert entry.actor == olivia and entry.payload["device"] == pending.persistent_id
    # This session counts as verified.
    assert client.get(reverse("campaigns:list")).status_code == 200


def test_with_a_device_no_page_opens_before_the_code(olivia):
    device = with_device(olivia)
    client = sign_in(olivia)
    wanted = reverse("campaigns:list") + "?page=2"
    response = client.get(wanted)
    assert response.status_code == 302
    assert response.url == f"{reverse('two_factor_verify')}?{urlencode({'next': wanted})}"
    assert client.get(reverse("roster:list")).status_code == 302
    assert client.post(reverse("campaigns:create"), {"name": "x"}).status_code == 302

    response = client.post(reverse("two_factor_verify"),
                           {"code": code(device), "next": wanted})
    assert response.status_code == 302 and response.url == wanted
    assert client.get(reverse("roster:list")).status_code == 200
    (entry,) = AuditEntry.objects.filter(action="account.second_factor")
    assert entry.payload["outcome"] == "ok" and entry.actor == olivia


def test_a_used_code_cannot_be_used_again(olivia):
    device = with_device(olivia)
    first = sign_in(olivia)
    used = code(device)
    assert first.post(reverse("two_factor_verify"), {"code": used}).status_code == 302
    second = sign_in(olivia)
    assert second.post(reverse("two_factor_verify"), {"code": used}).status_code == 200
    assert second.get(reverse("roster:list")).status_code == 302


def test_wrong_codes_are_refused_audited_and_slowed_down(olivia, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 60
    device = with_device(olivia)
    client = sign_in(olivia)
    wrong = "000000" if code(device) != "000000" else "111111"
    response = client.post(reverse("two_factor_verify"), {"code": wrong})
    assert "That code is not valid now." in response.content.decode()
    response = client.post(reverse("two_factor_verify"), {"code": code(device)})
    assert "Too many wrong codes" in response.content.decode()  # even the right one, for now
    assert client.get(reverse("roster:list")).status_code == 302
    outcomes = list(AuditEntry.objects.filter(action="account.second_factor")
                    .order_by("sequence").values_list("payload__outcome", flat=True))
    assert outcomes == ["wrong code", "throttled"]


def test_a_required_role_must_set_it_up_before_approving_anything(olivia, sam, settings):
    settings.TOTP_REQUIRED_ROLES = ["supervisor", "observer"]
    campaign = make_campaign(olivia, make_roster(olivia))
    operator = sign_in(olivia)  # operators: not required
    assert operator.get(reverse("campaigns:list")).status_code == 200

    client = sign_in(sam)
    response = client.get(reverse("campaigns:detail", args=[campaign.pk]))
    assert response.status_code == 302
    assert response.url.startswith(f"{reverse('two_factor')}?next=")
    client.post(reverse("campaigns:review", args=[campaign.pk]), {"approve": "1"})
    campaign.refresh_from_db()
    assert campaign.state == State.DRAFT  # the gate stood before the view

    setup = client.get(reverse("two_factor"))
    assert "Your role requires two-step sign-in" in setup.content.decode()
    pending = TOTPDevice.objects.get(user=sam)
    client.post(reverse("two_factor"), {"code": code(pending)})
    assert client.get(reverse("campaigns:detail", args=[campaign.pk])).status_code == 200


def test_a_required_role_cannot_turn_it_off(sam, settings):
    settings.TOTP_REQUIRED_ROLES = ["supervisor"]
    device = with_device(sam)
    client = sign_in(sam)
    client.post(reverse("two_factor_verify"), {"code": code(device)})
    response = client.post(reverse("two_factor"), {"code": code(device, steps_ahead=1)})
    assert response.status_code == 200
    assert TOTPDevice.objects.filter(user=sam, confirmed=True).exists()
    assert not AuditEntry.objects.filter(action="account.two_factor_off").exists()


def test_turning_it_off_takes_a_current_code_and_is_audited(olivia):
    device = with_device(olivia)
    client = sign_in(olivia)
    client.post(reverse("two_factor_verify"), {"code": code(device)})
    assert client.post(reverse("two_factor"), {"code": "12"}).status_code == 200
    assert client.post(reverse("two_factor"),
                       {"code": code(device, steps_ahead=1)}).status_code == 302
    assert not TOTPDevice.objects.filter(user=olivia).exists()
    assert AuditEntry.objects.filter(action="account.two_factor_off", actor=olivia).exists()
    assert sign_in(olivia).get(reverse("roster:list")).status_code == 200


def test_the_next_page_never_leaves_the_site(olivia):
    device = with_device(olivia)
    client = sign_in(olivia)
    response = client.post(reverse("two_factor_verify"),
                           {"code": code(device), "next": "https://evil.example/"})
    assert response.url == reverse("home")


def test_an_unknown_role_in_the_setting_stops_the_start(settings):
    settings.TOTP_REQUIRED_ROLES = ["supervisors"]
    with pytest.raises(SystemCheckError, match="countersign.E001"):
        call_command("check")


def test_setting_it_up_is_slowed_down_after_a_wrong_code_too(olivia, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 60
    client = Client(headers={"accept-language": "en"})
    client.force_login(olivia)
    client.get(reverse("two_factor"))
    pending = TOTPDevice.objects.get(user=olivia)
    client.post(reverse("two_factor"), {"code": "000000" if code(pending) != "000000"
                                        else "111111"})
    response = client.post(reverse("two_factor"), {"code": code(pending)})
    assert "Too many wrong codes" in response.content.decode()
    assert not TOTPDevice.objects.get(user=olivia).confirmed


def test_wrong_codes_on_the_settings_page_are_audited_with_their_count_never_the_code(olivia):
    """Someone in a signed-in session guessing codes to turn two-step sign-in off (or on with
    a key they saw) leaves a trace, as at sign-in."""
    client = client_for(olivia)
    client.get(reverse("two_factor"))
    pending = TOTPDevice.objects.get(user=olivia)
    guesses = [wrong_code(pending), wrong_code(pending)]
    for guess in guesses:
        client.post(reverse("two_factor"), {"code": guess})
    client.post(reverse("two_factor"), {"code": code(pending)})  # on
    device = TOTPDevice.objects.get(user=olivia)
    guesses.append(wrong_code(device))
    client.post(reverse("two_factor"), {"code": guesses[-1]})  # a wrong code to turn it off
    entries = AuditEntry.objects.filter(action="account.second_factor").order_by("sequence")
    assert [(e.actor, e.payload["where"], e.payload["outcome"], e.payload["failures"])
            for e in entries] == [(olivia, "turn_on", "wrong code", 1),
                                  (olivia, "turn_on", "wrong code", 2),
                                  (olivia, "turn_off", "wrong code", 1)]
    assert not any(guess in str(e.payload) for e in entries for guess in guesses)
    assert TOTPDevice.objects.get(user=olivia).confirmed  # still on
