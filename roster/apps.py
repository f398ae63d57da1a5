from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RosterConfig(AppConfig):
    name = "roster"
    verbose_name = _("Rosters")

    def ready(self):
        from countersign import association_key
        from roster import (
            data_keys,
            labels,  # noqa: F401  (registers the labels of rosters' codes)
        )

        # A new association key: every live roster's data key is sealed to it, in the
        # registration's own transaction.
        association_key.registered.connect(data_keys.reseal_live_rosters,
                                           dispatch_uid="reseal_live_rosters")
