"""The association's key in Countersign: which public key is current, who registered it, and
sealing a file to it (countersign.sealing).

An observer of the association registers the public key its key tool printed, with a fresh
code from their phone; registering another retires the one before. Both are audited with the
fingerprints, never more, and every observer of the association is told by mail at once.

What to seal to is decided by the audit log, not by the key table alone. Once the log holds a
registration, every file with member data is sealed, and only to the key that the newest
registration names: that entry must hash as the chain says and link to the one before it,
its actor must be an observer of the association, and the current key's bytes must hash to
the fingerprint it names. A key row swapped, added, retired or deleted in the database is
then refused (audited), never used, and never a reason to hand the file out unsealed.
Whoever holds the server's shell can still append a well-hashed entry in an observer's
name; the anchors mailed to the association and the deletion certificates name the
fingerprint, so the association's own mail archive shows a key it does not hold.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from datetime import UTC, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction
from django.dispatch import Signal
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

import audit
from audit.chain import entry_hash
from audit.models import AuditEntry
from countersign import clock, sealing
from countersign.actions import Action
from countersign.models import AssociationKey, KeySlot, Organisation
from countersign.people import association_observers, is_association
from countersign.roles import Role, has_role

log = logging.getLogger(__name__)


class KeyNotAsRegistered(RuntimeError):
    """The key in the database is not the one the audit log says was registered."""


# Sent inside the registration's transaction, after the new key is current: the rosters'
# data keys are sealed to it (roster.data_keys) in the same commit.
registered = Signal()


def current() -> AssociationKey | None:
    return AssociationKey.objects.filter(current=True).first()


def current_fingerprint() -> str:
    """The current key's fingerprint ("" while none is registered): anchors and deletion
    certificates carry it, so the association notices a key it does not hold."""
    key = current()
    return key.fingerprint if key else ""


def destroy_on(retired_at):
    """The day a retired key may be destroyed: the last backup taken while it was current
    has expired (BACKUP_RETENTION_DAYS), and with it every copy of a seal made to it."""
    return clock.local(retired_at).date() + timedelta(days=settings.BACKUP_RETENTION_DAYS)


def may_register(user) -> bool:
    return is_association(user) and has_role(user, Role.OBSERVER)


_REFUSALS = {
    sealing.BadPublicKey.PRIVATE: lambda: _(
        "This is a private key: it was not kept. Never paste it anywhere; paste the PUBLIC KEY "
        "block the key tool printed, and keep the key file where only the association can "
        "reach it."),
    sealing.BadPublicKey.NOT_ONE_BLOCK: lambda: _(
        "Paste exactly one block, from -----BEGIN PUBLIC KEY----- to -----END PUBLIC KEY-----, "
        "and nothing else."),
    sealing.BadPublicKey.NOT_X25519: lambda: _(
        "This is a public key of another kind; the key tool makes an X25519 key. Make the key "
        "with python -m countersign.keytool new."),
    sealing.BadPublicKey.NOT_PEM: lambda: _(
        "This is not the public key the key tool printed. Paste the whole block from "
        "-----BEGIN PUBLIC KEY----- to -----END PUBLIC KEY-----."),
}


def register(*, user, pem: str) -> AssociationKey:
    """Make the public key in `pem` the association's current key. Only an observer of the
    association may; a key already registered (current or retired) is refused, so an old
    key cannot come back."""
    if not may_register(user):
        raise PermissionDenied(_("Only an observer of the association registers its key."))
    try:
        public = sealing.load_public(pem)
    except sealing.BadPublicKey as error:
        raise ValidationError(_REFUSALS[error.code](), code=error.code) from error
    fingerprint = sealing.fingerprint(public)
    try:
        with transaction.atomic():
            if AssociationKey.objects.filter(fingerprint=fingerprint).exists():
                raise ValidationError(_("This key was registered before; a retired key does not "
                                        "come back. Make a new one with the key tool."))
            before = AssociationKey.objects.select_for_update().filter(current=True).first()
            if before is not None:
                before.current, before.retired_at = False, timezone.now()
                before.destroy_on = destroy_on(before.retired_at)
                before.save(update_fields=["current", "retired_at", "destroy_on"])
            key = AssociationKey.objects.create(public_key=sealing.raw_public(public),
                                                fingerprint=fingerprint, registered_by=user)
            entry = audit.record(Action.ASSOCIATION_KEY_REGISTERED, actor=user,
                                 role=Role.OBSERVER, target=key, payload={
                                     "fingerprint": fingerprint,
                                     "retired_key": before.fingerprint if before else ""})
            key.attestation = attestation(fingerprint, entry.hash)
            key.save(update_fields=["attestation"])
            registered.send(sender=AssociationKey, key=key)
    except IntegrityError as error:  # another observer registered a key at the same moment
        raise ValidationError(_("Another key was registered at the same moment. Reload the "
                                "page and check which key is current.")) from error
    _tell_observers(key, before, user)
    return key


NOTICE = gettext_noop(
    "%(person)s registered a new key of the association in Countersign at %(time)s.\n\n"
    "Fingerprint of the new key:\n    %(fingerprint)s\n%(retired)s\n"
    "From now on files with member data are sealed to this key. If the association did not "
    "make this key, or the fingerprint is not the one its key tool printed, tell the "
    "association's observers and the contractor at once.\n%(url)s")


def _tell_observers(key: AssociationKey, before: AssociationKey | None, user) -> None:
    """Every observer of the association, by mail, after the registration committed: one
    stolen account (password and phone) cannot choose the key unseen. Audited."""
    observers = association_observers()
    with translation.override(settings.LANGUAGE_CODE):
        values = {"person": str(user), "time": clock.text(key.registered_at),
                  "fingerprint": sealing.grouped(key.fingerprint),
                  "retired": (_("It replaces the key %(fingerprint)s, which is retired.")
                              % {"fingerprint": sealing.grouped(before.fingerprint)} + "\n"
                              if before else ""),
                  "url": settings.SITE_URL.rstrip("/") + reverse("association_key")}
        messages = [EmailMessage(_("[Countersign] The association's key was registered"),
                                 _(NOTICE) % values, to=[o.email]) for o in observers]
    try:
        get_connection(fail_silently=False).send_messages(messages)
        outcome = "sent" if messages else "no observer with an e-mail address"
    except Exception as failure:  # noqa: BLE001 - recorded; the registration stands
        log.warning("notice of the association key not sent: %s", failure)
        outcome = f"failed: {failure}"[:300]
    with transaction.atomic():
        audit.record(Action.ASSOCIATION_KEY_NOTICE_MAILED, system="mail", target=key, payload={
            "fingerprint": key.fingerprint, "outcome": outcome,
            "to": sorted(o.get_username() for o in observers)})


# --- what to seal to ----------------------------------------------------------------------------

def attestation(fingerprint: str, entry_hash: str) -> str:
    """What the registration writes beside a key: an HMAC of its fingerprint and its audit
    entry's hash under a key derived from the installation's MEMBER_DATA_KEY. The audit chain
    is plain SHA-256, which whoever writes to the database can extend; this they cannot make
    without the settings."""
    secret = hashlib.sha256(f"countersign-association-key:{settings.MEMBER_DATA_KEY}".encode())
    return hmac.new(secret.digest(), f"cs1|association-key|{fingerprint}|{entry_hash}".encode(),
                    hashlib.sha256).hexdigest()


def _registration() -> AuditEntry | None:
    return (AuditEntry.objects.filter(action=Action.ASSOCIATION_KEY_REGISTERED)
            .select_related("actor").order_by("-sequence").first())


def _entry_holds(entry: AuditEntry) -> bool:
    """The entry hashes as the chain says, links to the one before it, and was written by an
    account of the association acting as its observer (as the entry recorded it then: an
    observer who has left since does not void the key they registered)."""
    fields = entry.chain_fields()
    before = AuditEntry.objects.filter(sequence=entry.sequence - 1).values_list(
        "hash", flat=True).first()
    actor = entry.actor
    return (entry_hash(entry.prev_hash, fields) == entry.hash and before == entry.prev_hash
            and actor is not None and is_association(actor) and entry.role == Role.OBSERVER
            and entry.organisation == Organisation.ASSOCIATION)


def problem() -> tuple[str, str]:
    """("", "") when files may be sealed to the current key, or unsealed because the log
    holds no registration and the table no key; else (code, what is wrong)."""
    entry, key = _registration(), current()
    if entry is None and key is None:
        return "", ""
    if entry is None:
        return "unregistered", _("a key is marked current that no registration in the audit "
                                  "log names")
    named = entry.payload.get("fingerprint", "")
    if key is None:
        return "missing", _("the audit log names a key that the database no longer holds "
                            "as current")
    if not _entry_holds(entry):
        return "entry", _("the audit log's registration entry does not verify (its hash, its "
                          "place in the chain or who wrote it)")
    if sealing.fingerprint(bytes(key.public_key)) != key.fingerprint or key.fingerprint != named:
        return "swapped", _("the key in the database is not the one the audit log names")
    if not hmac.compare_digest(key.attestation, attestation(key.fingerprint, entry.hash)):
        return "unattested", _("the key was not registered through Countersign (its "
                               "registration is not attested with the installation's key)")
    return "", ""


def sealing_required() -> bool:
    """Whether files with member data must be sealed: once any key was registered (or a key
    row exists at all), always; seal_file then seals or refuses."""
    return current() is not None or _registration() is not None


def verified_public_key():
    """The current key, when one is registered and verifies against the audit log; else
    None (nothing is sealed to a key the log does not vouch for)."""
    key = current()
    if key is None or problem()[0]:
        return None
    return sealing.public_from_raw(bytes(key.public_key))


def refuse_unless_as_registered(*, name: str, actor, refusal: str) -> None:
    """KeyNotAsRegistered (`refusal`, with %(why)s), audited, when the key is not exactly as
    registered: what was to be sealed to it is not sealed, and not handed out unsealed."""
    code, why = problem()
    if not code:
        return
    log.error("the association key was refused (%s)", code)
    with transaction.atomic():
        audit.record(Action.ASSOCIATION_KEY_REFUSED, actor=actor, system="" if actor else "import",
                     payload={"code": code, "fingerprint": current_fingerprint(), "file": name})
    raise KeyNotAsRegistered(refusal % {"why": why})


@dataclass(frozen=True)
class SealedFile:
    data: bytes
    filename: str  # the file's name and ".sealed"
    fingerprint: str  # of the key it is sealed to


def seal_file(data: bytes, *, name: str, actor) -> SealedFile | None:
    """`data` sealed to the association's key, or None while the association has registered
    none (the audit log holds no registration).
    KeyNotAsRegistered, audited, when the key is not exactly as registered."""
    refuse_unless_as_registered(name=name, actor=actor, refusal=_(
        "Not downloaded: %(why)s. Nothing was sealed or handed out; tell the association."))
    key = current()
    if key is None:
        return None
    made = timezone.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    sealed = sealing.seal(data, sealing.public_from_raw(bytes(key.public_key)), name=name,
                          made=made)
    return SealedFile(sealed, name + sealing.SUFFIX, key.fingerprint)


# --- key slots: the passkeys that unlock the key in an observer's browser ----------------------

_SLOT = re.compile(r"[0-9a-f]{64}")


def add_slot(*, user, slot: str, key_fingerprint: str, label: str = "") -> KeySlot:
    """Record that `user` can unlock the current key with a passkey whose credential id hashes
    to `slot` (the wrapped key stays in their browser). Fingerprints only; audited."""
    if not may_register(user):
        raise PermissionDenied(_("Only an observer of the association adds a passkey."))
    key = current()
    if key is None or key_fingerprint != key.fingerprint or not _SLOT.fullmatch(slot):
        raise ValidationError(_("This passkey is not for the association's current key."))
    with transaction.atomic():
        made, created = KeySlot.objects.get_or_create(observer=user, slot=slot, defaults={
            "key_fingerprint": key.fingerprint, "label": label.strip()[:100]})
        if created:
            audit.record(Action.KEY_SLOT_ADDED, actor=user, role=Role.OBSERVER, target=made,
                         payload={"kind": made.kind, "slot": slot, "fingerprint": key.fingerprint})
    return made


def revoke_slot(*, user, slot: KeySlot) -> None:
    """The record of a passkey ends (its owner, or another observer when someone leaves). The
    browser that holds it forgets it when its owner revokes it there; a key whose slots may
    survive on a device the association no longer controls is replaced (a new key)."""
    if not may_register(user):
        raise PermissionDenied(_("Only an observer of the association revokes a passkey."))
    with transaction.atomic():
        if KeySlot.objects.filter(pk=slot.pk, revoked_at=None).update(revoked_at=timezone.now()):
            audit.record(Action.KEY_SLOT_REVOKED, actor=user, role=Role.OBSERVER, target=slot,
                         payload={"kind": slot.kind, "slot": slot.slot,
                                  "fingerprint": slot.key_fingerprint,
                                  "observer": slot.observer.get_username()})


def live_slots(user):
    key = current()
    return KeySlot.objects.filter(observer=user, revoked_at=None,
                                  key_fingerprint=key.fingerprint if key else "")
