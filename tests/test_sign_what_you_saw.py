"""A sign-off signs what its page showed, not what the campaign became before the click.

The attack (issue 24): the observer opens the release page for 20 members and body "A版";
before he clicks, the contractor edits the campaign (a 60-member roster, body "B版"),
resubmits, test-sends and re-approves. His click must not release B. The same for the
supervisor's approval, the confirmation of the first messages, a decision on a message in
doubt and the countersign of a deletion certificate; and through the API.
"""

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from campaigns import sender, workflow
from campaigns.models import Campaign, Delivery, SignOff, State
from campaigns.seen import Seen
from tests.factories import (
    OBSERVER_TICKS,
    SUPERVISOR_TICKS,
    client_for,
    make_roster,
    shown_on,
)


def _rework(campaign, olivia, sam, oscar, *, approve=True):
    """The contractor turns the campaign into another one: 60 members, body B, submitted,
    tested and (by default) approved again."""
    bigger = make_roster(olivia, count=60, name="全会員")
    workflow.edit(campaign=Campaign.objects.get(pk=campaign.pk), user=olivia, roster=bigger,
                  body_text="{name} 様\n\nB版の本文です。会員番号 {member_number}\n")
    workflow.submit(campaign=Campaign.objects.get(pk=campaign.pk), user=olivia)
    reworked = Campaign.objects.get(pk=campaign.pk)
    workflow.test_send(campaign=reworked, user=olivia, member=bigger.members.first(),
                       recipients=[sam, oscar])
    if approve:
        workflow.approve(campaign=reworked, seen=Seen.current(reworked), user=sam,
                         checklist=SUPERVISOR_TICKS)
    return Campaign.objects.get(pk=campaign.pk)


def _refusals(code="seen_changed"):
    return [e for e in AuditEntry.objects.filter(action="campaign.refused")
            if e.payload.get("code") == code]


def test_a_release_page_left_open_while_the_contractor_swaps_the_content_releases_nothing(
        olivia, sam, oscar, approved, sink):
    client = client_for(oscar)
    url = reverse("campaigns:release", args=[approved.pk])
    shown = shown_on(client, url)
    assert shown["seen_recipients"] == "20" and shown["seen_hash"] == approved.content_hash

    reworked = _rework(approved, olivia, sam, oscar)
    assert reworked.state == State.APPROVED and reworked.content_hash != approved.content_hash

    response = client.post(url, {"checklist": OBSERVER_TICKS, "release": "", **shown},
                           HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Not signed: the campaign changed after your page was loaded" in page
    changes = page[page.index('id="changed-since"'):page.index("</section>",
                                                              page.index('id="changed-since"'))]
    assert "<del>20</del>" in changes and "<ins>60</ins>" in changes
    assert "<ins>B版の本文です。" in changes.replace("<ins>B</ins>", "<ins>B")  # word diff
    reworked.refresh_from_db()
    assert reworked.state == State.APPROVED
    assert not SignOff.objects.filter(kind=SignOff.Kind.RELEASE).exists()
    (refusal,) = _refusals()
    assert refusal.payload["seen"]["content_hash"] == approved.content_hash
    assert refusal.payload["current"]["content_hash"] == reworked.content_hash
    assert refusal.payload["changed"] == ["content_hash", "recipient_count"]
    assert refusal.actor_name == "oscar"
    assert sender.run(reworked.pk, worker="t", budget=1) is sender.Outcome.FINISHED
    assert sink.handler.campaign_mail() == []  # no member got anything

    # The same page, reloaded, shows the new content, and its click signs it.
    shown = shown_on(client, url)
    assert shown["seen_recipients"] == "60"
    assert client.post(url, {"checklist": OBSERVER_TICKS, "release": "", **shown}
                       ).status_code == 302
    reworked.refresh_from_db()
    assert reworked.state == State.RELEASED
    assert SignOff.objects.get(kind=SignOff.Kind.RELEASE).content_hash == reworked.content_hash


def test_a_review_page_left_open_while_the_operator_swaps_the_content_approves_nothing(
        olivia, sam, oscar, tested):
    client = client_for(sam)
    url = reverse("campaigns:review", args=[tested.pk])
    shown = shown_on(client, url)
    reworked = _rework(tested, olivia, sam, oscar, approve=False)
    response = client.post(url, {"checklist": SUPERVISOR_TICKS, "approve": "", **shown},
                           HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200 and 'id="changed-since"' in response.content.decode()
    reworked.refresh_from_db()
    assert reworked.state == State.SUBMITTED
    assert not SignOff.objects.filter(kind=SignOff.Kind.APPROVAL, voided_at=None).exists()
    assert len(_refusals()) == 1


@pytest.mark.parametrize("forged", [
    {},  # an older page, a script: nothing says what is signed
    {"seen_hash": "0" * 64, "seen_recipients": "20", "seen_terms": "hold:auto;rate:none"},
    {"seen_recipients": "20", "seen_terms": "hold:auto;rate:none"},
    {"seen_recipients": "twenty", "seen_terms": "x"},
])
def test_a_release_post_that_does_not_name_the_current_content_is_refused(
        oscar, approved, forged):
    response = client_for(oscar).post(reverse("campaigns:release", args=[approved.pk]),
                                      {"checklist": OBSERVER_TICKS, "release": "", **forged})
    assert response.status_code == 200
    approved.refresh_from_db()
    assert approved.state == State.APPROVED
    assert not SignOff.objects.filter(kind=SignOff.Kind.RELEASE).exists()
    refused = AuditEntry.objects.filter(action="campaign.refused").get()
    assert refused.payload["code"] in ("seen_changed", "seen_missing")


@pytest.mark.parametrize("field, value", [
    ("seen_recipients", "19"),  # the hash of this content, another count
    ("seen_terms", "hold:off;rate:none"),  # the hash of this content, other terms
])
def test_each_thing_the_page_showed_must_still_hold(oscar, approved, field, value):
    client = client_for(oscar)
    url = reverse("campaigns:release", args=[approved.pk])
    shown = {**shown_on(client, url), field: value}
    client.post(url, {"checklist": OBSERVER_TICKS, "release": "", **shown})
    approved.refresh_from_db()
    assert approved.state == State.APPROVED
    (refusal,) = _refusals()
    assert refusal.payload["changed"] == [{"seen_recipients": "recipient_count",
                                           "seen_terms": "terms"}[field]]


def test_the_api_signs_only_the_content_it_names(olivia, sam, oscar, approved):
    before = Seen.current(approved)
    reworked = _rework(approved, olivia, sam, oscar)
    with pytest.raises(workflow.IncompleteSignOff):
        workflow.release(campaign=reworked, seen=None, user=oscar, checklist=OBSERVER_TICKS)
    with pytest.raises(workflow.StaleSignOff) as refused:
        workflow.release(campaign=reworked, seen=before, user=oscar, checklist=OBSERVER_TICKS)
    assert refused.value.code == "seen_changed"
    assert reworked.state == State.APPROVED
    assert [e.payload["code"] for e in AuditEntry.objects.filter(
        action="campaign.refused")] == ["seen_missing", "seen_changed"]


def test_the_author_is_refused_as_the_author_whatever_the_form_says(olivia, approved):
    """Who may sign is asked before what is signed: a wrong person gets a 403, not a diff."""
    response = client_for(olivia).post(reverse("campaigns:release", args=[approved.pk]),
                                       {"checklist": OBSERVER_TICKS, "release": ""})
    assert response.status_code == 403


def test_a_confirmation_of_the_first_messages_names_what_it_confirms(held, sam):
    url = reverse("campaigns:confirm_canary", args=[held.pk])
    response = client_for(sam).post(url, {"comment": "OK"})  # no seen_* fields
    assert response.status_code == 302
    held.refresh_from_db()
    assert held.state == State.HELD and held.canary_confirmed_at is None
    assert _refusals("seen_missing")

    shown = shown_on(client_for(sam), reverse("campaigns:detail", args=[held.pk]), form=url)
    client_for(sam).post(url, {"comment": "OK", **shown})
    held.refresh_from_db()
    assert held.state == State.SENDING and held.canary_confirmed_at is not None


def test_a_decision_on_a_message_in_doubt_is_taken_on_the_evidence_the_page_showed(
        held, sam):
    delivery = held.deliveries.filter(state=Delivery.State.SENT).first()
    Delivery.objects.filter(pk=delivery.pk).update(state=Delivery.State.IN_DOUBT)
    url = reverse("campaigns:decide", args=[held.pk, delivery.pk])
    shown = shown_on(client_for(sam), reverse("campaigns:detail", args=[held.pk]), form=url)
    assert shown["seen_evidence"]
    # Meanwhile the relay's log is read: the message was accepted after all.
    Delivery.objects.filter(pk=delivery.pk).update(relay_evidence={
        "accepted": True, "source": "maillog", "queue_id": "4ABC"})
    response = client_for(sam).post(url, {"decision": "resend", **shown},
                                    HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 302 and "changed_since=" in response.url
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.IN_DOUBT  # not resent on stale evidence
    (refusal,) = _refusals()
    assert refusal.payload["changed"] == ["evidence"]
    page = client_for(sam).get(response.url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'id="changed-since"' in page

    shown = shown_on(client_for(sam), reverse("campaigns:detail", args=[held.pk]), form=url)
    client_for(sam).post(url, {"decision": "skip", **shown})
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.SKIPPED


def test_a_certificate_is_countersigned_only_as_the_page_showed_it(settings, olivia, oscar,
                                                                    sink):
    from tests.test_attack_lifecycle import _certificate

    certificate = _certificate(settings, olivia)
    url = reverse("retention:certificate", args=[certificate.pk])
    page = client_for(oscar).get(url).content.decode()
    assert f'name="seen_sha256" value="{certificate.sha256}"' in page
    client_for(oscar).post(url, {"seen_sha256": "f" * 64})
    client_for(oscar).post(url)
    certificate.refresh_from_db()
    assert certificate.countersigned_at is None
    refused = AuditEntry.objects.filter(action="member_data.certificate_countersign_refused")
    assert [e.payload["code"] for e in refused] == ["seen_changed", "seen_changed"]
    client_for(oscar).post(url, {"seen_sha256": certificate.sha256})
    certificate.refresh_from_db()
    assert certificate.countersigned_by == oscar
