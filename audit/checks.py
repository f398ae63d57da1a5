from django.core import checks
from django.db import connections
from django.db.migrations.loader import MigrationLoader

from audit import triggers


def check_audit_triggers(app_configs=None, databases=None, **kwargs):
    """audit.E001: the append-only triggers must exist once the audit migrations are applied."""
    errors = []
    for alias in databases or []:
        connection = connections[alias]
        if triggers.TABLE not in connection.introspection.table_names():
            continue
        loader = MigrationLoader(connection, ignore_no_migrations=True)
        if any(leaf not in loader.applied_migrations for leaf in loader.graph.leaf_nodes("audit")):
            continue  # migrate is about to run; it installs them
        absent = triggers.missing(connection)
        if absent:
            errors.append(
                checks.Error(
                    f"the audit table on database '{alias}' is missing its append-only "
                    f"triggers: {', '.join(absent)}",
                    hint="Run `python manage.py verify_audit --reinstall-triggers`, then find "
                    "out who or what dropped them.",
                    id="audit.E001",
                )
            )
    return errors
