from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RosterConfig(AppConfig):
    name = "roster"
    verbose_name = _("Rosters")

    def ready(self):
        from roster import labels  # noqa: F401  (registers the labels of rosters' codes)
