from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import ValidationError

from countersign.models import User
from countersign.signals import check_roles_fit


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
