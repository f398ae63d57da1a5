from datetime import UTC

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditLogIsAppendOnly(Exception):
    """An attempt to change or remove an audit entry, or to add one outside audit.record()."""


def object_key(target) -> tuple[str, str]:
    """How an entry names the object it is about: its model's label ("app_label.model", as
    a content type names it) and its primary key as text. Any model, no app named here:
    like the admin's LogEntry, the log knows objects by type and id."""
    return target._meta.label_lower, str(target.pk)


class AuditEntryQuerySet(models.QuerySet):
    def about(self, target):
        """The entries about one object (written with audit.record(..., target=it))."""
        object_type, object_id = object_key(target)
        return self.filter(object_type=object_type, object_id=object_id)

    def update(self, **kwargs):
        raise AuditLogIsAppendOnly("audit entries cannot be updated")

    def delete(self):
        raise AuditLogIsAppendOnly("audit entries cannot be deleted")

    def bulk_update(self, objs, fields, batch_size=None):
        raise AuditLogIsAppendOnly("audit entries cannot be updated")

    def bulk_create(self, objs, *args, **kwargs):
        raise AuditLogIsAppendOnly("audit entries are added one by one with audit.record()")


class AuditEntry(models.Model):
    sequence = models.PositiveBigIntegerField(_("sequence"), unique=True)
    created_at = models.DateTimeField(_("time"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,  # an account that acted can be disabled, never erased
        related_name="+",
    )
    # Snapshot of the actor's login name: the hash covers this text, not the user row.
    actor_name = models.CharField(_("actor"), max_length=150)
    role = models.CharField(_("role"), max_length=20, blank=True)
    organisation = models.CharField(_("organisation"), max_length=20, blank=True)
    action = models.CharField(_("action"), max_length=64, db_index=True)
    object_type = models.CharField(_("object type"), max_length=64, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    payload = models.JSONField(_("payload"), default=dict)
    # Unique prev_hash: two appends that read the same head cannot both land (no fork).
    prev_hash = models.CharField(_("previous hash"), max_length=64, unique=True)
    hash = models.CharField(_("hash"), max_length=64, unique=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["sequence"]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self):
        return f"#{self.sequence} {self.action} by {self.actor_name}"

    def save(self, *args, _append=False, **kwargs):
        if not (_append and self._state.adding):
            raise AuditLogIsAppendOnly("use audit.record(); entries are never changed")
        super().save(*args, force_insert=True, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditLogIsAppendOnly("audit entries cannot be deleted")

    def chain_fields(self) -> dict:
        """This entry as audit.chain sees it (the hashed fields plus both hashes)."""
        return chain_fields(tuple(getattr(self, column) for column in CHAIN_COLUMNS))

    @classmethod
    def chain_rows(cls, queryset=None):
        """Entries of `queryset` (default: all) as audit.chain dicts, in sequence order,
        streamed without building model instances (what verification and export walk)."""
        queryset = cls.objects.all() if queryset is None else queryset
        rows = queryset.order_by("sequence").values_list(*CHAIN_COLUMNS)
        return map(chain_fields, rows.iterator(chunk_size=5000))


# Model columns in the order chain_fields() reads them.
CHAIN_COLUMNS = ("sequence", "created_at", "actor_name", "role", "organisation", "action",
                 "object_type", "object_id", "payload", "prev_hash", "hash")


def time_text(moment) -> str:
    """The time as it is hashed: UTC, ISO 8601, fixed width."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def chain_fields(row: tuple) -> dict:
    (sequence, created_at, actor, role, organisation, action, object_type, object_id, payload,
     prev_hash, hash_) = row
    return {"sequence": sequence, "time": time_text(created_at), "actor": actor, "role": role,
            "organisation": organisation, "action": action, "object_type": object_type,
            "object_id": object_id, "payload": payload, "prev_hash": prev_hash, "hash": hash_}
