"""Database-side guard: a role can only be given to a user of a fitting organisation.

roles_of() already ignores a misfit, but refusing it at the door keeps the data honest
(the admin, the shell and management commands all go through these signals).
"""

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db.models.signals import m2m_changed
from django.dispatch import receiver

from countersign.models import User
from countersign.roles import Role, role_fits_organisation


def check_roles_fit(organisation: str, role_names) -> None:
    misfits = sorted(
        n for n in role_names if n in Role.values and not role_fits_organisation(n, organisation)
    )
    if misfits:
        raise ValidationError(
            "role %(roles)s cannot be held by a %(organisation)s user",
            params={"roles": ", ".join(misfits), "organisation": organisation},
            code="role_organisation",
        )


@receiver(m2m_changed, sender=User.groups.through)
def refuse_misfit_role(sender, instance, action, reverse, pk_set, **kwargs):
    if action != "pre_add" or not pk_set:
        return
    if reverse:  # group.user_set.add(users)
        for user in User.objects.filter(pk__in=pk_set):
            check_roles_fit(user.organisation, [instance.name])
    else:  # user.groups.add(groups)
        names = Group.objects.filter(pk__in=pk_set).values_list("name", flat=True)
        check_roles_fit(instance.organisation, names)

