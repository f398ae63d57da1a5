from django.contrib.auth.models import AbstractUser
from django.db import models, transaction
from django.utils.translation import gettext_lazy as _

from countersign import accounts


class Organisation(models.TextChoices):
    CONTRACTOR = "contractor", _("Contractor")
    ASSOCIATION = "association", _("Association (data owner)")


class User(AbstractUser):
    """A person with a login. Roles are Django groups; see countersign.roles."""

    organisation = models.CharField(
        _("organisation"), max_length=20, choices=Organisation.choices
    )
    # Set when someone else (an administrator, a command) set this person's password: they
    # choose their own at the next sign-in, so nobody else keeps knowing it.
    must_change_password = models.BooleanField(_("must choose a new password"), default=False)

    def __str__(self):
        return self.get_full_name() or self.username

    def save(self, *args, **kwargs):
        """Saved and audited in one transaction (countersign.accounts)."""
        with transaction.atomic():
            before = accounts.snapshot(self)
            password_given = self._password is not None
            if password_given and before is not None:
                self.must_change_password = not accounts.by_owner(self)
                if "update_fields" in kwargs and kwargs["update_fields"] is not None:
                    kwargs["update_fields"] = {*kwargs["update_fields"], "must_change_password"}
            super().save(*args, **kwargs)
            accounts.record_saved(self, before, password_given=password_given)
