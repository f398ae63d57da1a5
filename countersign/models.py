from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class Organisation(models.TextChoices):
    CONTRACTOR = "contractor", _("Contractor")
    ASSOCIATION = "association", _("Association (data owner)")


class User(AbstractUser):
    """A person with a login. Roles are Django groups; see countersign.roles."""

    organisation = models.CharField(
        _("organisation"), max_length=20, choices=Organisation.choices
    )

    def __str__(self):
        return self.get_full_name() or self.username
