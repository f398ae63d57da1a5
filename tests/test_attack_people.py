"""The contractor's administrator cannot become the association's observer (issue 24, item 2).

On main at 4c9acf4, with TOTP_REQUIRED_ROLES=supervisor,observer, the contractor's superuser
signed in with a password alone, deleted the observer's two-step device in the admin, added
one with a key it chose, set his password and passed his two-step check. Each test here is
one step of that attack, or a way around a fix for it, as the administrator would try it; the
last replays the whole chain. Each is named after the promise it checks: a failing test is a
promise that bends."""

import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from countersign import people
from countersign.models import Organisation, PersonChange, User
from countersign.roles import Role, has_role
from tests.factories import (
    admin_change_form,
    sign_in,
    signed_in_with_code,
    totp_code,
    with_device,
)

KEY = "3132333435363738393031323334353637383930"  # the key the administrator chooses
CHOSEN = "chosen-by-the-admin-1"  # the password it chooses
ADD_DEVICE = "/admin/otp_totp/totpdevice/add/"


@pytest.fixture(autouse=True)
def two_step_required(settings):
    settings.TOTP_REQUIRED_ROLES = ["supervisor", "observer"]
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


@pytest.fixture
def admin(adam):
    """The administrator in the admin, signed in with its password and its own phone."""
    client = signed_in_with_code(adam)
    assert client.get("/admin/").status_code == 200
    return client


def device_form(user, **changes):
    """The admin's TOTP device form: the user, and the key the administrator chose."""
    return {"user": user.pk, "name": "authenticator", "key": KEY, "step": 30, "t0": 0,
            "digits": 6, "tolerance": 1, "drift": 0, "confirmed": "on",
            "throttling_failure_count": 0, **changes}


def password_form(password=CHOSEN):
    return {"password1": password, "password2": password, "usable_password": "true"}


def code_from_the_chosen_key() -> str:
    return f"{totp(bytes.fromhex(KEY), 30, 0, 6):06d}"


def signs_in(username, password) -> bool:
    client = Client()
    client.post(reverse("login"), {"username": username, "password": password})
    return "_auth_user_id" in client.session


# --- the administrator's own sign-in ---------------------------------------------------------


def test_a_superuser_without_a_device_is_asked_to_enrol_before_the_admin_opens(adam):
    client = sign_in(adam)  # a password alone
    for url in ("/admin/", "/admin/countersign/user/", "/admin/otp_totp/totpdevice/",
                reverse("home")):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith(reverse("two_factor") + "?next="), url


def test_staff_without_a_role_give_a_code_too_when_any_role_requires_one(mallory):
    mallory.is_staff = True
    mallory.save()
    response = sign_in(mallory).get("/admin/")
    assert response.status_code == 302 and response.url.startswith(reverse("two_factor"))


# --- devices: nobody but the person enrols their own --------------------------------------------


def test_the_admin_has_no_form_to_add_a_device_for_someone_else(admin, oscar):
    assert admin.get(ADD_DEVICE).status_code == 403
    admin.post(ADD_DEVICE, device_form(oscar))
    assert not TOTPDevice.objects.filter(user=oscar).exists()


def test_the_admin_cannot_hand_its_own_device_to_the_observer(admin, adam, oscar):
    device = TOTPDevice.objects.get(user=adam)  # its key is on the administrator's phone
    form = device_form(oscar)
    del form["key"]  # the change form has no key field
    admin.post(f"/admin/otp_totp/totpdevice/{device.pk}/change/", form)
    device.refresh_from_db()
    assert device.user == adam


@pytest.mark.parametrize("confirmed", [True, False])  # unconfirmed: the set-up page would
def test_nobody_makes_a_device_for_someone_else_from_the_shell_either(oscar, confirmed):
    # offer the planted key to the observer to scan
    with pytest.raises(PermissionDenied):
        TOTPDevice.objects.create(user=oscar, name="authenticator", key=KEY,
                                  confirmed=confirmed)
    assert not TOTPDevice.objects.filter(user=oscar).exists()


def test_an_observers_device_removed_in_the_admin_stays_until_another_observer_countersigns(
        admin, oscar):
    phone = with_device(oscar)
    admin.post(f"/admin/otp_totp/totpdevice/{phone.pk}/delete/", {"post": "yes"})
    admin.post("/admin/otp_totp/totpdevice/", {"action": "delete_selected",
                                              "_selected_action": [phone.pk], "post": "yes"})
    assert TOTPDevice.objects.filter(pk=phone.pk, confirmed=True).exists()
    assert not LogEntry.objects.filter(action_flag=DELETION).exists()  # nor says it was


# --- password, address, roles: they wait -------------------------------------------------------


def test_an_observers_password_set_in_the_admin_does_not_let_the_admin_sign_in_as_him(admin,
                                                                                     oscar):
    admin.post(f"/admin/countersign/user/{oscar.pk}/password/", password_form())
    assert not signs_in("oscar", CHOSEN)
    assert signs_in("oscar", "oscar-test-pass")  # his own still works


def test_an_observers_address_change_waits_and_his_old_address_is_told_at_once(
        admin, oscar, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        admin.post(f"/admin/countersign/user/{oscar.pk}/change/",
                   admin_change_form(oscar, Role.OBSERVER, email="anchors@contractor.example"))
    oscar.refresh_from_db()
    assert oscar.email == "oscar@association.example"  # the anchors still go to him
    (notice,) = [m for m in mailoutbox if m.to == ["oscar@association.example"]]
    assert "anchors@contractor.example" in notice.body and "adam" in notice.body


def test_an_observer_the_admin_makes_holds_no_role_until_another_observer_countersigns(
        admin, adam, oscar):
    admin.post("/admin/countersign/user/add/", {
        "username": "oscar2", "organisation": Organisation.ASSOCIATION,
        "email": "oscar2@contractor.example", **password_form()})
    fake = User.objects.get(username="oscar2")
    admin.post(f"/admin/countersign/user/{fake.pk}/change/",
               admin_change_form(fake, Role.OBSERVER))
    assert not has_role(User.objects.get(pk=fake.pk), Role.OBSERVER)
    # ... nor itself, moved over to the association first
    admin.post(f"/admin/countersign/user/{adam.pk}/change/", admin_change_form(
        adam, organisation=Organisation.ASSOCIATION, is_staff="on", is_superuser="on"))
    adam.refresh_from_db()
    admin.post(f"/admin/countersign/user/{adam.pk}/change/", admin_change_form(
        adam, Role.OBSERVER, is_staff="on", is_superuser="on"))
    assert not has_role(User.objects.get(pk=adam.pk), Role.OBSERVER)


def test_the_admin_cannot_clear_the_way_by_deleting_the_observer_or_his_role(admin, oscar):
    """With no observer left, nobody could countersign: the first observer of an installation
    is the one change that cannot wait. So the last ones cannot be removed at once."""
    admin.post(f"/admin/countersign/user/{oscar.pk}/delete/", {"post": "yes"})
    assert User.objects.filter(pk=oscar.pk).exists()
    observers = Group.objects.get(name=Role.OBSERVER)
    admin.post(f"/admin/auth/group/{observers.pk}/delete/", {"post": "yes"})
    admin.post(f"/admin/auth/group/{observers.pk}/change/", {"name": "former observers"})
    assert has_role(User.objects.get(pk=oscar.pk), Role.OBSERVER)
    admin.post(f"/admin/countersign/user/{oscar.pk}/change/", admin_change_form(
        oscar, organisation=Organisation.CONTRACTOR))
    assert has_role(User.objects.get(pk=oscar.pk), Role.OBSERVER)


# --- the whole attack -------------------------------------------------------------------------


def test_the_administrator_replays_the_takeover_and_every_step_is_refused_or_held(adam, oscar):
    phone = with_device(oscar)
    admin = sign_in(adam)  # a password alone ...
    assert admin.get("/admin/").status_code == 302  # ... opens no admin page
    admin.get(reverse("two_factor"))  # it sets up its own phone, as anyone may
    own = TOTPDevice.objects.get(user=adam)
    admin.post(reverse("two_factor"), {"code": totp_code(own)})
    assert admin.get("/admin/").status_code == 200

    admin.post(f"/admin/otp_totp/totpdevice/{phone.pk}/delete/", {"post": "yes"})  # 1
    admin.post(ADD_DEVICE, device_form(oscar))  # 2
    admin.post(f"/admin/countersign/user/{oscar.pk}/password/", password_form())  # 3

    assert list(TOTPDevice.objects.filter(user=oscar)) == [phone]
    assert not signs_in("oscar", CHOSEN)  # 4: its password is not his
    thief = sign_in(oscar)  # even with his own password (say it leaked too) ...
    response = thief.post(reverse("two_factor_verify"), {"code": code_from_the_chosen_key()})
    assert response.status_code == 200  # ... the chosen key gives no code of his
    assert thief.get(reverse("campaigns:observer_dashboard")).status_code == 302
    # What the administrator did waits for another observer, who sees both together
    waiting = PersonChange.objects.filter(subject=oscar, state=PersonChange.State.WAITING)
    assert sorted(waiting.values_list("kind", flat=True)) == ["device_removed", "password"]
    assert all(people.risks(change) for change in waiting)
