from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import ValidationError
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin as BaseTOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from countersign.models import User
from countersign.signals import check_roles_fit

# Who may approve, release or audit is decided here. Every change to a person (fields,
# password, roles, two-step devices) is audited with the administrator as the actor by the
# model and its signals (countersign.accounts), whichever page or command makes it.


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


admin.site.unregister(TOTPDevice)


@admin.register(TOTPDevice)
class TOTPDeviceAdmin(BaseTOTPDeviceAdmin):
    """Adding or removing someone's two-step device is audited with the administrator as
    the actor (countersign.signals). The secret key and its QR code are never shown here
    (OTP_ADMIN_HIDE_SENSITIVE_DATA): whoever saw them could give that person's codes."""
