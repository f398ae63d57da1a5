import re

from django.contrib.auth.models import AbstractUser
from django.db import models, transaction
from django.utils.translation import gettext_lazy as _

from countersign import accounts

# Kana and kanji (with the half-width katakana): a name written with them is a Japanese name.
_JAPANESE_SCRIPT = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
                              "\uff66-\uff9f]")


def person_name(first_name: str, last_name: str) -> str:
    """A person's name as people write it: family name first for a Japanese name (「小野
    里美」), given name first otherwise ("Olivia Smith"). Either part may be missing."""
    first, last = first_name.strip(), last_name.strip()
    if _JAPANESE_SCRIPT.search(first + last):
        return f"{last} {first}".strip()
    return f"{first} {last}".strip()


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

    def get_full_name(self):
        """Family name first for Japanese staff: Django's own puts the given name first."""
        return person_name(self.first_name, self.last_name)

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
