"""Newsletters: the footer they must carry, the unsubscribe headers and link in the bytes
the mail server receives, one-click unsubscribe (POST, no login; a GET changes nothing), and
a suppression that outlives the roster it came from."""

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from audit.models import AuditEntry
from campaigns import sender, suppression, unsubscribe, workflow
from campaigns.models import Delivery, Kind, State
from campaigns.seen import Seen
from countersign.pseudonyms import pseudonym
from roster.models import Suppression
from tests.factories import (
    BODY,
    OBSERVER_TICKS,
    SUPERVISOR_TICKS,
    client_for,
    delivery_to,
    email_of,
    make_campaign,
    make_roster,
    released_campaign,
    run_until_done,
    through_the_countersign,
)
from tests.factories import (
    NEWSLETTER_FOOTER as FOOTER,
)
from tests.factories import (
    make_newsletter as newsletter,
)


def unsubscribe_links(message):
    header = message["List-Unsubscribe"]
    https, mailto = [part.strip().strip("<>") for part in header.split(",")]
    return https, mailto


@pytest.mark.parametrize("missing", [settings.ASSOCIATION_POSTAL_ADDRESS, "{unsubscribe_url}",
                                     settings.ASSOCIATION_NAME, settings.ASSOCIATION_CONTACT])
def test_a_newsletter_without_its_footer_is_refused_at_submit(olivia, roster, missing):
    campaign = make_campaign(olivia, roster, kind=Kind.NEWSLETTER,
                             body_text=BODY + FOOTER.replace(missing, ""))
    with pytest.raises(workflow.ContentRefused) as refused:
        workflow.submit(campaign=campaign, user=olivia)
    assert missing in refused.value.message
    campaign.refresh_from_db()
    assert campaign.state == State.DRAFT
    assert AuditEntry.objects.filter(action="campaign.refused",
                                     payload__code="newsletter_footer").exists()


def test_a_newsletters_html_body_must_carry_the_unsubscribe_link_too(olivia, roster):
    campaign = newsletter(olivia, roster, body_html="<p>{name} 様</p>")
    with pytest.raises(workflow.ContentRefused):
        workflow.submit(campaign=campaign, user=olivia)


def test_a_notice_needs_no_footer_and_cannot_use_the_unsubscribe_placeholder(olivia, roster):
    workflow.submit(campaign=make_campaign(olivia, roster), user=olivia)
    with pytest.raises(workflow.ContentRefused):
        make_campaign(olivia, roster, body_text=BODY + FOOTER)


def test_each_newsletter_message_carries_both_unsubscribe_headers_and_its_own_link(
        olivia, sam, oscar, roster, sink):
    campaign = newsletter(olivia, roster, canary_enabled=False)
    through_the_countersign(campaign, olivia, sam, oscar)
    run_until_done(campaign)
    messages = sink.handler.messages()
    assert len(messages) == 20
    links = set()
    for message in messages:
        https, mailto = unsubscribe_links(message)
        assert https.startswith(settings.SITE_URL + "/u/")
        assert mailto.startswith("mailto:unsubscribe@association.example?subject=unsubscribe")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert https in message.get_body(("plain",)).get_content()  # the footer's link
        links.add(https)
    assert len(links) == 20  # one per recipient
    assert Delivery.objects.filter(campaign=campaign, state=Delivery.State.SENT).count() == 20


def test_a_notice_carries_no_unsubscribe_header(olivia, sam, oscar, roster, sink):
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    run_until_done(campaign)
    assert all(m["List-Unsubscribe"] is None for m in sink.handler.messages())


def sent_newsletter(olivia, sam, oscar, roster, sink):
    campaign = newsletter(olivia, roster, canary_enabled=False)
    through_the_countersign(campaign, olivia, sam, oscar)
    run_until_done(campaign)
    return campaign, {m["To"]: unsubscribe_links(m)[0] for m in sink.handler.messages()}


def path_of(url):
    return url.removeprefix(settings.SITE_URL)


def test_a_get_shows_a_button_and_unsubscribes_nobody(olivia, sam, oscar, roster, sink):
    _campaign, links = sent_newsletter(olivia, sam, oscar, roster, sink)
    response = Client().get(path_of(next(iter(links.values()))))
    assert response.status_code == 200
    assert b'<form method="post"' in response.content
    assert not Suppression.objects.exists()


def test_one_click_post_suppresses_at_once_without_login_and_is_audited(
        olivia, sam, oscar, roster, sink):
    campaign, links = sent_newsletter(olivia, sam, oscar, roster, sink)
    address, link = next(iter(links.items()))
    response = Client(enforce_csrf_checks=True).post(
        path_of(link), {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert suppression.is_suppressed(address, Kind.NEWSLETTER)
    assert not suppression.is_suppressed(address, Kind.NOTICE)  # notices still reach them
    entry = AuditEntry.objects.get(action="member.suppressed")
    assert entry.payload == {"reason": "unsubscribed", "source": "unsubscribe:one-click",
                             "pending_skipped": 0}
    assert entry.object_id == str(campaign.pk)
    assert address not in str(entry.payload) and address.split("@")[0] not in entry.actor_name
    # twice is once
    Client().post(path_of(link), {"List-Unsubscribe": "One-Click"})
    assert Suppression.objects.count() == 1


@pytest.mark.parametrize("tamper", [
    lambda token: token[:-1] + ("g" if token[-1] != "g" else "h"),  # signature changed
    lambda token: "h" + token,  # another delivery's id, same signature
    lambda token: token[:20],  # cut short
    lambda token: token.upper(),
    lambda token: "1z" + token.partition("z")[2],  # digits
])
def test_a_forged_link_unsubscribes_nobody(olivia, sam, oscar, roster, sink, tamper):
    _campaign, links = sent_newsletter(olivia, sam, oscar, roster, sink)
    token = next(iter(links.values())).rstrip("/").rpartition("/")[2]
    response = Client().post(reverse("unsubscribe", args=[tamper(token)]),
                             {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 404
    assert not Suppression.objects.exists()


def test_the_preview_link_unsubscribes_nobody(olivia, roster):
    response = Client().post(reverse("unsubscribe", args=["preview"]))
    assert response.status_code == 200
    assert not Suppression.objects.exists()


def test_the_next_newsletter_to_the_reimported_roster_skips_the_unsubscribed_member(
        olivia, sam, oscar, roster, sink):
    _first, links = sent_newsletter(olivia, sam, oscar, roster, sink)
    address, link = sorted(links.items())[3]
    Client().post(path_of(link), {"List-Unsubscribe": "One-Click"})
    sink.handler.received.clear()

    again = make_roster(olivia, name="会員名簿 (再取込)")  # the same file, imported again
    second = newsletter(olivia, again, canary_enabled=False)
    assert second.suppressed_numbers() == [
        again.members.get(email_pseudonym=pseudonym(address)).member_number]
    through_the_countersign(second, olivia, sam, oscar)
    run_until_done(second)
    received = sink.handler.recipients()
    assert len(received) == 19 and address not in received
    skipped = second.deliveries.get(state=Delivery.State.SKIPPED)
    assert (email_of(skipped), skipped.skip_reason) == (address, "suppressed:unsubscribed")

    # a notice to the same roster still reaches every member
    sink.handler.received.clear()
    notice = released_campaign(olivia, sam, oscar, again, canary_enabled=False)
    run_until_done(notice)
    assert len(sink.handler.recipients()) == 20


def test_an_unsubscribe_after_approval_voids_it_and_the_pages_show_the_count(
        olivia, sam, oscar, roster, sink):
    _first, links = sent_newsletter(olivia, sam, oscar, roster, sink)
    second = newsletter(olivia, roster)
    workflow.submit(campaign=second, user=olivia)
    workflow.test_send(campaign=second, user=olivia, member=roster.members.first(),
                       recipients=[sam])
    workflow.approve(campaign=second, seen=Seen.current(second),
                     user=sam, checklist=SUPERVISOR_TICKS)
    Client().post(path_of(next(iter(links.values()))), {"List-Unsubscribe": "One-Click"})
    second.refresh_from_db()
    with pytest.raises(workflow.WorkflowError):
        workflow.release(campaign=second, seen=Seen.current(second),
                         user=oscar, checklist=OBSERVER_TICKS)
    page = client_for(sam).get(reverse("campaigns:review", args=[second.pk]),
                               HTTP_ACCEPT_LANGUAGE="en")
    assert "1 suppressed" in page.content.decode()


def test_an_unsubscribe_during_sending_skips_the_pending_message(olivia, sam, oscar, roster,
                                                                   sink):
    _first, links = sent_newsletter(olivia, sam, oscar, roster, sink)
    second = newsletter(olivia, roster, canary_enabled=False)
    through_the_countersign(second, olivia, sam, oscar)
    sender.run(second.pk, worker="t", budget=0, sleep=lambda s: None)  # starts: ledger made
    address, link = max(links.items())
    assert delivery_to(second, address).state == Delivery.State.PENDING
    Client().post(path_of(link), {"List-Unsubscribe": "One-Click"})
    assert delivery_to(second, address).skip_reason == "suppressed:unsubscribed"
    sink.handler.received.clear()
    run_until_done(second)
    assert address not in sink.handler.recipients()


def test_an_unsubscribe_token_that_happens_to_spell_two_members_names_is_still_sent(
        olivia, sam, oscar, sink, monkeypatch):
    """The token is random letters; the guard reads names in letter runs. The app's own
    link is not member data: its text is not scanned (its domain still is)."""
    rows = [["W000001", "Ichiro Suzuki", "ichiro@members.example", "東京"],
            ["W000002", "Shun Ryu", "shun@members.example", "東京"],
            ["W000003", "Jun Tsuyu", "jun@members.example", "東京"]]
    roster = make_roster(olivia, rows=rows)
    monkeypatch.setattr(unsubscribe, "token_for",
                        lambda delivery_id, secret=None: "hgzshunryujuntsuyu")
    campaign = newsletter(olivia, roster, canary_enabled=False)
    through_the_countersign(campaign, olivia, sam, oscar)
    run_until_done(campaign)
    assert sorted(sink.handler.recipients()) == sorted(r[2] for r in rows)
    assert not campaign.deliveries.filter(state=Delivery.State.REFUSED).exists()


def test_the_observer_checks_and_adds_an_address_on_the_suppression_page(oscar, audrey, sam,
                                                                         roster):
    url = reverse("retention:suppressions")
    address = email_of(roster.members.first())
    assert client_for(sam).get(url).status_code == 403
    assert client_for(audrey).get(url).status_code == 200
    assert client_for(audrey).post(url, {"email": address, "add": "1"}).status_code == 200
    assert not Suppression.objects.exists()  # the auditor reads counts only
    page = client_for(oscar).post(url, {"email": address, "check": "1"},
                                  HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "not on the suppression list" in page
    client_for(oscar).post(url, {"email": address.upper(), "add": "1"})
    assert suppression.is_suppressed(address, Kind.NOTICE)
    page = client_for(oscar).post(url, {"email": address, "check": "1"},
                                  HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "This address is suppressed" in page and page.count(address) == 1  # the form
    entry = AuditEntry.objects.get(action="member.suppressed")
    assert entry.actor == oscar and entry.payload["reason"] == "manual"
