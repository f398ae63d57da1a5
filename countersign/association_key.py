"""The association's key in Countersign: which public key is current, who registered it, and
sealing a file to it (countersign.sealing).

An observer of the association registers the public key its key tool printed; registering
another retires the one before. Both are audited with the fingerprints, never more. Before
anything is sealed, the current key is checked against the audit log: the row's public key
must hash to its fingerprint, and that fingerprint must be the one the last registration
entry names. A key swapped in the database (by whoever can write to it) is then refused,
not used: the chain's entries cannot be rewritten without the verification seeing it.
"""

from __future__ import annotations

import logging
from datetime import UTC

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

import audit
from audit.models import AuditEntry
from countersign import sealing
from countersign.actions import Action
from countersign.models import AssociationKey
from countersign.people import is_association
from countersign.roles import Role, has_role

log = logging.getLogger(__name__)


class KeyNotAsRegistered(RuntimeError):
    """The current key in the database is not the one the audit log says was registered."""


def current() -> AssociationKey | None:
    return AssociationKey.objects.filter(current=True).first()


def current_fingerprint() -> str:
    """The current key's fingerprint ("" while none is registered): anchors and deletion
    certificates carry it, so the association notices a key it does not hold."""
    key = current()
    return key.fingerprint if key else ""


def may_register(user) -> bool:
    return is_association(user) and has_role(user, Role.OBSERVER)


def register(*, user, pem: str) -> AssociationKey:
    """Make the public key in `pem` the association's current key. Only an observer of the
    association may; a key already registered (current or retired) is refused, so an old
    key cannot come back."""
    if not may_register(user):
        raise PermissionDenied(_("Only an observer of the association registers its key."))
    try:
        public = sealing.load_public(pem)
    except sealing.BadPublicKey as error:
        raise ValidationError(_("This is not the public key the key tool printed (%(why)s). "
                                "Paste the whole block from -----BEGIN PUBLIC KEY----- to "
                                "-----END PUBLIC KEY-----.") % {"why": error}) from error
    fingerprint = sealing.fingerprint(public)
    with transaction.atomic():
        if AssociationKey.objects.select_for_update().filter(fingerprint=fingerprint).exists():
            raise ValidationError(_("This key was registered before; a retired key does not "
                                    "come back. Make a new one with the key tool."))
        before = AssociationKey.objects.select_for_update().filter(current=True).first()
        if before is not None:
            before.current, before.retired_at = False, timezone.now()
            before.save(update_fields=["current", "retired_at"])
        key = AssociationKey.objects.create(public_key=sealing.raw_public(public),
                                            fingerprint=fingerprint, registered_by=user)
        audit.record(Action.ASSOCIATION_KEY_REGISTERED, actor=user, role=Role.OBSERVER,
                     target=key, payload={"fingerprint": fingerprint,
                                          "retired_key": before.fingerprint if before else ""})
    return key


def _registered_fingerprint() -> str:
    entry = (AuditEntry.objects.filter(action=Action.ASSOCIATION_KEY_REGISTERED)
             .order_by("-sequence").first())
    return entry.payload.get("fingerprint", "") if entry else ""


def checked(key: AssociationKey) -> AssociationKey:
    """`key`, if it is exactly what the last registration in the audit log names."""
    raw = bytes(key.public_key)
    if sealing.fingerprint(raw) != key.fingerprint or (
            key.fingerprint != _registered_fingerprint()):
        log.error("the association key %s is not the one registered in the audit log",
                  key.fingerprint[:16])
        raise KeyNotAsRegistered(_("The association's key in the database is not the one "
                                   "its observer registered (see the audit log). Nothing was "
                                   "sealed to it; tell the association."))
    return key


def seal_file(data: bytes, *, name: str) -> tuple[bytes, str, str] | None:
    """(sealed bytes, file name, fingerprint) of `data` sealed to the association's current
    key, or None while the association has registered none."""
    key = current()
    if key is None:
        return None
    key = checked(key)
    made = timezone.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    sealed = sealing.seal(data, sealing.public_from_raw(bytes(key.public_key)), name=name,
                          made=made)
    return sealed, name + sealing.SUFFIX, key.fingerprint
