from django.core import checks
from django.db import connections
from django.db.migrations.loader import MigrationLoader

from audit import triggers


def check_audit_triggers(app_configs=None, databases=None, **kwargs):
    """audit.E001: the append-only triggers must exist, enabled and exactly as defined in
    audit/triggers.py, once the audit migrations are applied."""
    errors = []
    for alias in databases or []:
        connection = connections[alias]
        if triggers.TABLE not in connection.introspection.table_names():
            continue
        loader = MigrationLoader(connection, ignore_no_migrations=True)
        if any(leaf not in loader.applied_migrations for leaf in loader.graph.leaf_nodes("audit")):
            continue  # migrate is about to run; it installs them
        wrong = triggers.problems(connection)
        if wrong:
            errors.append(
                checks.Error(
                    f"the audit table on database '{alias}' is not protected as it must be; "
                    f"its append-only triggers: {', '.join(wrong)}",
                    hint="Run `python manage.py verify_audit --reinstall-triggers`, then find "
                    "out who or what dropped or replaced them, and verify the chain against "
                    "the last anchor the association kept.",
                    id="audit.E001",
                )
            )
    return errors
