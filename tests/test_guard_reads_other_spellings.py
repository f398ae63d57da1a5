"""The guard reads the other ways a member value can be written (issue 21, item 2): kanji
and other scripts' digits, separators inside member numbers, variant kanji in names (異体字),
Unicode's confusables (a maintained table), enclosed and regional-indicator letters, "@"
and "." written out in Japanese, and a value split between the subject and the body. Each
through the real workflow: at submit, and with the submit check off (the check before each
hand-over alone, to a real SMTP server)."""

import pytest

from campaigns import guard, workflow
from campaigns.findings import GuardReport
from campaigns.models import State
from tests.factories import (
    email_of,
    make_campaign,
    make_roster,
    run_until_done,
    through_the_countersign,
)

G = "{name} 様\n\n"  # the greeting a notice starts with
ROWS = [["W1001", "髙橋 美咲", "misaki@example.jp", "東京"],
        ["W1002", "山﨑 健太", "kenta.yamazaki@example.jp", "東京"],
        ["W1003", "渡邊 一郎", "ichiro.w@example.jp", "大阪"],
        ["100234", "佐藤 花子", "hanako@example.jp", "大阪"]]

LEAKS = {  # (subject, body)
    "member number in kanji digits": ("{name} 様", G + "対象: W一〇〇二"),
    "member number with separators": ("{name} 様", G + "対象: W-1-0-0-2"),
    "member number of digits only, spaced": ("{name} 様", G + "対象: 1 0 0 2 3 4"),
    "member number in full-width with a hyphen": ("{name} 様", G + "対象: Ｗ－１００２"),
    "variant kanji, two names": ("{name} 様", G + "担当: 高橋美咲、山崎健太"),
    "confusables: mathematical and Cherokee letters": (
        "{name} 様", G + "連絡: 𝐤𝐞𝐧𝐭𝐚.yamazaki@ᎬXAMPLE.jp"),
    "enclosed letters": ("{name} 様", G + "ⓚⓔⓝⓣⓐ.yamazaki@example.jp"),
    "regional indicators": ("{name} 様", G + "🇰🇪🇳🇹🇦.yamazaki@example.jp"),
    "at and dot written out": ("{name} 様", G + "kenta.yamazaki アットマーク example ドット jp"),
    "at and dot in hiragana": ("{name} 様", G + "kenta.yamazaki あっと example どっと jp"),
    "split between subject and body": ("{name} 様 kenta.yamaz", "aki@example.jp までご連絡を"),
}
OWNER = {  # whose value a leak carries
    "member number of digits only, spaced": "100234", "variant kanji, two names": "",
}

ORDINARY = {
    "the first general meeting, in kanji": (
        "{name} 様", G + "第一回 総会 のご案内（統一地方選挙の翌週）"),
    "an amount with a separator beside a member number's digits": (
        "{name} 様", "会費は 100,234円 から 1,002円 に下がります"),
    "a date and a time": ("{name} 様", G + "2026年12月4日 10:00-12:00、第二会議室"),
    "one officer's name in a variant form": ("{name} 様", G + "会長 髙橋 美咲"),
}


@pytest.fixture
def roster(olivia):
    return make_roster(olivia, rows=ROWS)


def draft(olivia, roster, subject, body):
    """The body as given (a split value must meet the subject), the association's footer."""
    return make_campaign(olivia, roster, canary_enabled=False, subject=subject,
                         body_text=body + "\n\n共済会 事務局\n")


@pytest.mark.parametrize("case", sorted(LEAKS))
def test_another_spelling_of_a_member_value_is_refused_at_submit(case, olivia, roster):
    campaign = draft(olivia, roster, *LEAKS[case])
    with pytest.raises(workflow.ContentRefused) as refused:
        workflow.submit(campaign=campaign, user=olivia)
    assert refused.value.code == "guard"
    campaign.refresh_from_db()
    assert campaign.state == State.DRAFT


@pytest.mark.parametrize("case", sorted(LEAKS))
def test_another_spelling_of_a_member_value_never_reaches_another_member(
        case, olivia, sam, oscar, roster, sink, monkeypatch):
    monkeypatch.setattr(guard, "check_campaign_content", lambda **kw: GuardReport())
    campaign = through_the_countersign(draft(olivia, roster, *LEAKS[case]), olivia, sam, oscar)
    sink.handler.received.clear()
    run_until_done(campaign)
    owner = OWNER.get(case, "W1002")
    allowed = {email_of(m) for m in campaign.roster.members.filter(member_number=owner)}
    if case == "variant kanji, two names":  # one name alone is a signature: its owners
        allowed = {email_of(m) for m in campaign.roster.members.filter(
            member_number__in=["W1001", "W1002"])}
    assert set(sink.handler.recipients()) <= allowed
    assert campaign.state == State.PAUSED


@pytest.mark.parametrize("case", sorted(ORDINARY))
def test_an_ordinary_notice_in_japanese_is_sent_to_every_member(case, olivia, sam, oscar,
                                                                 roster, sink):
    campaign = through_the_countersign(draft(olivia, roster, *ORDINARY[case]), olivia, sam,
                                       oscar)
    sink.handler.received.clear()
    run_until_done(campaign)
    assert campaign.state == State.COMPLETED
    assert len(sink.handler.campaign_mail()) == len(ROWS)
