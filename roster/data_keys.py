"""Each roster's data key: what its members' values are encrypted under.

A roster gets a fresh 256-bit key at import (countersign.sealing: AES-256-GCM, each row
bound to its roster, row and member number). The key is kept in two forms on the roster:

* `data_key`: wrapped under MEMBER_DATA_KEY, a key of the installation kept in its settings
  and never in the database. A dump, a replica or a stolen backup of the database alone
  holds ciphertext only. This is the contractor's copy. A roster imported once the
  association has registered its key (and ROSTER_KEYS_WITH_ASSOCIATION is on) has none:
* `data_key_seals`: the key sealed (HPKE) to the association's registered key, one seal per
  key, made at import and again for every live roster when a new key is registered. With its
  private key the association opens any of its rosters without Countersign's help.

A roster whose key is with the association opens nowhere on the contractor's machines,
except inside a window: a worker process that holds the key the association sealed to it
for one release (campaigns.key_window) opens it here, in its memory, until the window
closes (`open_window` / `close_window`). Its pages see member numbers and counts only.

Purge is shredding: both forms go (`shred`), so the rows' ciphertext, wherever a copy of it
survives (a backup, a replica), no longer opens with anything the contractor holds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from functools import lru_cache

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.checks import Tags, Warning, register
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

import audit
from countersign import association_key, sealing
from countersign.actions import Action as AccountAction
from countersign.models import AssociationKey
from countersign.roles import Role, has_role
from roster.actions import Action
from roster.models import Roster

log = logging.getLogger(__name__)


def bound_roster(roster_id: int) -> bytes:
    return f"cs1|data-key|roster|{roster_id}".encode()


UPLOAD = b"cs1|data-key|upload"


@lru_cache(maxsize=4)
def _installation_key(secret: str) -> AESGCM:
    return AESGCM(hashlib.sha256(f"countersign-member-data:{secret}".encode()).digest())


def preview_key() -> X25519PrivateKey:
    """The installation's preview key (roster.previews): what the association seals the few
    members it lets previews show to. Derived from MEMBER_DATA_KEY, never stored."""
    seed = hmac.new(settings.MEMBER_DATA_KEY.encode(), b"countersign-preview-key-1",
                    hashlib.sha256).digest()
    return X25519PrivateKey.from_private_bytes(seed)


def wrap(data_key: bytes, bound_to: bytes) -> bytes:
    """`data_key` encrypted under the installation's key (MEMBER_DATA_KEY)."""
    return sealing.seal_row(_installation_key(settings.MEMBER_DATA_KEY), data_key, bound_to)


def unwrap(wrapped: bytes, bound_to: bytes) -> bytes:
    """A wrapped data key; sealing.NotSealed if it does not open here (changed, moved to
    another roster, or wrapped under another installation's key)."""
    return sealing.open_row(_installation_key(settings.MEMBER_DATA_KEY), wrapped, bound_to)


def give_key(roster: Roster) -> AESGCM:
    """A fresh data key for a new roster, sealed to the association; and wrapped for the
    contractor unless the association holds the keys (then the caller uses the returned key
    only for the import itself, and forgets it)."""
    data_key = sealing.new_data_key()
    code, why = association_key.problem() if may_not_hold() else ("", "")
    if code:  # (check_before_import refused it already, audited, on every import path)
        raise association_key.KeyNotAsRegistered(NOT_IMPORTED % {"why": why})
    roster.data_key_seals = _seals(data_key, roster.pk)
    with_association = bool(roster.data_key_seals) and settings.ROSTER_KEYS_WITH_ASSOCIATION
    roster.data_key = None if with_association else wrap(data_key, bound_roster(roster.pk))
    roster.save(update_fields=["data_key", "data_key_seals"])
    return AESGCM(data_key)


def share_key(source: Roster, part: Roster) -> None:
    """A part of `source` (its rows' ciphertext copied as it is) gets the same data key: the
    association's seals as they are, and the contractor's copy (if `source` has one) wrapped
    again for the part. Each roster's copies go at its own purge."""
    part.data_key_seals = dict(source.data_key_seals)
    part.data_key = (wrap(unwrap(bytes(source.data_key), bound_roster(source.pk)),
                          bound_roster(part.pk)) if source.data_key else None)
    part.save(update_fields=["data_key", "data_key_seals"])


NOT_IMPORTED = gettext_lazy("Not imported: %(why)s. Only the association may hold this roster's "
                            "key; tell the association.")


def may_not_hold() -> bool:
    """Whether the contractor may no longer hold new rosters' keys: the association has
    registered a key (and ROSTER_KEYS_WITH_ASSOCIATION is on)."""
    return settings.ROSTER_KEYS_WITH_ASSOCIATION and association_key.sealing_required()


def check_before_import(*, actor=None) -> None:
    """Before an import's transaction: KeyNotAsRegistered, audited, when the contractor may
    not hold the new roster's key and the association's key is not as registered: never a
    contractor's copy because someone tampered with the association's key."""
    if may_not_hold():
        association_key.refuse_unless_as_registered(name="roster import", actor=actor,
                                                    refusal=str(NOT_IMPORTED))


def key_of(roster_id: int, wrapped) -> AESGCM | None:
    """The AEAD of a roster's data key (`wrapped`: its `data_key` as read with the rows):
    the contractor's copy, else the key of a window open in this process; None if neither
    (shredded, held by the association, or not opening here)."""
    if not wrapped:
        return _windows.get(roster_id)
    return _opened(roster_id, bytes(wrapped), settings.MEMBER_DATA_KEY)


# Sent while an import still holds the key of a roster only the association will hold (a
# window open in the importing process): what must be computed from its values (the content
# guard's keyed tags) is computed now.
imported_with_association = Signal()


# --- windows: a key the association gave this process, in memory only ---------------------

_windows: dict[int, AESGCM] = {}


def open_window(roster_id: int, key: AESGCM) -> None:
    _windows[roster_id] = key


def close_window(roster_id: int) -> None:
    _windows.pop(roster_id, None)


def open_windows() -> tuple[int, ...]:
    """The rosters this process can open through a window now (the guard's index is built
    again when this changes)."""
    return tuple(sorted(_windows))


def with_association(roster) -> bool:
    """Whether only the association holds this roster's key (no contractor's copy)."""
    return roster.data_key is None and bool(roster.data_key_seals) and roster.purged_at is None


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
    count = Roster.objects.filter(pk__in=list(roster_ids)).exclude(
        data_key=None, data_key_seals={}).update(data_key=None, data_key_seals={})
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
    sealed = sealing.seal(data_key, public, name=sealing.data_key_name(roster_id), made=made)
    return {sealing.fingerprint(public): base64.b64encode(sealed).decode("ascii")}


def reseal_live_rosters(**_signal) -> int:
    """Every roster whose data key the contractor holds, sealed again to the association's new
    key (and to it only). A roster whose key does not open here (changed in the database) is
    left as it is, and logged: it does not stop the association from changing its key. A
    roster whose key only the association holds keeps its seal to the key it was imported
    under, which the association keeps to open it."""
    count = 0
    for roster_id, wrapped in Roster.objects.exclude(data_key=None).values_list(
            "pk", "data_key").iterator(chunk_size=500):
        try:
            data_key = unwrap(bytes(wrapped), bound_roster(roster_id))
        except sealing.NotSealed:
            log.error("roster %s: its data key does not open; not sealed to the new key",
                      roster_id)
            continue
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


# --- a new association key: rosters only the association holds, sealed to it too ----------------

def sealed_to_an_earlier_key():
    """Live rosters only the association holds the key of whose data key is not sealed to its
    current key: the association reseals them with the older key (keytool reseal)."""
    current = association_key.current_fingerprint()
    return [roster for roster in Roster.objects.filter(data_key=None, purged_at=None)
            .exclude(data_key_seals={}).order_by("pk") if current not in roster.data_key_seals]


def reseal_request() -> dict:
    """What the key tool needs to seal those rosters to the current key: the key, and each
    roster's seals (to keys of the association only; nothing opens without one)."""
    key = association_key.current()
    return {"kind": sealing.RESEAL_REQUEST,
            "to": {"fingerprint": key.fingerprint,
                   "public_key": base64.b64encode(bytes(key.public_key)).decode("ascii")},
            "rosters": [{"id": r.pk, "name": r.name, "seals": r.data_key_seals,
                         "key_roster": r.original().pk}
                        for r in sealed_to_an_earlier_key()]}


class ResealRefused(ValueError):
    """A reseal file that is not one for the current key and these rosters."""


def accept_reseal(data: bytes, *, actor) -> list[int]:
    """The seals to the current key a reseal file holds, added to the rosters they are for
    (their seals to older keys stay: the association destroys those keys when it chooses).
    Each seal must say it holds that roster's key and be sealed to the current key, which the
    audit log vouches for; what is inside only the association can check, by granting."""
    public = association_key.verified_public_key()
    if public is None:
        raise ResealRefused(_("No key of the association is registered that the audit log "
                              "vouches for."))
    current = sealing.fingerprint(public)
    try:
        answer = json.loads(data)
        assert answer["kind"] == sealing.RESEAL and answer["to"] == current
        seals = {int(pk): base64.b64decode(blob, validate=True)
                 for pk, blob in answer["seals"].items()}
    except (ValueError, KeyError, TypeError, AssertionError) as error:
        raise ResealRefused(_("This is not a reseal file for the association's current "
                              "key.")) from error
    waiting = {roster.pk: roster for roster in sealed_to_an_earlier_key()}
    for pk, blob in seals.items():
        try:
            header = sealing.read_header(blob)
        except sealing.NotSealed as error:
            raise ResealRefused(_("This is not a reseal file for the association's current "
                                  "key.")) from error
        if pk not in waiting or header.to != current or header.name not in (
                sealing.data_key_name(pk), sealing.data_key_name(waiting[pk].original().pk)):
            raise ResealRefused(_("The reseal file holds a roster that is not waiting for "
                                  "the current key: download the reseal request again."))
    with transaction.atomic():
        for pk, blob in seals.items():
            roster = Roster.objects.select_for_update().get(pk=pk)
            roster.data_key_seals = {**roster.data_key_seals,
                                     current: base64.b64encode(blob).decode("ascii")}
            roster.save(update_fields=["data_key_seals"])
        audit.record(Action.RESEALED, actor=actor, role=Role.OBSERVER, payload={
            "rosters": sorted(seals), "fingerprint": current})
    return sorted(seals)


# --- a retired key of the association, destroyed ----------------------------------------------

class KeyNotDestroyable(ValueError):
    """A key the association may not (or cannot) record as destroyed; the message says why."""


def retired_keys():
    """The association's retired keys, newest first: destroyed or not, and when they may be."""
    return AssociationKey.objects.filter(current=False).order_by("-retired_at")


def record_key_destroyed(key: AssociationKey, *, actor) -> None:
    """The association's observer says it destroyed a retired key (its file and its paper).
    Refused while a roster only the association holds is sealed to that key alone: it would
    be lost (reseal it first). Audited; the deletion certificates name the date."""
    if not has_role(actor, Role.OBSERVER):
        raise PermissionDenied
    if key.current:
        raise KeyNotDestroyable(_("The current key is in use: register a new one first."))
    with transaction.atomic():
        destroyed = set(AssociationKey.objects.select_for_update().exclude(destroyed_at=None)
                        .values_list("fingerprint", flat=True)) | {key.fingerprint}
        alone = [roster.name for roster in sealed_to_an_earlier_key()
                 if not set(roster.data_key_seals) - destroyed]
        if alone:  # no key the association still has would open them
            raise KeyNotDestroyable(_("Only this key opens %(rosters)s (the others it was "
                                      "sealed to are destroyed): reseal them to the current "
                                      "key first, or they are lost.")
                                    % {"rosters": ", ".join(alone)})
        done = AssociationKey.objects.filter(pk=key.pk, destroyed_at=None).update(
            destroyed_at=timezone.now())
        if done:
            audit.record(AccountAction.ASSOCIATION_KEY_DESTROYED, actor=actor,
                         role=Role.OBSERVER, target=key, payload={
                             "fingerprint": key.fingerprint,
                             "destroy_on": key.destroy_on.isoformat() if key.destroy_on else ""})
