"""Attack on 1954e3e (synthetic previews sized from each field's typical/longest length).

1. An erasure request "leaves nothing of the person, not even tags", but the roster's
   value_lengths are not measured again: the erased member's name length (the longest, here)
   stays on the roster and in every "as long as the longest" preview.
2. A roster of one member (or a few) gives its members' exact lengths to every page that
   previews it: the preview of a one-member held roster is as long as that member's name.
3. What held: the guard passes ordinary notices with long synthetic values.
"""

from campaigns import guard, retention, selectors
from roster import member_data
from tests.factories import make_campaign, make_roster

LONG_NAME = "長谷川" + " " + "あ" * 36  # 40 characters: the roster's longest, by far


def _rows(count, *, long_at=None):
    rows = []
    for i in range(1, count + 1):
        name = LONG_NAME if i == long_at else "山田 太郎"
        rows.append([f"W{i:06d}", name, f"member{i:06d}@members.example", "本部"])
    return rows


def test_an_erased_members_length_does_not_stay_on_the_roster(oscar, association_private_key):
    rows = _rows(10, long_at=3)  # lengths are kept from ten members up
    roster = make_roster(oscar, rows=rows)
    assert roster.value_lengths["name"]["longest"] == len(LONG_NAME)
    retention.erase_member(address=rows[2][2], actor=oscar)
    roster.refresh_from_db()
    assert roster.value_lengths.get("name", {}).get("longest") != len(LONG_NAME), \
        roster.value_lengths
    longest = selectors.sample_members(roster)[-1]
    assert len(longest.placeholders()["name"]) != len(LONG_NAME)


def test_a_one_member_rosters_preview_does_not_give_that_members_name_length(
        oscar, association_private_key):
    short = make_roster(oscar, rows=[["W000001", "林 一", "a@members.example", "本部"]])
    long = make_roster(oscar, rows=[["W000001", "勅使河原 右京之介", "a@members.example", "本部"]],
                       name="別の名簿")
    (a,), (b,) = selectors.sample_members(short), selectors.sample_members(long)
    assert a.sealed and b.sealed
    assert len(a.placeholders()["name"]) == len(b.placeholders()["name"]), (
        a.placeholders()["name"], b.placeholders()["name"])


def test_the_guard_passes_an_ordinary_notice_with_long_synthetic_values(
        oscar, olivia, association_private_key):
    rows = [[f"W{i:06d}", "勅使河原 右京之介" * 2, (f"a.very.long.local.part.{i:06d}@"
             "subdomain.members-association.example"), "本部第一支部" * 5] for i in range(1, 8)]
    roster = make_roster(oscar, rows=rows)
    body = ("{name} 様\n会員番号 {member_number}\nご登録のアドレス: {email}\n支部: {支部}\n"
            "お問い合わせ: https://example.org/form?no={member_number}\n")
    campaign = make_campaign(olivia, roster, canary_enabled=False, body_text=body)
    report = guard.check_campaign_content(roster=roster, subject=campaign.subject,
                                          body_text=body, body_html="")
    assert not report.findings, [str(f) for f in report.findings]
    assert member_data.values_of([roster.members.first().pk])
