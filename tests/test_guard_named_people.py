"""People who may be named (issue 21, item 4): the association's observer keeps a list of
members who may appear in any notice (officers signing it), with why and until when,
audited; the guard lets their names pass and nobody else's, and never their addresses."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from campaigns import workflow
from campaigns.models import State
from roster.models import NamedMember
from roster.services import add_named_member, revoke_named_member
from tests.factories import (
    client_for,
    make_campaign,
    make_roster,
    run_until_done,
    through_the_countersign,
)

ROWS = [["W1001", "佐藤 花子", "hanako@example.jp", "東京"],
        ["W1002", "鈴木 一郎", "ichiro@example.jp", "東京"],
        ["W1003", "高橋 美咲", "misaki@example.jp", "大阪"],
        ["W1004", "田中 健太", "kenta@example.jp", "大阪"]]
SIGNED_BY_TWO_OFFICERS = "総会のご案内です。\n\n会長 佐藤 花子\n副会長 鈴木 一郎"


@pytest.fixture
def roster(olivia):
    return make_roster(olivia, rows=ROWS)


def draft(olivia, roster, text):
    return make_campaign(olivia, roster, canary_enabled=False, subject="{name} 様へ",
                         body_text="{name} 様\n\n" + text + "\n")


def officers(oscar, last_day=None):
    last_day = last_day or timezone.localdate() + timedelta(days=30)
    return [add_named_member(member_number=n, reason=r, last_day=last_day, actor=oscar)
            for n, r in (("W1001", "会長"), ("W1002", "副会長"))]


def test_a_notice_signed_by_two_officers_is_refused_until_the_observer_lists_them(
        olivia, oscar, roster):
    with pytest.raises(workflow.ContentRefused):
        workflow.submit(campaign=draft(olivia, roster, SIGNED_BY_TWO_OFFICERS), user=olivia)
    officers(oscar)
    campaign = workflow.submit(campaign=draft(olivia, roster, SIGNED_BY_TWO_OFFICERS),
                               user=olivia)
    assert campaign.state == State.SUBMITTED


def test_listed_officers_names_reach_every_member(olivia, sam, oscar, roster, sink):
    officers(oscar)
    campaign = through_the_countersign(draft(olivia, roster, SIGNED_BY_TWO_OFFICERS), olivia,
                                       sam, oscar)
    sink.handler.received.clear()
    run_until_done(campaign)
    assert campaign.state == State.COMPLETED
    assert len(sink.handler.campaign_mail()) == len(ROWS)


def test_a_listed_officer_is_named_but_their_address_is_still_refused(olivia, oscar, roster):
    officers(oscar)
    with pytest.raises(workflow.ContentRefused):
        workflow.submit(campaign=draft(olivia, roster, "会長 佐藤 花子 (hanako@example.jp)"),
                        user=olivia)


def test_an_unlisted_member_still_counts_beside_a_listed_one(olivia, oscar, roster):
    officers(oscar)
    text = "会長 佐藤 花子、高橋 美咲 様、田中 健太 様"  # two members who are not listed
    with pytest.raises(workflow.ContentRefused):
        workflow.submit(campaign=draft(olivia, roster, text), user=olivia)


def test_an_entry_past_its_last_day_or_revoked_no_longer_counts(olivia, oscar, roster):
    president, vice = officers(oscar)
    NamedMember.objects.filter(pk=president.pk).update(
        last_day=timezone.localdate() - timedelta(days=1))
    revoke_named_member(named=vice, actor=oscar)
    from campaigns import guard_index

    guard_index.forget_held_rosters()  # another process: within guard.HELD_FOR_SECONDS
    with pytest.raises(workflow.ContentRefused):
        workflow.submit(campaign=draft(olivia, roster, SIGNED_BY_TWO_OFFICERS), user=olivia)


def test_only_an_observer_may_list_or_revoke_and_every_change_is_audited(
        olivia, sam, oscar, roster):
    data = {"member_number": "W1001", "reason": "会長",
            "last_day": (timezone.localdate() + timedelta(days=10)).isoformat()}
    for person in (olivia, sam):
        assert client_for(person).post(reverse("roster:named"), data).status_code == 403
    assert not NamedMember.objects.exists()
    assert client_for(oscar).post(reverse("roster:named"), data).status_code == 302
    named = NamedMember.objects.get()
    assert client_for(sam).post(reverse("roster:named_revoke", args=[named.pk])).status_code == 403
    client_for(oscar).post(reverse("roster:named_revoke", args=[named.pk]))
    named.refresh_from_db()
    assert named.revoked_by == oscar
    entries = AuditEntry.objects.filter(action__startswith="roster.named_member").order_by(
        "sequence")
    assert [(e.action, e.actor_name, e.payload["member"]) for e in entries] == [
        ("roster.named_member_added", "oscar", "W1001"),
        ("roster.named_member_revoked", "oscar", "W1001")]


def test_a_last_day_in_the_past_or_beyond_a_year_is_refused_with_a_message(oscar):
    client = client_for(oscar)
    for days in (-1, 400):
        response = client.post(reverse("roster:named"), {
            "member_number": "W1001", "reason": "会長",
            "last_day": (timezone.localdate() + timedelta(days=days)).isoformat()},
            HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 200
        assert b"in the past" in response.content or b"one year" in response.content
    assert not NamedMember.objects.exists()
