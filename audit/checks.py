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


def check_anchor_current(app_configs=None, databases=None, **kwargs):
    """audit.E002: an audit anchor reached the association within its period. A schedule
    moved, deleted or failing to mail fails this within one period, whatever the table says."""
    from audit import anchors  # reads the models: checks.py is imported before they load

    errors = []
    for alias in databases or []:
        if triggers.TABLE not in connections[alias].introspection.table_names():
            continue
        late = anchors.overdue()
        if late:
            errors.append(checks.Error(
                f"the audit log's anchors are not going out: {late}",
                hint="Is a worker (qcluster) running, and can it mail the association's "
                     "observers? `python manage.py shell -c \"from campaigns import notices; "
                     "print(notices.send_anchor('by hand'))\"` mails one now; find out who or "
                     "what stopped them.",
                id="audit.E002"))
    return errors
