from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def create_role_groups(using="default", **kwargs):
    """One group per role, ensured after every migrate (and after a test database flush)."""
    # Both are or import models: apps.py is imported before the models load.
    from django.contrib.auth.models import Group

    from countersign.roles import Role

    for name in Role.values:
        Group.objects.using(using).get_or_create(name=name)


class CountersignConfig(AppConfig):
    name = "countersign"
    verbose_name = _("Countersign")

    def ready(self):
        # Both import models (User, TOTPDevice), so not before the models load.
        from countersign import (
            checks,  # noqa: F401  (its deploy check of SITE_URL)
            people,
            pseudonyms,  # noqa: F401  (its deploy check)
            signals,  # noqa: F401  (role/organisation guard)
            two_factor,  # noqa: F401  (its system check)
        )
        from countersign.models import User

        User.people = people  # the hold on changes to the association's people

        post_migrate.connect(create_role_groups, sender=self)
