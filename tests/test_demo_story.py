"""The demo shows every screen: its set-up seeds a sent campaign with a bounce (5.1.1) and a
paused one with a message in doubt for a person to decide, through the app's own moves, so
a newcomer sees them without hand-made mail."""

import pytest
from django.core.management import call_command
from django.urls import reverse

from audit.models import AuditEntry
from campaigns.models import Campaign, Delivery, State
from countersign.models import User
from tests.factories import client_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_demo_set_up_seeds_a_bounce_and_a_message_in_doubt(settings, tmp_path):
    settings.DEBUG = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    call_command("demo", "--setup-only")
    call_command("demo", "--setup-only")  # twice is once
    bounced = Delivery.objects.filter(state=Delivery.State.BOUNCED, bounce_status="5.1.1")
    doubt = Delivery.objects.filter(state=Delivery.State.IN_DOUBT)
    assert bounced.count() == 1 and doubt.count() == 1
    assert doubt.get().campaign.state == State.PAUSED
    assert bounced.get().campaign.state == State.COMPLETED
    assert Campaign.objects.count() == 2
    assert AuditEntry.objects.filter(action="campaign.bounce_recorded").count() == 1
    oscar = User.objects.get(username="oscar")
    page = client_for(oscar).get(reverse("campaigns:detail", args=[doubt.get().campaign_id]),
                                 HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'value="resend"' in page and 'value="skip"' in page
