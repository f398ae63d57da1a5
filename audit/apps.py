from django.apps import AppConfig
from django.core import checks
from django.db import connections
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

from audit import triggers
from audit.checks import check_anchor_current, check_audit_triggers


def ensure_triggers(using="default", **kwargs):
    """Put the append-only triggers back after every migrate.

    Django rebuilds a SQLite table (and silently loses its triggers) on some schema changes;
    re-installing here means no future migration can leave the log unprotected. The install
    is idempotent.
    """
    connection = connections[using]
    if triggers.TABLE in connection.introspection.table_names():
        triggers.install(connection)


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = _("Audit log")

    def ready(self):
        checks.register(check_audit_triggers, checks.Tags.database)
        # A deployment check: `migrate` (and the demo after a day off) must still run.
        checks.register(check_anchor_current, checks.Tags.database, deploy=True)
        post_migrate.connect(ensure_triggers, sender=self)
