"""The content guard against an attacker's corpus, and against ordinary notices.

Every disguised leak below is refused at submit, and, with every check before the send
switched off (submit and start), refused again by the check of each rendered message before
anything reaches a real SMTP server on loopback: no message carrying another member's data
reaches the server. Every legitimate notice passes and is sent to everyone.
"""

import base64
import quopri
from urllib.parse import quote

import pytest

from campaigns import guard, member_keys, workflow
from campaigns.findings import GuardReport
from campaigns.models import Delivery, State
from roster.samples import sample_rows
from tests.factories import (
    email_of,
    make_campaign,
    make_roster,
    name_of,
    run_until_done,
    through_the_countersign,
)

HEADER = ["会員番号", "氏名", "メールアドレス", "支部", "memo", "紹介者", "リンク"]
SPECIAL = [  # addresses the importer accepts that a narrow pattern would miss; Latin names
    ["10230045", "Taro Yamada", "o'brien@members.example"],
    ["10230046", "Hanako Suzuki", "a!b#c@members.example"],
    ["W000103", "伊藤 健", "x&y=z/w@members.example"],
    ["W000104", "山本 一郎", "ichiro@例え.jp"],
]
TARGET = "member000007@members.example"  # the member whose data leaks: 中村 陽菜, W000007
ROW = "W000007,中村 陽菜,member000007@members.example"
ROWS = "\n".join(f"W0000{n:02d},{name},member0000{n:02d}@members.example"
                 for n, name in ((7, "中村 陽菜"), (8, "小林 陽菜"), (9, "加藤 陽菜")))


def roster_rows(*, hostile: bool):
    rows = []
    for number, name, email, branch in sample_rows(20):
        link = f"https://association.example/m/{number}"
        referrer = ""
        if hostile and number == "W000003":
            referrer = "member000009@members.example"
        if hostile and number == "W000005":
            link = "data:text/csv;base64," + base64.b64encode(ROWS.encode()).decode()
        if hostile and number == "W000006":
            link = "javascript:alert(document.cookie)"
        rows.append([number, name, email, branch, "", referrer, link])
    return rows + [[*s, "東京", "", "", "https://association.example/"] for s in SPECIAL]


def b64(text, encode=base64.b64encode):
    return encode(text.encode()).decode()


def zw(text, char):
    return char.join(text)


LEAKS = {
    "pasted tab rows": {"body_text": "{name} 様\n" + ROWS.replace(",", "\t")},
    "pasted csv rows": {"body_text": "{name} 様\n" + ROWS},
    "rows split by an empty placeholder": {"body_text": "{name} 様\n" + "\n".join(
        f"W00{{memo}}00{n:02d},中村{{memo}} 陽菜,member000{{memo}}0{n:02d}@members.example"
        for n in (7, 8, 9))},
    "address split by an empty placeholder": {
        "body_text": "{name} 様 連絡先 member{memo}000007@members{memo}.example"},
    "number split by an empty placeholder": {"body_text": "{name} 様 W00{memo}0007"},
    "zero-width spaces in an address": {"body_text": "{name} 様 " + zw(TARGET, "\u200b")},
    "soft hyphens in an address": {"body_text": "{name} 様 " + zw(TARGET, "\u00ad")},
    "word joiners in two names": {
        "body_text": "{name} 様 " + zw("中村陽菜", "\u2060") + " " + zw("小林陽菜", "\u2060")},
    "zero-width joiners in a member number": {"body_text": "{name} 様 " + zw("W000007", "\u200d")},
    "bidi override in an address": {"body_text": "{name} 様 member\u202e000007@members.example"},
    "variation selectors in an address": {"body_text": "{name} 様 " + zw(TARGET, "\ufe0f")},
    "empty tags inside names": {"body_text": "{name} 様",
                                "body_html": "<p>中<b></b>村 陽菜、小<i></i>林 陽菜</p>"},
    "a tag before the @": {"body_text": "{name} 様",
                           "body_html": "<p>member000007<b></b>@members.example</p>"},
    "an HTML comment inside an address": {
        "body_text": "{name} 様", "body_html": "<p>member000007<!-- x -->@members.example</p>"},
    "an entity for the @": {"body_text": "{name} 様",
                            "body_html": "<p>member000007&#64;members.example</p>"},
    "a named entity for the @": {"body_text": "{name} 様 member000007&commat;members.example"},
    "rows in an HTML table": {"body_text": "{name} 様", "body_html": "<table>" + "".join(
        f"<tr><td>W0000{n:02d}</td><td>{name}</td><td>member0000{n:02d}@members.example</td></tr>"
        for n, name in ((7, "中村 陽菜"), (8, "小林 陽菜"))) + "</table>"},
    "%40 for the @": {"body_text": "{name} 様 member000007%40members.example"},
    "a percent-encoded row": {"body_text": "{name} 様 " + quote(ROW, safe="")},
    "base64 of the rows": {"body_text": "{name} 様\n" + b64(ROWS)},
    "url-safe base64 of the rows": {"body_text": "{name} 様 " + b64(ROWS,
                                                                  base64.urlsafe_b64encode)},
    "base64 wrapped at 76 characters": {"body_text": "{name} 様\n" + base64.encodebytes(
        (ROWS * 3).encode()).decode()},
    "base64 glued to a word": {"body_text": "{name} 様 ID" + b64(ROW)},
    "base64 of percent-encoding": {"body_text": "{name} 様 " + b64(quote(ROW, safe=""))},
    "quoted-printable rows": {"body_text": "{name} 様\n" + quopri.encodestring(
        ROWS.encode()).decode()},
    "Latin names in reversed order": {"body_text": "{name} 様 Yamada Taro, Suzuki Hanako"},
    "Latin names with dots": {"body_text": "{name} 様 Taro.Yamada / Hanako.Suzuki"},
    "a member number followed by 件": {"body_text": "{name} 様 10230045件"},
    "a member number followed by 人": {"body_text": "{name} 様 10230045人"},
    "a member number followed by 名": {"body_text": "{name} 様 10230045名"},
    "a member number followed by 円": {"body_text": "{name} 様 10230045円"},
    "a member number followed by %": {"body_text": "{name} 様 10230045%"},
    "a member number written as 2026/NNNN": {"body_text": "{name} 様 2026/10230045"},
    "full-width member number": {"body_text": "{name} 様 Ｗ０００００７"},
    "one name in each of subject, body and HTML": {
        "subject": "{name} 様 中村 陽菜", "body_text": "{name} 様 小林 陽菜",
        "body_html": "<p>加藤 陽菜</p>"},
    "names with a middle dot": {"body_text": "{name} 様 中村・陽菜、小林・陽菜"},
    "an address with an apostrophe": {"body_text": "{name} 様 o'brien@members.example"},
    "an address with ! and #": {"body_text": "{name} 様 a!b#c@members.example"},
    "an address with &, = and /": {"body_text": "{name} 様 x&y=z/w@members.example"},
    "an internationalised domain": {"body_text": "{name} 様 ichiro@例え.jp"},
    "the same domain in punycode": {"body_text": "{name} 様 ichiro@xn--r8jz45g.jp"},
    "a full-width address": {
        "body_text": "{name} 様 ｍｅｍｂｅｒ０００００７＠ｍｅｍｂｅｒｓ．ｅｘａｍｐｌｅ"},
    "a Cyrillic е in an address": {"body_text": "{name} 様 m\u0435mber000007@members.example"},
    "spaces around the @": {"body_text": "{name} 様 member000007 @ members . example"},
    "(at) for the @": {"body_text": "{name} 様 member000007(at)members.example"},
    "★ for the @": {"body_text": "{name} 様 member000007★members.example"},
    "letters spaced out": {"body_text": "{name} 様 宛先:" + " ".join(TARGET)},
    "a member number in the subject only": {"subject": "W000007 様の件"},
    "another member's address in a roster column": {"body_text": "{name} 様 紹介者: {紹介者}"},
    "a data: link from a roster column": {
        "body_text": "{name} 様", "body_html": '<p><a href="{リンク}">会員ページ</a></p>'},
    "a javascript: link from a roster column": {
        "body_text": "{name} 様", "body_html": '<p><a href="{リンク}">会員ページ</a></p>'},
    "a link to a file-sharing site": {
        "body_text": "{name} 様 名簿はこちら https://files.example.net/s/roster.xlsx"},
}

LEGITIMATE = {
    "benefit change (the 2022 notice)": (
        "【重要】感染症見舞金の変更について", ("{name} 様\n\n会員番号 {member_number}\n"
        "2026年7月1日から、感染症見舞金の給付額を30,000円から20,000円に変更します。\n"
        "詳しくは https://association.example/benefit をご覧ください。\n\n"
        "共済会 事務局 小野 里美")),
    "annual fee": ("年会費のお知らせ（2026年度）", ("{name} 様\n年会費 12,000円を2026/06/30までに"
                   "お振り込みください。\n振込先: みずほ銀行 本店 普通 1234567\n"
                   "お問い合わせ: 03-1234-5678（平日 9:00〜17:00）")),
    "meeting": ("総会開催のご案内", ("{name} 様\n第45回 通常総会を令和8年6月20日（土）14時から"
                "開催します。会場: 東京都千代田区丸の内1-1-1 〒100-0001\n出席者 120名を予定")),
    "your own data": ("登録情報のご確認", ("{name} 様\n登録されている情報は次のとおりです。\n"
                      "会員番号: {member_number}\nメールアドレス: {email}\n支部: {支部}")),
    "your own data as one line": ("登録情報", "{member_number}, {name}, {email}"),
    "survey": ("アンケートのお願い", ("{name} 様\nアンケート（所要5分）にご協力ください。\n"
               "https://association.example/survey?id=2026-07\n回答期限: 7月31日")),
    "counts": ("給付実績の報告", ("{name} 様\n2025年度の給付件数は3,510件、総額4,520万円でした。"
               "\n前年比 +12.5%")),
    "phone numbers": ("窓口時間の変更", ("{name} 様\n電話: 0120-123-456 / FAX: 03-1234-5679\n"
                      "受付: 平日 9時〜17時")),
    "contact address": ("お問い合わせ先の変更", ("{name} 様\n新しい窓口: "
                        "support@association.example"
                        "\n旧窓口 info@association.example は6月末で廃止します。")),
    "signature with a staff name": ("事務局からのお知らせ", ("{name} 様\n\n担当: 事務局 佐伯 恵美"
                                    "\n共済会 事務局長 高田 誠一")),
    "English notice": ("Change to the infection benefit", ("Dear {name},\n\nFrom 1 July 2026 "
                       "the benefit is JPY 20,000 (was JPY 30,000). Member no. {member_number}."
                       "\nDetails: https://www.association.example/en/benefit\n\nMembers' Office")),
    "English reminder": ("Reminder: annual meeting on 20 June", ("Dear {name},\nThe annual "
                         "meeting starts at 2 pm. 120 members have registered; 45 seats left."
                         "\nCall +81-3-1234-5678 or write to office@association.example.")),
    "HTML notice": ("HTML版のお知らせ", "{name} 様\nHTML版をご覧ください。"),
    "member page link": ("会員ページ", "{name} 様\nあなたの会員ページ: {リンク}"),
    "dates in many forms": ("日程", "{name} 様\n2026-07-01、2026/07/01、7/1（水）、令和8年7月1日"),
    "postal code and address": ("送付先", ("{name} 様\n〒530-0001 大阪府大阪市北区梅田1-2-3 "
                                "共済会ビル5階")),
    "amounts with yen sign": ("還付金", "{name} 様\n還付金 ¥5,000 を口座に振り込みました。"),
    "a mailto link": ("ご連絡先", "{name} 様\nmailto:support@association.example まで。"),
    "percent in text": ("割引", "{name} 様\n提携施設が20%割引になります（2026年度）。"),
    "long URL with a token": ("会報", ("{name} 様\nhttps://association.example/news/2026/07/"
                              "kaiho-no123-summer-special-edition")),
    "a one-name greeting": ("お礼", "{name} 様\n先日はありがとうございました。"),
    "bullet list": ("手続き", "{name} 様\n・申請書の提出\n・本人確認書類の写し\n・振込口座"),
}
HTML_BODIES = {"HTML notice": '<p>{name} 様</p><p><b>変更</b>のお知らせです。'
                              '<a href="https://association.example/benefit">詳細</a></p>'}


@pytest.fixture
def hostile_roster(olivia, settings):
    return make_roster(olivia, rows=roster_rows(hostile=True), header=HEADER)


def draft_with(author, roster, fields):
    return make_campaign(author, roster, canary_enabled=False,
                         **{"subject": "{name} 様へのお知らせ", "body_text": "{name} 様", **fields})


def leaked_to_the_server(sink, roster) -> list[str]:
    """Member mails that reached the server and carry another member's data, as an
    independent reader finds it (the guard's own decoding, on the decoded MIME parts)."""
    index = guard.roster_index(roster)
    members = {key: m for m in roster.members.all() for key in member_keys.email_keys(email_of(m))}
    leaks = []
    for message in sink.handler.messages():
        (to,) = message["To"].addresses
        member = members[to.addr_spec.casefold()]
        texts = {"subject": str(message["Subject"]),
                 "body_text": message.get_body(("plain",)).get_content()}
        html = message.get_body(("html",))
        texts["body_html"] = html.get_content() if html else ""
        recipient = guard.Recipient(member.member_number, email_of(member), name_of(member))
        if guard.scan_texts(texts, index, recipient=recipient):
            leaks.append(member.member_number)
    return leaks


@pytest.fixture
def link_domains(settings):
    settings.CAMPAIGN_LINK_DOMAINS = ["association.example"]


@pytest.mark.usefixtures("link_domains")
@pytest.mark.parametrize("case", sorted(LEAKS))
def test_a_disguised_leak_is_refused_at_submit(case, olivia, hostile_roster):
    campaign = draft_with(olivia, hostile_roster, LEAKS[case])
    with pytest.raises(workflow.ContentRefused) as refused:
        workflow.submit(campaign=campaign, user=olivia)
    assert refused.value.code == "guard"
    assert refused.value.report.findings
    campaign.refresh_from_db()
    assert campaign.state == State.DRAFT


@pytest.mark.usefixtures("link_domains")
@pytest.mark.parametrize("case", sorted(LEAKS))
def test_a_disguised_leak_is_refused_before_the_hand_over_when_every_earlier_check_is_off(
        case, olivia, sam, oscar, hostile_roster, sink, monkeypatch):
    monkeypatch.setattr(guard, "check_campaign_content", lambda **kw: GuardReport())
    campaign = through_the_countersign(draft_with(olivia, hostile_roster, LEAKS[case]),
                                       olivia, sam, oscar)
    sink.handler.received.clear()
    run_until_done(campaign)

    assert leaked_to_the_server(sink, hostile_roster) == []
    assert campaign.state == State.PAUSED
    refused = campaign.deliveries.filter(state=Delivery.State.REFUSED)
    assert refused.count() == 1 and refused.get().findings
    assert "content guard" in campaign.paused_reason
    entry = campaign_entry(campaign, "campaign.message_refused")
    assert entry.payload["findings"] and entry.payload["member"] == refused.get().member_number


def campaign_entry(campaign, action):
    from audit.models import AuditEntry

    return AuditEntry.objects.get(action=action, object_id=str(campaign.pk))


@pytest.mark.parametrize("case", sorted(LEGITIMATE))
def test_a_legitimate_notice_passes_and_reaches_every_member(
        case, olivia, sam, oscar, sink, link_domains):
    roster = make_roster(olivia, rows=roster_rows(hostile=False), header=HEADER)
    subject, body = LEGITIMATE[case]
    campaign = draft_with(olivia, roster, {"subject": subject, "body_text": body,
                                           "body_html": HTML_BODIES.get(case, "")})
    through_the_countersign(campaign, olivia, sam, oscar)
    assert campaign.versions.get().guard.ok
    sink.handler.received.clear()
    run_until_done(campaign)
    assert campaign.state == State.COMPLETED, campaign.paused_reason
    assert len(sink.handler.recipients()) == roster.member_count
    assert leaked_to_the_server(sink, roster) == []


def test_the_corpora_are_as_large_as_promised():
    assert len(LEAKS) >= 40 and len(LEGITIMATE) >= 20


def test_a_refusal_with_many_long_findings_still_pauses_with_a_reason_that_fits(
        olivia, sam, oscar, sink, monkeypatch):
    """The pause reason is a column of 500 characters: PostgreSQL refused a longer one, the
    worker could not even pause, and the campaign waited for the watchdog. The reason names
    the first findings; the ledger row and the audit entry hold them all."""
    monkeypatch.setattr(guard, "check_campaign_content", lambda **kw: GuardReport())
    roster = make_roster(olivia, header=["会員番号", "氏名", "メールアドレス"], rows=[
        [f"TOKYO-BRANCH-2026-{n:06d}", f"会員 {n}号", f"member.number.{n}@example.jp"]
        for n in range(1, 9)])
    pasted = "".join(f"<p>{email_of(m)}</p>" for m in roster.members.all())
    campaign = through_the_countersign(draft_with(olivia, roster, {
        "body_text": "{name} 様\n\n名簿は HTML 版に。", "body_html": "<p>{name} 様</p>" + pasted}),
        olivia, sam, oscar)
    sink.handler.received.clear()
    run_until_done(campaign)

    assert sink.handler.recipients() == []
    assert campaign.state == State.PAUSED
    assert "content guard" in campaign.paused_reason and len(campaign.paused_reason) <= 500
    refused = campaign.deliveries.get(state=Delivery.State.REFUSED)
    assert len(refused.findings) > 5
