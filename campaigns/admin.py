"""The worker's schedules in the admin: read-only. They are defined by code
(campaigns.schedules), so nobody moves the audit anchor to 2099 or schedules an arbitrary
function through the admin; the watchdog puts back any change made to the table itself."""

import django_q.admin  # noqa: F401 - registers django-q2's admin first, replaced below
from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from django_q.models import Schedule

admin.site.unregister(Schedule)


@admin.register(Schedule)
class PlannedScheduleAdmin(admin.ModelAdmin):
    list_display = ("name", "func", "minutes", "next_run", "last_run")
    readonly_fields = ("name", "func", "schedule_type", "minutes", "repeats", "next_run")
    fields = readonly_fields

    @admin.display(description=_("last run"))
    def last_run(self, schedule):
        return schedule.last_run()

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
