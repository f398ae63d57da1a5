from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import ValidationError
from django.db import transaction
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin as BaseTOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

import audit
from countersign.models import User
from countersign.signals import check_roles_fit

# Who may approve, release or audit is decided here, so these changes go into the audit log
# with the administrator who made them, in the admin's own transaction.
ACCOUNT_FLAGS = ("is_active", "is_staff", "is_superuser")


class UserChangeForm(BaseUserAdmin.form):
    def clean(self):
        cleaned = super().clean()
        groups = cleaned.get("groups")
        organisation = cleaned.get("organisation")
        if groups is not None and organisation:
            try:
                check_roles_fit(organisation, [g.name for g in groups])
            except ValidationError as error:
                raise forms.ValidationError(error.messages) from None
        return cleaned


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = UserChangeForm
    list_display = ("username", "email", "first_name", "last_name", "organisation", "is_active")
    list_filter = ("organisation", "groups", "is_active")
    fieldsets = BaseUserAdmin.fieldsets + ((None, {"fields": ("organisation",)}),)
    add_fieldsets = BaseUserAdmin.add_fieldsets + ((None, {"fields": ("organisation", "email")}),)

    def save_related(self, request, form, formsets, change):
        user = form.instance
        roles_before = set(user.groups.values_list("name", flat=True)) if change else set()
        super().save_related(request, form, formsets, change)
        roles_after = set(user.groups.values_list("name", flat=True))
        flags = {f: getattr(user, f) for f in ACCOUNT_FLAGS if f in form.changed_data}
        if roles_after != roles_before or flags or not change:
            audit.record("account.changed" if change else "account.created", actor=request.user,
                         target=user, payload={
                             "user": user.get_username(), "organisation": user.organisation,
                             "roles_added": sorted(roles_after - roles_before),
                             "roles_removed": sorted(roles_before - roles_after),
                             "roles": sorted(roles_after), **flags})


admin.site.unregister(TOTPDevice)


@admin.register(TOTPDevice)
class TOTPDeviceAdmin(BaseTOTPDeviceAdmin):
    """Removing a person's two-step device (a lost phone) is audited with who removed it."""

    def delete_model(self, request, obj):
        with transaction.atomic():
            self._audit_removal(request, [obj])
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):  # the "delete selected" action
        with transaction.atomic():
            self._audit_removal(request, list(queryset.select_related("user")))
            super().delete_queryset(request, queryset)

    @staticmethod
    def _audit_removal(request, devices):
        for device in devices:
            audit.record("account.two_factor_removed", actor=request.user, target=device.user,
                         payload={"user": device.user.get_username(),
                                  "device": device.persistent_id})
