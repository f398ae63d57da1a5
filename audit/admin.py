from django.contrib import admin

from audit.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: the admin can look, never add, change or delete."""

    list_display = ("sequence", "created_at", "actor_name", "role", "action", "object_type",
                    "object_id")
    list_filter = ("action", "role", "organisation")
    search_fields = ("actor_name", "action", "object_id", "hash")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
