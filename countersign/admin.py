from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy, gettext_noop, ngettext
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin as BaseTOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from countersign import accounts, people
from countersign.models import User
from countersign.roles import Role
from countersign.signals import check_roles_fit

# Who may approve, release or audit is decided here. Every change to a person (fields,
# password, roles, two-step devices) is audited with the administrator as the actor by the
# model and its signals (countersign.accounts), whichever page or command makes it. A change
# to one of the association's people waits for another observer's countersign in the app
# (countersign.people): the admin says so instead of "changed successfully".


class SaysWhatWaits:
    """After a save or a delete, what waits for a countersign replaces Django's "changed
    successfully", which would not be true of it."""

    def message_user(self, request, message, level=messages.INFO, *args, **kwargs):
        held = accounts.held_now()
        if not held:
            return super().message_user(request, message, level, *args, **kwargs)
        waiting = "; ".join(f"{change.subject.get_username()}: {people.describe(change)}"
                            for change in held)
        return super().message_user(request, ngettext(
            "Saved, except this change to the association's people, which waits for another "
            "observer of the association to countersign it: %(waiting)s",
            "Saved, except these changes to the association's people, which wait for another "
            "observer of the association to countersign them: %(waiting)s", len(held))
            % {"waiting": waiting}, messages.WARNING, *args, **kwargs)


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
class UserAdmin(SaysWhatWaits, BaseUserAdmin):
    form = UserChangeForm
    list_display = ("username", "email", "first_name", "last_name", "organisation", "is_active")
    list_filter = ("organisation", "groups", "is_active")
    fieldsets = BaseUserAdmin.fieldsets + ((None, {"fields": ("organisation",)}),)
    add_fieldsets = BaseUserAdmin.add_fieldsets + ((None, {"fields": ("organisation", "email")}),)

    def has_delete_permission(self, request, obj=None):
        """The association's people are deactivated, not deleted (countersign.signals)."""
        if obj is not None and people.is_association(obj):
            return False
        return super().has_delete_permission(request, obj)


# Names the admin's index shows for other apps' tables: django-axes and django-q2 ship no
# Japanese, so the project's catalogue carries their names (marked here to stay in it).
THIRD_PARTY_NAMES = (
    gettext_noop("access attempts"), gettext_noop("access failures"),
    gettext_noop("access logs"), gettext_noop("access attempt expirations"),
    gettext_noop("Failed tasks"), gettext_noop("Successful tasks"),
    gettext_noop("Scheduled tasks"), gettext_noop("Queued tasks"), gettext_noop("Tasks"),
)
# django-otp names its model without gettext: named here, in the reader's language.
TOTPDevice._meta.verbose_name = gettext_lazy("two-step device")
TOTPDevice._meta.verbose_name_plural = gettext_lazy("two-step devices")

admin.site.unregister(TOTPDevice)


@admin.register(TOTPDevice)
class TOTPDeviceAdmin(SaysWhatWaits, BaseTOTPDeviceAdmin):
    """Devices are seen and removed here, never made or changed: only the person sets up
    their own, in the app (a key chosen or seen here would give their codes). Removing one of
    the association's people's devices waits for another observer's countersign; any removal
    by someone else is audited with the administrator as the actor (countersign.signals).
    The secret key and its QR code are never shown (OTP_ADMIN_HIDE_SENSITIVE_DATA)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def log_deletions(self, request, queryset):
        """The admin's own history lists only the removals that happen now."""
        return super().log_deletions(request, [d for d in queryset
                                               if not people.removal_waits(d)])

    def delete_model(self, request, obj):
        people.remove_device(obj)

    def delete_queryset(self, request, queryset):
        for device in queryset.select_related("user"):
            people.remove_device(device)


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin):
    """A role's group keeps its name and is never deleted: every holder would lose the role
    at once, without the countersign a role taken from the association's people needs."""

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.name in Role.values:
            return ("name",)
        return super().get_readonly_fields(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.name in Role.values:
            return False
        return super().has_delete_permission(request, obj)
