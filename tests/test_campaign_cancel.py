from django.urls import reverse

from audit.models import AuditEntry
from campaigns.models import State
from tests.factories import client_for


def test_author_cancels_a_draft(olivia, draft):
    client_for(olivia).post(reverse("campaigns:cancel", args=[draft.pk]), {"comment": "重複"})
    draft.refresh_from_db()
    assert draft.state == State.CANCELLED
    assert AuditEntry.objects.get(action="campaign.cancelled").payload["comment"] == "重複"


def test_supervisor_cancels_an_approved_campaign(sam, approved):
    client_for(sam).post(reverse("campaigns:cancel", args=[approved.pk]))
    approved.refresh_from_db()
    assert approved.state == State.CANCELLED and not approved.valid_approvals().filter(
        voided_at=None).exists()


def test_another_operator_cannot_cancel(otto, draft):
    assert client_for(otto).post(reverse("campaigns:cancel", args=[draft.pk])).status_code == 403
    draft.refresh_from_db()
    assert draft.state == State.DRAFT


def test_an_observer_cannot_cancel(oscar, draft):
    assert client_for(oscar).post(reverse("campaigns:cancel", args=[draft.pk])).status_code == 403


def test_a_released_campaign_cannot_be_cancelled(olivia, released):
    client_for(olivia).post(reverse("campaigns:cancel", args=[released.pk]))
    released.refresh_from_db()
    assert released.state == State.RELEASED


def test_cancelling_asks_for_a_confirmation_first(olivia, draft):
    """Like STOP: the browser asks before the form is sent (countersign/app.js)."""
    page = client_for(olivia).get(reverse("campaigns:detail", args=[draft.pk]),
                                  HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    form = page[page.index(f'action="/campaigns/{draft.pk}/cancel/"'):]
    form = form[:form.index(">")]
    assert 'data-confirm="このキャンペーンを取り消しますか？' in form
