"""Who may approve, release or audit is set in the admin: those changes are audited with the
administrator who made them."""

from django.contrib.auth.models import Group
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEntry
from countersign.models import Organisation
from countersign.roles import Role


def change_form(user, *roles, **extra):
    return {"username": user.username, "organisation": user.organisation, "email": user.email,
            "groups": [Group.objects.get(name=r).pk for r in roles], "is_active": "on",
            "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00", **extra}


def test_a_role_granted_in_the_admin_is_audited_with_the_administrator(olivia, admin_client,
                                                                       admin_user):
    response = admin_client.post(f"/admin/countersign/user/{olivia.pk}/change/",
                                 change_form(olivia, Role.OPERATOR, Role.SUPERVISOR))
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action="account.changed")
    assert entry.actor == admin_user and entry.object_id == str(olivia.pk)
    assert entry.payload["roles_added"] == ["supervisor"] and entry.payload["roles_removed"] == []
    assert entry.payload["organisation"] == Organisation.CONTRACTOR


def test_saving_an_account_without_a_change_of_roles_or_status_writes_nothing(olivia,
                                                                               admin_client):
    admin_client.post(f"/admin/countersign/user/{olivia.pk}/change/",
                      change_form(olivia, Role.OPERATOR, first_name="Olivia"))
    assert not AuditEntry.objects.filter(action="account.changed").exists()


def test_deactivating_an_account_is_audited(olivia, admin_client):
    form = change_form(olivia, Role.OPERATOR)
    del form["is_active"]
    admin_client.post(f"/admin/countersign/user/{olivia.pk}/change/", form)
    entry = AuditEntry.objects.get(action="account.changed")
    assert entry.payload["is_active"] is False and entry.payload["roles_removed"] == []


def test_removing_someones_two_step_device_is_audited(sam, oscar, admin_client, admin_user):
    one = TOTPDevice.objects.create(user=sam, name="authenticator")
    two = TOTPDevice.objects.create(user=oscar, name="authenticator")
    assert admin_client.post(f"/admin/otp_totp/totpdevice/{one.pk}/delete/",
                             {"post": "yes"}).status_code == 302
    admin_client.post("/admin/otp_totp/totpdevice/", {
        "action": "delete_selected", "_selected_action": [two.pk], "post": "yes"})
    assert not TOTPDevice.objects.exists()
    removed = AuditEntry.objects.filter(action="account.two_factor_removed").order_by("sequence")
    assert [e.payload["user"] for e in removed] == ["sam", "oscar"]
    assert all(e.actor == admin_user for e in removed)
