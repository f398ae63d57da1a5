"""Attack tests for returned mail besides DSNs (commit fcb5924): mail readers' unsubscribe
mails, feedback-loop complaints (ARF, RFC 5965), refusals by policy (5.7.x) and the e-mail
provider's block/unsubscribe events.

Anyone can write to the bounce domain. Each test is named after the promise it checks
(docs/operations.md "Bounces and messages in doubt", docs/using.md "Notices and newsletters";
campaigns/bounces.py) and tries to bend it with mail a real attacker or a real mail system
would send."""

import base64
import re
import time
from email.header import Header
from types import SimpleNamespace

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from campaigns import bounces, deliveries, dsn, esp_events, retention, suppression
from campaigns.actions import Action
from campaigns.bounces import Result
from campaigns.models import Delivery, Kind, State
from countersign.pseudonyms import pseudonym
from roster.models import Suppression
from tests.factories import (
    client_for,
    email_of,
    make_newsletter,
)
from tests.returned_mail import (
    DOMAIN,
    arf,
    dsn_for,
    original_of,
    process_maildir,
    snapshot,
    token_of,
    unsubscribe_mail,
)

pytestmark = pytest.mark.usefixtures("sink", "bounce_domain")


# --- what the attacker and the mail systems send -----------------------------------------------

def plain_mail(subject_line: bytes, *, body=b"Sent by the mail reader to unsubscribe.\n") -> bytes:
    """A mail with the Subject header exactly as given (bytes: encoded words, raw 8-bit...)."""
    return (b"From: x@example.jp\nTo: unsubscribe@" + DOMAIN.encode() + b"\n"
            b"Subject: " + subject_line + b"\nMIME-Version: 1.0\n"
            b"Content-Type: text/plain; charset=utf-8\n\n" + body)


def audit_text() -> str:
    return " ".join(str(p) for p in AuditEntry.objects.values_list("payload", flat=True))


# --- exceptions must not escape: one mail must never stop process_bounces ----------------------

def test_a_mail_with_a_broken_encoded_word_in_its_subject_does_not_stop_process_bounces(
        newsletter, tmp_path):
    """Spam with a truncated base64 encoded word (5 characters) reaches the bounce domain
    first; a member's unsubscribe mail comes after it in the Maildir."""
    delivery = newsletter.deliveries.first()
    poison = plain_mail(b"=?utf-8?b?QUJDR?=")
    valid = unsubscribe_mail(f"unsubscribe {token_of(delivery)}")
    out = process_maildir(tmp_path, poison, valid)
    assert "1 unsubscribed" in out, out
    assert not list((tmp_path / "new").iterdir())


def test_a_complaint_whose_original_headers_carry_raw_8bit_bytes_does_not_stop_process_bounces(
        sent, tmp_path):
    """No signed address needed: a List-Unsubscribe with one 8-bit byte in the returned
    headers."""
    delivery = sent.deliveries.first()
    poison = arf(original_of(delivery, return_path="x@example.jp",
                            list_unsubscribe="<https://x/u/abc/> 配信停止"))
    out = process_maildir(tmp_path, poison, arf(original_of(delivery)))
    assert "1 complaints" in out, out


def test_a_complaint_whose_return_path_is_a_comment_bomb_does_not_stop_process_bounces(
        sent, tmp_path):
    delivery = sent.deliveries.first()
    poison = arf(original_of(delivery, return_path="(" * 2000))
    out = process_maildir(tmp_path, poison, arf(original_of(delivery)))
    assert "1 complaints" in out, out


def test_a_report_with_a_deeply_nested_feedback_part_does_not_stop_process_bounces(
        sent, tmp_path):
    """message/* parts nest without a single 'multipart/' (MAX_NESTING counts those)."""
    delivery = sent.deliveries.first()
    nested = "Content-Type: message/rfc822\n\n" * 300 + "Feedback-Type: abuse\n"
    poison = arf(original_of(delivery)).replace(
        b"Content-Type: message/feedback-report\n\n",
        b"Content-Type: message/feedback-report\n\n" + nested.encode() + b"\n", 1)
    out = process_maildir(tmp_path, poison, arf(original_of(delivery)))
    assert "1 complaints" in out, out


def test_a_members_own_complaint_with_an_8bit_message_id_does_not_stop_process_bounces(
        sent, tmp_path):
    """A member knows their own VERP Return-Path (it is in their mailbox)."""
    own, other = sent.deliveries.all()[:2]
    poison = arf(original_of(own, message_id="<配信@association.example>"))
    out = process_maildir(tmp_path, poison, arf(original_of(other)))
    assert "1 complaints" in out, out


def test_a_one_megabyte_subject_does_not_stall_process_bounces(tmp_path, sent):
    """Empty encoded words, back to back, just under MAX_REPORT_BYTES."""
    subject = b"=?x?q??=" * 120_000
    started = time.monotonic()
    out = process_maildir(tmp_path, plain_mail(subject))
    assert "not a bounce 1" in out, out
    assert time.monotonic() - started < 5, f"took {time.monotonic() - started:.1f} s"


# --- unsubscribe mails: only the token's own recipient, however the reader dressed it --------

def test_an_unsubscribe_mail_in_iso_2022_jp_from_a_japanese_phone_is_read(newsletter):
    delivery = newsletter.deliveries.first()
    subject = Header(f"Re：配信停止 unsubscribe {token_of(delivery)}", "iso-2022-jp").encode()
    assert bounces.process_mail(plain_mail(subject.encode())) == Result.UNSUBSCRIBED
    assert Suppression.objects.get().pseudonym == pseudonym(email_of(delivery))


def test_an_unsubscribe_mail_in_shift_jis_split_over_encoded_words_is_read(newsletter):
    """The token cut in the middle by the encoder, full-width space before it."""
    delivery = newsletter.deliveries.first()
    text = f"配信停止　unsubscribe　{token_of(delivery)}".encode("shift_jis")
    words = [text[:20], text[20:40], text[40:]]
    subject = b"\n ".join(b"=?Shift_JIS?B?" + base64.b64encode(w) + b"?=" for w in words)
    assert bounces.process_mail(plain_mail(subject)) == Result.UNSUBSCRIBED


def test_a_folded_unsubscribe_subject_is_read(newsletter):
    delivery = newsletter.deliveries.first()
    subject = f"Re: [会員ニュース]\r\n unsubscribe\r\n\t{token_of(delivery)}".encode()
    assert bounces.process_mail(plain_mail(subject)) == Result.UNSUBSCRIBED


def test_an_unsubscribe_mail_whose_reader_left_the_subject_percent_encoded_is_read(newsletter):
    """The mailto: says subject=unsubscribe%20TOKEN; a reader that does not decode it."""
    delivery = newsletter.deliveries.first()
    mail = plain_mail(f"unsubscribe%20{token_of(delivery)}".encode())
    assert bounces.process_mail(mail) == Result.UNSUBSCRIBED


def test_an_unsubscribe_mail_with_a_raw_utf8_full_width_subject_is_read(newsletter):
    """RFC 6532 mail (8-bit UTF-8 headers) typed with a Japanese IME: full-width letters and
    space, which docs/using.md says are read."""
    delivery = newsletter.deliveries.first()
    subject = f"ｕｎｓｕｂｓｃｒｉｂｅ　{token_of(delivery)}".encode()
    assert bounces.process_mail(plain_mail(subject)) == Result.UNSUBSCRIBED


def test_an_unsubscribe_mail_with_one_cp932_character_labelled_shift_jis_is_read(newsletter):
    """Japanese Windows/phone mailers label CP932 text Shift_JIS; one NEC special (①) in the
    reader's own words must not hide the token in the next encoded word."""
    delivery = newsletter.deliveries.first()
    prefix = b"=?Shift_JIS?B?" + base64.b64encode("①配信停止".encode("cp932")) + b"?="
    rest = b"=?Shift_JIS?B?" + base64.b64encode(
        f" unsubscribe {token_of(delivery)}".encode("shift_jis")) + b"?="
    assert bounces.process_mail(plain_mail(prefix + b"\n " + rest)) == Result.UNSUBSCRIBED


@pytest.mark.parametrize("disguise", [
    lambda t: t[:10] + "\u200b" + t[10:],                  # zero-width space in the token
    lambda t: t[:-1] + {"g": "ɡ"}.get(t[-1], "ｇ"),       # one letter swapped for a lookalike
    lambda t: t.replace("z", "ｚ\u200d", 1),                # full-width z with a joiner
    lambda t: "\u202e" + t[::-1],                          # shown right to left, stored reversed
])
def test_a_disguised_or_altered_token_unsubscribes_nobody(newsletter, disguise):
    token = token_of(newsletter.deliveries.first())
    before = snapshot()
    mail = plain_mail(Header(f"unsubscribe {disguise(token)}", "utf-8").encode().encode())
    assert bounces.process_mail(mail) in (Result.FORGED, Result.NOT_A_BOUNCE)
    assert snapshot() == before


def test_an_unsubscribe_mail_for_a_message_never_handed_over_suppresses_nobody(olivia, roster):
    campaign = make_newsletter(olivia, roster)
    deliveries.create_ledger(campaign)
    delivery = campaign.deliveries.first()
    assert delivery.state == Delivery.State.PENDING
    before = snapshot()
    assert bounces.process_mail(unsubscribe_mail(f"unsubscribe {token_of(delivery)}")) != \
        Result.UNSUBSCRIBED
    assert snapshot() == before


def test_an_unsubscribe_mail_about_an_erased_member_keeps_the_address_out_of_the_audit_log(
        newsletter, oscar):
    delivery = newsletter.deliveries.first()
    address = email_of(delivery)
    retention.erase_member(address=address, actor=oscar)
    assert bounces.process_mail(unsubscribe_mail(f"unsubscribe {token_of(delivery)}")) == \
        Result.UNSUBSCRIBED
    assert Suppression.objects.filter(pseudonym=pseudonym(address), reason="unsubscribed")
    assert address not in audit_text() and address.split("@")[0] not in audit_text()


# --- complaints: only a signed identifier of that one delivery counts --------------------------

def test_a_forwarded_newsletters_link_cannot_be_turned_into_a_complaint_that_stops_notices(
        newsletter, sink):
    """Someone who got a member's newsletter forwarded (the link is in the body) writes an
    ARF report with that link as List-Unsubscribe. The link itself may only stop newsletters;
    a forged complaint must not suppress the member for dues notices."""
    delivery = newsletter.deliveries.first()
    body = next(raw for _t, r, raw in sink.handler.campaign_mail() if r == email_of(delivery))
    link = re.search(rb"https?://\S+/u/[a-z]+/", body)[0].decode()
    forged = arf(original_of(delivery, return_path="forwarder@example.jp", message_id="",
                            list_unsubscribe=f"<{link}>"))
    bounces.process_mail(forged)
    delivery.refresh_from_db()
    assert delivery.complained_at is None
    assert not suppression.is_suppressed(email_of(delivery), Kind.NOTICE)


def test_a_report_with_two_original_parts_naming_two_deliveries_changes_nothing(sent):
    first, second = sent.deliveries.all()[:2]
    before = snapshot()
    assert bounces.process_mail(arf(original_of(first), original_of(second))) != Result.COMPLAINT
    assert snapshot() == before


def test_a_complaint_counts_against_the_returned_message_not_a_report_quoted_inside_it(sent):
    """The original (message/rfc822) is A's message; inside it, a multipart/report quoting B's
    headers. B's delivery must not be the one marked."""
    a, b = sent.deliveries.all()[:2]
    inner = ("Content-Type: multipart/report; report-type=delivery-status; boundary=I1\n\n"
             "--I1\nContent-Type: text/plain\n\nquoted\n"
             f"--I1\nContent-Type: text/rfc822-headers\n\n{original_of(b)}\n--I1--\n")
    report = arf(original_of(a, extra="MIME-Version: 1.0\n" + inner),
                 original_type="message/rfc822")
    bounces.process_mail(report)
    b.refresh_from_db()
    assert b.complained_at is None


def test_a_repeated_return_path_naming_one_delivery_counts_once_and_two_count_never(sent):
    first, second = sent.deliveries.all()[:2]
    twice = original_of(first, extra=f"Return-Path: <{dsn.verp_address(first.pk)}>\n")
    assert bounces.process_mail(arf(twice)) == Result.COMPLAINT
    other = original_of(second, extra=f"Return-Path: <{dsn.verp_address(first.pk)}>\n")
    before = snapshot()
    assert bounces.process_mail(arf(other)) == Result.MISMATCH
    assert snapshot() == before


def test_a_complaint_about_a_test_message_changes_nothing(sent, tested, sink):
    """A test message's own headers as the recipient's mailbox kept them."""
    raw = next(raw for _t, _r, raw in sink.handler.received if b"X-Countersign-Test:" in raw)
    headers = raw.replace(b"\r\n", b"\n").split(b"\n\n")[0].decode()
    before = snapshot()
    report = arf("Return-Path: <members@association.example>\n" + headers + "\n")
    assert bounces.process_mail(report) != Result.COMPLAINT
    assert snapshot() == before


def test_a_complaint_quoting_the_real_newsletter_headers_is_read_with_or_without_return_path(
        newsletter, sink):
    """What the provider returns: the message's own (folded) headers, Return-Path on top (a
    complaint) or rewritten away (then only the unsubscribe token names it: an unsubscribe,
    see test_returned_mail)."""
    first, second = newsletter.deliveries.all()[:2]
    for delivery, with_return_path in ((first, True), (second, False)):
        raw = next(raw for _t, r, raw in sink.handler.campaign_mail() if r == email_of(delivery))
        headers = raw.replace(b"\r\n", b"\n").split(b"\n\n")[0].decode()
        if with_return_path:
            headers = f"Return-Path: <{dsn.verp_address(delivery.pk)}>\n" + headers
        assert bounces.process_mail(arf(headers + "\n")) == (
            Result.COMPLAINT if with_return_path else Result.UNSUBSCRIBED)


def test_a_complaint_naming_the_delivery_in_original_mail_from_is_read(sent):
    """RFC 5965 Original-Mail-From is the envelope sender the provider saw; many providers
    return the headers without the Return-Path their delivery agent added. A notice has no
    unsubscribe token to fall back on."""
    delivery = sent.deliveries.first()
    report = arf(original_of(delivery, return_path=""),
                 feedback_fields=f"Original-Mail-From: <{dsn.verp_address(delivery.pk)}>\n")
    assert bounces.process_mail(report) == Result.COMPLAINT


def test_a_complaint_about_a_notice_forwarded_with_srs_is_read(sent):
    """The member's address forwards to a mailbox provider; the forwarder rewrote the envelope
    sender with SRS; the signed VERP address is still inside it."""
    delivery = sent.deliveries.first()
    local = dsn.verp_address(delivery.pk).split("@")[0]
    srs = f"SRS0=Ab3d=TZ={DOMAIN}={local}@forwarder.example.jp"
    assert bounces.process_mail(arf(original_of(delivery, return_path=srs))) == Result.COMPLAINT


def test_a_complaint_about_an_erased_members_delivery_keeps_the_address_out_of_the_audit_log(
        sent, oscar):
    delivery = sent.deliveries.first()
    address = email_of(delivery)
    report = arf(original_of(delivery))
    retention.erase_member(address=address, actor=oscar)
    assert bounces.process_mail(report) == Result.COMPLAINT
    assert Suppression.objects.filter(pseudonym=pseudonym(address), reason="complaint")
    assert address not in audit_text() and address.split("@")[0] not in audit_text()


def test_the_same_complaint_by_arf_and_by_the_providers_event_counts_once(sent):
    delivery = sent.deliveries.first()
    assert bounces.process_mail(arf(original_of(delivery))) == Result.COMPLAINT
    again = arf(original_of(delivery)).replace(b"10:00:00", b"10:05:00")  # the provider re-sent
    assert bounces.process_mail(again) == Result.DUPLICATE
    event = SimpleNamespace(event_type="complained", message_id=delivery.message_id,
                            event_id="ev-c", timestamp=None, mta_response=None)
    assert esp_events.on_tracking_event(None, event=event, esp_name="Example") == Result.DUPLICATE
    assert AuditEntry.objects.filter(action=Action.BOUNCE_RECORDED).count() == 1
    assert Suppression.objects.count() == 1


# --- refusals by policy (5.7.x) and the pause ------------------------------------------------

def test_a_policy_refusal_after_a_hard_bounce_neither_unsuppresses_nor_counts_twice(sent, oscar):
    delivery = sent.deliveries.first()
    assert bounces.process_mail(dsn_for(delivery, status="5.1.1")) == Result.HARD
    assert bounces.process_mail(dsn_for(delivery, status="5.7.1")) == Result.DUPLICATE
    delivery.refresh_from_db()
    assert delivery.bounce_status == "5.1.1" and not delivery.refused_by_policy
    assert Suppression.objects.get().reason == "hard_bounce"
    assert bounces.rates(sent)["bounced"] == 1


def test_a_block_then_a_hard_bounce_of_one_message_counts_once_toward_the_pause(held, settings):
    settings.BOUNCE_PAUSE_RATE, settings.BOUNCE_PAUSE_MIN_SENT = 0.5, 1
    delivery = held.deliveries.filter(state=Delivery.State.SENT).first()
    assert bounces.process_mail(dsn_for(delivery, status="5.7.1")) == Result.BLOCKED
    assert bounces.process_mail(dsn_for(delivery, status="5.1.1")) == Result.HARD
    assert bounces.rates(held)["bounced"] == 1
    held.refresh_from_db()
    assert held.state == State.HELD  # 1 of 10 is below 50 %


def esp_block(delivery, event_id="ev-b"):
    """What django-anymail reports for a provider's block: often no enhanced status code."""
    return SimpleNamespace(event_type="bounced", message_id=delivery.message_id,
                           reject_reason="blocked", event_id=event_id, timestamp=None,
                           mta_response="550 Message rejected: sending IP listed by Spamhaus")


def test_a_hard_bounce_after_a_providers_block_without_a_status_code_still_suppresses(sent):
    delivery = sent.deliveries.first()
    assert esp_events.on_tracking_event(None, event=esp_block(delivery), esp_name="Example") == \
        Result.BLOCKED
    assert bounces.process_mail(dsn_for(delivery, status="5.1.1")) == Result.HARD
    assert Suppression.objects.get().reason == "hard_bounce"


def test_the_ledger_shows_a_providers_block_without_a_status_code_as_a_refusal_by_policy(
        sent, oscar):
    delivery = sent.deliveries.first()
    esp_events.on_tracking_event(None, event=esp_block(delivery), esp_name="Example")
    page = client_for(oscar).get(reverse("campaigns:ledger", args=[sent.pk]),
                                 HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "address kept" in page


# --- audit: every change is an entry, no entry holds an address --------------------------------

def test_returned_mail_changes_nothing_without_an_audit_entry_and_no_entry_holds_an_address(
        newsletter, sent, oscar):
    addresses = {email_of(d) for d in Delivery.objects.all()}
    n1, n2 = newsletter.deliveries.all()[:2]
    s1, s2, s3 = sent.deliveries.all()[:3]
    mails = [unsubscribe_mail(f"unsubscribe {token_of(n1)}"), arf(original_of(n2)),
             dsn_for(s1, status="5.7.1"), dsn_for(s2, status="5.1.1"),
             dsn_for(s3, status="4.2.2", action="delayed")]
    for mail in mails:
        entries = AuditEntry.objects.count()
        rows = snapshot()
        bounces.process_mail(mail)
        if snapshot()[:2] != rows[:2]:
            assert AuditEntry.objects.count() > entries, mail[:200]
    text = audit_text()
    assert not [a for a in addresses if a and a in text]


def test_a_providers_event_about_a_message_in_doubt_is_audited(sent):
    """The relay evidence a person settles an in-doubt message by must be in the audit log
    (an 'unsubscribed' event is new evidence in this change)."""
    delivery = sent.deliveries.first()
    Delivery.objects.filter(pk=delivery.pk).update(state=Delivery.State.IN_DOUBT)
    entries = AuditEntry.objects.count()
    event = SimpleNamespace(event_type="delivered", message_id=delivery.message_id,
                            event_id="ev-d", timestamp=None)
    esp_events.on_tracking_event(None, event=event, esp_name="Example")
    delivery.refresh_from_db()
    assert delivery.relay_evidence.get("accepted") is True
    assert AuditEntry.objects.count() > entries
