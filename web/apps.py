from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebConfig(AppConfig):
    """The site as a whole: the root URLconf, the home page, health checks, the demo inbox
    and the auditor's log pages. It sits on top of every other app (web -> campaigns ->
    roster -> countersign -> audit), so it may import them all and none of them imports it."""

    name = "web"
    verbose_name = _("Web pages")

    def ready(self):
        # Registers the labels its pages show; labels name the kernel's models, so not
        # before the models load.
        from web import labels  # noqa: F401
