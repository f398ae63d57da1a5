"""After 0010 encrypted the members in place, the database's files may still hold the old
plaintext: SQLite in its write-ahead log and freed pages (secure_delete overwrites pages freed
from now on), PostgreSQL in the dead row versions the rewrite left and in the dropped column.
Rewritten here, outside a transaction (VACUUM cannot run in one). Backups and WAL archives made
before the upgrade still hold the plaintext: rotate them (docs/security.md)."""

from django.db import migrations


def rewrite_the_files(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in ("roster_member", "roster_rosterupload"):
                cursor.execute(f"VACUUM FULL {table}")
        elif connection.vendor == "sqlite":
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cursor.execute("VACUUM")


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ("roster", "0010_sealed_member_data"),
    ]

    operations = [
        migrations.RunPython(rewrite_the_files, migrations.RunPython.noop, atomic=False),
    ]
