"""Returned mail besides bounces: a mail reader's unsubscribe mail to the List-Unsubscribe
mailto: address (RFC 2369), a mailbox provider's spam complaint in the Abuse Reporting Format
(ARF, RFC 5965), and a refusal by policy (5.7.x) that says nothing about the address.

Anyone can write to these addresses, so the attacker's cases come first: only a signed token
or a verified VERP address, about a message that was sent, may change anything, and only for
that message's own recipient."""

from email.header import Header
from types import SimpleNamespace

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from campaigns import bounces, deliveries, esp_events, headers, unsubscribe
from campaigns.actions import Action
from campaigns.bounces import Result
from campaigns.models import Delivery, Kind, State
from countersign.pseudonyms import pseudonym
from roster.models import Suppression
from tests.factories import (
    client_for,
    delivery_to,
    email_of,
    make_campaign,
    make_newsletter,
    released_campaign,
    run_until_done,
    through_the_countersign,
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


# --- unsubscribe mails: the attacker's cases -------------------------------------------------

@pytest.mark.parametrize("subject", [
    "unsubscribe",                                   # no token
    "unsubscribe " + "g" * 8 + "z" + "h" * 32,       # made up
    "please unsubscribe everyone",
    "",
])
def test_an_unsubscribe_mail_without_a_valid_token_suppresses_nobody(newsletter, subject):
    before = snapshot()
    assert bounces.process_mail(unsubscribe_mail(subject)) in (Result.FORGED,
                                                                Result.NOT_A_BOUNCE)
    assert snapshot() == before


def test_a_token_with_one_letter_changed_suppresses_nobody(newsletter):
    token = token_of(newsletter.deliveries.first())
    forged = token[:-1] + ("g" if token[-1] != "g" else "h")
    before = snapshot()
    assert bounces.process_mail(unsubscribe_mail(f"unsubscribe {forged}")) == Result.FORGED
    assert snapshot() == before


def test_an_unsubscribe_mail_with_two_members_tokens_suppresses_neither(newsletter):
    first, second = newsletter.deliveries.all()[:2]
    before = snapshot()
    mail = unsubscribe_mail(f"unsubscribe {token_of(first)} unsubscribe {token_of(second)}")
    assert bounces.process_mail(mail) == Result.MISMATCH
    assert snapshot() == before


def test_a_token_of_a_notice_delivery_suppresses_nobody(sent):
    """Notices carry no unsubscribe link: a token for one was made, not received."""
    before = snapshot()
    mail = unsubscribe_mail(f"unsubscribe {token_of(sent.deliveries.first())}")
    assert bounces.process_mail(mail) == Result.FORGED
    assert snapshot() == before


def test_a_token_quoted_in_the_body_only_suppresses_nobody(newsletter):
    """A forwarded newsletter carries its reader's link in the body; only the subject the
    mailto: URL sets is a request."""
    token = token_of(newsletter.deliveries.first())
    mail = unsubscribe_mail("Fwd: our newsletter", body=f"see https://x/u/{token}/")
    before = snapshot()
    assert bounces.process_mail(mail) == Result.NOT_A_BOUNCE
    assert snapshot() == before


# --- unsubscribe mails: what they do ---------------------------------------------------------

def test_the_mailto_address_is_at_the_bounce_domain_so_process_bounces_reads_it(
        newsletter, sink, settings):
    settings.UNSUBSCRIBE_MAILTO = ""
    header = sink.handler.messages()[0]["List-Unsubscribe"]
    assert f"<mailto:unsubscribe@{DOMAIN}?subject=unsubscribe%20" in header
    settings.UNSUBSCRIBE_MAILTO = "stop@association.example"  # set: used as it is
    assert unsubscribe.mailto_address("a@association.example") == "stop@association.example"


def test_a_readers_unsubscribe_mail_suppresses_that_member_for_newsletters(newsletter, sink,
                                                                            tmp_path):
    """The mailto: of the header exactly as a mail reader follows it (subject from the URL)."""
    message = sink.handler.messages()[3]
    mailto = message["List-Unsubscribe"].split(",")[1].strip().strip("<>")
    address, _q, query = mailto.removeprefix("mailto:").partition("?subject=")
    subject = query.replace("%20", " ")
    recipient = delivery_to(newsletter, message["To"])
    out = process_maildir(tmp_path, unsubscribe_mail(subject, to=address))
    assert "1 unsubscribed" in out, out
    entry = Suppression.objects.get()
    assert entry.pseudonym == pseudonym(email_of(recipient)) and entry.reason == "unsubscribed"
    assert entry.source == "unsubscribe:mail"
    audit = AuditEntry.objects.filter(action=Action.ADDRESS_SUPPRESSED).last()
    assert email_of(recipient) not in str(audit.payload)


@pytest.mark.parametrize("dress", [
    lambda token: f"Re: unsubscribe {token}",
    lambda token: f"UNSUBSCRIBE {token.upper()}",
    lambda token: Header(f"unsubscribe {token}", "utf-8").encode(),  # =?utf-8?b?...?=
    lambda token: f"ｕｎｓｕｂｓｃｒｉｂｅ　{token}",                 # full width, as IMEs type
])
def test_an_unsubscribe_mail_is_read_however_the_mail_reader_dressed_the_subject(
        newsletter, dress):
    delivery = newsletter.deliveries.first()
    assert bounces.process_mail(unsubscribe_mail(dress(token_of(delivery)))) == \
        Result.UNSUBSCRIBED
    assert Suppression.objects.get().pseudonym == pseudonym(email_of(delivery))


def test_the_same_unsubscribe_mail_twice_suppresses_once(newsletter):
    mail = unsubscribe_mail(f"unsubscribe {token_of(newsletter.deliveries.first())}")
    assert bounces.process_mail(mail) == Result.UNSUBSCRIBED
    entries = AuditEntry.objects.count()
    assert bounces.process_mail(mail) == Result.DUPLICATE
    assert Suppression.objects.count() == 1 and AuditEntry.objects.count() == entries


# --- complaints (ARF): the attacker's cases --------------------------------------------------

def test_a_complaint_whose_return_path_does_not_verify_changes_nothing(sent):
    delivery = sent.deliveries.first()
    before = snapshot()
    forged = arf(original_of(delivery, return_path=f"bounce+{delivery.pk}-{'0' * 16}@{DOMAIN}"))
    assert bounces.process_mail(forged) == Result.FORGED
    assert snapshot() == before


def test_a_complaint_naming_no_signed_address_changes_nothing(sent):
    """The Message-ID alone is no proof: it travels in every copy and every reply."""
    delivery = sent.deliveries.first()
    before = snapshot()
    assert bounces.process_mail(arf(original_of(delivery, return_path="someone@example.jp"))) \
        == Result.FORGED
    assert snapshot() == before


def test_a_complaint_with_one_members_return_path_and_anothers_message_id_changes_nothing(sent):
    first, second = sent.deliveries.all()[:2]
    before = snapshot()
    assert bounces.process_mail(arf(original_of(first, message_id=second.message_id))) \
        == Result.MISMATCH
    assert bounces.process_mail(arf(original_of(first, campaign=sent.pk + 1000))) \
        == Result.MISMATCH
    assert snapshot() == before


def test_a_complaint_whose_return_path_and_unsubscribe_token_disagree_changes_nothing(
        newsletter):
    first, second = newsletter.deliveries.all()[:2]
    header = f"<https://x/u/{token_of(second)}/>"
    before = snapshot()
    assert bounces.process_mail(arf(original_of(first, list_unsubscribe=header))) \
        == Result.MISMATCH
    assert snapshot() == before


def test_a_not_spam_report_changes_nothing(sent):
    before = snapshot()
    report = arf(original_of(sent.deliveries.first()), feedback_type="not-spam")
    assert bounces.process_mail(report) == Result.NOT_A_BOUNCE
    assert snapshot() == before


def test_a_complaint_about_a_message_never_handed_over_changes_nothing(olivia, roster, settings):
    campaign = make_campaign(olivia, roster)
    deliveries.create_ledger(campaign)
    delivery = campaign.deliveries.first()
    before = snapshot()
    assert bounces.process_mail(arf(original_of(delivery, message_id="<x@y>"))) == \
        Result.NEVER_SENT
    assert snapshot() == before


# --- complaints (ARF): what they do ----------------------------------------------------------

def test_a_complaint_suppresses_the_address_for_every_kind_of_campaign(sent, tmp_path):
    delivery = sent.deliveries.first()
    out = process_maildir(tmp_path, arf(original_of(delivery)))
    assert "1 complaint" in out, out
    delivery.refresh_from_db()
    assert delivery.complained_at is not None
    assert Suppression.objects.get().reason == "complaint"
    assert bounces.rates(sent)["complained"] == 1
    entry = AuditEntry.objects.get(action="campaign.bounce_recorded")
    assert entry.payload["bounce"] == "complaint" and entry.payload["report"].startswith("arf:")
    assert email_of(delivery) not in str(entry.payload)


def test_a_report_naming_the_message_only_by_its_unsubscribe_token_is_taken_as_an_unsubscribe(
        newsletter):
    """Some providers rewrite Return-Path away; the newsletter's List-Unsubscribe still names
    the delivery. But that token travels in every forwarded newsletter's body: it is no proof
    of a complaint (which would stop dues notices too), only of what the link itself does."""
    delivery = newsletter.deliveries.first()
    header = (f"<https://x/u/{token_of(delivery)}/>, "
              f"<mailto:unsubscribe@{DOMAIN}?subject=unsubscribe%20{token_of(delivery)}>")
    original = original_of(delivery, return_path="", list_unsubscribe=header)
    assert bounces.process_mail(arf(original)) == Result.UNSUBSCRIBED
    entry = Suppression.objects.get()
    assert entry.pseudonym == pseudonym(email_of(delivery)) and entry.reason == "unsubscribed"
    delivery.refresh_from_db()
    assert delivery.complained_at is None


def test_the_same_complaint_twice_is_recorded_once(sent):
    report = arf(original_of(sent.deliveries.first()))
    assert bounces.process_mail(report) == Result.COMPLAINT
    assert bounces.process_mail(report) == Result.DUPLICATE
    assert AuditEntry.objects.filter(action="campaign.bounce_recorded").count() == 1


def test_a_complaint_with_the_whole_original_message_attached_is_read(sent):
    delivery = sent.deliveries.first()
    report = arf(original_of(delivery)).replace(b"Content-Type: text/rfc822-headers",
                                                b"Content-Type: message/rfc822")
    report = report.replace(b"\n--F1--", b"\nthe body of the message\n--F1--")
    assert bounces.process_mail(report) == Result.COMPLAINT


# --- refusals by policy (5.7.x) --------------------------------------------------------------

@pytest.mark.parametrize("status", ["5.7.1", "5.7.26", "5.7.509"])
def test_a_refusal_by_policy_marks_the_message_bounced_but_suppresses_nobody(sent, status):
    """5.7.x: the receiving side refused *us* (reputation, authentication, content); the
    member's address is fine, and a notice about their dues must still be tried next time."""
    delivery = sent.deliveries.first()
    assert bounces.process_mail(dsn_for(delivery, status=status)) == Result.BLOCKED
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.BOUNCED and delivery.bounce_status == status
    assert not Suppression.objects.exists()
    entry = AuditEntry.objects.get(action="campaign.bounce_recorded")
    assert entry.payload["bounce"] == "blocked"
    assert bounces.rates(sent)["bounced"] == 1  # it counts toward the pause


def test_refusals_by_policy_pause_the_campaign_like_hard_bounces(held, settings):
    """A wave of 5.7.1 means the carrier blocks the sender: stop hammering it. (How many,
    from how many domains, makes a wave: BOUNCE_PAUSE_POLICY_*, tests/test_attack_bounces.)"""
    settings.BOUNCE_PAUSE_RATE, settings.BOUNCE_PAUSE_MIN_SENT = 0.05, 1
    settings.BOUNCE_PAUSE_POLICY_MIN = settings.BOUNCE_PAUSE_POLICY_DOMAINS = 1
    first = held.deliveries.filter(state=Delivery.State.SENT).first()
    bounces.process_mail(dsn_for(first, status="5.7.1"))
    held.refresh_from_db()
    assert held.state == State.PAUSED


def test_an_esp_block_event_suppresses_nobody(sent):
    delivery = sent.deliveries.first()
    event = SimpleNamespace(event_type="bounced", message_id=delivery.message_id,
                            reject_reason="blocked", mta_response="550 5.7.1 blocked",
                            event_id="ev-1", timestamp=None)
    assert esp_events.on_tracking_event(None, event=event, esp_name="Example") == Result.BLOCKED
    assert not Suppression.objects.exists()


def test_a_hard_bounce_after_a_block_still_suppresses_the_address(sent):
    """Blocked first (policy), then the provider says the mailbox is gone: that is news."""
    delivery = sent.deliveries.first()
    assert bounces.process_mail(dsn_for(delivery, status="5.7.1")) == Result.BLOCKED
    assert bounces.process_mail(dsn_for(delivery, status="5.1.1")) == Result.HARD
    assert Suppression.objects.get().reason == "hard_bounce"


def test_after_an_unsubscribe_mail_the_member_gets_notices_but_not_the_next_newsletter(
        newsletter, olivia, sam, oscar, roster, sink):
    delivery = newsletter.deliveries.first()
    bounces.process_mail(unsubscribe_mail(f"unsubscribe {token_of(delivery)}"))
    already = len(sink.handler.recipients())
    notice = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    run_until_done(notice)
    assert notice.kind == Kind.NOTICE
    assert delivery_to(notice, email_of(delivery)).state == Delivery.State.SENT
    second = make_newsletter(olivia, roster, canary_enabled=False)
    through_the_countersign(second, olivia, sam, oscar)
    run_until_done(second)
    skipped = delivery_to(second, email_of(delivery))
    assert skipped.state == Delivery.State.SKIPPED
    assert skipped.skip_reason == "suppressed:unsubscribed"
    since = sink.handler.recipients()[already:]
    assert since.count(email_of(delivery)) == 1  # the notice, not the second newsletter
    assert since.count(email_of(newsletter.deliveries.last())) == 2  # another member got both


def test_a_token_elsewhere_in_the_subject_is_no_request(newsletter):
    """An auto-reply quoting a subject that carries the link, say."""
    token = token_of(newsletter.deliveries.first())
    before = snapshot()
    for subject in (f"Out of office: unsubscribe https://x/u/{token}/",
                    f"Re: {token} unsubscribe", f"unsubscribe-{token}"):
        assert bounces.process_mail(unsubscribe_mail(subject)) == Result.FORGED
    assert snapshot() == before


@pytest.mark.parametrize("report", ["complaint", "soft bounce"])
def test_a_complaint_or_delay_about_a_message_in_doubt_is_evidence_it_was_taken(sent, report):
    """A resend would reach someone who complained: the signer must see it was taken."""
    delivery = sent.deliveries.first()
    Delivery.objects.filter(pk=delivery.pk).update(state=Delivery.State.IN_DOUBT)
    mail = (arf(original_of(delivery)) if report == "complaint"
            else dsn_for(delivery, status="4.2.2", action="delayed"))
    bounces.process_mail(mail)
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.IN_DOUBT  # a person still decides
    assert delivery.relay_evidence["accepted"] is True


def test_the_ledger_tells_a_refusal_by_policy_from_a_bounce(sent, oscar):
    first, second = sent.deliveries.all()[:2]
    bounces.process_mail(dsn_for(first, status="5.7.1"))
    bounces.process_mail(dsn_for(second, status="5.1.1"))
    page = client_for(oscar).get(reverse("campaigns:ledger", args=[sent.pk]),
                                 HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "refused by the receiving side's policy (5.7.1), address kept" in page
    assert "bounced (5.1.1)" in page


def test_an_unsubscribe_at_the_e_mail_provider_suppresses_for_newsletters(newsletter):
    """Providers offer their own unsubscribe handling; django-anymail reports it."""
    delivery = newsletter.deliveries.first()
    event = SimpleNamespace(event_type="unsubscribed", message_id=delivery.message_id,
                            event_id="ev-2", timestamp=None)
    assert esp_events.on_tracking_event(None, event=event, esp_name="Example") == \
        Result.UNSUBSCRIBED
    entry = Suppression.objects.get()
    assert entry.pseudonym == pseudonym(email_of(delivery)) and entry.reason == "unsubscribed"
    assert entry.source == "esp:example"
    assert esp_events.on_tracking_event(None, event=event, esp_name="Example") == Result.DUPLICATE


@pytest.mark.parametrize(("address", "expected"), [
    ("SRS0=HHH=TT=bounces.example=bounce+7-abc@fwd.example", "bounce+7-abc@bounces.example"),
    ("SRS1=XXX=fwd1.example==HHH=TT=bounces.example=bounce+7-abc@fwd2.example",
     "bounce+7-abc@bounces.example"),
    ("bounce+7-abc@bounces.example", "bounce+7-abc@bounces.example"),
    ("SRS0=broken@fwd.example", "SRS0=broken@fwd.example"),
])
def test_an_address_rewritten_by_a_forwarders_srs_is_put_back(address, expected):
    assert headers.without_srs(address) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("=?iso-2022-jp?B?GyRCR1s/LkRkO18bKEI=?= unsubscribe", "配信停止 unsubscribe"),
    ("=?utf-8?q?unsubscribe=20abc?=", "unsubscribe abc"),
    ("=?utf-8?b?QUJD?= =?utf-8?b?REVG?=", "ABCDEF"),             # space between words dropped
    ("=?unknown-8?b?QUJD?= x", "ABC x"),                          # unknown charset: as UTF-8
    ("=?utf-8?b?QUJDR?= unsubscribe", "ABC unsubscribe"),         # broken word: what it holds
])
def test_a_subject_is_read_word_by_word_as_a_person_reads_it(raw, expected):
    assert headers.decoded(raw) == expected
