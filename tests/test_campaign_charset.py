"""A campaign may be written in ISO-2022-JP for older phones (issue 23, item 4): what that
charset cannot carry is refused at submit with a replacement to write, the charset is signed
with the content, and the bytes a mail server receives decode to exactly the approved text."""

import dataclasses
from email import message_from_bytes, policy

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from campaigns import charsets, mail, workflow
from campaigns.models import Campaign, Delivery, State
from roster import member_data
from roster.samples import sample_rows
from tests.factories import (
    client_for,
    make_campaign,
    make_roster,
    released_campaign,
    run_until_done,
)

CLEAN_SUBJECT = "【重要】{name} 様：見舞金の給付内容の変更"
CLEAN_BODY = ("{name} 様\n\n会員番号 {member_number}\n所属支部: {支部}\n\n"
              "受付時間は 10:00-12:00 です。株式会社共済サービスが承ります。\n\n共済会 事務局\n")


def _iso(olivia, roster, **changes):
    return make_campaign(olivia, roster, charset=charsets.ISO_2022_JP, **{
        "subject": CLEAN_SUBJECT, "body_text": CLEAN_BODY, **changes})


def test_machine_dependent_characters_and_the_wave_dash_are_refused_with_what_to_write(
        olivia, roster):
    campaign = _iso(olivia, roster, body_text=CLEAN_BODY + "①受付 10:00〜12:00 ㈱共済 髙橋まで\n")
    with pytest.raises(workflow.ContentRefused) as refused:
        workflow.submit(campaign=campaign, user=olivia)
    words = str(refused.value)
    for char, instead in (("①", "(1)"), ("〜", "-"), ("㈱", "(株)"), ("髙", "高")):
        assert f"“{char}”" in words and f"write “{instead}”" in words, (char, words)
    campaign.refresh_from_db()
    assert campaign.state == State.DRAFT and campaign.content_hash == ""
    assert not campaign.versions.exists()
    entry = AuditEntry.objects.get(action="campaign.refused")
    assert entry.payload["code"] == "charset"
    assert entry.payload["charset"]["problem_count"] == 4


@pytest.mark.parametrize("char", ["～", "－", "∥", "—", "ｱ", "Ⅱ", "㍻", "😀", "﨑"])
def test_each_character_older_phones_misread_is_refused(olivia, roster, char):
    campaign = _iso(olivia, roster, subject=CLEAN_SUBJECT + char)
    with pytest.raises(workflow.ContentRefused, match="Subject, line 1"):
        workflow.submit(campaign=campaign, user=olivia)


def test_the_senders_name_must_be_writable_too(olivia, roster, settings):
    settings.CAMPAIGN_SENDERS = ["髙橋共済会 <members@association.example>"]
    campaign = _iso(olivia, roster, sender=settings.CAMPAIGN_SENDERS[0])
    with pytest.raises(workflow.ContentRefused, match="Sender, line 1, column 1"):
        workflow.submit(campaign=campaign, user=olivia)


def test_a_members_value_that_cannot_be_written_is_refused_by_number_never_by_value(olivia):
    rows = sample_rows(5)
    rows[2][1] = "髙橋 一郎"
    rows[4][3] = "髙田支部"
    roster = make_roster(olivia, rows=rows)
    campaign = _iso(olivia, roster)
    with pytest.raises(workflow.ContentRefused) as refused:
        workflow.submit(campaign=campaign, user=olivia)
    words = str(refused.value)
    assert "W000003 ({name})" in words and "W000005 ({支部})" in words
    assert "髙" not in words  # the audit log keeps the words
    entry = AuditEntry.objects.get(action="campaign.refused")
    assert entry.payload["charset"]["members"] == ["W000003", "W000005"]
    assert "髙" not in str(entry.payload)


def test_the_same_member_in_utf8_is_no_refusal(olivia):
    rows = sample_rows(5)
    rows[2][1] = "髙橋 一郎"
    campaign = make_campaign(olivia, make_roster(olivia, rows=rows),
                             body_text=CLEAN_BODY + "①受付 10:00〜12:00\n")
    assert workflow.submit(campaign=campaign, user=olivia).state == State.SUBMITTED


def test_a_line_over_998_bytes_is_refused_in_iso_2022_jp_with_the_longest_value(olivia):
    rows = sample_rows(3)
    rows[1][3] = "支部" * 40
    roster = make_roster(olivia, rows=rows)
    # 475 kanji: 950 bytes plus the escapes, under the limit; with the longest 支部 over it.
    campaign = _iso(olivia, roster, body_text=CLEAN_BODY + "会" * 470 + "{支部}\n")
    with pytest.raises(workflow.ContentRefused, match="Body, line 9: 1112 bytes in ISO-2022-JP"):
        workflow.submit(campaign=campaign, user=olivia)
    short = _iso(olivia, make_roster(olivia, count=3), body_text=CLEAN_BODY + "会" * 470
                 + "{支部}\n")
    assert workflow.submit(campaign=short, user=olivia).state == State.SUBMITTED


def test_the_charset_is_signed_with_the_content(draft):
    before = draft.compute_content_hash()
    changed = Campaign.objects.get(pk=draft.pk)
    changed.charset = charsets.ISO_2022_JP
    assert changed.compute_content_hash() != before


def test_the_default_charset_leaves_hashes_signed_before_charsets_existed_unchanged(draft):
    from campaigns.terms import SENDING_FIELDS, content_hash
    before_charsets = [f for f in SENDING_FIELDS if f != "charset"]
    document_without = content_hash(
        sender=draft.sender, subject=draft.subject, body_text=draft.body_text,
        body_html=draft.body_html, roster=draft.roster, kind=draft.kind,
        sending={**{f: getattr(draft, f) for f in before_charsets}, "charset": "utf-8"})
    assert document_without == draft.compute_content_hash()


def test_switching_the_charset_behind_the_app_after_both_signatures_sends_nothing(
        olivia, sam, oscar, roster, sink):
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False,
                                 subject=CLEAN_SUBJECT, body_text=CLEAN_BODY)
    Campaign.objects.filter(pk=campaign.pk).update(charset=charsets.ISO_2022_JP)
    with pytest.raises(workflow.ContentRefused):
        workflow.start(campaign_id=campaign.pk)
    assert sink.handler.campaign_mail() == []


def test_the_bytes_the_server_receives_decode_to_exactly_the_approved_text(
        olivia, sam, oscar, roster, sink):
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False,
                                 charset=charsets.ISO_2022_JP, subject=CLEAN_SUBJECT,
                                 body_text=CLEAN_BODY)
    workflow.start(campaign_id=campaign.pk)
    run_until_done(campaign)
    received = sink.handler.campaign_mail()
    assert len(received) == roster.member_count
    members = {m.email: m for m in member_data.rows(roster)}
    for _time, recipient, raw in received:
        assert raw.isascii()  # 7 bit: nothing for a relay or an old phone to re-encode
        assert max(len(line) for line in raw.split(b"\r\n")) <= 998
        message = message_from_bytes(raw, policy=policy.default)
        assert message.get_content_charset() == "iso-2022-jp"
        assert message["Content-Transfer-Encoding"] == "7bit"
        assert b"=?iso-2022-jp?b?" in raw.lower()
        values = members[recipient].placeholders()
        assert str(message["subject"]) == mail.render_subject(CLEAN_SUBJECT, values)
        body = message.get_payload(decode=True).decode("iso-2022-jp").replace("\r\n", "\n")
        assert body == mail.render(CLEAN_BODY, values)


def test_the_test_message_is_written_in_the_campaigns_charset(olivia, sam, roster, sink):
    campaign = _iso(olivia, roster)
    workflow.submit(campaign=campaign, user=olivia)
    workflow.test_send(campaign=campaign, user=olivia, member=roster.members.first(),
                       recipients=[sam])
    raw = sink.handler.received[-1][2]
    assert message_from_bytes(raw, policy=policy.default).get_content_charset() == \
        "iso-2022-jp"


def test_a_test_message_for_a_member_whose_name_cannot_be_written_is_refused_not_garbled(
        olivia, sam, sink):
    rows = sample_rows(3)
    rows[0][1] = "髙橋 一郎"
    roster = make_roster(olivia, rows=rows)
    campaign = _iso(olivia, roster)
    member = roster.members.get(member_number="W000001")
    with pytest.raises(workflow.ContentRefused, match=r"W000001 \(\{name\}\)"):
        workflow.test_send(campaign=campaign, user=olivia, member=member, recipients=[sam])
    assert sink.handler.received == []


def with_a_member_value(monkeypatch, member, **changes) -> None:
    """The door gives `member`'s values with `changes` (what a roster altered behind the
    app, or the association's own odd value, would hold); every other member as stored."""
    real_values = member_data._values

    def changed(pk, number, *stored, **options):
        values = real_values(pk, number, *stored, **options)
        return dataclasses.replace(values, **changes) if pk == member.pk else values

    monkeypatch.setattr(member_data, "_values", changed)


def test_a_message_that_cannot_be_written_is_refused_before_the_hand_over_not_sent(
        olivia, sam, oscar, roster, sink, monkeypatch):
    """The check before each hand-over alone (the submit's lint switched off): a member's
    value that ISO-2022-JP cannot carry is refused like a guard finding: not sent, and the
    campaign pauses for a human."""
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False,
                                 charset=charsets.ISO_2022_JP, subject=CLEAN_SUBJECT,
                                 body_text=CLEAN_BODY)
    member = roster.members.order_by("row_number").first()
    with_a_member_value(monkeypatch, member, name="髙橋 一郎")
    workflow.start(campaign_id=campaign.pk)
    run_until_done(campaign)
    assert campaign.state == State.PAUSED
    assert member_data.values(member).email not in sink.handler.recipients()
    refused = Delivery.objects.get(campaign=campaign, member=member)
    assert refused.state == Delivery.State.REFUSED
    entry = AuditEntry.objects.get(action="campaign.message_refused")
    assert entry.payload["findings"][0]["kind"] == "charset"
    assert "髙" not in str(entry.payload)


def test_the_operator_chooses_the_charset_on_the_form_and_the_signers_see_it(
        olivia, sam, roster):
    page = client_for(olivia).get(reverse("campaigns:create"),
                                  HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "ISO-2022-JP (JIS: older phones and mail programs)" in page
    campaign = _iso(olivia, roster)
    workflow.submit(campaign=campaign, user=olivia)
    page = client_for(sam).get(reverse("campaigns:review", args=[campaign.pk]),
                               HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "written in ISO-2022-JP" in page


def test_suggestions_are_characters_iso_2022_jp_carries():
    for char in "①⑳Ⅳ㈱㈲㍻㌔髙﨑ｱ〜～−－‖∥¢£—―":
        instead = charsets.suggestion(char)
        assert instead and charsets.writable(instead), (char, instead)
        assert not set(instead) & set("〜～−－‖∥—―"), (char, instead)


def test_the_pages_advise_on_characters_older_phones_cannot_show(olivia, sam, roster):
    campaign = make_campaign(olivia, roster, body_text=CLEAN_BODY + "①受付 10:00〜12:00\n")
    page = client_for(olivia).get(reverse("campaigns:detail", args=[campaign.pk]),
                                  HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Older phones and mail programs may show these characters wrongly" in page
    assert "“①” (U+2460); write “(1)”" in page and "“〜” (U+301C); write “-”" in page
    workflow.submit(campaign=campaign, user=olivia)  # UTF-8: advice, not a refusal
    page = client_for(sam).get(reverse("campaigns:review", args=[campaign.pk]),
                               HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "古い携帯電話" in page and "“①”" in page
    clean = make_campaign(olivia, roster, subject=CLEAN_SUBJECT, body_text=CLEAN_BODY)
    page = client_for(olivia).get(reverse("campaigns:detail", args=[clean.pk])).content.decode()
    assert 'id="charset-advice"' not in page


def test_the_form_saves_the_charset_and_refuses_a_forged_one(olivia, roster):
    from tests.test_campaign_drafting import post_campaign

    post_campaign(client_for(olivia), roster, charset="iso-2022-jp")
    assert Campaign.objects.get().charset == charsets.ISO_2022_JP
    response = post_campaign(client_for(olivia), roster, charset="shift_jis", name="forged")
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert Campaign.objects.count() == 1
    with pytest.raises(workflow.ContentRefused, match="Choose UTF-8 or ISO-2022-JP"):
        workflow.submit(campaign=make_campaign(olivia, roster, charset="shift_jis"), user=olivia)


def test_an_edit_from_a_form_without_the_field_keeps_the_charset(olivia, roster):
    campaign = _iso(olivia, roster)
    data = {"name": campaign.name, "roster": roster.pk, "sender": campaign.sender,
            "subject": campaign.subject, "body_text": campaign.body_text + "追記\n",
            "body_html": "", "canary_enabled": "on", "rate_unit": "minute"}
    client_for(olivia).post(reverse("campaigns:edit", args=[campaign.pk]), data)
    campaign.refresh_from_db()
    assert campaign.body_text.endswith("追記\n") and campaign.charset == charsets.ISO_2022_JP


# --- what an attacker writes: bytes the reader acts on, and characters that pass as others --------

HIDDEN_NAME = "\x1b$B9b66\x1b(B"  # ISO-2022-JP's own bytes for 高橋, typed as ASCII with ESC


@pytest.mark.parametrize("charset", [charsets.UTF8, charsets.ISO_2022_JP])
@pytest.mark.parametrize("field", ["subject", "body_text", "body_html"])
def test_escape_sequences_hidden_in_the_text_are_refused_in_any_charset(
        olivia, roster, charset, field):
    """ESC switches an ISO-2022-JP reader into kanji: the letters after it would arrive as a
    member's name that neither the guard nor a signer ever saw."""
    texts = {"subject": CLEAN_SUBJECT, "body_text": CLEAN_BODY, "body_html": ""}
    texts[field] += "担当 " + HIDDEN_NAME
    hidden = r"control character \(U\+001B\) at line \d+, column \d+"
    with pytest.raises(workflow.ContentRefused, match=hidden):
        make_campaign(olivia, roster, charset=charset, **texts)
    campaign = make_campaign(olivia, roster, charset=charset, subject=CLEAN_SUBJECT,
                             body_text=CLEAN_BODY)
    with pytest.raises(workflow.ContentRefused, match=hidden):
        workflow.edit(campaign=campaign, user=olivia, **{field: texts[field]})
    Campaign.objects.filter(pk=campaign.pk).update(**{field: texts[field]})  # behind the app
    with pytest.raises(workflow.ContentRefused, match=hidden):
        workflow.submit(campaign=campaign, user=olivia)
    assert Campaign.objects.get(pk=campaign.pk).state == State.DRAFT


def test_the_form_refuses_a_control_character_with_where_it_is(olivia, roster):
    from tests.test_campaign_drafting import post_campaign

    response = post_campaign(client_for(olivia), roster, body_text="お知らせ\n\x07です\n")
    assert response.status_code == 200
    assert "A control character (U+0007) at line 2, column 1" in response.content.decode()
    assert not Campaign.objects.exists()


def test_a_members_value_carrying_escape_bytes_is_refused_before_the_hand_over(
        olivia, sam, oscar, roster, sink, monkeypatch):
    """The roster is the association's, but a value is data, never control: in ISO-2022-JP a
    value with ESC is refused like an unwritable one (by number), at submit and per message."""
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False,
                                 charset=charsets.ISO_2022_JP, subject=CLEAN_SUBJECT,
                                 body_text=CLEAN_BODY)
    member = roster.members.order_by("row_number").first()
    with_a_member_value(monkeypatch, member, name=HIDDEN_NAME)
    lint = charsets.lint(charset=charsets.ISO_2022_JP, sender=campaign.sender,
                         subject=CLEAN_SUBJECT, body_text=CLEAN_BODY, body_html="",
                         members=member_data.rows(roster))
    assert lint.refuses and list(lint.members) == [member.member_number]
    workflow.start(campaign_id=campaign.pk)
    run_until_done(campaign)
    assert campaign.state == State.PAUSED
    assert all(b"\x1b$B9b66" not in raw for _t, _r, raw in sink.handler.campaign_mail())
    assert Delivery.objects.get(campaign=campaign, member=member).state == \
        Delivery.State.REFUSED


@pytest.mark.parametrize(("char", "instead"), [("¥", "￥"), ("‾", "￣")])
def test_jis_roman_yen_and_overline_are_refused_with_their_full_width_forms(
        olivia, roster, char, instead):
    """ISO-2022-JP writes ¥ and ‾ in JIS-Roman (ESC ( J), which many programs ignore and show
    as \\ and ~: "¥1,000" would read "\\1,000"."""
    campaign = _iso(olivia, roster, body_text=CLEAN_BODY + f"会費 {char}1,000\n")
    with pytest.raises(workflow.ContentRefused) as refused:
        workflow.submit(campaign=campaign, user=olivia)
    assert f"“{char}”" in str(refused.value) and f"write “{instead}”" in str(refused.value)
    assert charsets.writable(instead)


def test_a_combining_sound_mark_is_refused_with_the_one_character_it_makes(olivia, roster):
    """か + U+3099 looks like が on screen (a pasted macOS file name does this), but JIS has
    only the composed が."""
    campaign = _iso(olivia, roster, body_text=CLEAN_BODY + "か\u3099っこう\n")
    with pytest.raises(workflow.ContentRefused, match="U\\+3099\\); write “が”"):
        workflow.submit(campaign=campaign, user=olivia)


def test_the_html_line_limit_counts_a_value_as_escaped(olivia):
    """In the HTML body a member's value is written escaped: "&" takes five bytes. The
    longest value as escaped decides, not the longest as typed."""
    rows = sample_rows(3)
    rows[0][3] = "支部支部支部支部"  # the longest typed: 16 bytes and the escapes
    rows[1][3] = "&" * 12  # shorter typed, 60 bytes escaped
    roster = make_roster(olivia, rows=rows)
    body_html = "<p>" + "会" * 462 + "{支部}</p>"  # 924 bytes and the escapes, then the value
    assert not charsets.long_lines(body_text="", body_html=body_html,
                                   longest={True: {"支部": rows[0][3]}})
    campaign = _iso(olivia, roster, body_html=body_html)
    with pytest.raises(workflow.ContentRefused, match="HTML body, line 1: 10[0-9][0-9] bytes"):
        workflow.submit(campaign=campaign, user=olivia)
