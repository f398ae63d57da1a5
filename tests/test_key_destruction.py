"""Purge is shredding, backups included (issue 22, item 5): the deletion certificate states
from when the contractor can no longer open what was erased, even from its backups, and
until when the association's keys still open those backups: the day each retired key may be
destroyed (its backups expired) and the day the association recorded that it was."""

import json
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from campaigns import retention
from campaigns.models import DeletionCertificate
from countersign import association_key, sealing
from countersign.models import AssociationKey
from roster import data_keys
from tests.factories import client_for, make_roster, signed_in_with_code

BACKUP_DAYS = 45


@pytest.fixture(autouse=True)
def _backups_kept(settings):
    settings.BACKUP_RETENTION_DAYS = BACKUP_DAYS


def _new_key(oscar):
    private = sealing.new_private_key()
    association_key.register(user=oscar, pem=sealing.public_pem(private.public_key()))
    return private


def _purged_certificate() -> dict:
    later = timezone.now() + timedelta(days=31)
    with override_settings(ROSTER_RETENTION_DAYS=30):
        retention.purge_rosters(now=later)
    return dict(retention.certificate_rows(DeletionCertificate.objects.latest("created_at")))


def _in(days: int) -> str:
    return (timezone.localdate() + timedelta(days=days)).isoformat()


def test_a_retired_key_may_be_destroyed_once_the_backups_of_its_time_expire(
        oscar, association_private_key):
    first = AssociationKey.objects.get(current=True)
    assert first.destroy_on is None  # current: no day yet
    _new_key(oscar)
    first.refresh_from_db()
    assert first.destroy_on.isoformat() == _in(BACKUP_DAYS)


def test_a_key_that_alone_opens_a_held_roster_is_not_recorded_destroyed_until_resealed(
        oscar, olivia, association_private_key):
    roster = make_roster(oscar)
    first = AssociationKey.objects.get(current=True)
    _new_key(oscar)
    first.refresh_from_db()
    with pytest.raises(data_keys.KeyNotDestroyable, match="reseal"):
        data_keys.record_key_destroyed(first, actor=oscar)
    with pytest.raises(data_keys.KeyNotDestroyable):
        data_keys.record_key_destroyed(AssociationKey.objects.get(current=True), actor=oscar)
    with pytest.raises(PermissionDenied):
        data_keys.record_key_destroyed(first, actor=olivia)
    answer = sealing.make_reseal(data_keys.reseal_request(), association_private_key,
                                 made="2026-12-06T00:00:00Z")
    data_keys.accept_reseal(json.dumps(answer).encode(), actor=oscar)
    roster.refresh_from_db()
    assert len(roster.data_key_seals) == 2

    url = reverse("roster:key_destroyed", args=[first.pk])
    assert client_for(olivia).post(url).status_code == 403
    client = signed_in_with_code(oscar)
    assert client.post(url).status_code == 302
    first.refresh_from_db()
    assert first.destroyed_at is not None
    entry = AuditEntry.objects.get(action="association_key.destroyed")
    assert entry.payload == {"fingerprint": first.fingerprint, "destroy_on": _in(BACKUP_DAYS)}
    page = client.get(reverse("roster:reseal"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'id="retired-keys"' in page and "The association destroyed it" not in page


def test_the_certificate_of_a_held_roster_says_the_contractor_never_opens_it_again(
        oscar, association_private_key):
    make_roster(oscar)
    rows = _purged_certificate()
    assert rows["Unreadable to the contractor, backups included, from"] == (
        "the erasure: only the association held the key")
    keys = rows["Backups still open with the association's keys until it destroys them"]
    assert sealing.grouped(association_key.current_fingerprint())[:19] in keys
    assert f"to be destroyed {BACKUP_DAYS} days after it is retired" in keys


def test_the_certificate_of_a_roster_the_contractor_held_counts_its_backups(olivia):
    make_roster(olivia)  # no association key: the contractor's copy, wrapped by the installation
    rows = _purged_certificate()
    assert rows["Unreadable to the contractor, backups included, from"] == (
        f"{_in(BACKUP_DAYS)} (until then its backups keep its copy of the key)")
    assert "Backups still open with the association's keys until it destroys them" not in rows


def test_the_certificate_names_the_day_a_retired_key_is_to_be_destroyed_and_when_it_was(
        oscar, association_private_key):
    make_roster(oscar)
    first = AssociationKey.objects.get(current=True)
    _new_key(oscar)  # the held roster waits for the association to reseal it
    answer = sealing.make_reseal(data_keys.reseal_request(), association_private_key,
                                 made="2026-12-06T00:00:00Z")
    data_keys.accept_reseal(json.dumps(answer).encode(), actor=oscar)
    first.refresh_from_db()
    data_keys.record_key_destroyed(first, actor=oscar)
    keys = _purged_certificate()[
        "Backups still open with the association's keys until it destroys them"]
    assert sealing.grouped(first.fingerprint)[:19] + "… (destroyed at" in keys
    assert f"to be destroyed {BACKUP_DAYS} days after it is retired" in keys  # the new one
