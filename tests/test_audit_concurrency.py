"""Concurrent writers queue up: the chain never forks and no append fails with a lock error."""

import threading

import pytest
from django.db import connection, transaction

import audit
from audit.models import AuditEntry
from audit.verification import verify_database

WRITERS, EACH = 4, 25


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_make_one_unbroken_chain():
    errors = []
    start = threading.Barrier(WRITERS)

    def writer(n):
        try:
            start.wait()
            for i in range(EACH):
                with transaction.atomic():
                    audit.record("test.concurrent", system=f"writer{n}", payload={"i": i})
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert AuditEntry.objects.count() == WRITERS * EACH
    verdict = verify_database()
    assert verdict.ok and verdict.count == WRITERS * EACH
