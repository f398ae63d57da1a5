"""Database-side guard: a role can only be given to a user of a fitting organisation.

roles_of() already ignores a misfit, but refusing it at the door keeps the data honest
(the admin, the shell and management commands all go through these signals).
"""

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver
from django_otp.plugins.otp_totp.models import TOTPDevice

from countersign import accounts
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



@receiver(m2m_changed, sender=User.groups.through)
def audit_role_change(sender, instance, action, reverse, pk_set, **kwargs):
    """Roles given or taken, through the admin, the shell or a command (audited)."""
    if action == "pre_clear":  # the groups are gone by post_clear: remember them now
        if reverse:
            instance._countersign_clearing = list(instance.user_set.all())
        else:
            instance._countersign_clearing = list(instance.groups.values_list("name",
                                                                               flat=True))
        return
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if reverse:  # group.user_set.add(users)
        users = (getattr(instance, "_countersign_clearing", []) if action == "post_clear"
                 else User.objects.filter(pk__in=pk_set))
        for user in users:
            accounts.record_roles(user, added=[instance.name] if action == "post_add" else [],
                                  removed=[] if action == "post_add" else [instance.name])
        return
    if action == "post_clear":
        names = getattr(instance, "_countersign_clearing", [])
    else:
        names = list(Group.objects.filter(pk__in=pk_set).values_list("name", flat=True))
    accounts.record_roles(instance, added=names if action == "post_add" else [],
                          removed=[] if action == "post_add" else names)
    instance.__dict__.pop("_countersign_roles", None)  # roles_of() reads them again


@receiver(post_save, sender=TOTPDevice)
def audit_device_added(sender, instance, created, update_fields=None, **kwargs):
    if instance.confirmed and (created or (update_fields and "confirmed" in update_fields)):
        accounts.record_device(instance, added=True)


@receiver(post_delete, sender=TOTPDevice)
def audit_device_removed(sender, instance, **kwargs):
    accounts.record_device(instance, added=False)
