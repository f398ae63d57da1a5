"""Each roster's data key: what its members' values are encrypted under.

A roster gets a fresh 256-bit key at import (countersign.sealing: AES-256-GCM, each row
bound to its roster, row and member number). The key is kept in two forms on the roster:

* `data_key`: wrapped under MEMBER_DATA_KEY, a key of the installation kept in its settings
  and never in the database. A dump, a replica or a stolen backup of the database alone
  holds ciphertext only. This is the contractor's copy, which the worker and the pages use
  today; the association-held key (issue 22) takes it away, leaving only:
* `data_key_seals`: the key sealed (HPKE) to the association's registered key, one seal per
  key, made at import and again for every live roster when a new key is registered. With its
  private key the association opens any of its rosters without Countersign's help.

Purge is shredding: both forms go (`shred`), so the rows' ciphertext, wherever a copy of it
survives (a backup, a replica), no longer opens with anything the contractor holds.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.checks import Tags, Warning, register
from django.utils import timezone

from countersign import association_key, sealing
from roster.models import Roster


def bound_roster(roster_id: int) -> bytes:
    return f"cs1|data-key|roster|{roster_id}".encode()


UPLOAD = b"cs1|data-key|upload"


@lru_cache(maxsize=4)
def _installation_key(secret: str) -> AESGCM:
    return AESGCM(hashlib.sha256(f"countersign-member-data:{secret}".encode()).digest())


def wrap(data_key: bytes, bound_to: bytes) -> bytes:
    """`data_key` encrypted under the installation's key (MEMBER_DATA_KEY)."""
    return sealing.seal_row(_installation_key(settings.MEMBER_DATA_KEY), data_key, bound_to)


def unwrap(wrapped: bytes, bound_to: bytes) -> bytes:
    """A wrapped data key; sealing.NotSealed if it does not open here (changed, moved to
    another roster, or wrapped under another installation's key)."""
    return sealing.open_row(_installation_key(settings.MEMBER_DATA_KEY), wrapped, bound_to)


def give_key(roster: Roster) -> AESGCM:
    """A fresh data key for a new roster, stored wrapped and sealed to the association."""
    data_key = sealing.new_data_key()
    roster.data_key = wrap(data_key, bound_roster(roster.pk))
    roster.data_key_seals = _seals(data_key, roster.pk)
    roster.save(update_fields=["data_key", "data_key_seals"])
    return AESGCM(data_key)


def key_of(roster_id: int, wrapped) -> AESGCM | None:
    """The AEAD of a roster's data key (`wrapped`: its `data_key` as read with the rows),
    None once it was shredded or if it does not open."""
    if not wrapped:
        return None
    return _opened(roster_id, bytes(wrapped), settings.MEMBER_DATA_KEY)


@lru_cache(maxsize=64)
def _opened(roster_id: int, wrapped: bytes, _installation: str) -> AESGCM | None:
    # Keyed by the wrapped bytes as read (and the installation's key): a shredded or replaced
    # key is never served from here.
    try:
        return AESGCM(unwrap(wrapped, bound_roster(roster_id)))
    except sealing.NotSealed:
        return None


def shred(roster_ids) -> int:
    """Both forms of these rosters' data keys go: their rows no longer open anywhere."""
    count = Roster.objects.filter(pk__in=list(roster_ids)).exclude(data_key=None).update(
        data_key=None, data_key_seals={})
    _opened.cache_clear()
    return count


def _seals(data_key: bytes, roster_id: int) -> dict[str, str]:
    """{fingerprint: the data key sealed to the association's key, base64} for the current
    key, if one is registered and verifies; {} otherwise (never sealed to a key the audit
    log does not vouch for)."""
    public = association_key.verified_public_key()
    if public is None:
        return {}
    made = timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    sealed = sealing.seal(data_key, public, name=f"roster-{roster_id}.data-key", made=made)
    return {sealing.fingerprint(public): base64.b64encode(sealed).decode("ascii")}


def reseal_live_rosters(**_signal) -> int:
    """Every roster whose data key is held, sealed again to the association's new key (and to
    it only: a retired key opens no roster imported or kept after it was retired)."""
    count = 0
    for roster_id, wrapped in Roster.objects.exclude(data_key=None).values_list(
            "pk", "data_key").iterator(chunk_size=500):
        data_key = unwrap(bytes(wrapped), bound_roster(roster_id))
        Roster.objects.filter(pk=roster_id).update(
            data_key_seals=_seals(data_key, roster_id))
        count += 1
    return count



@register(Tags.security, deploy=True)
def check_member_data_key(app_configs, **kwargs):
    """Derived from SECRET_KEY, the key that opens every roster sits wherever SECRET_KEY does;
    and a rotation of SECRET_KEY would make every roster unreadable."""
    derived = hashlib.sha256(f"countersign-member-data:{settings.SECRET_KEY}".encode()).hexdigest()
    if settings.MEMBER_DATA_KEY != derived:
        return []
    return [Warning("MEMBER_DATA_KEY is not set: it is derived from SECRET_KEY",
                    hint="Set MEMBER_DATA_KEY to a random value of its own, keep it out of the "
                         "database and its backups, and never change it: it opens the rosters' "
                         "data keys.", id="roster.W001")]
