"""Changes to the association's people wait for another observer's countersign in the app:
who may give it, what it takes, what it does, who is told, and what the audit log keeps."""

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEntry
from countersign import accounts, people
from countersign.models import Organisation, PersonChange, User
from countersign.roles import Role, has_role
from tests.factories import (
    admin_change_form,
    client_for,
    make_user,
    sign_in,
    signed_in_with_code,
    totp_code,
    with_device,
    wrong_code,
)

Kind, State = PersonChange.Kind, PersonChange.State
NEW_ADDRESS = "oscar@new.association.example"


@pytest.fixture(autouse=True)
def _no_wait_between_wrong_codes(settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


def ask_new_address(admin_client, person, address=NEW_ADDRESS):
    admin_client.post(f"/admin/countersign/user/{person.pk}/change/",
                      admin_change_form(person, *sorted(person.groups.values_list(
                          "name", flat=True)), email=address))
    return PersonChange.objects.filter(subject=person, state=State.WAITING).last()


def countersign_on_the_page(observer, change, code=None, client=None):
    """The observer signs in (password and code) and countersigns on the page of changes
    with the next code from their phone (or `code`); `client`: already signed in."""
    device = TOTPDevice.objects.get(user=observer, confirmed=True)
    client = client or signed_in_with_code(observer)
    return client.post(reverse("people_change_countersign", args=[change.pk]), {
        "code": code or totp_code(device, steps_ahead=1)}, follow=True)


def entries(action):
    return list(AuditEntry.objects.filter(action=action).order_by("sequence"))


def test_an_address_change_waits_then_another_observer_countersigns_it_into_effect(
        oscar, orla, admin_client, admin_user):
    change = ask_new_address(admin_client, oscar)
    oscar.refresh_from_db()
    assert oscar.email == "oscar@association.example" and change.kind == Kind.EMAIL
    (asked,) = entries("account.change_requested")
    assert asked.actor == admin_user and asked.payload["changes"] == {
        "email": ["oscar@association.example", NEW_ADDRESS]}

    page = client_for(orla).get(reverse("people_changes"), HTTP_ACCEPT_LANGUAGE="en")
    assert f"e-mail address: oscar@association.example → {NEW_ADDRESS}" in page.content.decode()
    assert "set up two-step sign-in" in page.content.decode().lower()  # orla has no phone yet
    with_device(orla)
    response = countersign_on_the_page(orla, change)
    assert "Countersigned, and in effect now" in response.content.decode()
    oscar.refresh_from_db()
    assert oscar.email == NEW_ADDRESS
    (signed,) = entries("account.change_countersigned")
    assert signed.actor == orla and signed.role == Role.OBSERVER
    assert signed.payload["change"] == change.pk and signed.payload["requested_by"] == "admin"
    applied = entries("account.changed")[-1]
    assert applied.actor == orla and applied.payload["countersigned_change"] == change.pk


def test_the_observer_a_change_is_about_cannot_countersign_it(oscar, orla, admin_client):
    change = ask_new_address(admin_client, oscar)
    with_device(oscar)
    client = signed_in_with_code(oscar)
    page = client.get(reverse("people_changes"))
    assert "This change is to your own account" in page.content.decode()
    response = countersign_on_the_page(oscar, change, client=client)  # a crafted POST
    assert "This change is to your own account" in response.content.decode()
    change.refresh_from_db()
    assert change.state == State.WAITING
    (denied,) = entries("account.change_denied")
    assert denied.actor == oscar and denied.payload["attempted"] == "countersign"


def test_whoever_asked_cannot_countersign_it(oscar, orla, audrey):
    with accounts.acting_as(orla):  # an observer who is also an administrator
        audrey.email = "audrey@elsewhere.example"
        audrey.save()
    (change,) = PersonChange.objects.filter(subject=audrey)
    with_device(orla)
    countersign_on_the_page(orla, change)
    change.refresh_from_db()
    assert change.state == State.WAITING
    with_device(oscar)
    countersign_on_the_page(oscar, change)
    audrey.refresh_from_db()
    assert audrey.email == "audrey@elsewhere.example"


def test_a_countersign_takes_a_fresh_code_from_the_observers_phone(oscar, orla, admin_client):
    change = ask_new_address(admin_client, oscar)
    without = client_for(orla).post(reverse("people_change_countersign", args=[change.pk]), {
        "code": "123456"}, follow=True, HTTP_ACCEPT_LANGUAGE="en")
    assert "set up two-step sign-in first" in without.content.decode()
    device = with_device(orla)
    client = signed_in_with_code(orla)
    wrong = countersign_on_the_page(orla, change, code=wrong_code(device), client=client)
    assert "That code is not valid now." in wrong.content.decode()
    change.refresh_from_db()
    assert change.state == State.WAITING
    (guess,) = [e for e in entries("account.second_factor") if e.payload["where"] != "sign_in"]
    assert guess.actor == orla and guess.payload["where"] == "countersign"
    assert guess.payload["outcome"] == "wrong code"
    countersign_on_the_page(orla, change, client=client)
    change.refresh_from_db()
    assert change.state == State.COUNTERSIGNED and change.decided_by == orla


def test_a_refusal_is_audited_and_the_change_never_takes_effect(oscar, orla, admin_client):
    admin_client.post(f"/admin/countersign/user/{oscar.pk}/password/", {
        "password1": "chosen-by-the-admin-1", "password2": "chosen-by-the-admin-1",
        "usable_password": "true"})
    (change,) = PersonChange.objects.filter(subject=oscar)
    assert change.kind == Kind.PASSWORD and change.password_hash
    # the person it is about may refuse it (nobody may countersign their own)
    client_for(oscar).post(reverse("people_change_refuse", args=[change.pk]),
                           {"reason": "I did not ask for this"})
    change.refresh_from_db()
    assert change.state == State.REFUSED and change.password_hash == ""
    (refused,) = entries("account.change_refused")
    assert refused.actor == oscar and refused.payload["reason"] == "I did not ask for this"
    assert "chosen-by-the-admin" not in str([e.payload for e in AuditEntry.objects.all()])
    with_device(orla)
    countersign_on_the_page(orla, change)  # too late
    oscar.refresh_from_db()
    assert oscar.check_password("oscar-test-pass") and not oscar.must_change_password


def test_a_countersigned_password_must_be_replaced_by_its_owner_at_the_next_sign_in(oscar, orla):
    oscar.set_password("set-from-the-shell-1")
    oscar.save()
    oscar.refresh_from_db()
    assert oscar.check_password("oscar-test-pass")
    (change,) = PersonChange.objects.filter(subject=oscar)
    assert change.requested_by_name == "system:shell"
    with_device(orla)
    countersign_on_the_page(orla, change)
    oscar.refresh_from_db()
    assert oscar.check_password("set-from-the-shell-1") and oscar.must_change_password


def test_the_person_and_the_other_observers_are_told_at_once(
        oscar, orla, audrey, admin_client, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        ask_new_address(admin_client, oscar)
    told = {m.to[0]: m for m in mailoutbox}
    assert set(told) == {"oscar@association.example", orla.email}  # not the auditor
    assert NEW_ADDRESS in told[orla.email].body and "アカウント" in told[orla.email].subject
    assert reverse("people_changes") in told[orla.email].body
    (mailed,) = entries("account.change_notice_mailed")
    assert mailed.payload["outcome"] == "sent" and mailed.payload["to"] == ["orla", "oscar"]


def test_a_device_removal_countersigned_lets_the_person_set_up_a_new_phone(
        oscar, orla, adam, settings):
    """The lost phone: an administrator removes it, another observer countersigns, the
    person signs in with their own password and sets up the new phone."""
    settings.TOTP_REQUIRED_ROLES = ["observer"]
    lost = with_device(oscar)
    signed_in_with_code(adam).post(f"/admin/otp_totp/totpdevice/{lost.pk}/delete/", {"post": "yes"})
    (change,) = PersonChange.objects.filter(kind=Kind.DEVICE_REMOVED, subject=oscar)
    assert TOTPDevice.objects.filter(pk=lost.pk).exists()
    with_device(orla)
    countersign_on_the_page(orla, change)
    assert not TOTPDevice.objects.filter(user=oscar).exists()
    removed = entries("account.two_factor_removed")[-1]
    assert removed.actor == orla and removed.payload["countersigned_change"] == change.pk
    client = sign_in(oscar)
    assert client.get(reverse("home")).url.startswith(reverse("two_factor"))
    client.get(reverse("two_factor"))
    new = TOTPDevice.objects.get(user=oscar)
    assert client.post(reverse("two_factor"), {"code": totp_code(new)}).status_code == 302


def test_the_page_warns_when_a_password_and_a_device_removal_together_hand_the_account_over(
        oscar, orla, admin_client):
    with_device(oscar)
    admin_client.post(f"/admin/countersign/user/{oscar.pk}/password/", {
        "password1": "chosen-by-the-admin-1", "password2": "chosen-by-the-admin-1",
        "usable_password": "true"})
    device = TOTPDevice.objects.get(user=oscar)
    admin_client.post(f"/admin/otp_totp/totpdevice/{device.pk}/delete/", {"post": "yes"})
    page = client_for(orla).get(reverse("people_changes"), HTTP_ACCEPT_LANGUAGE="en")
    rows = page.context["waiting"]
    assert [r["change"].kind for r in rows] == [Kind.PASSWORD, Kind.DEVICE_REMOVED]
    assert all("whoever set" in r["risk"] for r in rows)


def test_a_later_request_replaces_the_earlier_one(oscar, orla, admin_client):
    first = ask_new_address(admin_client, oscar, "first@association.example")
    second = ask_new_address(admin_client, oscar, "second@association.example")
    first.refresh_from_db()
    assert first.state == State.REPLACED and second.state == State.WAITING
    assert entries("account.change_requested")[-1].payload["replaces"] == [first.pk]
    with_device(orla)
    response = countersign_on_the_page(orla, first)
    assert "no longer waiting" in response.content.decode()
    oscar.refresh_from_db()
    assert oscar.email == "oscar@association.example"


def test_a_change_that_went_stale_is_not_applied(oscar, orla, admin_client):
    change = ask_new_address(admin_client, oscar)
    with accounts.acting_as(oscar):  # he changes his own address meanwhile
        oscar.email = "oscar@own-choice.example"
        oscar.save()
    with_device(orla)
    response = countersign_on_the_page(orla, change)
    assert "The account changed since this was asked" in response.content.decode()
    oscar.refresh_from_db()
    assert oscar.email == "oscar@own-choice.example"
    change.refresh_from_db()
    assert change.state == State.WAITING


def test_roles_wait_from_either_side_and_cannot_be_cleared_at_once(oscar, orla, audrey):
    observers = Group.objects.get(name=Role.OBSERVER)
    observers.user_set.remove(orla)  # from the shell, from the group's side
    audrey.groups.remove(Group.objects.get(name=Role.AUDITOR))
    assert has_role(User.objects.get(pk=orla.pk), Role.OBSERVER)
    assert has_role(User.objects.get(pk=audrey.pk), Role.AUDITOR)
    assert sorted(PersonChange.objects.values_list("kind", "old_value")) == [
        (Kind.ROLE_REMOVED, Role.AUDITOR), (Kind.ROLE_REMOVED, Role.OBSERVER)]
    with pytest.raises(people.HeldForCountersign), transaction.atomic():
        audrey.groups.clear()
    with pytest.raises(people.HeldForCountersign), transaction.atomic():
        observers.user_set.clear()
    assert observers.user_set.count() == 2


def test_a_contractor_account_joins_the_association_only_by_countersign(sam, oscar, orla):
    sam.groups.clear()
    sam.organisation = Organisation.ASSOCIATION
    sam.save()
    sam.refresh_from_db()
    assert sam.organisation == Organisation.CONTRACTOR
    (change,) = PersonChange.objects.filter(subject=sam)
    assert (change.kind, change.new_value) == (Kind.ORGANISATION, Organisation.ASSOCIATION)


def test_the_first_observer_of_an_installation_is_given_at_once_and_only_the_first(db):
    first = make_user("first", Organisation.ASSOCIATION)
    second = make_user("second", Organisation.ASSOCIATION)
    observers = Group.objects.get(name=Role.OBSERVER)
    first.groups.add(observers)  # nobody could countersign it
    second.groups.add(observers)  # the first one can
    assert has_role(User.objects.get(pk=first.pk), Role.OBSERVER)
    assert not has_role(User.objects.get(pk=second.pk), Role.OBSERVER)
    assert PersonChange.objects.get().subject == second


def test_the_person_changes_their_own_address_at_once(oscar, orla):
    oscar.is_staff = oscar.is_superuser = True  # an observer who is also an administrator
    oscar.save()
    client_for(oscar).post(f"/admin/countersign/user/{oscar.pk}/change/", admin_change_form(
        oscar, Role.OBSERVER, email=NEW_ADDRESS, is_staff="on", is_superuser="on"))
    oscar.refresh_from_db()
    assert oscar.email == NEW_ADDRESS and not PersonChange.objects.exists()


def test_the_admin_says_what_waits_instead_of_changed_successfully(oscar, orla, admin_client):
    response = admin_client.post(
        f"/admin/countersign/user/{oscar.pk}/change/",
        admin_change_form(oscar, Role.OBSERVER, email=NEW_ADDRESS), follow=True,
        HTTP_ACCEPT_LANGUAGE="en")
    text = response.content.decode()
    assert "waits for another observer of the association to countersign it" in text
    assert "was changed successfully" not in text


def test_setting_up_is_refused_in_a_request(oscar):
    with accounts.acting_as(oscar), pytest.raises(PermissionDenied), people.setting_up():
        pass


def test_only_observers_see_the_page_of_changes(sam, audrey, oscar):
    assert client_for(sam).get(reverse("people_changes")).status_code == 403
    assert client_for(audrey).get(reverse("people_changes")).status_code == 403
    assert client_for(oscar).get(reverse("people_changes")).status_code == 200
