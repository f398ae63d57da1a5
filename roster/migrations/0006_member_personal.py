"""A member's name, address and extra columns move into one field, `personal`, that only
roster.member_data reads or writes (the one door); uniqueness of an address in a roster is
on its pseudonym. The upload's rows are renamed so that their readers are easy to find."""

from django.db import migrations, models


def into_personal(apps, schema_editor):
    Member = apps.get_model("roster", "Member")
    batch = []
    for member in Member.objects.only("pk", "name", "email", "extra").iterator(chunk_size=2000):
        member.personal = {"name": member.name, "email": member.email,
                           "extra": member.extra or {}}
        batch.append(member)
        if len(batch) == 2000:
            Member.objects.bulk_update(batch, ["personal"])
            batch = []
    Member.objects.bulk_update(batch, ["personal"])


def out_of_personal(apps, schema_editor):
    Member = apps.get_model("roster", "Member")
    for member in Member.objects.iterator(chunk_size=2000):
        personal = member.personal or {}
        Member.objects.filter(pk=member.pk).update(
            name=personal.get("name", ""), email=personal.get("email", ""),
            extra=personal.get("extra") or {})


class Migration(migrations.Migration):
    dependencies = [("roster", "0005_member_lifecycle")]

    operations = [
        migrations.AddField("member", "personal", models.JSONField(default=dict)),
        migrations.RunPython(into_personal, out_of_personal),
        migrations.RemoveConstraint("member", "member_email_unique_in_roster"),
        migrations.RemoveField("member", "name"),
        migrations.RemoveField("member", "email"),
        migrations.RemoveField("member", "extra"),
        migrations.AddConstraint("member", models.UniqueConstraint(
            fields=["roster", "email_pseudonym"], name="member_address_unique_in_roster")),
        migrations.RenameField("rosterupload", "checked", "checked_rows"),
        migrations.RenameField("rosterupload", "preview", "preview_rows"),
    ]
