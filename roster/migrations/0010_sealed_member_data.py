"""Members' values encrypted under a data key per roster (roster.data_keys, issue 22).

Existing rosters each get a data key and their rows are encrypted in place; the JSON column
goes. Their seals to the association's key are made at its next registration (a migration
does not decide whether the key in the database is the one the audit log vouches for).
Checked uploads waiting for confirmation are dropped: they expire within the hour anyway,
and the operator uploads the file again.
"""

import json

from django.db import migrations, models

from countersign import sealing
from roster import data_keys, member_data


def seal_members(apps, schema_editor):
    Roster = apps.get_model("roster", "Roster")
    Member = apps.get_model("roster", "Member")
    for roster in Roster.objects.filter(members__isnull=False).distinct().order_by("pk"):
        data_key = sealing.new_data_key()
        Roster.objects.filter(pk=roster.pk).update(
            data_key=data_keys.wrap(data_key, data_keys.bound_roster(roster.pk)))
        aead = data_keys.AESGCM(data_key)
        changed = []
        for member in Member.objects.filter(roster=roster).order_by("pk").iterator(
                chunk_size=2000):
            member.sealed = member_data.seal_values(
                aead, roster.pk, member.row_number, member.member_number,
                member.personal_plain or {})
            changed.append(member)
            if len(changed) == 2000:
                Member.objects.bulk_update(changed, ["sealed"])
                changed = []
        Member.objects.bulk_update(changed, ["sealed"])


def open_members(apps, schema_editor):
    Roster = apps.get_model("roster", "Roster")
    Member = apps.get_model("roster", "Member")
    for roster in Roster.objects.exclude(data_key=None):
        aead = data_keys.key_of(roster.pk, roster.data_key)
        for member in Member.objects.filter(roster=roster).iterator(chunk_size=2000):
            member.personal_plain = json.loads(sealing.open_row(
                aead, member.sealed, member_data.bound_member(
                    roster.pk, member.row_number, member.member_number)))
            member.save(update_fields=["personal_plain"])


def drop_pending_uploads(apps, schema_editor):
    apps.get_model("roster", "RosterUpload").objects.all().delete()


class Migration(migrations.Migration):

    dependencies = [
        ("roster", "0009_member_carrier"),
    ]

    operations = [
        migrations.AddField(
            model_name="roster", name="data_key",
            field=models.BinaryField(editable=False, null=True)),
        migrations.AddField(
            model_name="roster", name="data_key_seals",
            field=models.JSONField(default=dict, editable=False)),
        migrations.RenameField(model_name="member", old_name="personal",
                               new_name="personal_plain"),
        migrations.AddField(model_name="member", name="sealed",
                            field=models.BinaryField(null=True)),
        migrations.RunPython(seal_members, open_members),
        migrations.RemoveField(model_name="member", name="personal_plain"),
        migrations.RenameField(model_name="member", old_name="sealed", new_name="personal"),
        migrations.AlterField(model_name="member", name="personal",
                              field=models.BinaryField()),
        migrations.RunPython(drop_pending_uploads, migrations.RunPython.noop),
        migrations.RemoveField(model_name="rosterupload", name="checked_rows"),
        migrations.RemoveField(model_name="rosterupload", name="preview_rows"),
        migrations.AddField(model_name="rosterupload", name="checked_rows",
                            field=models.BinaryField(default=b"")),
        migrations.AddField(model_name="rosterupload", name="preview_rows",
                            field=models.BinaryField(default=b"")),
        migrations.AddField(model_name="rosterupload", name="data_key",
                            field=models.BinaryField(default=b"", editable=False)),
    ]
