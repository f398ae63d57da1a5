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
    named_officer,
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
    "member number split in groups": ("{name} 様", G + "当選: W-10-02、W 10 02"),
    "member number split over two lines": ("{name} 様", G + "当選:\nW10\n02\n"),
    "member number with O for 0": ("{name} 様", G + "当選: W1OO2"),
    "member number in positional kanji": ("{name} 様", G + "当選: W千二番"),
    "member number in keycap emoji": ("{name} 様", G + "当選: W1️⃣0️⃣0️⃣2️⃣"),
    "variant kanji, two names": ("{name} 様", G + "担当: 高橋美咲、山崎健太"),
    "confusables: mathematical and Cherokee letters": (
        "{name} 様", G + "連絡: 𝐤𝐞𝐧𝐭𝐚.yamazaki@ᎬXAMPLE.jp"),
    "enclosed letters": ("{name} 様", G + "ⓚⓔⓝⓣⓐ.yamazaki@example.jp"),
    "regional indicators": ("{name} 様", G + "🇰🇪🇳🇹🇦.yamazaki@example.jp"),
    "small capitals": ("{name} 様", G + "ᴋᴇɴᴛᴀ.ʏᴀᴍᴀᴢᴀᴋɪ@example.jp"),
    "negative squared letters": ("{name} 様", G + "🅺🅴🅽🆃🅰.yamazaki@example.jp"),
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
    "rooms, floors and numbered meetings": (
        "{name} 様", G + "A 棟 3 階 B-2 会議室、第二十回総会、No. 1 0 0 2 の資料（P 10-02）"),
    "one officer's name in a variant form": ("{name} 様", G + "会長 髙橋 美咲"),
}
LISTED = {"one officer's name in a variant form": ("W1001", "会長")}  # may be named


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
    if case in LISTED:
        named_officer(oscar, *LISTED[case])
    campaign = through_the_countersign(draft(olivia, roster, *ORDINARY[case]), olivia, sam,
                                       oscar)
    sink.handler.received.clear()
    run_until_done(campaign)
    assert campaign.state == State.COMPLETED
    assert len(sink.handler.campaign_mail()) == len(ROWS)


ROMAJI_HEADER = ["会員番号", "氏名", "メールアドレス", "ローマ字", "電話番号", "フリガナ"]
ROMAJI_ROWS = [["K1", "齋藤 由美", "yumi@example.jp", "Saito Yumi", "03-5380-1924",
                "サイトウ ユミ"],
               ["K2", "工藤 俊介", "shun@example.jp", "Kudo Shunsuke", "070-2290-6674",
                "クドウ シュンスケ"],
               ["K3", "藤田 純一", "jun@example.jp", "Fujita Junichi", "090-6104-2259",
                "フジタ ジュンイチ"],
               ["K4", "清水 千尋", "chihiro@example.jp", "Shimizu Chihiro", "090-3327-6651",
                "シミズ チヒロ"]]
ROMAJI_LEAKS = {
    "long vowels as ou": "Badges: Saitou Yumi, Kudou Shunsuke",
    "long vowels as oh, in capitals": "Badges: SAITOH YUMI, KUDOH SHUNSUKE",
    "long vowels with macrons": "Badges: Saitō Yumi, Kudō Shunsuke",
    "Kunrei-shiki": "Badges: Simizu Tihiro, Huzita Zyun'iti",
    "given name first, unspaced": "ids: chihiroshimizu / junichifujita",
    "kanji family names, given names in kana": "A班: 清水 ちひろ、藤田 じゅんいち",
    "a name down the left edge of a poem": (
        "清らかな\n水の流れに\n千の星\n尋ねる人の\n工夫して\n藤の花\n俊足の\n介添えの人"),
    "an address with a filler between its letters": "code: cxhxixhxixrxox@xexxxaxmxpxlxex.xjxp",
    "an address in Morse code": "-.-. .... .. .... .. .-. --- .--.-. . -..- .- -- .--. .-.. . "
                                ".-.-.- .--- .--.",
    "family names in kana, given names in kanji": "B班: しみず 千尋、ふじた 純一",
    "a telephone number from abroad": "From abroad: +81 90-6104-2259",
}


@pytest.mark.parametrize("case", sorted(ROMAJI_LEAKS))
def test_romaji_in_another_spelling_and_a_number_from_abroad_are_refused(case, olivia):
    roster = make_roster(olivia, rows=ROMAJI_ROWS, header=ROMAJI_HEADER)
    campaign = make_campaign(olivia, roster, canary_enabled=False, subject="{name} 様",
                             body_text=G + ROMAJI_LEAKS[case] + "\n")
    with pytest.raises(workflow.ContentRefused):
        workflow.submit(campaign=campaign, user=olivia)


KANA_LOOKALIKE_ROWS = [["K1", "工藤 俊介", "shun@example.jp", "クドウ シュンスケ"],
                       ["K2", "西村 拓海", "taku@example.jp", "ニシムラ タクミ"],
                       ["K3", "長谷川 蓮", "ren@example.jp", "ハセガワ レン"]]


def test_kanji_that_look_like_katakana_are_read_as_katakana(olivia):
    """エ藤 is 工藤 and 二シムラ 夕クミ is ニシムラ タクミ: two members named, refused."""
    roster = make_roster(olivia, rows=KANA_LOOKALIKE_ROWS,
                         header=["会員番号", "氏名", "メールアドレス", "フリガナ"])
    campaign = make_campaign(olivia, roster, canary_enabled=False, subject="{name} 様",
                             body_text=G + "席次: エ藤 俊介、二シムラ 夕クミ、八セガワ レン\n")
    with pytest.raises(workflow.ContentRefused) as refused:
        workflow.submit(campaign=campaign, user=olivia)
    assert {f.member for f in refused.value.report.findings} >= {"K1", "K2", "K3"}


def test_those_kanji_in_an_ordinary_notice_are_no_finding(olivia):
    roster = make_roster(olivia, rows=KANA_LOOKALIKE_ROWS,
                         header=["会員番号", "氏名", "メールアドレス", "フリガナ"])
    campaign = make_campaign(olivia, roster, canary_enabled=False, subject="{name} 様",
                             body_text=G + "八月の総会は二階の入口から。工事のため力仕事は"
                                           "才能のある方にお願いします。夕方五時まで。\n")
    workflow.submit(campaign=campaign, user=olivia)
    campaign.refresh_from_db()
    assert campaign.state == State.SUBMITTED


ADDRESS_HEADER = ["会員番号", "氏名", "メールアドレス", "住所"]
ADDRESS_ROWS = [["A1", "清水 千尋", "chihiro@example.jp", "〒171-0022 東京都豊島区南池袋2-27-9"],
                ["A2", "山崎 大翔", "hiroto.y_2@example.jp",
                 "〒136-0071 東京都江東区亀戸6-2-17 パークハイツ亀戸502"],
                ["A3", "工藤 俊介", "shun.kudo@example.jp", "〒150-0001 東京都渋谷区神宮前3-12-8"]]
ADDRESS_LEAKS = {
    "block and lot in words, no prefecture": "訪問先: 豊島区南池袋二丁目27番9号",
    "the building and room alone": "二次会は パークハイツ亀戸502 で",
    "the street without the prefecture": "集合: 江東区亀戸6-2-17",
    "names with Aozora ruby": (
        "出演: 清水《しみず》千尋《ちひろ》、工藤《くどう》俊介《しゅんすけ》"),
    "names with a reading after each kanji": (
        "出演: 清(し)水(みず) 千(ち)尋(ひろ)、工(く)藤(どう) 俊(しゅん)介(すけ)"),
    "an address with @ and . in kanji words": "連絡先: chihiro（単価記号）example（点）jp",
    "local parts alone, the domain once for all": (
        "ドメインは全員 example.jp: hiroto.y_2, shun.kudo"),
}


@pytest.mark.parametrize("case", sorted(ADDRESS_LEAKS))
def test_addresses_as_written_by_hand_and_names_with_furigana_are_refused(case, olivia):
    roster = make_roster(olivia, rows=ADDRESS_ROWS, header=ADDRESS_HEADER)
    campaign = make_campaign(olivia, roster, canary_enabled=False, subject="{name} 様",
                             body_text=G + ADDRESS_LEAKS[case] + "\n")
    with pytest.raises(workflow.ContentRefused):
        workflow.submit(campaign=campaign, user=olivia)


def test_names_with_html_furigana_never_reach_another_member(olivia, sam, oscar, sink,
                                                             monkeypatch):
    """Ruby survives the HTML allow-list (members see the reading over the name), and the
    check before the hand-over reads the names without it."""
    monkeypatch.setattr(guard, "check_campaign_content", lambda **kw: GuardReport())
    roster = make_roster(olivia, rows=ADDRESS_ROWS, header=ADDRESS_HEADER)
    campaign = make_campaign(
        olivia, roster, canary_enabled=False, subject="{name} 様", body_text=G + "HTML版をどうぞ",
        body_html="<p>{name} 様</p><p>出演: <ruby>清水<rt>しみず</rt></ruby> <ruby>千尋<rt>ちひろ"
                  "</rt></ruby>、<ruby>工藤<rp>(</rp><rt>くどう</rt><rp>)</rp></ruby> 俊介</p>")
    assert "<ruby>" in campaign.body_html
    campaign = through_the_countersign(campaign, olivia, sam, oscar)
    sink.handler.received.clear()
    run_until_done(campaign)
    assert set(sink.handler.recipients()) <= {"chihiro@example.jp", "shun.kudo@example.jp"}
    assert campaign.state == State.PAUSED


def test_an_address_block_in_an_ordinary_notice_and_furigana_on_a_hard_word_pass(olivia):
    roster = make_roster(olivia, rows=ADDRESS_ROWS, header=ADDRESS_HEADER)
    campaign = make_campaign(
        olivia, roster, canary_enabled=False, subject="{name} 様",
        body_text=G + "会場: 千代田区神田一丁目5番2号 共済会館3階（最寄り: 神田(かんだ)駅）。"
                      "議題は定款《ていかん》の改正です。\n")
    workflow.submit(campaign=campaign, user=olivia)
    campaign.refresh_from_db()
    assert campaign.state == State.SUBMITTED


BIRTH_HEADER = ["会員番号", "氏名", "メールアドレス", "生年月日"]
BIRTH_ROWS = [["B1", "清水 千尋", "b1@example.jp", "1990/03/25"],
              ["B2", "松本 樹", "b2@example.jp", "2001-06-14 00:00:00"],
              ["B3", "工藤 俊介", "b3@example.jp", "1968年10月30日"],
              ["B4", "斎藤 由美", "b4@example.jp", "1995/01/17"]]
BIRTH_LEAKS = {
    "two birthdays as Excel writes them": "今月お誕生日の皆様: 1990/03/25、2001/06/14",
    "birthdays in Japanese": "1990年3月25日生まれの方、1968年10月30日生まれの方、おめでとう",
    "birthdays in the Japanese era": "平成2年3月25日、平成13年6月14日 お生まれの皆様へ",
}
BIRTH_ORDINARY = {
    "event dates and a deadline": "総会は 2026年3月25日、締切は 2026/06/14 です。",
    "one date that is one member's birthday": "阪神・淡路大震災（1995年1月17日）から31年。",
}


@pytest.mark.parametrize("case", sorted(BIRTH_LEAKS))
def test_two_members_dates_of_birth_are_refused_however_they_are_written(case, olivia):
    roster = make_roster(olivia, rows=BIRTH_ROWS, header=BIRTH_HEADER)
    campaign = make_campaign(olivia, roster, canary_enabled=False, subject="{name} 様",
                             body_text=G + BIRTH_LEAKS[case] + "\n")
    with pytest.raises(workflow.ContentRefused) as refused:
        workflow.submit(campaign=campaign, user=olivia)
    assert {f.detail for f in refused.value.report.findings} == {"生年月日"}


@pytest.mark.parametrize("case", sorted(BIRTH_ORDINARY))
def test_dates_that_are_not_two_members_birthdays_pass(case, olivia):
    roster = make_roster(olivia, rows=BIRTH_ROWS, header=BIRTH_HEADER)
    campaign = make_campaign(olivia, roster, canary_enabled=False, subject="{name} 様",
                             body_text=G + BIRTH_ORDINARY[case] + "\n")
    workflow.submit(campaign=campaign, user=olivia)
    campaign.refresh_from_db()
    assert campaign.state == State.SUBMITTED


PREFIXED_ROWS = [["K204447", "清水 千尋", "k1@example.jp"], ["K204452", "松本 樹", "k2@example.jp"],
                 ["K204468", "工藤 俊介", "k3@example.jp"]]


def test_a_list_of_member_numbers_without_their_letters_is_refused(olivia):
    roster = make_roster(olivia, rows=PREFIXED_ROWS)
    campaign = make_campaign(olivia, roster, canary_enabled=False, subject="{name} 様",
                             body_text=G + "当選番号: 204447、204452、204468\n")
    with pytest.raises(workflow.ContentRefused) as refused:
        workflow.submit(campaign=campaign, user=olivia)
    assert {f.member for f in refused.value.report.findings} == {"K204447", "K204452",
                                                                 "K204468"}


def test_one_or_two_numbers_like_members_digits_pass(olivia):
    """A run of six digits is an order number or a meeting's passcode as often as anyone's:
    two of them (an order and a passcode) are no list."""
    roster = make_roster(olivia, rows=PREFIXED_ROWS)
    campaign = make_campaign(olivia, roster, canary_enabled=False, subject="{name} 様",
                             body_text=G + "受付番号 204447、パスコード 204452（会費 204,468円）\n")
    workflow.submit(campaign=campaign, user=olivia)
    campaign.refresh_from_db()
    assert campaign.state == State.SUBMITTED


@pytest.mark.parametrize(("written", "read"), [
    ("対象: ダブリュー000123", "対象: W000123"), ("エス100", "S100"), ("ケー-204-447", "K204447"),
    ("エックスワイ12", "XY12"),
])
def test_a_member_numbers_prefix_read_out_in_katakana_is_the_letter(written, read):
    from campaigns.spellings import views

    assert read in [view for view, _spaced in views(written)]


@pytest.mark.parametrize("written", ["セミナー3回", "コーヒー2杯", "プランビー2", "オフシーズン2",
                                     "エー会場", "シーズン1"])
def test_a_katakana_word_before_a_number_stays_a_word(written):
    from campaigns.spellings import views

    assert not any(c.isascii() and c.isalpha() for view, _s in views(written) for c in view)
