"""Members' values encrypted under a data key per roster (roster.data_keys, issue 22).

Existing rosters each get a data key and their rows are encrypted in place; the JSON column
goes. Their seals to the association's key are made at its next registration (a migration
does not decide whether the key in the database is the one the audit log vouches for).
Checked uploads waiting for confirmation are dropped: they expire within the hour anyway,
and the operator uploads the file again.
"""

import hashlib
import json
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db import migrations, models

# The formats as they were when this migration was written (roster.data_keys, roster.member_data):
# frozen here, so that a later change of the live code cannot change what it wrote.


def _installation_key() -> AESGCM:
    return AESGCM(hashlib.sha256(
        f"countersign-member-data:{settings.MEMBER_DATA_KEY}".encode()).digest())


def _seal(key: AESGCM, data: bytes, bound_to: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + key.encrypt(nonce, data, bound_to)


def _open(key: AESGCM, blob: bytes, bound_to: bytes) -> bytes:
    return key.decrypt(blob[:12], blob[12:], bound_to)


def _bound_roster(roster_id: int) -> bytes:
    return f"cs1|data-key|roster|{roster_id}".encode()


def _bound_member(roster_id: int, row_number: int, member_number: str) -> bytes:
    return f"cs1|member|{roster_id}|{row_number}|{member_number}".encode()


def seal_members(apps, schema_editor):
    Roster = apps.get_model("roster", "Roster")
    Member = apps.get_model("roster", "Member")
    for roster in Roster.objects.filter(members__isnull=False).distinct().order_by("pk"):
        data_key = AESGCM.generate_key(bit_length=256)
        Roster.objects.filter(pk=roster.pk).update(
            data_key=_seal(_installation_key(), data_key, _bound_roster(roster.pk)))
        aead = AESGCM(data_key)
        changed = []
        for member in Member.objects.filter(roster=roster).order_by("pk").iterator(
                chunk_size=2000):
            member.sealed_in = roster.pk
            member.sealed = _seal(aead, json.dumps(
                member.personal_plain or {}, ensure_ascii=False, sort_keys=True).encode(),
                _bound_member(roster.pk, member.row_number, member.member_number))
            changed.append(member)
            if len(changed) == 2000:
                Member.objects.bulk_update(changed, ["sealed", "sealed_in"])
                changed = []
        Member.objects.bulk_update(changed, ["sealed", "sealed_in"])


def open_members(apps, schema_editor):
    Roster = apps.get_model("roster", "Roster")
    Member = apps.get_model("roster", "Member")
    for roster in Roster.objects.exclude(data_key=None):
        aead = AESGCM(_open(_installation_key(), bytes(roster.data_key),
                            _bound_roster(roster.pk)))
        for member in Member.objects.filter(roster=roster).iterator(chunk_size=2000):
            member.personal_plain = json.loads(_open(aead, bytes(member.sealed), _bound_member(
                member.sealed_in, member.row_number, member.member_number)))
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
        migrations.AddField(model_name="member", name="sealed_in",
                            field=models.BigIntegerField(null=True)),
        migrations.RunPython(seal_members, open_members),
        migrations.RemoveField(model_name="member", name="personal_plain"),
        migrations.RenameField(model_name="member", old_name="sealed", new_name="personal"),
        migrations.AlterField(model_name="member", name="personal",
                              field=models.BinaryField()),
        migrations.AlterField(model_name="member", name="sealed_in",
                              field=models.BigIntegerField()),
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
