"""Attack: a preview grant (live, revoked or expired) against erasure and the retention purge.
member_data.erase deletes members with _raw_delete, which skips Django's CASCADE; the
PreviewGrant row (kept as the record after revoke/expiry) still points at the member."""

import json

import pytest
from django.db import IntegrityError, connection

from campaigns import retention
from countersign import sealing
from roster import previews
from roster.models import Member, PreviewGrant, Roster
from roster.samples import sample_rows
from tests.factories import make_roster

ROWS = sample_rows(4)


def _grant(roster, oscar, private, numbers):
    request = previews.request_for(roster, numbers, days=1, reason="役員", actor=oscar)
    answer = sealing.make_preview(request, private, made="2026-12-06T00:00:00Z")
    return previews.accept(json.dumps(answer).encode(), roster=roster, actor=oscar)


def _fk_violations():
    if connection.vendor != "sqlite":  # PostgreSQL checks every foreign key at the commit
        return []
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA foreign_key_check")
        return cursor.fetchall()


@pytest.mark.django_db(transaction=True)
def test_erasure_of_a_granted_member_goes_through_and_takes_the_grant(
        oscar, association_private_key):
    held = make_roster(oscar, rows=ROWS)
    _grant(held, oscar, association_private_key, ["W000002"])
    address = ROWS[1][2]
    retention.erase_member(address=address, actor=oscar)  # raises IntegrityError at commit?
    assert not Member.objects.filter(roster=held, member_number="W000002").exists()
    assert not PreviewGrant.objects.exists()  # "an erasure deletes the grant with the member"
    assert not _fk_violations()


@pytest.mark.django_db(transaction=True)
def test_erasure_after_a_revoked_grant(oscar, association_private_key):
    held = make_roster(oscar, rows=ROWS)
    _grant(held, oscar, association_private_key, ["W000002"])
    previews.revoke(PreviewGrant.objects.get(), actor=oscar)
    retention.erase_member(address=ROWS[1][2], actor=oscar)
    assert not Member.objects.filter(roster=held, member_number="W000002").exists()
    assert not _fk_violations()


@pytest.mark.django_db(transaction=True)
def test_the_retention_purge_of_a_roster_that_once_had_a_grant(
        oscar, association_private_key, settings):
    held = make_roster(oscar, rows=ROWS)
    _grant(held, oscar, association_private_key, ["W000001"])
    previews.revoke(PreviewGrant.objects.get(), actor=oscar)
    settings.ROSTER_RETENTION_DAYS = 0
    from datetime import timedelta

    from django.utils import timezone
    Roster.objects.filter(pk=held.pk).update(imported_at=timezone.now() - timedelta(days=2))
    retention.purge_rosters()
    held.refresh_from_db()
    assert held.purged_at is not None
    assert not Member.objects.filter(roster=held).exists()
    assert not _fk_violations()


@pytest.mark.django_db(transaction=True)
def test_one_roster_that_once_had_a_grant_does_not_stop_the_purge_of_the_others(
        oscar, association_private_key, settings):
    """purge_rosters erases every due roster in one transaction: one roster whose member was
    ever granted (even revoked long ago) makes the whole daily run fail, for every roster."""
    from datetime import timedelta

    from django.utils import timezone
    granted = make_roster(oscar, rows=ROWS, name="A")
    other = make_roster(oscar, rows=sample_rows(3), name="B")
    _grant(granted, oscar, association_private_key, ["W000001"])
    previews.revoke(PreviewGrant.objects.get(), actor=oscar)
    settings.ROSTER_RETENTION_DAYS = 0
    Roster.objects.update(imported_at=timezone.now() - timedelta(days=2))
    try:
        retention.purge_rosters()
    except IntegrityError:
        pass
    other.refresh_from_db()
    assert other.purged_at is not None
