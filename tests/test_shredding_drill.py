"""The shredding drill (issue 22, "Done when"): purge a roster, then restore the previous
night's dump of its tables into the database: the contractor's tools (the project's own
code, the settings) recover 0 rows of a roster only the association held; the association's
key still opens every one, until the association destroys that key. A roster the contractor
held a copy of opens from the dump with the settings: the backup window the deletion
certificate states."""

import base64
import json
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.test import override_settings
from django.utils import timezone

from campaigns import retention
from countersign import sealing
from roster import member_data
from roster.models import Member, Roster
from roster.samples import sample_rows
from tests.factories import make_roster

ROWS = sample_rows(12)


def _night_dump(roster) -> dict:
    """The rows a nightly dump keeps of a roster: its own and its members', as stored."""
    return {"roster": Roster.objects.filter(pk=roster.pk).values(
                "data_key", "data_key_seals", "value_lengths").get(),
            "members": list(Member.objects.filter(roster=roster).values())}


def _purged(roster) -> None:
    with override_settings(ROSTER_RETENTION_DAYS=30):
        retention.purge_rosters(now=timezone.now() + timedelta(days=31))
    roster.refresh_from_db()
    assert roster.purged_at is not None and not Member.objects.filter(roster=roster).exists()
    assert roster.data_key is None and roster.data_key_seals == {}  # shredded


def _restored(roster, dump) -> None:
    Roster.objects.filter(pk=roster.pk).update(purged_at=None, **dump["roster"])
    Member.objects.bulk_create(Member(**row) for row in dump["members"])


@pytest.mark.django_db(transaction=True)
def test_a_dump_restored_after_the_purge_opens_for_the_association_alone(
        oscar, association_private_key):
    roster = make_roster(oscar, rows=ROWS)
    dump = _night_dump(roster)
    _purged(roster)
    _restored(roster, dump)

    rows = list(member_data.rows(roster))
    assert len(rows) == 12 and all(values.sealed for values in rows)  # 0 rows recovered
    assert not any(row[2].encode() in bytes(member["personal"]) for row in ROWS
                   for member in dump["members"])

    (seal,) = dump["roster"]["data_key_seals"].values()  # the association's key opens them
    _header, data_key = sealing.open_sealed(base64.b64decode(seal), association_private_key)
    opened = sorted(json.loads(sealing.open_row(
        AESGCM(data_key), bytes(member["personal"]),
        sealing.member_binding(member["sealed_in"], member["row_number"],
                               member["member_number"])))["email"]
        for member in dump["members"])
    assert opened == sorted(row[2] for row in ROWS)
    # ... until the association destroys that key: the dump holds no other seal.
    assert list(dump["roster"]["data_key_seals"]) == [
        sealing.fingerprint(association_private_key.public_key())]


@pytest.mark.django_db(transaction=True)
def test_a_dump_of_a_roster_the_contractor_held_opens_with_the_settings(olivia):
    """Imported before the association registered a key: the dump keeps the contractor's
    wrapped copy of the data key, which the settings open; the certificate names the day
    the backups expire, not the erasure."""
    roster = make_roster(olivia, rows=ROWS)
    dump = _night_dump(roster)
    _purged(roster)
    _restored(roster, dump)
    assert sorted(values.email for values in member_data.rows(roster)) == sorted(
        row[2] for row in ROWS)
