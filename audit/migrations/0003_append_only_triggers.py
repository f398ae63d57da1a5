"""Make the audit table append-only inside the database itself (see audit/triggers.py)."""

from django.db import migrations


def install(apps, schema_editor):
    from audit import triggers

    triggers.install(schema_editor.connection)


def uninstall(apps, schema_editor):
    from audit import triggers

    triggers.uninstall(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_actor")]
    operations = [migrations.RunPython(install, uninstall)]
