"""Every change to a person is audited, whoever makes it and however: the admin, the shell,
a management command. Who may approve, release or audit, and where the audit chain's anchors
are mailed, is decided by these fields, so an administrator must not change them unseen.

The actor is the person of the current request (ActorMiddleware), or a named system ("cli")
set with `acting_as()`; a change with neither is recorded as "system:shell". A password set
by someone other than its owner (an administrator, a command) is never shown in the log; it
voids the owner's pending sign-offs (`password_set_by_other`, handled by campaigns) and the
owner must choose a new password at the next sign-in.

Changes to the association's people that someone else makes wait for another observer's
countersign (countersign.people): the fields are put back and a request is stored instead.
Inside `applying(...)` (a countersigned change, or an installation's set-up) they take effect
at once, and their audit entries say which.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager

from django.conf import settings
from django.db import transaction
from django.dispatch import Signal
from django.shortcuts import redirect
from django.urls import Resolver404, resolve

import audit
from countersign.actions import Action

TRACKED_FIELDS = ("username", "email", "first_name", "last_name", "organisation",
                  "is_active", "is_staff", "is_superuser")

# Sent inside the transaction that set the password: user, actor (None: a system).
password_set_by_other = Signal()

_actor: contextvars.ContextVar = contextvars.ContextVar("countersign_actor", default=None)
# What lets a change to the association's people through at once: a countersigned change's
# id, or SET_UP (see countersign.people.setting_up); None: such changes wait.
_applying: contextvars.ContextVar = contextvars.ContextVar("countersign_applying", default=None)
# The changes held for a countersign during this request (for the admin's message).
_held_now: contextvars.ContextVar = contextvars.ContextVar("countersign_held", default=None)
SET_UP = "set-up"


@contextmanager
def acting_as(actor):
    """Changes made inside are recorded as `actor`'s: a user, or a system name ("cli")."""
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


def current_actor():
    return _actor.get()


@contextmanager
def applying(what):
    """Changes made inside take effect at once: `what` is the countersigned change's id, or
    SET_UP. Their audit entries name it."""
    token = _applying.set(what)
    try:
        yield
    finally:
        _applying.reset(token)


def applying_now():
    return _applying.get()


def _applied() -> dict:
    """What an audit entry of a change says about why it took effect without waiting."""
    what = _applying.get()
    if what is None:
        return {}
    return {"set_up": True} if what == SET_UP else {"countersigned_change": what}


def note_held(change) -> None:
    held = _held_now.get()
    if held is not None:
        held.append(change)


def held_now() -> list:
    """The changes this request asked for that wait for a countersign."""
    return list(_held_now.get() or [])


class ActorMiddleware:
    """The signed-in person of each request is the actor of the changes it makes."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        token = _held_now.set([])
        try:
            with acting_as(user if user is not None and user.is_authenticated else None):
                return self.get_response(request)
        finally:
            _held_now.reset(token)


def _who() -> dict:
    actor = current_actor()
    if actor is None:
        return {"system": "shell"}
    if isinstance(actor, str):
        return {"system": actor}
    return {"actor": actor}


def by_owner(user) -> bool:
    """Whether the change under way is the person's own (signed in as themselves)."""
    actor = current_actor()
    return actor is not None and not isinstance(actor, str) and actor.pk == user.pk


def snapshot(user) -> dict | None:
    """The tracked fields and the password hash as stored (None for a new user)."""
    if user.pk is None:
        return None
    return type(user).objects.filter(pk=user.pk).values(*TRACKED_FIELDS, "password").first()


def record_saved(user, before: dict | None, *, password_given: bool) -> None:
    """After user.save(), inside its transaction: what changed, by whom."""
    after = {f: getattr(user, f) for f in TRACKED_FIELDS}
    changes = {f: [before[f], after[f]] for f in TRACKED_FIELDS
               if before is not None and before[f] != after[f]}
    password_set = password_given and (before is None or before["password"] != user.password)
    if before is not None and not changes and not password_set:
        return
    who, own = _who(), by_owner(user)
    payload = {"user": user.get_username(), "organisation": user.organisation,
               "changes": changes if before is not None else after,
               **({"password": "set", "by_owner": own} if password_set else {}), **_applied()}
    audit.record(Action.ACCOUNT_CREATED if before is None else Action.ACCOUNT_CHANGED, target=user,
                 payload=payload, **who)
    if password_set and before is not None and not own:
        password_set_by_other.send(sender=type(user), user=user, actor=who.get("actor"))


def record_roles(user, *, added: list[str], removed: list[str]) -> None:
    if not (added or removed):
        return
    with transaction.atomic():
        audit.record(Action.ROLES_CHANGED, target=user, payload={
            "user": user.get_username(), "organisation": user.organisation,
            "roles_added": sorted(added), "roles_removed": sorted(removed),
            "roles": sorted(user.groups.values_list("name", flat=True)), **_applied()},
            **_who())


def record_device(device, *, added: bool) -> None:
    """A two-step device removed by someone else (an administrator, or a countersigned
    removal; only the owner sets one up, and the owner's own set-up and removal are audited
    by countersign.two_factor)."""
    who = _who()
    if who.get("actor") is not None and who["actor"].pk == device.user_id:
        return
    with transaction.atomic():
        audit.record(Action.TWO_FACTOR_ADDED if added else Action.TWO_FACTOR_REMOVED,
                     target=device.user, payload={"user": device.user.get_username(),
                                                  "device": device.persistent_id,
                                                  **_applied()}, **who)


class NewPasswordGate:
    """Someone else set this person's password: until they choose their own, the password
    change page is the only page they reach."""

    OPEN_PAGES = frozenset({"password_change", "password_change_done", "logout", "login",
                            "two_factor", "two_factor_verify", "set_language", "health",
                            "health_worker"})

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.must_change_password:
            try:
                name = resolve(request.path_info).url_name
            except Resolver404:
                name = None
            if name not in self.OPEN_PAGES and not request.path_info.startswith(
                    settings.STATIC_URL):
                return redirect("password_change")
        return self.get_response(request)
