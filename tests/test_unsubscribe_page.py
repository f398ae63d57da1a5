"""The member's unsubscribe page: it names the association and (partly hidden) the address
it is about, says "already unsubscribed" instead of offering the button again, and can be
undone by the member (a POST: a link scanner undoes nothing), audited, without lifting any
other suppression."""

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from audit.models import AuditEntry
from campaigns import suppression, unsubscribe
from campaigns.models import Kind
from roster.models import Suppression
from tests.factories import email_of


@pytest.fixture
def link(newsletter):
    delivery = newsletter.deliveries.order_by("id").first()
    return reverse("unsubscribe", args=[unsubscribe.token_for(delivery.pk)]), email_of(delivery)


def test_the_page_names_the_association_and_the_address_partly_hidden(link):
    url, address = link
    page = Client().get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert settings.ASSOCIATION_NAME in page
    local, _at, domain = address.partition("@")
    assert f"{local[0]}…@{domain}" in page and address not in page
    assert 'name="action" value="unsubscribe"' in page


def test_after_unsubscribing_the_page_says_so_and_offers_the_undo_not_the_button(link):
    url, _address = link
    done = Client().post(url, {"action": "unsubscribe"}, HTTP_ACCEPT_LANGUAGE="en")
    assert "You are unsubscribed" in done.content.decode()
    again = Client().get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "already unsubscribed" in again
    assert 'value="unsubscribe"' not in again and 'name="action" value="undo"' in again


def test_the_member_can_undo_it_and_the_undo_is_audited(link):
    url, address = link
    Client().post(url, {"action": "unsubscribe"})
    assert suppression.is_suppressed(address, Kind.NEWSLETTER)
    Client().get(url + "?action=undo")  # a link scanner's GET undoes nothing
    assert suppression.is_suppressed(address, Kind.NEWSLETTER)
    page = Client().post(url, {"action": "undo"}, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "will receive the newsletter again" in page
    assert not suppression.is_suppressed(address, Kind.NEWSLETTER)
    entry = AuditEntry.objects.get(action="member.resubscribed")
    assert entry.payload == {"reason": "unsubscribed", "source": "unsubscribe:page"}
    assert address not in str(entry.payload)


def test_the_undo_lifts_only_the_unsubscribe(link):
    url, address = link
    Client().post(url, {"action": "unsubscribe"})
    suppression.suppress(reason=Suppression.Reason.HARD_BOUNCE, source="dsn", address=address,
                         system="dsn")
    Client().post(url, {"action": "undo"})
    assert list(Suppression.objects.values_list("reason", flat=True)) == ["hard_bounce"]
    assert suppression.is_suppressed(address, Kind.NEWSLETTER)
