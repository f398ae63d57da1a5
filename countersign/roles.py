"""The four roles, which organisation may hold each, and the one door that checks them.

A role is a Django group of the same name. Holding the group is not enough: the role must
also fit the user's organisation (an observer witnesses for the association, the data
owner, so a contractor account can never act as one even if someone adds it to the group).
"""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.utils.translation import gettext_lazy as _

import audit
from countersign.actions import Action
from countersign.models import Organisation
from countersign.security import client_address


class Role(models.TextChoices):
    OPERATOR = "operator", _("Operator")
    SUPERVISOR = "supervisor", _("Supervisor")
    OBSERVER = "observer", _("Observer")
    AUDITOR = "auditor", _("Auditor")


ALLOWED_ORGANISATIONS = {
    Role.OPERATOR: {Organisation.CONTRACTOR},
    Role.SUPERVISOR: {Organisation.CONTRACTOR},
    Role.OBSERVER: {Organisation.ASSOCIATION},
    Role.AUDITOR: {Organisation.CONTRACTOR, Organisation.ASSOCIATION},
}


def role_fits_organisation(role: str, organisation: str) -> bool:
    return organisation in ALLOWED_ORGANISATIONS.get(role, set())


def roles_of(user) -> frozenset[str]:
    """The roles a user really holds: group membership that fits the organisation."""
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    cached = getattr(user, "_countersign_roles", None)
    if cached is None:
        names = user.groups.filter(name__in=Role.values).values_list("name", flat=True)
        cached = frozenset(n for n in names if role_fits_organisation(n, user.organisation))
        user._countersign_roles = cached
    return cached


def has_role(user, *roles: str) -> bool:
    return bool(roles_of(user) & set(roles))


def role_required(*roles: str):
    """View decorator: login first, then 403 unless the user holds one of `roles`.

    A refused POST (a forged form, a crafted request) is written to the audit log: someone
    tried to change something they may not.
    """

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(request, *args, **kwargs):
            if not has_role(request.user, *roles):
                if request.method not in ("GET", "HEAD", "OPTIONS"):
                    record_denied_request(request, required=roles)
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def record_denied_request(request, *, required) -> None:
    with transaction.atomic():
        audit.record(Action.ACCESS_DENIED, actor=request.user, payload={
            "method": request.method, "path": request.path[:300],
            "required_roles": sorted(required), "user_roles": sorted(roles_of(request.user)),
            "address": client_address(request),
        })
