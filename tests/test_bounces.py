"""Bounces: the VERP envelope sender, DSNs that may and may not change the ledger, the
suppression a hard bounce causes, and the pause when too many bounce. The attacker's cases
first: a bounce is mail from anyone, so only a verified VERP address about a message that
was handed over, reporting that message's own recipient, may change anything."""

import io
from email.message import EmailMessage

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import AuditEntry
from campaigns import bounces, composing, deliveries, relay
from campaigns.bounces import Result
from campaigns.dsn import BounceKind, delivery_id_of, verp_address
from campaigns.models import Delivery, State
from countersign.pseudonyms import pseudonym
from roster.models import Suppression
from tests.factories import email_of, make_roster, released_campaign, run_until_done
from tests.returned_mail import DOMAIN, dsn, dsn_for, esp_event, maildir, snapshot

pytestmark = pytest.mark.usefixtures("sink", "bounce_domain")


# --- the envelope ----------------------------------------------------------------------------

def test_each_message_leaves_with_its_deliverys_own_verp_address(sent, sink):
    for delivery in sent.deliveries.all():
        envelope = sink.handler.envelope_senders[email_of(delivery)]
        assert envelope == verp_address(delivery.pk)
        assert envelope.startswith(f"bounce+{delivery.pk}-") and envelope.endswith(f"@{DOMAIN}")
        assert delivery_id_of(envelope) == delivery.pk


def test_without_a_bounce_domain_the_envelope_sender_stays_the_from_address(
        settings, olivia, sam, oscar, roster, sink):
    settings.BOUNCE_DOMAIN = ""
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    run_until_done(campaign)
    members = {email_of(d) for d in campaign.deliveries.all()}
    assert {sink.handler.envelope_senders[m] for m in members} == {
        "members@association.example"}


def test_a_verp_address_does_not_verify_with_another_id_domain_or_tag():
    good = verp_address(41)
    assert delivery_id_of(good) == 41
    tag = good.split("-")[1].split("@")[0]
    assert delivery_id_of(f"bounce+42-{tag}@{DOMAIN}") is None
    assert delivery_id_of(good.replace(DOMAIN, "attacker.example")) is None
    assert delivery_id_of(f"bounce+41-{'0' * 16}@{DOMAIN}") is None
    assert delivery_id_of("members@association.example") is None


def test_a_messages_id_and_hash_are_recomputed_from_its_claim_exactly(olivia, sam, oscar,
                                                                      roster, sink):
    """Nothing is written before the hand-over (one commit per message, issue 25): the
    Message-ID and the SHA-256 of what the relay received are a function of the claim, the
    same when recomputed for a message in doubt."""
    import hashlib

    from campaigns import composing

    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False,
                                 body_html="<p>{name} 様</p>")
    run_until_done(campaign)
    received = {to: raw for _t, to, raw in sink.handler.received}
    for delivery in campaign.deliveries.all():
        raw = received[email_of(delivery)]
        assert composing.evidence_of(delivery, campaign) == (
            delivery.message_id, hashlib.sha256(raw).hexdigest())
        assert delivery.message_id.encode() in raw
    assert len({d.message_id for d in campaign.deliveries.all()}) == 20


# --- the attacker's bounces ------------------------------------------------------------------

def test_a_bounce_with_a_wrong_hmac_changes_nothing(sent):
    delivery = sent.deliveries.first()
    before = snapshot()
    forged = dsn_for(delivery, to=f"bounce+{delivery.pk}-{'a' * 16}@{DOMAIN}")
    assert bounces.process_dsn(forged) == Result.FORGED
    assert snapshot() == before


def test_a_bounce_for_a_delivery_that_does_not_exist_changes_nothing(sent):
    before = snapshot()
    assert bounces.process_dsn(dsn(to=verp_address(10**9),
                                   recipient="m1@example.org")) == Result.FORGED
    assert snapshot() == before


def test_a_bounce_to_a_plain_address_changes_nothing(sent):
    delivery = sent.deliveries.first()
    before = snapshot()
    assert bounces.process_dsn(dsn_for(delivery, to="members@association.example")) == (
        Result.FORGED)
    assert snapshot() == before


def test_a_verp_address_pasted_on_another_campaigns_bounce_changes_nothing(
        sent, olivia, sam, oscar, sink):
    other = released_campaign(olivia, sam, oscar, make_roster(olivia, 5, name="other"),
                              canary_enabled=False)
    run_until_done(other)
    mine, theirs = sent.deliveries.first(), other.deliveries.first()
    before = snapshot()
    # A bounce of the other campaign's message, sent to this delivery's VERP address.
    pasted = dsn_for(mine, recipient=email_of(mine), message_id=theirs.message_id,
                     campaign=other.pk)
    assert bounces.process_dsn(pasted) == Result.MISMATCH
    assert snapshot() == before


def test_a_dsn_reporting_another_members_address_suppresses_nobody(sent):
    """Someone who holds one VERP address (their own Return-Path) cannot use it to have
    another member's address suppressed: the DSN must report the delivery's own address."""
    mine, victim = sent.deliveries.all()[:2]
    before = snapshot()
    spoofed = dsn_for(mine, recipient=email_of(victim))
    assert bounces.process_dsn(spoofed) == Result.MISMATCH
    assert snapshot() == before
    assert not Suppression.objects.filter(pseudonym=pseudonym(email_of(victim))).exists()


def test_a_bounce_for_a_message_never_handed_over_changes_nothing(olivia, sam, oscar, roster):
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)

    deliveries.create_ledger(campaign)
    pending = campaign.deliveries.first()
    assert pending.state == Delivery.State.PENDING
    before = snapshot()
    assert bounces.process_dsn(dsn_for(pending)) == Result.NEVER_SENT
    assert snapshot() == before


def test_mail_that_is_not_a_dsn_changes_nothing(sent):
    delivery = sent.deliveries.first()
    reply = EmailMessage()
    reply["To"] = verp_address(delivery.pk)
    reply["Subject"] = "Out of office"
    reply.set_content("I am away. Status: 5.1.1 Action: failed")
    before = snapshot()
    assert bounces.process_dsn(reply.as_bytes()) == Result.NOT_A_BOUNCE
    assert snapshot() == before


# --- real bounces ----------------------------------------------------------------------------

def test_a_hard_bounce_marks_the_delivery_bounced_and_suppresses_its_address(sent):
    delivery = sent.deliveries.first()
    assert bounces.process_dsn(dsn_for(delivery)) == Result.HARD
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.BOUNCED
    assert delivery.bounced_at is not None and delivery.bounce_status == "5.1.1"
    assert delivery.sent_at is not None  # it was accepted; it bounced later
    entry = Suppression.objects.get(pseudonym=pseudonym(email_of(delivery)))
    assert entry.reason == Suppression.Reason.HARD_BOUNCE and entry.campaign_id == sent.pk
    recorded = AuditEntry.objects.filter(action="campaign.bounce_recorded").get()
    assert recorded.payload["delivery"] == delivery.pk
    assert recorded.payload["status"] == "5.1.1" and recorded.object_id == str(sent.pk)
    for entry in AuditEntry.objects.all():  # no address in the log
        assert email_of(delivery) not in str(entry.payload)


def test_the_same_bounce_twice_is_recorded_once(sent):
    delivery = sent.deliveries.first()
    assert bounces.process_dsn(dsn_for(delivery)) == Result.HARD
    before = snapshot()
    assert bounces.process_dsn(dsn_for(delivery)) == Result.DUPLICATE
    assert snapshot() == before


def test_a_delayed_dsn_counts_a_soft_bounce_and_suppresses_nobody(sent):
    delivery = sent.deliveries.first()
    assert bounces.process_dsn(dsn_for(delivery, status="4.4.1", action="delayed")) == (
        Result.SOFT)
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.SENT and delivery.soft_bounces == 1
    assert not Suppression.objects.exists()


def test_a_bounce_naming_the_original_recipient_after_forwarding_is_accepted(sent):
    delivery = sent.deliveries.first()
    forwarded = dsn_for(delivery, recipient="real-box@forwarded.example",
                        original_recipient=email_of(delivery))
    assert bounces.process_dsn(forwarded) == Result.HARD


def test_a_bounce_for_a_message_in_doubt_is_evidence_but_not_a_decision(sent):
    delivery = sent.deliveries.first()
    Delivery.objects.filter(pk=delivery.pk).update(state=Delivery.State.IN_DOUBT)
    assert bounces.process_dsn(dsn_for(delivery)) == Result.HARD
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.IN_DOUBT  # a person still decides
    assert delivery.relay_evidence["accepted"] is True
    assert Suppression.objects.filter(reason="hard_bounce").count() == 1


# --- rates and the pause ---------------------------------------------------------------------

def test_a_campaign_pauses_when_its_hard_bounce_rate_passes_the_limit(held, settings):
    settings.BOUNCE_PAUSE_RATE, settings.BOUNCE_PAUSE_MIN_SENT = 0.05, 10
    delivery = held.deliveries.filter(state=Delivery.State.SENT).first()
    bounces.process_dsn(dsn_for(delivery))
    held.refresh_from_db()
    assert held.state == State.PAUSED
    assert "1 of 10" in held.paused_reason
    assert AuditEntry.objects.filter(action="campaign.paused").exists()


def test_a_campaign_does_not_pause_before_enough_messages_were_accepted(held, settings):
    settings.BOUNCE_PAUSE_RATE, settings.BOUNCE_PAUSE_MIN_SENT = 0.05, 20
    bounces.process_dsn(dsn_for(held.deliveries.filter(state=Delivery.State.SENT).first()))
    held.refresh_from_db()
    assert held.state == State.HELD


def test_rates_tell_accepted_from_bounced_later(sent):
    first, second = sent.deliveries.all()[:2]
    bounces.process_dsn(dsn_for(first))
    bounces.record_bounce(delivery_id=second.pk, kind=BounceKind.COMPLAINT, source="test")
    numbers = bounces.rates(sent)
    assert numbers["accepted"] == 20 and numbers["bounced"] == 1
    assert numbers["bounce_rate"] == 0.05 and numbers["complaint_rate"] == 0.05


# --- the command -----------------------------------------------------------------------------

def test_process_bounces_reads_a_maildir_and_files_what_it_read(sent, tmp_path):
    first, second = sent.deliveries.all()[:2]
    forged = dsn_for(second, to=f"bounce+{second.pk}-{'b' * 16}@{DOMAIN}")
    box = maildir(tmp_path, [dsn_for(first), forged])
    out = io.StringIO()
    call_command("process_bounces", maildir=str(box), stdout=out)
    assert "1 hard" in out.getvalue() and "forged or unknown 1" in out.getvalue()
    assert not list((box / "new").iterdir()) and len(list((box / "cur").iterdir())) == 2
    second.refresh_from_db()
    assert second.state == Delivery.State.SENT
    call_command("process_bounces", maildir=str(box), stdout=out)  # nothing read twice
    assert AuditEntry.objects.filter(action="campaign.bounce_recorded").count() == 1


def test_process_bounces_reads_one_mail_from_stdin(sent, monkeypatch):
    delivery = sent.deliveries.first()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(dsn_for(delivery))))
    call_command("process_bounces", stdin=True, stdout=io.StringIO())
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.BOUNCED


def test_process_bounces_refuses_to_run_without_a_bounce_domain(settings, tmp_path):
    settings.BOUNCE_DOMAIN = ""
    with pytest.raises(CommandError, match="BOUNCE_DOMAIN"):
        call_command("process_bounces", maildir=str(tmp_path))


# --- ESP events through django-anymail ------------------------------------------------------

def test_an_esp_bounce_event_marks_the_delivery_bounced(sent):
    delivery = sent.deliveries.first()
    esp_event("bounced", delivery.message_id, mta_response="550 5.1.1 No such user")
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.BOUNCED and delivery.bounce_status == "5.1.1"
    assert Suppression.objects.get().reason == Suppression.Reason.HARD_BOUNCE


def test_an_esp_complaint_suppresses_the_address_for_every_kind_of_campaign(sent):
    delivery = sent.deliveries.first()
    esp_event("complained", delivery.message_id.strip("<>"))
    delivery.refresh_from_db()
    assert delivery.complained_at is not None and delivery.state == Delivery.State.SENT
    assert Suppression.objects.get(pseudonym=pseudonym(email_of(delivery))).reason == "complaint"


def test_an_esp_event_for_an_unknown_message_changes_nothing(sent):
    before = snapshot()
    esp_event("bounced", "<not-ours@example.org>")
    esp_event("complained", "")
    assert snapshot() == before


def test_an_esp_delivered_event_is_evidence_for_a_message_in_doubt(sent):
    delivery = sent.deliveries.first()
    Delivery.objects.filter(pk=delivery.pk).update(state=Delivery.State.IN_DOUBT)
    esp_event("delivered", delivery.message_id)
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.IN_DOUBT
    assert delivery.relay_evidence["accepted"] is True
    assert delivery.relay_evidence["source"] == "esp:testesp"


# --- what the pages and the report say -----------------------------------------------------

def test_progress_tells_accepted_by_the_mail_server_from_bounced_later(sent):
    from campaigns.ledger import progress

    first, second = sent.deliveries.all()[:2]
    bounces.process_dsn(dsn_for(first))
    esp_event("complained", second.message_id)
    numbers = progress(sent)
    assert (numbers["accepted"], numbers["sent"], numbers["bounced"]) == (20, 19, 1)
    assert numbers["bounce_rate"] == 5.0 and numbers["complaint_rate"] == 5.0
    assert numbers["percent"] == 100.0


def test_the_ledger_and_the_campaign_page_show_bounces_and_rates(sent, oscar):
    from django.urls import reverse

    from tests.factories import client_for

    delivery = sent.deliveries.first()
    bounces.process_dsn(dsn_for(delivery))
    client = client_for(oscar)
    for name in ("campaigns:ledger", "campaigns:detail"):
        page = client.get(reverse(name, args=[sent.pk]), HTTP_ACCEPT_LANGUAGE="en").content
        assert b"Accepted by the mail server: 20" in page
        assert b"bounced later: 1 (5.0%)" in page
    ledger_page = client.get(reverse("campaigns:ledger", args=[sent.pk]),
                             HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "bounced (5.1.1)" in ledger_page


def test_the_incident_report_says_accepted_then_bounced(sent):
    from campaigns import reports

    delivery = sent.deliveries.first()
    bounces.process_dsn(dsn_for(delivery))
    columns = [key for key, _name in reports.incident_columns(member_data=False)]
    rows = {r[0]: dict(zip(columns, r, strict=True))
            for r in reports.incident_export_rows(sent, member_data=False)}
    row = rows[delivery.member_number]
    assert row["outcome_code"] == "bounced" and row["bounce_status"] == "5.1.1"
    assert row["outcome"] == "accepted by the mail server, then bounced"
    assert row["bounced_at"] and row["sent_at"] and row["content_hash"] == sent.content_hash
    others = [r for number, r in rows.items() if number != delivery.member_number]
    assert {r["outcome_code"] for r in others} == {"accepted"}


def test_a_bounce_that_beats_the_sent_record_waits_in_new_for_the_next_run(sent, tmp_path):
    """The success is written with the next claim: a fast bounce may arrive first."""
    delivery = sent.deliveries.first()
    Delivery.objects.filter(pk=delivery.pk).update(state=Delivery.State.SENDING)
    box = maildir(tmp_path, [dsn_for(delivery)])
    call_command("process_bounces", maildir=str(box), stdout=io.StringIO())
    assert len(list((box / "new").iterdir())) == 1
    Delivery.objects.filter(pk=delivery.pk).update(state=Delivery.State.SENT)
    call_command("process_bounces", maildir=str(box), stdout=io.StringIO())
    assert not list((box / "new").iterdir())
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.BOUNCED


class FakeMailbox:
    """Stands in for the IMAP server behind imapclient.IMAPClient: unseen mails by uid."""

    def __init__(self, mails):
        self.mails, self.seen, self.calls = dict(enumerate(mails, start=1)), set(), []

    def __call__(self, host, ssl, timeout):
        self.calls.append(("connect", host, ssl))
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def login(self, user, password):
        self.calls.append(("login", user))

    def select_folder(self, folder):
        self.calls.append(("select", folder))

    def search(self, criteria):
        return [uid for uid in self.mails if uid not in self.seen]

    def fetch(self, uids, parts):
        return {uid: {b"BODY[]": self.mails[uid]} for uid in uids}

    def add_flags(self, uids, flags):
        self.seen.update(uids)


def test_process_bounces_reads_the_imap_mailbox_and_marks_what_it_read(sent, settings,
                                                                     monkeypatch):
    settings.BOUNCE_IMAP_HOST, settings.BOUNCE_IMAP_USER = "imap.example", "bounces"
    settings.BOUNCE_IMAP_FOLDER = "Bounces"
    first, second = sent.deliveries.all()[:2]
    Delivery.objects.filter(pk=second.pk).update(state=Delivery.State.SENDING)
    mailbox = FakeMailbox([dsn_for(first), dsn_for(second), b"Subject: spam\r\n\r\nhi"])
    monkeypatch.setattr("imapclient.IMAPClient", mailbox)
    out = io.StringIO()
    call_command("process_bounces", imap=True, stdout=out)
    assert "1 hard" in out.getvalue() and "1 left for later" in out.getvalue()
    assert mailbox.seen == {1, 3}  # the early bounce stays unseen for the next run
    assert ("connect", "imap.example", True) in mailbox.calls and ("select", "Bounces") in (
        mailbox.calls)


def test_a_bounce_of_mail_sent_before_a_key_rotation_still_verifies(settings):
    settings.BOUNCE_DOMAIN = "bounces.example"
    address = verp_address(4711)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "rotated-" + settings.SECRET_KEY
    assert delivery_id_of(address) == 4711
    settings.SECRET_KEY_FALLBACKS = []
    assert delivery_id_of(address) is None


def test_a_message_left_in_doubt_by_a_dead_worker_gets_the_id_and_hash_it_was_sent_with(
        olivia, sam, oscar, roster, sink, settings):
    """The worker handed the message over and died before recording it: once flagged in
    doubt, the ledger has the Message-ID and SHA-256 of the bytes the relay received."""
    import hashlib

    from campaigns import sender

    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False,
                                 body_html="<p>{name} 様</p>")
    sender.run(campaign.pk, worker="t", budget=0, sleep=lambda s: None)  # started
    claim = deliveries.claim_next(campaign.pk, worker="w", terms=deliveries.terms_of(campaign))
    assert sender.deliver(claim, campaign, relay.Courier()) is not None
    delivery = Delivery.objects.get(pk=claim.delivery_id)  # ...and the worker died here
    assert (delivery.state, delivery.message_id) == (Delivery.State.SENDING, "")
    settings.EMAIL_TIMEOUT, settings.SEND_STALE_MARGIN_SECONDS = 0, 0  # the lease is over
    assert deliveries.flag_stale_claims(campaign.pk, evidence=composing.evidence_of) == 1
    delivery.refresh_from_db()
    ((_t, _to, raw),) = [r for r in sink.handler.received if b"X-Countersign-Campaign" in r[2]]
    assert delivery.state == Delivery.State.IN_DOUBT
    assert (delivery.message_id, delivery.message_sha256) == (
        next(line.split(b": ", 1)[1].decode() for line in raw.split(b"\r\n")
             if line.startswith(b"Message-ID: ")), hashlib.sha256(raw).hexdigest())


def test_a_database_started_afresh_never_reuses_a_message_id():
    """Delivery 1's first message in yesterday's database and in today's fresh one (or in a
    second installation with the same SECRET_KEY) are two messages: a relay's log must not
    mix them up. The claim's time is in the Message-ID."""
    from datetime import UTC, datetime

    from campaigns import composing

    yesterday = datetime(2026, 12, 3, 9, 0, 0, 123456, tzinfo=UTC)
    today = datetime(2026, 12, 4, 9, 0, 0, 123456, tzinfo=UTC)
    sender = "会員サポート <members@association.example>"
    first = composing.message_id_for(1, 1, yesterday, sender)
    assert first == composing.message_id_for(1, 1, yesterday, sender)  # derived, not random
    assert first != composing.message_id_for(1, 1, today, sender)
    assert first.endswith("@association.example>")
