"""Registrations of the association's key are attested with the installation's key
(countersign.association_key.attestation). The key current at the upgrade is attested here,
if the newest registration in the audit log names it: the upgrade trusts the database as it
is, once; from then on only a registration through Countersign makes a key current."""

from django.db import migrations, models

from countersign.association_key import attestation


def attest_current_key(apps, schema_editor):
    AssociationKey = apps.get_model("countersign", "AssociationKey")
    AuditEntry = apps.get_model("audit", "AuditEntry")
    key = AssociationKey.objects.filter(current=True).first()
    entry = AuditEntry.objects.filter(action="association_key.registered").order_by(
        "-sequence").first()
    if key and entry and entry.payload.get("fingerprint") == key.fingerprint:
        AssociationKey.objects.filter(pk=key.pk).update(
            attestation=attestation(key.fingerprint, entry.hash))


class Migration(migrations.Migration):

    dependencies = [
        ("countersign", "0004_association_key"),
        ("audit", "0003_append_only_triggers"),
    ]

    operations = [
        migrations.AddField(
            model_name="associationkey",
            name="attestation",
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.RunPython(attest_current_key, migrations.RunPython.noop),
    ]
