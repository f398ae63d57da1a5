"""The association's people belong to the association.

A change to one of the association's people (organisation = association) that anyone else
makes, in the admin, the shell or a command, takes effect only when another observer of the
association countersigns it in the app: their e-mail address, login name and password; their
two-step devices (only the person sets one up; a removal waits); their roles and their
organisation, whoever asks (a role given to oneself is still someone's role to give), and a
contractor account moved into the association. Until then the account stays as it was and
the change waits as a PersonChange: the person's present address is told at once, and so are
the other observers, who countersign or refuse it on the page of changes to people. The
person it is about cannot countersign it, nor can whoever asked for it; a countersign takes a
fresh one-time code from the observer's phone, so it is never given with a password alone.

The rule has one gap, on purpose: while no account of the association holds the observer
role, nobody could countersign, so the first observer of an installation is given at once
(audited like any change). The last observers cannot be deleted, moved out or stripped of
the role without a countersign, and the role groups cannot be renamed or deleted, so an
installation does not fall back into that state. From the server, `setting_up()` lets the
demo's and the tests' people be made at once (each audit entry says so); it is refused in a
web request.

Which changes wait is decided here; the model (User.save), the role and device signals
(countersign.signals) and the admin (countersign.admin) all ask this module.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_otp.plugins.otp_totp.models import TOTPDevice

import audit
from countersign import accounts, clock, labels
from countersign.actions import Action
from countersign.models import Organisation, PersonChange, User
from countersign.roles import Role, has_role

log = logging.getLogger(__name__)
Kind, State = PersonChange.Kind, PersonChange.State


class HeldForCountersign(PermissionDenied):
    """A change that cannot wait as a request (a deletion, clearing every role at once):
    refused, with what to do instead."""


class NotAllowed(Exception):
    """This countersign or refusal is not yours to give; the message says why."""


# --- which changes wait ---------------------------------------------------------------------


@contextmanager
def setting_up():
    """Set an installation up from the server: changes to the association's people made
    inside take effect at once, and each audit entry says so ("set_up"). For the demo's
    people and the tests'; refused inside a web request, where a person is the actor."""
    actor = accounts.current_actor()
    if actor is not None and not isinstance(actor, str):
        raise PermissionDenied("setting_up() is for the server's own commands, not requests")
    with accounts.applying(accounts.SET_UP):
        yield


def observers_exist() -> bool:
    """Whether any account of the association holds the observer role (active or not):
    until one does, nobody could countersign."""
    return User.objects.filter(organisation=Organisation.ASSOCIATION,
                               groups__name=Role.OBSERVER).exists()


def changes_wait() -> bool:
    """Whether a change to the association's people made now waits (not a countersigned
    change being applied, not the set-up, and there is an observer to countersign)."""
    return accounts.applying_now() is None and observers_exist()


def association_observers() -> list[User]:
    """The active observers of the association with an e-mail address: who is told."""
    return [user for user in User.objects.filter(is_active=True, groups__name=Role.OBSERVER)
            .exclude(email="").distinct() if has_role(user, Role.OBSERVER)]


def is_association(user) -> bool:
    return user.organisation == Organisation.ASSOCIATION


def waits_for_countersign(user) -> bool:
    """Whether a change by someone else to `user`'s devices or roles waits."""
    return is_association(user) and changes_wait()


def hold(user, before: dict | None) -> list[dict]:
    """Before user.save(): the changes that must wait, put back to the stored values on
    `user`. Returned as requests for `request()` to store once the save went through."""
    if before is None or accounts.applying_now() is not None:
        return []
    member = before["organisation"] == Organisation.ASSOCIATION
    if (not member and user.organisation != Organisation.ASSOCIATION) or not observers_exist():
        return []
    held = []
    if user.organisation != before["organisation"]:  # out of the association, or into it
        held.append({"kind": Kind.ORGANISATION, "old_value": before["organisation"],
                     "new_value": user.organisation})
        user.organisation = before["organisation"]
    own = accounts.by_owner(user)
    if member and not own:
        for field, kind in (("email", Kind.EMAIL), ("username", Kind.USERNAME)):
            if getattr(user, field) != before[field]:
                held.append({"kind": kind, "old_value": before[field],
                             "new_value": getattr(user, field)})
                setattr(user, field, before[field])
        if user._password is not None and user.password != before["password"]:
            held.append({"kind": Kind.PASSWORD, "password_hash": user.password})
            user.password, user._password = before["password"], None
    return held


def hold_roles(user, *, added=(), removed=()) -> None:
    """Roles of one of the association's people given or taken: they wait."""
    request(user, [{"kind": Kind.ROLE_ADDED, "new_value": name} for name in sorted(added)]
            + [{"kind": Kind.ROLE_REMOVED, "old_value": name} for name in sorted(removed)])


def removal_waits(device: TOTPDevice) -> bool:
    """Whether removing `device` now waits: it is one of the association's people's, and
    someone else removes it."""
    return not accounts.by_owner(device.user) and waits_for_countersign(device.user)


def remove_device(device: TOTPDevice) -> PersonChange | None:
    """Remove someone's two-step device (the admin's delete): at once, unless it belongs to
    one of the association's people and someone else removes it; then the removal waits and
    is returned. (A removal and a password set by someone else together would let whoever
    set the password sign in and set up their own phone: both wait, and the page says so.)"""
    if not removal_waits(device):
        device.delete()
        return None
    (change,) = request(device.user, [{"kind": Kind.DEVICE_REMOVED, "device_pk": device.pk,
                                       "old_value": device.persistent_id,
                                       "new_value": device.name}])
    return change


# --- a request ----------------------------------------------------------------------------


def _same(change: dict) -> dict:
    """What an earlier waiting request it replaces has in common with it."""
    kind = change["kind"]
    if kind in (Kind.ROLE_ADDED, Kind.ROLE_REMOVED):
        name = change.get("new_value") or change.get("old_value")
        return {"kind__in": [Kind.ROLE_ADDED, Kind.ROLE_REMOVED], "new_value__in": [name, ""],
                "old_value__in": [name, ""]}
    if kind == Kind.DEVICE_REMOVED:
        return {"kind": kind, "device_pk": change["device_pk"]}
    return {"kind": kind}


def request(user, held: list[dict]) -> list[PersonChange]:
    """Store the changes that wait, in the caller's transaction: one audit entry each (what,
    for whom, asked by whom; never a password), an earlier request for the same thing
    replaced, and the person's present address and the other observers told once it commits.
    """
    if not held:
        return []
    actor = accounts.current_actor()
    asker = actor if actor is not None and not isinstance(actor, str) else None
    name = asker.get_username() if asker else f"system:{actor or 'shell'}"
    made = []
    with transaction.atomic():
        for spec in held:
            earlier = list(PersonChange.objects.select_for_update().filter(
                subject=user, state=State.WAITING, **_same(spec)).values_list("pk", flat=True))
            PersonChange.objects.filter(pk__in=earlier).update(
                state=State.REPLACED, decided_at=timezone.now(), password_hash="")
            change = PersonChange.objects.create(subject=user, requested_by=asker,
                                                 requested_by_name=name, **spec)
            audit.record(Action.CHANGE_REQUESTED, target=user, payload={
                "change": change.pk, "user": user.get_username(),
                "organisation": user.organisation, **_what(change),
                **({"replaces": earlier} if earlier else {})},
                **({"actor": asker} if asker else {"system": actor or "shell"}))
            accounts.note_held(change)
            made.append(change)
        ids, address = [c.pk for c in made], user.email
        transaction.on_commit(lambda: tell(ids, address))
    return made


def _what(change: PersonChange) -> dict:
    """The change as the audit log states it (the keys of an account change's entries)."""
    kind = str(change.kind)
    if kind in (Kind.EMAIL, Kind.USERNAME, Kind.ORGANISATION):
        return {"changes": {kind: [change.old_value, change.new_value]}}
    if kind == Kind.PASSWORD:
        return {"password": "set"}
    if kind == Kind.ROLE_ADDED:
        return {"roles_added": [change.new_value]}
    if kind == Kind.ROLE_REMOVED:
        return {"roles_removed": [change.old_value]}
    return {"device": change.old_value}


def describe(change: PersonChange) -> str:
    """One line for people: what would change (never the password)."""
    kind = change.kind
    if kind == Kind.PASSWORD:
        return _("Password: set by someone else (it is never shown)")
    if kind == Kind.ROLE_ADDED:
        return _("Role given: %(role)s") % {"role": labels.label("ROLE", change.new_value)}
    if kind == Kind.ROLE_REMOVED:
        return _("Role taken away: %(role)s") % {"role": labels.label("ROLE", change.old_value)}
    if kind == Kind.DEVICE_REMOVED:
        return _("Two-step device removed: %(name)s") % {"name": change.new_value}
    old, new = change.old_value, change.new_value
    if kind == Kind.ORGANISATION:
        old, new = labels.label("ORGANISATION", old), labels.label("ORGANISATION", new)
    return _("%(what)s: %(old)s → %(new)s") % {"what": change.get_kind_display(), "old": old,
                                              "new": new}


def risks(change: PersonChange) -> str:
    """A warning for the observer about to countersign, or "". A password someone else set
    and a device removed together let whoever set the password sign in as the person and
    set up their own phone."""
    subject = change.subject
    waiting_too = set(subject.held_changes.filter(state=State.WAITING).exclude(pk=change.pk)
                      .values_list("kind", flat=True))
    if change.kind == Kind.DEVICE_REMOVED and (subject.must_change_password
                                               or Kind.PASSWORD in waiting_too):
        return _("Someone else has set this person's password and they have not chosen their "
                 "own since. With the device removed too, whoever set the password could sign "
                 "in as them and set up their own phone. Countersign only if the person "
                 "themselves asked for both, in person or on the phone.")
    if change.kind == Kind.PASSWORD and (Kind.DEVICE_REMOVED in waiting_too or not TOTPDevice
                                         .objects.filter(user=subject, confirmed=True).exists()):
        return _("This person has no two-step device, or its removal is waiting too: whoever "
                 "set this password could sign in as them. Countersign only if the person "
                 "themselves asked for it, in person or on the phone.")
    if change.kind in (Kind.ROLE_ADDED, Kind.ORGANISATION) and subject.is_superuser:
        return _("This account is a superuser of the admin: its holder can change anyone's "
                 "account there.")
    return ""


# --- telling people -------------------------------------------------------------------------

SUBJECT_MAIL = gettext_lazy(
    "%(asker)s asked at %(time)s to change your Countersign account (%(username)s):\n\n"
    "%(changes)s\n\n"
    "Nothing changes until another observer of the association countersigns it in "
    "Countersign. If you did not ask for this, tell the association's observers at once so "
    "that they refuse it.\n\n"
    "This message went to the address your account has now.")
OBSERVER_MAIL = gettext_lazy(
    "%(asker)s asked at %(time)s to change the Countersign account of %(person)s "
    "(%(username)s):\n\n"
    "%(changes)s\n\n"
    "It takes effect only when an observer of the association other than %(person)s "
    "countersigns it. Check with %(person)s that they asked for it, then countersign or "
    "refuse it:\n%(url)s")


def tell(ids: list[int], address: str) -> None:
    """After the request committed: the person's present address (`address`, the one before
    any change) and the other observers, by mail at once. The outcome is audited."""
    changes = list(PersonChange.objects.filter(pk__in=ids).select_related("subject"))
    if not changes:
        return
    subject = changes[0].subject
    observers = [u for u in User.objects.filter(
        organisation=Organisation.ASSOCIATION, groups__name=Role.OBSERVER, is_active=True)
        .exclude(pk=subject.pk).distinct() if has_role(u, Role.OBSERVER) and u.email]
    with translation.override(settings.LANGUAGE_CODE):
        values = {"asker": changes[0].requested_by_name, "username": subject.get_username(),
                  "person": str(subject), "time": clock.text(changes[0].requested_at),
                  "changes": "\n".join(f"- {describe(c)}" for c in changes),
                  "url": settings.SITE_URL.rstrip("/") + reverse("people_changes")}
        messages = ([EmailMessage(_("[Countersign] A change to your account was requested"),
                                  SUBJECT_MAIL % values, to=[address])] if address else [])
        messages += [EmailMessage(_("[Countersign] A change to %(person)s waits for your "
                                    "countersign") % values, OBSERVER_MAIL % values,
                                  to=[o.email]) for o in observers]
    if not messages:
        return
    try:
        get_connection(fail_silently=False).send_messages(messages)
        outcome, error = "sent", ""
    except Exception as failure:  # noqa: BLE001 - recorded; the request stands either way
        log.warning("notice of a change to %s not sent: %s", subject.get_username(), failure)
        outcome, error = "failed", str(failure)[:300]
    with transaction.atomic():
        audit.record(Action.CHANGE_NOTICE_MAILED, system="mail", target=subject, payload={
            "requests": ids, "user": subject.get_username(), "outcome": outcome,
            "to": sorted([subject.get_username()] * bool(address)
                         + [o.get_username() for o in observers]),
            **({"error": error} if error else {})})


# --- deciding -------------------------------------------------------------------------------


def why_not(change: PersonChange, observer, *, countersign: bool) -> str:
    """Why `observer` may not countersign (or refuse) `change`, or ""."""
    if not (has_role(observer, Role.OBSERVER) and is_association(observer)):
        return _("Only an observer of the association decides on a change to its people.")
    if change.state != State.WAITING:
        return _("This change is no longer waiting: it was countersigned, refused or "
                 "replaced by a later request.")
    if countersign and change.subject_id == observer.pk:
        return _("This change is to your own account: another observer must countersign it.")
    if countersign and change.requested_by_id == observer.pk:
        return _("You asked for this change: another observer must countersign it.")
    return ""


def may_decide(pk: int, observer, *, countersign: bool) -> PersonChange:
    """The change if `observer` may decide on it; otherwise the attempt is audited (in its
    own transaction: it stands although nothing else happens) and NotAllowed raised."""
    with transaction.atomic():
        change = PersonChange.objects.select_related("subject").get(pk=pk)
        problem = why_not(change, observer, countersign=countersign)
        if not problem:
            return change
        audit.record(Action.CHANGE_DENIED, actor=observer, target=change.subject, payload={
            "change": change.pk, "user": change.subject.get_username(),
            "attempted": "countersign" if countersign else "refuse", "why": problem})
    raise NotAllowed(problem)


def countersign(pk: int, *, observer) -> PersonChange:
    """Another observer's countersign: the change takes effect as the observer's doing (its
    entries name the change), in one transaction with its audit entry. A refused attempt is
    audited and raises NotAllowed. The observer's fresh code is checked by the caller (the
    page); this checks who they are and that the change still applies."""
    may_decide(pk, observer, countersign=True)
    with transaction.atomic():
        change = PersonChange.objects.select_for_update().select_related("subject").get(pk=pk)
        stale = why_not(change, observer, countersign=True) or _apply(change, observer)
        if not stale:
            PersonChange.objects.filter(pk=change.pk).update(
                state=State.COUNTERSIGNED, decided_by=observer, decided_at=timezone.now(),
                password_hash="")
            audit.record(Action.CHANGE_COUNTERSIGNED, actor=observer, role=Role.OBSERVER,
                         target=change.subject, payload={
                             "change": change.pk, "user": change.subject.get_username(),
                             "organisation": change.subject.organisation,
                             "requested_by": change.requested_by_name, **_what(change)})
    if stale:
        raise NotAllowed(stale)
    change.refresh_from_db()
    return change


def _apply(change: PersonChange, observer) -> str:
    """Make the change, as `observer`'s doing; "" or why it no longer applies."""
    subject = User.objects.select_for_update().get(pk=change.subject_id)
    kind = str(change.kind)
    with accounts.acting_as(observer), accounts.applying(change.pk):
        if kind in (Kind.EMAIL, Kind.USERNAME, Kind.ORGANISATION):
            if getattr(subject, kind) != change.old_value:
                return _("The account changed since this was asked: refuse it and ask again.")
            setattr(subject, kind, change.new_value)
            subject.save()
        elif kind == Kind.PASSWORD:
            subject.password = change.password_hash
            subject._countersigned_password = True
            subject.save()
        elif kind == Kind.ROLE_ADDED:
            try:
                with transaction.atomic():
                    subject.groups.add(Group.objects.get(name=change.new_value))
            except ValidationError:
                return _("This role does not fit the account's organisation: refuse it.")
        elif kind == Kind.ROLE_REMOVED:
            subject.groups.remove(*Group.objects.filter(name=change.old_value))
        elif kind == Kind.DEVICE_REMOVED:
            for device in TOTPDevice.objects.filter(pk=change.device_pk, user=subject):
                device.delete()
    return ""


def refuse(pk: int, *, observer, reason: str = "") -> PersonChange:
    """An observer refuses the change (the person it is about may, too): it never takes
    effect. Audited with the reason."""
    change = may_decide(pk, observer, countersign=False)
    with transaction.atomic():
        change = PersonChange.objects.select_for_update().get(pk=change.pk)
        if change.state != State.WAITING:
            raise NotAllowed(why_not(change, observer, countersign=False))
        PersonChange.objects.filter(pk=change.pk).update(
            state=State.REFUSED, decided_by=observer, decided_at=timezone.now(),
            reason=reason[:500], password_hash="")
        audit.record(Action.CHANGE_REFUSED, actor=observer, role=Role.OBSERVER,
                     target=change.subject, payload={
                         "change": change.pk, "user": change.subject.get_username(),
                         "requested_by": change.requested_by_name, **_what(change),
                         "reason": reason[:500]})
    change.refresh_from_db()
    return change


def waiting():
    return PersonChange.objects.filter(state=State.WAITING).select_related(
        "subject", "requested_by")
