import logging

from django.apps import AppConfig
from django.db.models.signals import post_migrate, post_save
from django.utils.translation import gettext_lazy as _

from countersign.accounts import password_set_by_other

log = logging.getLogger(__name__)


def lapse_signoffs_of_the_person(sender, user, actor, **kwargs):
    """Someone else set this person's password: their sign-offs that still count lapse
    (whoever knows the password could have given them)."""
    from campaigns import workflow  # imports our models: apps.py loads before them

    workflow.lapse_signoffs_of(user=user, reason="password_set_by_other")


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self):
        # Registers the labels of campaigns' codes; labels name the kernel's models, so not
        # before the models load.
        from campaigns import (
            doorbells,
            guard,
            guard_index,
            labels,  # noqa: F401
            notifications,
            schedules,
            suppression,
            workflow,
        )
        from roster import free_text
        from roster.models import NamedMember, Roster

        # What follows a move of the workflow (its table's `after`, and telling people):
        # hooks, so that the workflow imports nothing above it.
        workflow.register_hooks(
            notify=notifications.on_transition,
            ring_starter=lambda campaign: doorbells.queue_send(campaign.pk),
            ring_others=lambda campaign: doorbells.queue_sending(campaign.pk, already=1),
            ring_worker=lambda campaign: doorbells.queue_sending(campaign.pk),
            mail_anchor=lambda campaign: doorbells.queue_audit_anchor(
                f"campaign {campaign.pk} {campaign.state}"))
        # The roster app's free texts (reasons) are checked for member data by the guard.
        free_text.register(guard.member_data_in)
        # A suppression that changes the recipients of a campaign under review sends it back.
        suppression.register_after(workflow.recount_recipients)
        password_set_by_other.connect(lapse_signoffs_of_the_person, dispatch_uid="lapse")
        # The guard's index covers every roster held: a new one joins it at once here (in
        # other processes within guard.HELD_FOR_SECONDS).
        for model in (Roster, NamedMember):  # and who may be named
            post_save.connect(lambda **kwargs: guard_index.forget_held_rosters(), sender=model,
                              dispatch_uid=f"guard-{model.__name__}", weak=False)
        # A worker process builds the guard's index as it starts, not at its first message.
        from django_q.signals import post_spawn

        post_spawn.connect(guard_index.warm, dispatch_uid="guard-warm")
        # ... and makes its own key pair in memory, publishing the public half: what the
        # association seals a roster's key to for a release (campaigns.key_window).
        post_spawn.connect(_publish_worker_key, dispatch_uid="worker-key")
        # A roster only the association will hold the key of is tagged for the guard at import.
        from campaigns import guard_tags
        from roster import data_keys

        data_keys.imported_with_association.connect(guard_tags.tags_at_import,
                                                    dispatch_uid="tags-at-import")
        # The worker's schedules are code (campaigns.schedules), written after every migrate.
        post_migrate.connect(schedules.ensure_after_migrate, sender=self)
        # Bounces and complaints from an e-mail provider's webhook (django-anymail's views).
        from anymail.signals import tracking

        from campaigns.esp_events import on_tracking_event

        tracking.connect(on_tracking_event, dispatch_uid="countersign-bounces")
        # The relay's log the worker reads for what became of messages at the carriers.
        from django.core import checks

        from campaigns.carrier_outcomes import check_settings

        checks.register(check_settings)


def _publish_worker_key(**_signal) -> None:
    from campaigns import key_window

    try:
        key_window.publish()
    except Exception as error:  # noqa: BLE001 - published again at its first send slice
        log.warning("worker key not published at start: %s", type(error).__name__)
