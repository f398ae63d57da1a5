"""What every page's template knows of the person reading it: their roles, whether the demo
inbox is theirs to read, and how many changes to the association's people wait for them."""

from django.conf import settings

from countersign import access
from countersign.models import PersonChange
from countersign.roles import Role, roles_of


def roles_context(request):
    user = getattr(request, "user", None)
    roles = roles_of(user) if user is not None else frozenset()
    return {"user_roles": roles,
            "mailcatcher_inbox": settings.MAILCATCHER_INBOX and user is not None
            and access.may_see(user, access.Data.MEMBER_MAIL),
            "people_changes_waiting": _people_changes_waiting() if Role.OBSERVER in roles
            else 0}


def _people_changes_waiting() -> int:
    return PersonChange.objects.filter(state=PersonChange.State.WAITING).count()
