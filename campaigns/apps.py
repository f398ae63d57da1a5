from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

from countersign.accounts import password_set_by_other

WATCHDOG = "countersign-watchdog"
ANCHOR = "countersign-audit-anchor"
EXPIRING = "countersign-expiring-approvals"
PURGE = "countersign-purge-rosters"


def schedule_watchdog(using="default", **kwargs):
    """The worker's watchdog runs every minute (see campaigns.tasks.watchdog)."""
    from django_q.models import Schedule  # a model: apps.py is imported before models load

    Schedule.objects.using(using).get_or_create(name=WATCHDOG, defaults={
        "func": "campaigns.tasks.watchdog", "schedule_type": Schedule.MINUTES, "minutes": 1,
        "repeats": -1,
    })


def schedule_audit_anchor(using="default", **kwargs):
    """The audit chain's head is mailed to the association every AUDIT_ANCHOR_HOURS."""
    from django_q.models import Schedule  # a model: apps.py is imported before models load

    Schedule.objects.using(using).update_or_create(name=ANCHOR, defaults={
        "func": "campaigns.tasks.mail_audit_anchor", "schedule_type": Schedule.MINUTES,
        "minutes": settings.AUDIT_ANCHOR_HOURS * 60, "repeats": -1,
    })


def lapse_signoffs_of_the_person(sender, user, actor, **kwargs):
    """Someone else set this person's password: their sign-offs that still count lapse
    (whoever knows the password could have given them)."""
    from campaigns import workflow  # imports our models: apps.py loads before them

    workflow.lapse_signoffs_of(user=user, reason="password_set_by_other")


def schedule_expiry_warnings(using="default", **kwargs):
    """Every hour: approvals that expire within a day tell their author and the observers."""
    from django_q.models import Schedule  # a model: apps.py is imported before models load

    Schedule.objects.using(using).get_or_create(name=EXPIRING, defaults={
        "func": "campaigns.tasks.warn_of_expiring_approvals", "schedule_type": Schedule.HOURLY,
        "repeats": -1,
    })


def schedule_purge(using="default", **kwargs):
    """Every day: member data past ROSTER_RETENTION_DAYS is erased (campaigns.retention)."""
    from django_q.models import Schedule  # a model: apps.py is imported before models load

    Schedule.objects.using(using).get_or_create(name=PURGE, defaults={
        "func": "campaigns.tasks.purge_rosters", "schedule_type": Schedule.DAILY,
        "repeats": -1,
    })


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self):
        # Registers the labels of campaigns' codes; labels name the kernel's models, so not
        # before the models load.
        from campaigns import labels  # noqa: F401

        post_migrate.connect(schedule_watchdog, sender=self)
        password_set_by_other.connect(lapse_signoffs_of_the_person, dispatch_uid="lapse")
        post_migrate.connect(schedule_audit_anchor, sender=self)
        post_migrate.connect(schedule_expiry_warnings, sender=self)
        post_migrate.connect(schedule_purge, sender=self)
        # Bounces and complaints from an e-mail provider's webhook (django-anymail's views).
        from anymail.signals import tracking

        from campaigns.bounces import on_tracking_event

        tracking.connect(on_tracking_event, dispatch_uid="countersign-bounces")
