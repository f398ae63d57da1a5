"""No opaque payloads (issue 21, item 3): a notice to members has no business carrying
encoded data, whatever it decodes to, and text written backwards is read both ways. Each
payload below carries another member's address in an encoding the guard does not decode
(or decodes only so deep); each is tried through the real workflow, at submit and with
the submit check off (the check before each hand-over alone, to a real SMTP server)."""

import base64
import gzip

import pytest

from campaigns import guard, opaque, workflow
from campaigns.findings import GuardReport
from campaigns.models import State
from tests.factories import (
    email_of,
    make_campaign,
    make_roster,
    run_until_done,
    through_the_countersign,
)

HEADER = ["会員番号", "氏名", "メールアドレス", "会員トークン"]
ROWS = [[f"W{n:04d}", name, f"member{n:03d}@example.jp", f"{n:04d}" + "ab12cd34ef56ab78cd90ef12"]
        for n, name in enumerate(["佐藤 花子", "鈴木 一郎", "高橋 美咲"], start=1)]
SECRET = b"member002@example.jp,W0002"


def _halves(text: str) -> tuple[str, str]:
    return text[:len(text) // 2], text[len(text) // 2:]


PAYLOADS = {
    "base64 three levels deep": base64.b64encode(base64.b64encode(base64.b64encode(
        SECRET))).decode(),
    "base32": base64.b32encode(SECRET).decode(),
    "base32 in full width": base64.b32encode(SECRET).decode().translate(
        {c: c + 0xFEE0 for c in range(0x21, 0x7F)}),
    "hex": SECRET.hex(),
    "ascii85": base64.a85encode(SECRET).decode(),
    "gzip then base64": base64.b64encode(gzip.compress(SECRET)).decode(),
    "a long run of digits": "".join(str(b) for b in SECRET),
    "in a link's query": "https://association.example/form?ref=" + base64.urlsafe_b64encode(
        SECRET).decode().rstrip("="),
    "in a link's path": "https://association.example/p/" + SECRET.hex() + "/index.html",
    "written backwards": SECRET.decode()[::-1],
    "a name written backwards, twice": "子花 藤佐 と 郎一 木鈴",
    # Bytes written one by one, with separators (no run is long), and other short forms.
    "hex pairs, spaced": SECRET.hex(" "),
    "hex pairs, with colons": SECRET.hex(":"),
    "bits in bytes": " ".join(f"{b:08b}" for b in SECRET),
    "byte values in decimal": " ".join(str(b) for b in SECRET),
    "byte values, comma separated": ",".join(str(b) for b in SECRET),
    "base32 in lower case, unpadded": base64.b32encode(SECRET).decode().rstrip("=").lower(),
    "base85": base64.b85encode(SECRET).decode().replace("{", "{{").replace("}", "}}"),
    "JSON escapes": "".join(f"\\u{ord(c):04x}" for c in SECRET.decode()),
    "tag characters (invisible ASCII)": "".join(chr(0xE0000 + b) for b in SECRET),
    "variation selectors after an emoji": "😀" + "".join(
        chr(0xFE00 + b) if b < 16 else chr(0xE0100 + b - 16) for b in SECRET),
    # A reviewer's (stop 39): a run split by a link's marks, and one in a bare address.
    "split across a link's path segments": "https://association.example/{}/{}".format(
        *_halves(base64.b64encode(SECRET).decode())),
    "split across a link's query values": "https://association.example/r?a={}&b={}".format(
        *_halves(base64.b64encode(SECRET).decode())),
    "split across a bare address's path": "association.example/{}/{}".format(
        *_halves(SECRET.hex())),
    "hex in a bare address's short query value": "association.example/r?n=" + SECRET[:11].hex(),
    "host names in punycode": " ".join(
        "https://" + name.encode("idna").decode() + ".association.example/"
        for name in ("鈴木一郎", "高橋美咲")),
}

# Whose data a payload carries, among the campaign's recipients.
OWNERS = {"written backwards": ("W0002",), "a name written backwards, twice": ("W0001", "W0002"),
          "host names in punycode": ("W0002", "W0003")}

ORDINARY = {
    "a link with tracking parameters": (
        "https://association.example/news/2026/12?utm_source=newsletter&"
        "utm_campaign=december_general_meeting_notice"),
    "a personal link built from the member's own column": (
        "https://association.example/r?t={会員トークン}"),
    "a form link prefilled with the member's own values": (
        "https://association.example/form?no={member_number}&mail={email}&t={会員トークン}"),
    "a path built from the member's own values": (
        "https://association.example/members/{会員トークン}/{member_number}/profile"),
    "dates, amounts and the association's telephone": (
        "2026年12月4日 14:00〜16:00、会費 3,000円。お問い合わせ 03-1234-5678"),
    "an e-mail address of the association": "連絡先: jimukyoku@association.example",
    "an online meeting's link": (
        "https://us02web.zoom.us/j/81234567890?pwd=UkZ3dEp6TWxQbVN2R2hYeUhNQ2tOZz09"),
    "a form's link": (
        "https://docs.google.com/forms/d/e/1FAIpQLSfXk3m9Qz7YpLw2RtV8nBcHd4JsUe6KaGo1PiNq5WxZyT0v"
        "/viewform"),
    # What the written-out-bytes rules must let through.
    "a list of room numbers": "会場: 101 102 103 201 202 203 301 302 303 401 402 403 号室",
    "scores, comma separated": "得点: 12, 15, 9, 20, 18, 11, 7, 16, 14, 13",
    "emoji with their variation selector": "☎️ 03-1234-5678 ✉️ 受付 ❤️ ありがとう 1️⃣ 2️⃣",
    "the flag of England (tag characters)": "🏴\U000e0067\U000e0062\U000e0065\U000e006e"
                                            "\U000e0067\U000e007f 英国支部より",
    "a long word with a year": "associationnewsletter2026december",
}


@pytest.fixture
def roster(olivia):
    return make_roster(olivia, rows=ROWS, header=HEADER)


@pytest.fixture(autouse=True)
def link_domains(settings):
    settings.CAMPAIGN_LINK_DOMAINS = ["association.example", "zoom.us", "docs.google.com"]


def draft(olivia, roster, text):
    return make_campaign(olivia, roster, canary_enabled=False, subject="{name} 様へ",
                         body_text="{name} 様\n\nご案内: " + text + "\n\n共済会 事務局\n")


@pytest.mark.parametrize("case", sorted(PAYLOADS))
def test_an_encoded_payload_is_refused_at_submit(case, olivia, roster):
    campaign = draft(olivia, roster, PAYLOADS[case])
    with pytest.raises(workflow.ContentRefused) as refused:
        workflow.submit(campaign=campaign, user=olivia)
    assert refused.value.code == "guard"
    campaign.refresh_from_db()
    assert campaign.state == State.DRAFT


@pytest.mark.parametrize("case", sorted(PAYLOADS))
def test_an_encoded_payload_never_reaches_the_mail_server(case, olivia, sam, oscar, roster,
                                                          sink, monkeypatch):
    monkeypatch.setattr(guard, "check_campaign_content", lambda **kw: GuardReport())
    campaign = through_the_countersign(draft(olivia, roster, PAYLOADS[case]), olivia, sam,
                                       oscar)
    sink.handler.received.clear()
    run_until_done(campaign)
    # A member may read their own value (one name alone is a signature); nobody gets
    # another member's data.
    owners = {email_of(campaign.roster.members.get(member_number=number))
              for number in OWNERS.get(case, ())}
    assert set(sink.handler.recipients()) <= owners
    assert campaign.state == State.PAUSED


@pytest.mark.parametrize("case", sorted(ORDINARY))
def test_an_ordinary_notice_with_links_dates_and_numbers_is_sent(case, olivia, sam, oscar,
                                                                 roster, sink):
    campaign = through_the_countersign(draft(olivia, roster, ORDINARY[case]), olivia, sam,
                                       oscar)
    sink.handler.received.clear()
    run_until_done(campaign)
    assert campaign.state == State.COMPLETED
    assert len(sink.handler.campaign_mail()) == len(ROWS)


def test_the_finding_names_the_encoding_and_the_place(olivia, roster):
    campaign = draft(olivia, roster, PAYLOADS["base32"])
    with pytest.raises(workflow.ContentRefused) as refused:
        workflow.submit(campaign=campaign, user=olivia)
    finding = next(f for f in refused.value.report.findings if f.kind == "opaque")
    assert (finding.where, finding.detail, finding.line) == ("body_text", "base32", 3)
    assert "looks encoded (base32)" in finding.message


def test_a_link_of_the_recipients_own_values_joins_none_of_them_into_a_run():
    """A form link from the member's own column (the canary drill's): its query values,
    each the recipient's, are not read as one payload split across them; an attacker's
    payload split around them still is."""
    own = frozenset({"CANARY-EL3@CANARY-ED3.EXAMPLE", "090-4936-8847", "cnrykfkdlk3"})
    link = ("https://association.example/m/?mail=CANARY-EL3%40CANARY-ED3.EXAMPLE"
            "&tel=090-4936-8847&ref=cnrykfkdlk3")
    assert opaque.opaque_runs(link, own=own) == []
    assert opaque.opaque_runs(link, own=frozenset()) != []  # the join is what is spared
    split = "https://association.example/r?a=Y2hpaGlyby5zQGV4&tel=090-4936-8847&b=YW1wbGUuanA="
    assert [run.text for run in opaque.opaque_runs(split, own=own)] == [
        "Y2hpaGlyby5zQGV4YW1wbGUuanA="]
    payload = "Y2hpaGlyby5zQGV4YW1wbGUuanA="
    pairs = [payload[i:i + 2] for i in range(0, len(payload), 2)]
    link = "https://association.example/r?" + "&".join(f"p{i}={p}" for i, p in enumerate(pairs))
    # every pair is somewhere in the recipient's values, the payload is not
    assert opaque.opaque_runs(link, own=own | {"-".join(pairs)}) != []
