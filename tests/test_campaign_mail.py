"""Building a campaign message: one recipient, rendered for them, and no attachment path."""

import pytest

from campaigns import mail
from tests.factories import BODY


def build(**changes):
    values = {"name": "山田 太郎", "member_number": "W1", "email": "taro@example.jp",
              "支部": "東京"}
    fields = {"sender": "会員サポート <members@association.example>", "subject": "{name} 様へ",
              "body_text": BODY, "body_html": "<p>{name}</p>", "values": values,
              "to": "taro@example.jp", **changes}
    return mail.build_message(**fields)


def test_a_message_has_exactly_one_recipient_and_is_rendered_for_them():
    message = build()
    assert message.to == ["taro@example.jp"] and message.cc == [] and message.bcc == []
    assert message.subject == "山田 太郎 様へ" and "会員番号 W1" in message.body
    assert message.alternatives[0][0] == "<p>山田 太郎</p>"


def test_attachments_are_impossible():
    message = build()
    with pytest.raises(mail.AttachmentsForbidden):
        message.attach("roster.csv", "1,a,b", "text/csv")
    with pytest.raises(mail.AttachmentsForbidden):
        message.attach_file("/etc/hosts")
    assert message.attachments == []


def test_member_values_are_html_escaped_in_the_html_part():
    message = build(values={"name": "<b>x</b>", "member_number": "1", "email": "a@b.jp"})
    assert message.alternatives[0][0] == "<p>&lt;b&gt;x&lt;/b&gt;</p>"


def test_a_line_break_in_a_value_never_reaches_the_subject_header():
    message = build(values={"name": "A\nBcc: all@example.jp", "member_number": "1",
                            "email": "a@b.jp"})
    assert "\n" not in message.subject
    headers = message.message().as_bytes().split(b"\n\n", 1)[0]
    assert b"\nBcc:" not in headers


def test_japanese_subject_and_sender_are_mime_encoded():
    raw = build().message().as_bytes()
    assert b"=?utf-8?" in raw.lower()
    assert "山田".encode() not in raw.split(b"\n\n", 1)[0]  # headers are ASCII on the wire


@pytest.mark.parametrize("subject", ["【重要】{name} 様：感染症見舞金の改定について",
                                     "{name} 様へ" * 12, "{name}", "Notice for {name}"])
def test_a_japanese_subject_reads_back_exactly_and_folds_within_78_characters(subject):
    import email
    import email.policy

    message = build(subject=subject)
    wire = message.wire_bytes()
    headers = wire.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert all(len(line) <= 78 for line in headers)
    assert not any(line == b"Subject: " or line == b"Subject:" for line in headers)
    received = email.message_from_bytes(wire, policy=email.policy.default)
    assert received["Subject"] == message.subject  # no leading space, nothing lost


def test_each_message_gets_its_own_message_id():
    ids = {build().extra_headers["Message-ID"] for _ in range(3)}
    assert len(ids) == 3 and all(i.endswith("@association.example>") for i in ids)
