"""Attacks on what became of the messages past the relay (docs/relay-carriers.md, section 5),
written from the promises, before reading campaigns/carrier_outcomes.py. Each test is named
after the promise it attacks and asserts the safe behaviour.

The promises: a message counts only by its own Message-ID, queued from its own envelope
sender and for its own recipient; a delivery, a refusal or the relay giving up is final, a
deferral is not; each reading that changes something is one audit entry per campaign, with
counts; the ledger keeps the group, not the address; none of it pauses a campaign; the
stored fields and the audit entries never carry an address or the carrier's reply text."""

import json
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from campaigns import carrier_outcomes, retention, tasks, workflow
from campaigns.actions import Action
from campaigns.models import AtCarrier, Campaign, Delivery, Notification, State
from campaigns.seen import Seen
from roster.models import Suppression
from tests.carrier_world import (
    ADDRESSES,
    campaign_to,
    counts,
    delivery,
    new_log,
    relay_took,
    status_line,
    track,
    word,
)
from tests.factories import run_until_done
from tests.returned_mail import RelayLog, dsn_for, esp_event, process_maildir

CARRIER_FIELDS = {"at_carrier", "at_carrier_since", "carrier_dsn", "carrier_deferrals"}
# What a carrier says back, quoting the member: never to be stored or audited.
REPLY_MARK = "User unknown in virtual mailbox table"


def reply_quoting(address: str) -> str:
    return f"550 5.1.1 <{address}>: Recipient address rejected: {REPLY_MARK}"



# --- the world ---------------------------------------------------------------------------------

@pytest.fixture
def verp(settings):
    settings.BOUNCE_DOMAIN = "bounces.association.example"


@pytest.fixture
def handed_over(verp, olivia, sam, oscar, sink):
    """Five members on four carriers, every message taken by the relay."""
    return campaign_to(olivia, sam, oscar, ADDRESSES)


def assert_counts_add_up(campaign):
    for group, c in counts(campaign).items():
        assert min(c.values()) >= 0, (group, c)
        assert c["handed_over"] == (c["delivered"] + c["retrying"] + c["bounced"]
                                    + c["expired"] + c["no_word"]), (group, c)
        assert c["retrying"] <= c["deferred_once"] <= c["handed_over"], (group, c)


def carrier_audit(campaign):
    return AuditEntry.objects.about(campaign).filter(action=Action.CARRIER_OUTCOMES_READ)


def ledger_rows(client, campaign, **query) -> str:
    response = client.get(reverse("campaigns:ledger", args=[campaign.pk]), query)
    assert response.status_code == 200, (query, response.status_code)
    return response.content.decode().split("<tbody>", 1)[1].split("</tbody>", 1)[0]


# --- a message counts only by its own Message-ID, sender and recipient -----------------------

def test_a_deferral_is_not_final_even_when_the_carriers_reply_text_says_status_sent(
        handed_over, tmp_path):
    """The reply text in brackets is the receiving server's to write: `status=sent` in it
    is not the relay's word."""
    at, log = timezone.now(), new_log()
    docomo, au, *_ = (delivery(handed_over, a) for a in ADDRESSES)
    relay_took(log, docomo, at, queue="5AA01", then=[(1, "jp_docomo", "4.2.0", "deferred")],
               reply="host mx said: 450 4.2.0 try again later, status=sent (in reply to RCPT)")
    relay_took(log, au, at, queue="5AA02", then=[(1, "jp_au", "5.1.1", "bounced")],
               reply="host mx said: 550 5.1.1 no such user; status=sent")
    track(log.write(tmp_path / "maillog"))
    assert (word(docomo), word(au)) == (AtCarrier.DEFERRED, AtCarrier.BOUNCED)


def test_a_message_counts_only_on_the_relay_host_that_queued_it(handed_over, tmp_path):
    at, log = timezone.now(), new_log()
    docomo = delivery(handed_over, ADDRESSES[0])
    relay_took(log, docomo, at, queue="5AB01", then=[(1, "jp_docomo", "4.7.0", "deferred")])
    log.raw(at + timedelta(seconds=5), "mx2 postfix/jp_docomo/smtp[77]: "
            + status_line("5AB01", ADDRESSES[0], "2.0.0", "sent"))
    log.raw(at + timedelta(seconds=5), "mx2 postfix/qmgr[78]: 5AB01: removed")
    track(log.write(tmp_path / "maillog"))
    docomo.refresh_from_db()
    assert (docomo.at_carrier, docomo.carrier_deferrals) == (AtCarrier.DEFERRED, 1)


@pytest.mark.parametrize("program", [
    "postfix/jp_docomo/smtpd", "postfix/jp_docomo/smtpx", "postfix/jp_docomo/x/smtp",
    "postfix-jp/smtp", "Postfix/smtp", "postfix/jp_docomo/smtp/", "xpostfix/smtp",
    "postfix/postscreen"])
def test_look_alike_program_names_are_not_the_relay(handed_over, tmp_path, program):
    at, log = timezone.now(), new_log()
    docomo = delivery(handed_over, ADDRESSES[0])
    relay_took(log, docomo, at, queue="5AC01", then=[(1, "jp_docomo", "4.7.0", "deferred")])
    log.raw(at + timedelta(seconds=5),
            f"{program}[77]: " + status_line("5AC01", ADDRESSES[0], "2.0.0", "sent"))
    track(log.write(tmp_path / "maillog"))
    docomo.refresh_from_db()
    assert (docomo.at_carrier, docomo.carrier_deferrals) == (AtCarrier.DEFERRED, 1)


def test_a_message_counts_only_from_its_own_envelope_sender_not_a_siblings_verp(
        handed_over, tmp_path):
    """Our Message-ID queued from another member's VERP address (same campaign): neither."""
    at, log = timezone.now(), new_log()
    docomo, _au, _sb, _other, shiro = (delivery(handed_over, a) for a in ADDRESSES)
    relay_took(log, docomo, at, queue="5AD01", sender=RelayLog.sender(shiro),
               then=[(1, "jp_docomo", "2.0.0", "sent")])
    relay_took(log, shiro, at, queue="5AD02", to=ADDRESSES[0], sender=RelayLog.sender(docomo),
               then=[(1, "jp_docomo", "2.0.0", "sent")])
    assert track(log.write(tmp_path / "maillog")) == {}
    assert (word(docomo), word(shiro)) == ("", "")


@pytest.mark.parametrize("to", [
    '"hanako@docomo.ne.jp"@evil.example', "hanako@docomo.ne.jp@evil.example",
    "hanako@docomo.ne.jp.evil.example", "xhanako@docomo.ne.jp", "hanako@xdocomo.ne.jp",
    ""])
def test_a_message_counts_only_for_its_own_recipient_not_a_look_alike(
        handed_over, tmp_path, to):
    at, log = timezone.now(), new_log()
    docomo = delivery(handed_over, ADDRESSES[0])
    relay_took(log, docomo, at, queue="5AE01", to=to, then=[(1, "jp_docomo", "2.0.0", "sent")])
    assert track(log.write(tmp_path / "maillog")) == {}
    assert word(docomo) == ""


def test_a_message_counts_only_for_its_own_recipient_not_one_named_by_orig_to(
        handed_over, tmp_path):
    at, log = timezone.now(), new_log()
    docomo = delivery(handed_over, ADDRESSES[0])
    relay_took(log, docomo, at, queue="5AF01")
    log.postfix(at + timedelta(seconds=1), "jp_docomo/smtp",
                f"5AF01: to=<attacker@evil.example>, orig_to=<{ADDRESSES[0]}>, relay=x[1.2.3.4]:"
                "25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)")
    log.postfix(at + timedelta(seconds=1), "qmgr", "5AF01: removed")
    assert track(log.write(tmp_path / "maillog")) == {}
    assert word(docomo) == ""


def test_its_own_recipient_written_in_another_case_or_as_punycode_is_still_its_own(
        verp, olivia, sam, oscar, sink, tmp_path):
    """The relay logs the envelope as it got it: Django sends an IDN domain in its ASCII
    form, and a carrier address may be logged in other case than the roster's."""
    members = ["Hanako@DoCoMo.ne.jp", "user@例え.jp", "shiro@docomo.ne.jp"]
    campaign = campaign_to(olivia, sam, oscar, members)
    hanako, idn, shiro = (delivery(campaign, a) for a in members)
    at, log = timezone.now(), new_log()
    relay_took(log, hanako, at, queue="5AG01", to="hanako@docomo.ne.jp",
               then=[(1, "jp_docomo", "2.0.0", "sent")])
    relay_took(log, idn, at, queue="5AG02", to="user@xn--r8jz45g.jp",
               then=[(1, "smtp", "2.0.0", "sent")])
    relay_took(log, shiro, at, queue="5AG03", to="SHIRO@DOCOMO.NE.JP",
               then=[(1, "jp_docomo", "2.0.0", "sent")])
    track(log.write(tmp_path / "maillog"))
    assert [word(d) for d in (hanako, idn, shiro)] == [AtCarrier.DELIVERED] * 3


def test_a_status_line_before_the_message_was_queued_counts_for_nothing(handed_over, tmp_path):
    at, log = timezone.now(), new_log()
    docomo = delivery(handed_over, ADDRESSES[0])
    queue = "5AH01"
    log.postfix(at - timedelta(seconds=120), "smtpd", f"{queue}: client=app[10.0.0.5]")
    log.postfix(at - timedelta(seconds=120), "cleanup", f"{queue}: message-id={docomo.message_id}")
    log.postfix(at - timedelta(seconds=60), "jp_docomo/smtp",
                status_line(queue, ADDRESSES[0], "2.0.0", "sent"))
    log.postfix(at, "qmgr", f"{queue}: from=<{RelayLog.sender(docomo)}>, size=2048, nrcpt=1 "
                            "(queue active)")
    track(log.write(tmp_path / "maillog"))
    assert word(docomo) == ""


def test_a_queue_life_from_before_the_message_was_handed_over_counts_for_nothing(
        handed_over, tmp_path):
    """A whole life, Message-ID, VERP sender and recipient right, minutes before the worker
    even built the message: a replayed or forged record, not this message's."""
    log = new_log()
    docomo = delivery(handed_over, ADDRESSES[0])
    before = docomo.claimed_at - timedelta(minutes=5)  # before the claim, beyond the margin
    relay_took(log, docomo, before, queue="5AI01", then=[(1, "jp_docomo", "5.1.1", "bounced")])
    assert track(log.write(tmp_path / "maillog")) == {}
    assert word(docomo) == ""


def test_times_in_the_future_are_not_believed(handed_over, tmp_path):
    now, log = timezone.now(), new_log()
    docomo, au, *_ = (delivery(handed_over, a) for a in ADDRESSES)
    relay_took(log, docomo, now, queue="5AJ01",
               then=[(3 * 3600, "jp_docomo", "2.0.0", "sent")])
    relay_took(log, au, now + timedelta(days=2), queue="5AJ02",
               then=[(1, "jp_au", "5.1.1", "bounced")])
    track(log.write(tmp_path / "maillog"), now=now + timedelta(seconds=30))
    assert word(docomo) == word(au) == ""
    esp_event("delivered", au.message_id, timestamp=now + timedelta(days=3))
    au.refresh_from_db()
    assert au.at_carrier == AtCarrier.DELIVERED
    assert now <= au.at_carrier_since <= timezone.now()


def test_a_reused_queue_id_carries_nothing_from_another_campaigns_message(
        handed_over, verp, olivia, sam, oscar, tmp_path):
    """The same member in two campaigns; the relay gives our message a queue id that another
    campaign's message to the same member had before."""
    second = campaign_to(olivia, sam, oscar, [], roster=handed_over.roster)
    ours, theirs = delivery(handed_over, ADDRESSES[0]), delivery(second, ADDRESSES[0])
    at, log = timezone.now(), new_log()
    relay_took(log, theirs, at, queue="5AK01", then=[(1, "jp_docomo", "2.0.0", "sent")])
    relay_took(log, ours, at + timedelta(seconds=5), queue="5AK01",
               then=[(1, "jp_docomo", "4.7.0", "deferred")])
    # a line on the same queue id after the first life was removed, before the second began
    log.postfix(at + timedelta(seconds=3), "jp_docomo/smtp",
                status_line("5AK01", ADDRESSES[0], "5.1.1", "bounced"))
    track(log.write(tmp_path / "maillog"))
    assert (word(theirs), word(ours)) == (AtCarrier.DELIVERED, AtCarrier.DEFERRED)
    # one audit entry for each campaign, each with its own counts
    assert [e.payload["carrier_delivered"] for e in carrier_audit(second)] == [1]
    assert [(e.payload["carrier_delivered"], e.payload["carrier_deferred"])
            for e in carrier_audit(handed_over)] == [(0, 1)]


# --- a delivery, a refusal or the relay giving up is final; a deferral is not ----------------

def test_a_refusal_is_final_and_a_forged_later_sent_line_in_the_same_reading_changes_nothing(
        handed_over, tmp_path):
    at, log = timezone.now(), new_log()
    docomo = delivery(handed_over, ADDRESSES[0])
    relay_took(log, docomo, at, queue="5BA01", removed=False,
               then=[(5, "jp_docomo", "4.7.0", "deferred"), (10, "jp_docomo", "5.1.1", "bounced"),
                     (20, "jp_docomo", "2.0.0", "sent")])
    log.postfix(at + timedelta(seconds=21), "qmgr", "5BA01: removed")
    track(log.write(tmp_path / "maillog"))
    docomo.refresh_from_db()
    assert (docomo.at_carrier, docomo.carrier_dsn) == (AtCarrier.BOUNCED, "5.1.1")


def test_a_delivery_is_final_and_a_second_life_bouncing_in_the_same_reading_changes_nothing(
        handed_over, tmp_path):
    at, log = timezone.now(), new_log()
    docomo = delivery(handed_over, ADDRESSES[0])
    relay_took(log, docomo, at, queue="5BB01", then=[(1, "jp_docomo", "2.0.0", "sent")])
    relay_took(log, docomo, at + timedelta(seconds=30), queue="5BB02",
               then=[(1, "jp_docomo", "5.1.1", "bounced")])
    track(log.write(tmp_path / "maillog"))
    docomo.refresh_from_db()
    assert (docomo.at_carrier, docomo.carrier_dsn) == (AtCarrier.DELIVERED, "2.0.0")


def test_the_relay_giving_up_is_recorded_as_expired(handed_over, tmp_path):
    """Postfix's qmgr logs the end of a message's life in the queue without a recipient:
    `QUEUEID: from=<sender>, status=expired, returned to sender`."""
    at, log = timezone.now(), new_log()
    au = delivery(handed_over, ADDRESSES[1])
    relay_took(log, au, at, queue="5BC01", then=[(1, "jp_au", "4.4.2", "deferred"),
                                                 (3600, "jp_au", "4.4.2", "deferred")])
    log.postfix(at + timedelta(hours=1, seconds=1), "qmgr",
                f"5BC01: from=<{RelayLog.sender(au)}>, status=expired, returned to sender")
    log.postfix(at + timedelta(hours=1, seconds=1), "qmgr", "5BC01: removed")
    track(log.write(tmp_path / "maillog"), now=at + timedelta(hours=2))
    au.refresh_from_db()
    assert (au.at_carrier, au.carrier_deferrals) == (AtCarrier.EXPIRED, 2)
    assert counts(handed_over)["au"]["expired"] == 1


def test_the_relay_giving_up_is_final_and_a_forged_later_sent_line_changes_nothing(
        handed_over, tmp_path):
    at, log = timezone.now(), new_log()
    au = delivery(handed_over, ADDRESSES[1])
    relay_took(log, au, at, queue="5BE01", then=[(1, "jp_au", "4.4.2", "deferred")])
    log.postfix(at + timedelta(hours=1), "qmgr",
                f"5BE01: from=<{RelayLog.sender(au)}>, status=expired, returned to sender")
    log.postfix(at + timedelta(hours=1, seconds=2), "jp_au/smtp",
                status_line("5BE01", ADDRESSES[1], "2.0.0", "sent"))
    log.postfix(at + timedelta(hours=1, seconds=2), "qmgr", "5BE01: removed")
    track(log.write(tmp_path / "maillog"), now=at + timedelta(hours=2))
    assert word(au) == AtCarrier.EXPIRED


def test_a_deferral_is_counted_once_in_rotated_copies_and_once_more_in_a_later_reading(
        handed_over, tmp_path):
    at, log = timezone.now(), new_log()
    au = delivery(handed_over, ADDRESSES[1])
    relay_took(log, au, at, queue="5BD01", then=[(1, "jp_au", "4.4.2", "deferred")])
    current, rotated = log.write(tmp_path / "mail.log"), log.write(tmp_path / "mail.log.1")
    track(current, rotated)
    au.refresh_from_db()
    assert (au.at_carrier, au.carrier_deferrals) == (AtCarrier.DEFERRED, 1)
    log.postfix(at + timedelta(seconds=301), "jp_au/smtp",
                status_line("5BD01", ADDRESSES[1], "4.4.2", "deferred"))
    log.write(current)
    track(current, rotated)
    track(current)
    au.refresh_from_db()
    assert (au.at_carrier, au.carrier_deferrals) == (AtCarrier.DEFERRED, 2)


# --- an e-mail provider's events --------------------------------------------------------------

def test_a_providers_replayed_event_counts_once(handed_over):
    docomo = delivery(handed_over, ADDRESSES[0])
    at = timezone.now()
    for _ in range(3):
        esp_event("deferred", docomo.message_id, event_id="ev-1", timestamp=at,
                  mta_response="421 4.7.0 try later")
    docomo.refresh_from_db()
    # A provider's deferral is counted once, by its event id (the bounce handling's count).
    assert (docomo.at_carrier, docomo.soft_bounces) == (AtCarrier.DEFERRED, 1)
    assert carrier_audit(handed_over).count() == 1
    au = delivery(handed_over, ADDRESSES[1])
    for _ in range(3):  # undated, as some providers' webhooks are
        esp_event("deferred", au.message_id, event_id="ev-9", mta_response="421 4.7.0 later")
    au.refresh_from_db()
    assert (au.at_carrier, au.soft_bounces) == (AtCarrier.DEFERRED, 1)
    assert carrier_audit(handed_over).count() == 2
    assert [row.counts["deferred_once"] for row in carrier_outcomes.by_carrier(handed_over)
            ][:2] == [1, 1]


def test_a_providers_events_out_of_order_leave_the_final_word_and_its_time(handed_over):
    docomo, au, *_ = (delivery(handed_over, a) for a in ADDRESSES)
    at = timezone.now()
    esp_event("delivered", docomo.message_id, event_id="ev-2", timestamp=at)
    esp_event("deferred", docomo.message_id, event_id="ev-1", timestamp=at - timedelta(minutes=5),
              mta_response="421 4.7.0 try later")
    esp_event("bounced", docomo.message_id, event_id="ev-3", timestamp=at + timedelta(seconds=1),
              mta_response="550 5.1.1 unknown")
    docomo.refresh_from_db()
    assert docomo.at_carrier == AtCarrier.DELIVERED
    assert abs(docomo.at_carrier_since - at) < timedelta(seconds=1)
    # deferred, arriving after a bounce that happened later: still bounced
    esp_event("bounced", au.message_id, event_id="ev-5", timestamp=at,
              mta_response="550 5.1.1 unknown")
    esp_event("deferred", au.message_id, event_id="ev-4", timestamp=at - timedelta(minutes=5),
              mta_response="451 4.4.2 timeout")
    au.refresh_from_db()
    assert (au.at_carrier, au.carrier_dsn) == (AtCarrier.BOUNCED, "5.1.1")


def test_a_providers_events_are_matched_by_the_id_the_provider_gave_the_message(handed_over):
    """What a provider's webhook reports is its own id for the message (esp_message_id)."""
    docomo = delivery(handed_over, ADDRESSES[0])
    Delivery.objects.filter(pk=docomo.pk).update(esp_message_id="0100018c-provider-id")
    esp_event("delivered", "0100018c-provider-id")
    assert word(docomo) == AtCarrier.DELIVERED


def test_a_providers_event_for_another_recipient_of_our_message_records_nothing(handed_over):
    """Section 5: a message counts only for its own recipient."""
    docomo = delivery(handed_over, ADDRESSES[0])
    esp_event("delivered", docomo.message_id, recipient="attacker@evil.example")
    assert word(docomo) == ""


@pytest.mark.parametrize("state", [Delivery.State.PENDING, Delivery.State.FAILED,
                                   Delivery.State.REFUSED, Delivery.State.SKIPPED])
def test_nothing_is_recorded_for_a_message_the_relay_never_took(handed_over, tmp_path, state):
    """The ledger says the relay never took it (not yet, refused at the hand-over, stopped by
    the guard, skipped): neither the log nor a provider can say it reached a carrier."""
    docomo = delivery(handed_over, ADDRESSES[0])
    Delivery.objects.filter(pk=docomo.pk).update(state=state)
    esp_event("delivered", docomo.message_id)
    at, log = timezone.now(), new_log()
    relay_took(log, docomo, at, queue="5CA01", then=[(1, "jp_docomo", "2.0.0", "sent")])
    track(log.write(tmp_path / "maillog"))
    assert word(docomo) == ""
    assert_counts_add_up(handed_over)


def test_a_stopped_campaigns_unsent_messages_get_no_word_from_empty_ids(
        held, oscar, tmp_path):
    campaign = workflow.stop(campaign=held, user=oscar)
    unsent = campaign.deliveries.exclude(state=Delivery.State.SENT)
    assert unsent.exists() and set(unsent.values_list("message_id", flat=True)) == {""}
    for message_id in ("", None, "<>", " "):
        esp_event("delivered", message_id)
        esp_event("deferred", message_id)
    at, log = timezone.now(), new_log()
    log.postfix(at, "smtpd", "5CB01: client=app[10.0.0.5]")
    log.postfix(at, "cleanup", "5CB01: message-id=<>")
    log.postfix(at, "qmgr", "5CB01: from=<members@association.example>, size=1, nrcpt=1 "
                            "(queue active)")
    log.postfix(at, "smtp", status_line("5CB01", "x@docomo.ne.jp", "2.0.0", "sent"))
    track(log.write(tmp_path / "maillog"))
    assert set(unsent.values_list("at_carrier", flat=True)) == {""}
    assert campaign.deliveries.exclude(at_carrier="").count() == 0
    assert_counts_add_up(campaign)
    total = sum(c["handed_over"] for c in counts(campaign).values())
    assert total == campaign.deliveries.filter(state=Delivery.State.SENT).count()


# --- nothing about a member is stored or audited ----------------------------------------------

def snapshot(campaign) -> dict:
    return {d["id"]: d for d in Delivery.objects.filter(campaign=campaign).values()}


def test_stored_fields_and_audit_entries_never_carry_an_address_or_the_carriers_reply(
        handed_over, tmp_path):
    before, entries_before = snapshot(handed_over), AuditEntry.objects.count()
    notes_before = Notification.objects.count()
    campaign_fields = ("state", "paused_reason", "stopped_at", "consecutive_failures",
                       "next_send_at")
    campaign_before = Campaign.objects.filter(pk=handed_over.pk).values(*campaign_fields).get()
    docomo, au, softbank, other, shiro = (delivery(handed_over, a) for a in ADDRESSES)
    at, log = timezone.now(), new_log()
    relay_took(log, docomo, at, queue="5DA01", then=[(1, "jp_docomo", "5.1.1", "bounced")],
               reply=f"host mx said: {reply_quoting(ADDRESSES[0])}")
    relay_took(log, au, at, queue="5DA02", then=[(1, "jp_au", "4.7.1", "deferred")],
               reply=f"host mx said: 450 4.7.1 <{ADDRESSES[1]}>: {REPLY_MARK}")
    relay_took(log, softbank, at, queue="5DA03", then=[(1, "jp_softbank", "2.0.0", "sent")],
               reply=f"250 ok queued as <{ADDRESSES[2]}> {REPLY_MARK}")
    track(log.write(tmp_path / "maillog"))
    esp_event("bounced", other.message_id, mta_response=reply_quoting(ADDRESSES[3]),
              description=f"{REPLY_MARK} {ADDRESSES[3]}", recipient=ADDRESSES[3])
    esp_event("deferred", shiro.message_id, mta_response=f"{ADDRESSES[4]} 4.2.2 {REPLY_MARK}",
              recipient=ADDRESSES[4])

    after = snapshot(handed_over)
    for pk, row in after.items():
        changed = {f for f in row if row[f] != before[pk][f]}
        assert changed <= CARRIER_FIELDS | {"soft_bounces", "bounced_at", "bounce_status",
                                            "state"}, changed
        for name in changed & CARRIER_FIELDS:
            text = str(row[name])
            assert "@" not in text and REPLY_MARK not in text, (name, text)
    assert [word(docomo), word(au), word(softbank)] == [
        AtCarrier.BOUNCED, AtCarrier.DEFERRED, AtCarrier.DELIVERED]
    new_entries = AuditEntry.objects.order_by("pk")[entries_before:]
    assert any(e.action == Action.CARRIER_OUTCOMES_READ for e in new_entries)
    for entry in new_entries:
        if entry.action == Action.CARRIER_OUTCOMES_READ:
            dumped = json.dumps(entry.payload, ensure_ascii=False)
            assert "@" not in dumped and REPLY_MARK not in dumped, dumped
    for note in Notification.objects.order_by("pk").values()[notes_before:]:
        text = json.dumps(note, default=str, ensure_ascii=False)
        assert not any(a in text for a in ADDRESSES) and REPLY_MARK not in text
    assert Campaign.objects.filter(pk=handed_over.pk).values(
        *campaign_fields).get() == campaign_before


def test_an_auditor_sees_no_member_data_and_no_carrier_reply(handed_over, tmp_path, client,
                                                             audrey, mallory):
    docomo, au, *_ = (delivery(handed_over, a) for a in ADDRESSES)
    at, log = timezone.now(), new_log()
    relay_took(log, docomo, at, queue="5DB01", then=[(1, "jp_docomo", "5.1.1", "bounced")],
               reply=f"host mx said: {reply_quoting(ADDRESSES[0])}")
    relay_took(log, au, at, queue="5DB02", then=[(1, "jp_au", "4.7.1", "deferred")],
               reply=f"host mx said: 450 4.7.1 <{ADDRESSES[1]}>: {REPLY_MARK}")
    track(log.write(tmp_path / "maillog"))
    ledger = reverse("campaigns:ledger", args=[handed_over.pk])
    detail = reverse("campaigns:detail", args=[handed_over.pk])
    for who in (audrey, mallory):
        client.force_login(who)
        for url in (ledger, f"{ledger}?carrier=docomo", detail):
            assert client.get(url).status_code == 403, (who, url)
    client.force_login(audrey)
    for url in ("/audit/", "/audit/export.csv", f"/audit/campaigns/{handed_over.pk}/incident/",
                f"/audit/campaigns/{handed_over.pk}/incident/?format=csv"):
        response = client.get(url)
        assert response.status_code == 200, url
        body = b"".join(response) if response.streaming else response.content
        text = body.decode("utf-8", "replace")
        assert not [a for a in ADDRESSES if a in text], url
        assert REPLY_MARK not in text, url


def test_the_campaign_page_and_ledger_show_codes_never_the_carriers_reply(
        handed_over, tmp_path, client, oscar):
    docomo = delivery(handed_over, ADDRESSES[0])
    at, log = timezone.now(), new_log()
    relay_took(log, docomo, at, queue="5DC01", then=[(1, "jp_docomo", "5.1.1", "bounced")],
               reply=f"host mx said: {reply_quoting(ADDRESSES[0])} <script>alert(1)</script>")
    track(log.write(tmp_path / "maillog"))
    client.force_login(oscar)
    for url in (reverse("campaigns:detail", args=[handed_over.pk]),
                reverse("campaigns:progress", args=[handed_over.pk]),
                reverse("campaigns:ledger", args=[handed_over.pk])):
        page = client.get(url).content.decode()
        assert REPLY_MARK not in page and "<script>alert(1)" not in page, url
    page = client.get(reverse("campaigns:detail", args=[handed_over.pk])).content.decode()
    carriers_section = page.split('id="carriers"', 1)[1].split("</section>", 1)[0]
    assert "@" not in carriers_section


def test_an_erased_members_message_gets_no_word_from_another_recipients_line(
        handed_over, tmp_path, oscar, client):
    docomo, au, *_ = (delivery(handed_over, a) for a in ADDRESSES)
    retention.erase_member(address=ADDRESSES[0], actor=oscar)
    at, log = timezone.now(), new_log()
    relay_took(log, docomo, at, queue="5DD01", to="attacker@docomo.ne.jp",
               then=[(1, "jp_docomo", "2.0.0", "sent")])
    relay_took(log, au, at, queue="5DD02", then=[(1, "jp_au", "2.0.0", "sent")])
    entries_before = AuditEntry.objects.count()
    track(log.write(tmp_path / "maillog"))
    assert (word(docomo), word(au)) == ("", AtCarrier.DELIVERED)
    for entry in AuditEntry.objects.order_by("pk")[entries_before:]:
        assert "@" not in json.dumps(entry.payload, ensure_ascii=False)
    assert_counts_add_up(handed_over)
    client.force_login(oscar)
    rows = ledger_rows(client, handed_over, carrier="docomo")
    assert ADDRESSES[0] not in rows


# --- the counts -----------------------------------------------------------------------------

def test_the_counts_add_up_with_bounced_in_doubt_and_erased_messages(
        handed_over, tmp_path, oscar):
    docomo, au, softbank, other, shiro = (delivery(handed_over, a) for a in ADDRESSES)
    # the relay took softbank's, and its DSN came back: the ledger says bounced
    (tmp_path / "bounces").mkdir()
    process_maildir(tmp_path / "bounces", dsn_for(softbank))
    softbank.refresh_from_db()
    assert softbank.state == Delivery.State.BOUNCED
    # shiro's is in doubt, other's member is erased
    Delivery.objects.filter(pk=shiro.pk).update(state=Delivery.State.IN_DOUBT)
    retention.erase_member(address=ADDRESSES[3], actor=oscar)
    at, log = timezone.now(), new_log()
    relay_took(log, docomo, at, queue="5EA01", then=[(1, "jp_docomo", "4.7.0", "deferred"),
                                                     (9, "jp_docomo", "2.0.0", "sent")])
    relay_took(log, au, at, queue="5EA02", then=[(1, "jp_au", "4.4.2", "deferred")])
    relay_took(log, softbank, at, queue="5EA03", then=[(1, "jp_softbank", "5.1.1", "bounced")])
    relay_took(log, shiro, at, queue="5EA04", then=[(1, "jp_docomo", "2.0.0", "sent")])
    relay_took(log, other, at, queue="5EA05", to=ADDRESSES[3],
               then=[(1, "smtp", "2.0.0", "sent")])
    track(log.write(tmp_path / "maillog"))
    assert_counts_add_up(handed_over)
    table = counts(handed_over)
    # the relay took softbank's message: it is one of those handed over, and bounced there
    assert table["softbank"]["handed_over"] == 1 and table["softbank"]["bounced"] == 1
    # a message in doubt stays in doubt: the carrier's word decides nothing
    shiro.refresh_from_db()
    assert shiro.state == Delivery.State.IN_DOUBT and shiro.decided_by_id is None


@pytest.mark.parametrize("first", [("4.7.0", "deferred"), ("2.0.0", "sent")])
def test_the_counts_add_up_when_the_relays_dsn_comes_after_the_carriers_word(
        handed_over, tmp_path, first):
    """The log said deferred (the relay retries) or delivered (the carrier took it, then
    returned it, as Japanese carriers do); then the relay's DSN came back and the ledger says
    bounced. Each message is counted in one column."""
    docomo = delivery(handed_over, ADDRESSES[0])
    at, log = timezone.now(), new_log()
    relay_took(log, docomo, at, queue="5EC01", then=[(1, "jp_docomo", *first)])
    track(log.write(tmp_path / "maillog"))
    assert word(docomo) in (AtCarrier.DEFERRED, AtCarrier.DELIVERED)
    (tmp_path / "bounces").mkdir()
    process_maildir(tmp_path / "bounces", dsn_for(docomo))
    docomo.refresh_from_db()
    assert docomo.state == Delivery.State.BOUNCED
    assert_counts_add_up(handed_over)


def test_a_message_in_doubt_stays_in_doubt_whatever_the_carrier_said(three_in_doubt, tmp_path):
    campaign = three_in_doubt[0].campaign
    at, log = timezone.now() - timedelta(minutes=9), new_log()
    for n, d in enumerate(three_in_doubt):
        relay_took(log, d, at, queue=f"5EB0{n}", then=[(1, "smtp", "2.0.0", "sent")])
        esp_event("bounced", d.message_id, mta_response="550 5.1.1 unknown")
    track(log.write(tmp_path / "maillog"))
    for d in three_in_doubt:
        d.refresh_from_db()
        assert (d.state, d.decided_by_id, d.decision) == (Delivery.State.IN_DOUBT, None, "")
    assert_counts_add_up(campaign)


# --- none of it pauses a campaign -----------------------------------------------------------

def test_carrier_deferrals_and_bounces_never_pause_or_change_a_sending_campaign(
        held, sam, tmp_path):
    campaign = workflow.confirm_canary(campaign=held, seen=Seen.current(held), user=sam)
    assert campaign.state == State.SENDING
    sent = list(campaign.deliveries.filter(state=Delivery.State.SENT))
    states = dict(campaign.deliveries.values_list("pk", "state"))
    suppressed = Suppression.objects.count()
    at, log = timezone.now(), new_log()
    for n, d in enumerate(sent):
        outcome = ("5.1.1", "bounced") if n % 3 == 0 else ("4.7.0", "deferred")
        relay_took(log, d, at, queue=f"5FA{n:02d}",
                   then=[(1, "jp_docomo", "4.7.0", "deferred"), (2, "jp_docomo", *outcome)],
                   reply="421 4.7.0 too many connections, slow down")
    track(log.write(tmp_path / "maillog"))
    campaign.refresh_from_db()
    assert campaign.state == State.SENDING
    assert dict(campaign.deliveries.values_list("pk", "state")) == states
    assert Suppression.objects.count() == suppressed
    assert run_until_done(campaign) is not None
    assert campaign.state == State.COMPLETED


def test_a_providers_deferrals_never_pause_or_change_a_sending_campaign(held, sam):
    campaign = workflow.confirm_canary(campaign=held, seen=Seen.current(held), user=sam)
    states = dict(campaign.deliveries.values_list("pk", "state"))
    for n, d in enumerate(campaign.deliveries.filter(state=Delivery.State.SENT)):
        for k in range(3):
            esp_event("deferred", d.message_id, event_id=f"ev-{n}-{k}",
                      mta_response="421 4.7.0 too many connections")
    campaign.refresh_from_db()
    assert campaign.state == State.SENDING
    assert dict(campaign.deliveries.values_list("pk", "state")) == states


def test_only_lines_under_the_configured_syslog_name_are_the_relays(
        handed_over, tmp_path, settings):
    at, log = timezone.now(), new_log()
    docomo = delivery(handed_over, ADDRESSES[0])
    relay_took(log, docomo, at, queue="5FB01", then=[(1, "jp_docomo", "2.0.0", "sent")])
    settings.RELAY_MAILLOG = [str(log.write(tmp_path / "maillog"))]
    settings.RELAY_MAILLOG_ZONE = str(timezone.get_current_timezone())
    settings.RELAY_SYSLOG_NAME = "postfix-out"  # the relay; "postfix" is another instance
    tasks.track_carriers()
    assert word(docomo) == ""


# --- the ledger's filter ----------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    "DOCOMO", "docomo ", " docomo", "", "x" * 5000, "docomo\x00", "' OR '1'='1",
    '"><img src=x onerror=alert(1)>', "%", "_", "docomo%", "ｄｏｃｏｍｏ"])
def test_the_ledgers_carrier_filter_takes_odd_values_safely(handed_over, client, oscar, value):
    client.force_login(oscar)
    response = client.get(reverse("campaigns:ledger", args=[handed_over.pk]),
                          {"carrier": value})
    assert response.status_code == 200
    page = response.content.decode()
    assert "<img src=x" not in page
    rows = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0].count("<tr>")
    assert rows == len(ADDRESSES), rows  # not a group's name: the whole ledger


def test_the_ledgers_carrier_filter_given_twice_or_as_other_is_one_group(
        handed_over, client, oscar):
    client.force_login(oscar)
    url = reverse("campaigns:ledger", args=[handed_over.pk])
    page = client.get(f"{url}?carrier=other").content.decode()
    rows = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert rows.count("<tr>") == 1 and ADDRESSES[3] in rows
    page = client.get(f"{url}?carrier=au&carrier=docomo").content.decode()
    count = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0].count("<tr>")
    assert count == 2  # the last value given: docomo's two


# --- a big log ------------------------------------------------------------------------------

def test_a_huge_log_is_read_in_bounded_time_and_still_finds_each_message(handed_over, tmp_path):
    at, log = timezone.now(), new_log()
    docomo, au, *_ = (delivery(handed_over, a) for a in ADDRESSES)
    relay_took(log, docomo, at, queue="5GA01", then=[(1, "jp_docomo", "2.0.0", "sent")])
    relay_took(log, au, at, queue="5GA02", then=[(1, "jp_au", "4.4.2", "deferred")])
    path = log.write(tmp_path / "maillog")
    zone = timezone.get_current_timezone()
    start = at - timedelta(hours=1)
    with open(path, "a") as handle:
        for n in range(200_000):
            moment = (start + timedelta(milliseconds=20 * n)).astimezone(zone)
            stamp = moment.isoformat(timespec="microseconds")
            queue = f"9{n:09X}"
            handle.write(f"{stamp} relay postfix/smtpd[{3000 + n % 50}]: {queue}: client=mx"
                         f"[192.0.2.{n % 250}]\n{stamp} relay postfix/cleanup[2]: {queue}: "
                         f"message-id=<n{n}@other.example>\n")
        # one long line written by the receiving server's reply, stamps and all
        stamp = at.astimezone(zone).isoformat(timespec="microseconds")
        handle.write(f"{stamp} relay postfix/smtp[5]: 5GA09: to=<a@b>, dsn=4.0.0, "
                     f"status=deferred ({(stamp + 'x') * 2_000})\n")
    started = time.monotonic()
    track(path)
    assert time.monotonic() - started < 60
    assert (word(docomo), word(au)) == (AtCarrier.DELIVERED, AtCarrier.DEFERRED)
