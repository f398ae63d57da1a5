"""A purged roster is still recognised (issue 21, item 1): before its values are erased,
the guard keeps keyed tags of them (never the values) for GUARD_TAGS_KEEP_DAYS, stated on
the deletion certificate, and the submit-time check finds them on the tags alone. A
contractor who kept the file cannot mail it to the members of a later campaign."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns import guard, guard_tags, retention, workflow
from campaigns.findings import GuardReport
from campaigns.models import DeletionCertificate, State
from roster.models import GuardTag
from tests.factories import (
    database_dump,
    make_campaign,
    make_roster,
    run_until_done,
    through_the_countersign,
)

HEADER = ["会員番号", "氏名", "メールアドレス", "電話番号"]
FULL = [["W2001", "山本 大輔", "daisuke.yamamoto@example.org", "090-2222-0001"],
        ["W2002", "中村 優子", "yuko.nakamura@example.org", "090-2222-0002"],
        ["W2003", "小林 翔太", "shota.k@example.org", "090-2222-0003"]]
PART = [["W3001", "佐藤 花子", "hanako@example.jp", "03-1111-2222"],
        ["W3002", "鈴木 一郎", "ichiro@example.jp", "03-1111-3333"]]
LEAKS = {
    "an address": "連絡先: yuko.nakamura@example.org",
    "an address in capitals": "連絡先: YUKO.NAKAMURA@EXAMPLE.ORG",
    "a member number": "対象: W2002 の方",
    "a telephone number, spaced": "電話 090 2222 0003",
    "two names": "担当: 山本 大輔、小林 翔太",
}


@pytest.fixture
def purged(olivia, settings):
    """The full membership, imported for an earlier mailing and purged since; the
    campaign's roster is another, current one."""
    full = make_roster(olivia, rows=FULL, header=HEADER, name="全会員名簿")
    (certificate,) = retention.purge_rosters(
        now=timezone.now() + timedelta(days=settings.ROSTER_RETENTION_DAYS, minutes=1))
    full.refresh_from_db()
    assert full.purged_at is not None
    part = make_roster(olivia, rows=PART, header=HEADER, name="一部")
    return part, certificate


def draft(olivia, roster, text):
    return make_campaign(olivia, roster, canary_enabled=False, subject="{name} 様",
                         body_text="{name} 様\n\n" + text + "\n")


@pytest.mark.parametrize("case", sorted(LEAKS))
def test_a_purged_rosters_value_is_refused_at_submit_on_keyed_tags_alone(case, olivia,
                                                                           purged):
    part, _certificate = purged
    campaign = draft(olivia, part, LEAKS[case])
    with pytest.raises(workflow.ContentRefused) as refused:
        workflow.submit(campaign=campaign, user=olivia)
    assert {f.member for f in refused.value.report.findings} & {"W2001", "W2002", "W2003"}
    campaign.refresh_from_db()
    assert campaign.state == State.DRAFT


@pytest.mark.parametrize("case", sorted(LEAKS))
def test_a_purged_rosters_value_never_reaches_the_mail_server_with_the_submit_check_off(
        case, olivia, sam, oscar, purged, sink, monkeypatch):
    """The check before each hand-over looks the campaign's own text up in the tags too:
    a submit check that missed it (or a bug that skipped it) does not let it out."""
    monkeypatch.setattr(guard, "check_campaign_content", lambda **kw: GuardReport())
    part, _certificate = purged
    campaign = through_the_countersign(draft(olivia, part, LEAKS[case]), olivia, sam, oscar)
    sink.handler.received.clear()
    run_until_done(campaign)
    assert sink.handler.recipients() == []
    assert campaign.state == State.PAUSED


def test_a_recipients_own_values_are_not_another_purged_members_data(olivia, settings):
    """People share names (佐藤 花子 is common), and a member of this year's roster was in
    last year's purged one with the same number, address and telephone: a message that
    greets its recipient by their own values is not refused for a purged namesake's."""
    old = [["W1001", "佐藤 花子", "hanako.sato@example.org", "090-4444-0001"],  # namesake
           ["W3002", "鈴木 一郎", "ichiro@example.jp", "03-1111-3333"]]  # the same person
    make_roster(olivia, rows=old, header=HEADER, name="昨年度")
    retention.purge_rosters(
        now=timezone.now() + timedelta(days=settings.ROSTER_RETENTION_DAYS, minutes=1))
    part = make_roster(olivia, rows=PART, header=HEADER, name="今年度")
    campaign = make_campaign(olivia, part, canary_enabled=False, subject="{name} 様",
                             body_text="{name} 様\n\n登録: {email} / {電話番号}\n")
    workflow.submit(campaign=campaign, user=olivia)
    campaign.refresh_from_db()
    assert campaign.state == State.SUBMITTED


def test_the_campaigns_text_is_tagged_once_not_once_a_message(olivia, sam, oscar, purged,
                                                               sink, monkeypatch):
    """Every message of a campaign has the same template: tagging it (every window of the
    text, a keyed hash each) once per worker keeps the check before each hand-over cheap."""
    twenty = make_roster(olivia, name="二十人")
    campaign = through_the_countersign(draft(olivia, twenty, "総会のお知らせです。"), olivia,
                                       sam, oscar)
    calls = []
    tagged = guard_tags.findings
    monkeypatch.setattr(guard_tags, "findings", lambda texts, **kw: calls.append(texts)
                        or tagged(texts, **kw))
    sink.handler.received.clear()
    run_until_done(campaign)
    assert campaign.state == State.COMPLETED
    sent = len(sink.handler.campaign_mail())
    assert sent == 20
    # The release's last check of the whole campaign (the template and a few sample
    # members) and the template once for all the hand-overs: not one a message.
    assert len(calls) < sent / 2


def test_only_tags_are_kept_and_the_certificate_says_until_when(olivia, purged, settings):
    _part, certificate = purged
    dump = database_dump()
    assert "yuko.nakamura" not in dump and "中村" not in dump and "090-2222" not in dump
    assert GuardTag.objects.filter(member_number="W2002").exists()
    kept = certificate.document["guard_tags"]
    until = timezone.localdate(certificate.created_at) + timedelta(  # the day of the purge
        days=settings.GUARD_TAGS_KEEP_DAYS)
    assert kept["keep_until"] == until.isoformat() and kept["count"] > 0
    assert f"until {until.isoformat()}" in retention.certificate_text(certificate)


def test_without_the_key_a_tag_finds_nothing(olivia, purged, settings):
    assert guard_tags.findings({"body_text": LEAKS["an address"]})
    settings.GUARD_TAG_KEY = "another installation's key"
    assert guard_tags.findings({"body_text": LEAKS["an address"]}) == []


def test_tags_past_their_day_find_nothing_and_are_deleted_by_the_next_purge(
        olivia, purged):
    part, _certificate = purged
    GuardTag.objects.update(keep_until=timezone.localdate() - timedelta(days=1))
    workflow.submit(campaign=draft(olivia, part, LEAKS["an address"]), user=olivia)
    retention.purge_rosters()
    assert not GuardTag.objects.exists()


def test_an_erasure_request_leaves_no_tag_of_the_person(olivia):
    roster = make_roster(olivia, rows=FULL, header=HEADER)
    certificate = retention.erase_member(address="yuko.nakamura@example.org", actor=None,
                                         system="test")
    assert certificate.kind == DeletionCertificate.Kind.ERASURE
    assert not GuardTag.objects.exists()
    assert roster.members.count() == 2
