"""Every change to a person is audited with whoever made it: in the admin (the
administrator), in the shell or a command (the system), never with the password itself."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEntry
from countersign import accounts
from countersign.models import Organisation
from countersign.roles import Role
from tests.factories import admin_change_form as change_form
from tests.factories import client_for, with_device


def changed(action="account.changed"):
    """Entries of `action` other than the fixtures' own (users created in the shell)."""
    return [e for e in AuditEntry.objects.filter(action=action).order_by("sequence")
            if e.actor_name != "system:shell" or e.payload.get("changes")
            or e.payload.get("password")]


def test_a_role_granted_in_the_admin_is_audited_with_the_administrator(olivia, admin_client,
                                                                       admin_user):
    response = admin_client.post(f"/admin/countersign/user/{olivia.pk}/change/",
                                 change_form(olivia, Role.OPERATOR, Role.SUPERVISOR))
    assert response.status_code == 302
    (entry,) = changed("account.roles_changed")
    assert entry.actor == admin_user and entry.object_id == str(olivia.pk)
    assert entry.payload["roles_added"] == ["supervisor"] and entry.payload["roles_removed"] == []
    assert entry.payload["organisation"] == Organisation.CONTRACTOR


@pytest.mark.parametrize("field, value", [
    ("email", "sam@elsewhere.example"), ("username", "sam2"), ("first_name", "誠二"),
    ("last_name", "佐野")])
def test_a_change_of_identity_in_the_admin_is_audited(sam, admin_client, admin_user, field,
                                                      value):
    admin_client.post(f"/admin/countersign/user/{sam.pk}/change/",
                      change_form(sam, Role.SUPERVISOR, **{field: value}))
    (entry,) = changed()
    assert entry.actor == admin_user
    assert entry.payload["changes"] == {field: [getattr(sam, field), value]}


@pytest.mark.parametrize("field, value", [("first_name", "修二"), ("last_name", "大岩")])
def test_an_association_persons_name_changes_at_once_and_is_audited(oscar, admin_client,
                                                                    field, value):
    admin_client.post(f"/admin/countersign/user/{oscar.pk}/change/",
                      change_form(oscar, Role.OBSERVER, **{field: value}))
    (entry,) = changed()
    assert entry.payload["changes"] == {field: [getattr(oscar, field), value]}


def test_saving_an_unchanged_account_writes_nothing(olivia, admin_client):
    admin_client.post(f"/admin/countersign/user/{olivia.pk}/change/",
                      change_form(olivia, Role.OPERATOR))
    assert changed() == [] and changed("account.roles_changed") == []


def test_deactivating_and_making_superuser_are_audited(olivia, admin_client):
    form = change_form(olivia, Role.OPERATOR, is_superuser="on")
    del form["is_active"]
    admin_client.post(f"/admin/countersign/user/{olivia.pk}/change/", form)
    (entry,) = changed()
    assert entry.payload["changes"] == {"is_active": [True, False], "is_superuser": [False, True]}


def test_a_password_set_in_the_admin_is_audited_without_the_password(sam, admin_client,
                                                                     admin_user):
    response = admin_client.post(f"/admin/countersign/user/{sam.pk}/password/", {
        "password1": "an-admin-knows-this-1", "password2": "an-admin-knows-this-1",
        "usable_password": "true"})
    assert response.status_code == 302
    (entry,) = changed()
    assert entry.actor == admin_user
    assert entry.payload["password"] == "set" and entry.payload["by_owner"] is False
    assert "an-admin-knows-this" not in str(entry.payload)
    sam.refresh_from_db()
    assert sam.must_change_password


def test_someone_whose_password_another_set_must_choose_their_own_first(sam):
    sam.set_password("set-by-someone-else-1")
    sam.save()  # from the shell: not sam's own doing
    sam.refresh_from_db()
    assert sam.must_change_password
    client = client_for(sam)
    response = client.get(reverse("campaigns:list"))
    assert response.status_code == 302 and response.url == reverse("password_change")
    response = client.post(reverse("password_change"), {
        "old_password": "set-by-someone-else-1", "new_password1": "sams-own-secret-99",
        "new_password2": "sams-own-secret-99"})
    assert response.status_code == 302
    sam.refresh_from_db()
    assert not sam.must_change_password and client.get(reverse("campaigns:list")).status_code == 200
    own = changed()[-1]
    assert own.actor == sam and own.payload["by_owner"] is True


def test_changes_from_the_shell_or_a_command_name_the_system(olivia):
    olivia.email = "olivia@new.example"
    olivia.save()
    with accounts.acting_as("cli"):
        olivia.organisation = Organisation.CONTRACTOR
        olivia.last_name = "小野寺"
        olivia.save()
        olivia.groups.add(Group.objects.get_or_create(name=Role.AUDITOR)[0])
    shell, command = changed()[-2:]
    assert shell.actor_name == "system:shell"
    assert shell.payload["changes"] == {"email": ["olivia@contractor.example",
                                                  "olivia@new.example"]}
    assert command.actor_name == "system:cli" and "last_name" in command.payload["changes"]
    roles = changed("account.roles_changed")[-1]
    assert roles.actor_name == "system:cli" and roles.payload["roles_added"] == ["auditor"]


def test_a_new_account_is_audited_with_its_fields_and_roles(admin_client, admin_user):
    admin_client.post("/admin/countersign/user/add/", {
        "username": "nina", "organisation": Organisation.ASSOCIATION,
        "email": "nina@association.example", "password1": "nina-initial-pass-1",
        "password2": "nina-initial-pass-1", "usable_password": "true"})
    entry = AuditEntry.objects.filter(action="account.created").order_by("sequence").last()
    assert entry.actor == admin_user and entry.payload["user"] == "nina"
    assert entry.payload["changes"]["email"] == "nina@association.example"
    assert "nina-initial-pass" not in str(entry.payload)


def test_removing_someones_two_step_device_in_the_admin_is_audited(sam, olivia, admin_client,
                                                                   admin_user):
    one, two = with_device(sam), with_device(olivia)
    assert admin_client.post(f"/admin/otp_totp/totpdevice/{one.pk}/delete/",
                             {"post": "yes"}).status_code == 302
    admin_client.post("/admin/otp_totp/totpdevice/", {
        "action": "delete_selected", "_selected_action": [two.pk], "post": "yes"})
    assert not TOTPDevice.objects.exists()  # the contractor's people's: at once
    removed = changed("account.two_factor_removed")
    assert [e.payload["user"] for e in removed] == ["sam", "olivia"]
    assert {e.actor for e in removed} == {admin_user}


def test_the_admin_never_shows_a_two_step_secret_or_its_qr_code(sam, admin_client):
    device = with_device(sam)
    for url in (f"/admin/otp_totp/totpdevice/{device.pk}/change/",
                "/admin/otp_totp/totpdevice/"):
        page = admin_client.get(url).content.decode()
        assert device.key not in page and device.key.upper() not in page, url
        assert "otpauth://" not in page and "qrcode" not in page.lower(), url
    assert admin_client.get(f"/admin/otp_totp/totpdevice/{device.pk}/config/").status_code in (
        403, 404)
