from django.db import connection, transaction

import audit


def write_entries(count, *, actor=None):
    entries = []
    for i in range(count):
        with transaction.atomic():
            entries.append(audit.record("test.action", actor=actor, system="" if actor else "test",
                                        payload={"i": i}))
    return entries


def raw(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def business_entries():
    """The log without the accounts' own entries (the fixtures create users, audited)."""
    from audit.models import AuditEntry

    return AuditEntry.objects.exclude(action__startswith="account.")
