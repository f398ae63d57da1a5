"""Attack on dc2b539 (deletion certificates, association keys recorded destroyed).

1. record_key_destroyed refuses only when a held roster's seals are exactly {that key}. A
   roster sealed to two retired keys (imported under K1, resealed to K2, then K3 registered
   and not resealed yet) lets the observer record K1 destroyed, then K2: the roster is then
   sealed to destroyed keys only. It is lost, and no page said so.
2. The certificate of an erasure says a held roster's rows are unreadable to the contractor
   "from the erasure", but a member the association granted a preview of has a preview seal
   in every backup taken while the grant was live, and the preview key is derived from
   MEMBER_DATA_KEY (roster.previews._private): the contractor opens it from its backups until
   they expire.
"""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns import retention
from countersign import association_key, sealing
from countersign.models import AssociationKey
from roster import data_keys, previews
from roster.models import PreviewGrant
from roster.samples import sample_rows
from tests.factories import make_roster

BACKUP_DAYS = 45


@pytest.fixture(autouse=True)
def _backups_kept(settings):
    settings.BACKUP_RETENTION_DAYS = BACKUP_DAYS


def _new_key(oscar):
    private = sealing.new_private_key()
    association_key.register(user=oscar, pem=sealing.public_pem(private.public_key()))
    return private


def test_a_roster_sealed_only_to_retired_keys_is_not_lost_one_destruction_at_a_time(
        oscar, association_private_key):
    roster = make_roster(oscar)                     # sealed to K1
    k1 = AssociationKey.objects.get(current=True)
    _new_key(oscar)                                 # K2
    answer = sealing.make_reseal(data_keys.reseal_request(), association_private_key,
                                 made="2026-12-06T00:00:00Z")
    data_keys.accept_reseal(json.dumps(answer).encode(), actor=oscar)   # sealed to K1, K2
    k2 = AssociationKey.objects.get(current=True)
    _new_key(oscar)                                 # K3: the roster waits for a reseal
    roster.refresh_from_db()
    assert set(roster.data_key_seals) == {k1.fingerprint, k2.fingerprint}
    k1.refresh_from_db()
    k2.refresh_from_db()

    data_keys.record_key_destroyed(k1, actor=oscar)  # fine: K2 still opens it
    # K2 is now the only key that opens the roster: recording it destroyed must be refused.
    with pytest.raises(data_keys.KeyNotDestroyable):
        data_keys.record_key_destroyed(k2, actor=oscar)


def test_the_certificate_counts_the_backups_of_a_previewed_members_seal(
        oscar, association_private_key):
    rows = sample_rows(6)
    held = make_roster(oscar, rows=rows)
    request = previews.request_for(held, ["W000002"], days=1, reason="役員（本人の同意あり）",
                                   actor=oscar)
    answer = sealing.make_preview(request, association_private_key, made="2026-12-06T00:00:00Z")
    previews.accept(json.dumps(answer).encode(), roster=held, actor=oscar)
    assert PreviewGrant.objects.exists()  # the seal is in the database, so in its backups

    certificate = retention.erase_member(address=rows[1][2], actor=oscar)
    unreadable = certificate.document["unreadable"]
    # The backups hold the preview seal, opened by a key derived from MEMBER_DATA_KEY:
    # the contractor can read this member until the backups expire, not "from the erasure".
    expected = (timezone.localdate(certificate.created_at)  # the day of the erasure
                + timedelta(days=BACKUP_DAYS)).isoformat()
    assert unreadable["contractor_from"] == expected, unreadable
