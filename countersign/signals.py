"""Database-side guards, for the admin, the shell and management commands alike.

A role can only be given to a user of a fitting organisation (roles_of() already ignores a
misfit, but refusing it at the door keeps the data honest). Roles of the association's people
given or taken by anyone wait for another observer's countersign (countersign.people), and so
does the removal of their two-step device by someone else. Nobody makes or alters a two-step
device for someone else. The association's people and the role groups are not deleted.
"""

from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save
from django.dispatch import receiver
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from countersign import accounts, people
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
def hold_role_change(sender, instance, action, reverse, pk_set, **kwargs):
    """Roles of the association's people, given or taken by anyone: the request is stored
    and the ids are taken out of `pk_set`, so nothing changes until another observer
    countersigns (Django adds or removes only what is left in it)."""
    if action not in ("pre_add", "pre_remove", "pre_clear"):
        return
    if action == "pre_clear":
        users = list(instance.user_set.all()) if reverse else [instance]
        if any(people.waits_for_countersign(u) and u.groups.exists() for u in users):
            raise people.HeldForCountersign(_(
                "The roles of the association's people are taken one by one, each "
                "countersigned by another observer: remove them instead of clearing them."))
        return
    if reverse:  # group.user_set.add(users)
        for user in User.objects.filter(pk__in=set(pk_set)):
            if people.waits_for_countersign(user) and (
                    action == "pre_add" or user.groups.filter(pk=instance.pk).exists()):
                people.hold_roles(user, **{"added" if action == "pre_add" else "removed":
                                           [instance.name]})
                pk_set.discard(user.pk)
        return
    if not pk_set or not people.waits_for_countersign(instance):
        return
    groups = Group.objects.filter(pk__in=pk_set)
    if action == "pre_remove":
        groups = groups.filter(user=instance)  # only what the person holds
    names = list(groups.values_list("name", flat=True))
    people.hold_roles(instance, **{"added" if action == "pre_add" else "removed": names})
    pk_set.clear()


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


# What makes a device give the codes it gives, and whose codes they are.
_DEVICE_SECRETS = ("user_id", "key", "step", "t0", "digits", "tolerance", "confirmed")


@receiver(pre_save, sender=TOTPDevice)
def only_the_person_sets_up_their_device(sender, instance, raw=False, **kwargs):
    """Nobody but the person makes a two-step device, confirms one or changes its key, its
    settings or its owner: whoever chose or saw the key could give the person's codes (and an
    unconfirmed device made for them would be offered to them to scan). The owner's codes
    update its counters (drift, throttling, last use), which stays open."""
    if raw:
        return
    stored = (TOTPDevice.objects.filter(pk=instance.pk).values(*_DEVICE_SECRETS).first()
              if instance.pk else None)
    if stored is not None and stored["user_id"] != instance.user_id:
        raise PermissionDenied(_("A two-step device cannot be given to someone else."))
    if accounts.by_owner(instance.user):
        return
    if stored is None or any(stored[f] != getattr(instance, f) for f in _DEVICE_SECRETS):
        raise PermissionDenied(_("Only the person sets up their own two-step device, in the "
                                 "app (Two-step sign-in)."))


@receiver(pre_delete, sender=TOTPDevice)
def removal_of_a_device_waits(sender, instance, **kwargs):
    """The association's people's devices are removed by someone else only through a
    countersigned request (people.remove_device, which the admin uses)."""
    if people.removal_waits(instance):
        raise people.HeldForCountersign(_(
            "Removing a two-step device of the association's people waits for another "
            "observer's countersign: use people.remove_device(device)."))


@receiver(pre_delete, sender=User)
def association_people_are_not_deleted(sender, instance, **kwargs):
    """Deleting the observers would leave nobody to countersign (and the first observer of an
    installation is given at once): the association's people are deactivated instead."""
    if people.is_association(instance) and accounts.applying_now() is None:
        raise people.HeldForCountersign(_(
            "The association's people are not deleted: deactivate the account instead (its "
            "history stays in the audit log)."))


@receiver(pre_save, sender=Group)
def role_groups_keep_their_names(sender, instance, raw=False, **kwargs):
    if raw or instance.pk is None:
        return
    stored = Group.objects.filter(pk=instance.pk).values_list("name", flat=True).first()
    if stored in Role.values and instance.name != stored:
        raise PermissionDenied(_("A role's group cannot be renamed: every holder would lose "
                                 "the role at once."))


@receiver(pre_delete, sender=Group)
def role_groups_are_not_deleted(sender, instance, **kwargs):
    if instance.name in Role.values:
        raise PermissionDenied(_("A role's group cannot be deleted: every holder would lose "
                                 "the role at once."))


@receiver(post_save, sender=TOTPDevice)
def audit_device_added(sender, instance, created, update_fields=None, **kwargs):
    if instance.confirmed and (created or (update_fields and "confirmed" in update_fields)):
        accounts.record_device(instance, added=True)


@receiver(post_delete, sender=TOTPDevice)
def audit_device_removed(sender, instance, **kwargs):
    accounts.record_device(instance, added=False)
