import pytest
from django.db import transaction

import audit
from audit.chain import GENESIS, entry_hash
from audit.models import AuditEntry, AuditLogIsAppendOnly
from audit.services import AuditOutsideTransaction


def _record(action="test.action", **kwargs):
    with transaction.atomic():
        return audit.record(action, **kwargs)


def test_record_appends_a_chained_entry(db):
    first = _record(system="test", payload={"outcome": "ok", "名前": "山田"})
    second = _record(system="worker", payload={"n": 2})
    assert (first.sequence, second.sequence) == (1, 2)
    assert first.prev_hash == GENESIS
    assert second.prev_hash == first.hash
    assert first.hash == entry_hash(GENESIS, first.chain_fields())


def test_an_entry_names_the_actor_and_their_organisation(olivia):
    first = _record(actor=olivia, role="operator")
    assert first.actor_name == "olivia" and first.organisation == "contractor"
    second = _record(system="worker")
    assert second.actor_name == "system:worker" and second.actor is None


def test_record_names_the_target_object(olivia):
    entry = _record(actor=olivia, role="operator", target=olivia)
    assert (entry.object_type, entry.object_id) == ("countersign.user", str(olivia.pk))


def test_the_entries_about_an_object_are_found_by_its_type_and_id(olivia, sam):
    from audit.selectors import filtered_entries

    about_olivia = _record("test.about", actor=sam, role="supervisor", target=olivia)
    _record("test.about", actor=olivia, role="operator", target=sam)
    _record("test.about", system="test")
    assert list(AuditEntry.objects.about(olivia).filter(action="test.about")) == [about_olivia]
    assert list(filtered_entries(object_type="countersign.user", object_id=str(olivia.pk),
                                 action="test.about")) == [about_olivia]
    assert filtered_entries(object_type="countersign.user", action="test.about").count() == 2
    assert not filtered_entries(object_type="roster.roster", object_id=str(olivia.pk)).exists()


def test_an_object_id_without_its_type_is_refused(db):
    from audit.selectors import filtered_entries

    with pytest.raises(ValueError, match="needs its object type"):
        filtered_entries(object_id="1")


def test_stored_entry_still_hashes_the_same_after_a_database_round_trip(olivia):
    payload = {"z": 1, "a": [True, None, "ｶﾅ"], "nested": {"b": "x", "a": "y"}}
    entry = _record(actor=olivia, role="operator", payload=payload)
    stored = AuditEntry.objects.get(pk=entry.pk)
    assert entry_hash(stored.prev_hash, stored.chain_fields()) == stored.hash


@pytest.mark.django_db(transaction=True)
def test_record_outside_a_transaction_is_refused(olivia):
    with pytest.raises(AuditOutsideTransaction):
        audit.record("test.action", actor=olivia)


def test_the_entry_rolls_back_with_the_change_it_describes(olivia):
    before = AuditEntry.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        audit.record("test.action", actor=olivia)
        raise RuntimeError("the change failed")
    assert AuditEntry.objects.count() == before


def test_entry_needs_an_actor_or_a_system_name(db):
    with pytest.raises(ValueError):
        _record()


@pytest.mark.parametrize("payload", [{"rate": 0.5}, {1: "int key"}, {"when": object()},
                                     {"nul": "a\x00b"}])
def test_payloads_that_would_not_round_trip_are_refused(olivia, payload):
    with pytest.raises(TypeError):
        _record(actor=olivia, payload=payload)


def test_model_refuses_update_delete_and_bulk_writes_in_python(olivia):
    entry = _record(actor=olivia)
    entry.action = "forged"
    with pytest.raises(AuditLogIsAppendOnly):
        entry.save()
    with pytest.raises(AuditLogIsAppendOnly):
        entry.delete()
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEntry.objects.filter(pk=entry.pk).update(action="forged")
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEntry.objects.all().delete()
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEntry.objects.bulk_update([entry], ["action"])
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEntry.objects.bulk_create([AuditEntry(sequence=9, action="x")])
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEntry.objects.create(sequence=9, action="x")
    assert AuditEntry.objects.get(pk=entry.pk).action == "test.action"


def test_admin_shows_the_log_read_only(olivia, admin_client):
    entry = _record(actor=olivia)
    assert admin_client.get("/admin/audit/auditentry/").status_code == 200
    assert admin_client.get("/admin/audit/auditentry/add/").status_code == 403
    page = admin_client.get(f"/admin/audit/auditentry/{entry.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert admin_client.post(f"/admin/audit/auditentry/{entry.pk}/delete/").status_code == 403
