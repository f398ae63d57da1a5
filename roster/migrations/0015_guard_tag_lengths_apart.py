# The lengths of a roster's tagged values move off the tags (one row per member and value)
# into a table of their own with no member: a copy of the database held each member's exact
# name and address lengths.

import django.db.models.deletion
from django.db import migrations, models


def lengths_apart(apps, schema_editor):
    GuardTag = apps.get_model("roster", "GuardTag")
    GuardTagLength = apps.get_model("roster", "GuardTagLength")
    GuardTagLength.objects.bulk_create([
        GuardTagLength(roster_id=roster_id, kind=kind, length=length, keep_until=keep_until)
        for roster_id, kind, length, keep_until in GuardTag.objects.values_list(
            "roster_id", "kind", "length", "keep_until").distinct()])


class Migration(migrations.Migration):

    dependencies = [
        ('roster', '0014_preview_seal_digest'),
    ]

    operations = [
        migrations.CreateModel(
            name='GuardTagLength',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(max_length=20)),
                ('length', models.PositiveSmallIntegerField()),
                ('keep_until', models.DateField(db_index=True)),
                ('roster', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='roster.roster')),
            ],
        ),
        migrations.RunPython(lengths_apart, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name='guardtag',
            name='length',
        ),
    ]
