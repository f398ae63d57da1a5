"""What a held roster's members leave behind on the contractor's side, attacked by a
reviewer: a copy of the database could test guesses of their values against each message's
stored SHA-256 (every other byte of a message was derivable from the copy), and a worker
kept the guard's index of a window in memory after a slice that handed the campaign on
(the next slice may run in another process, or never)."""

import hashlib
import json
import time
from email.utils import format_datetime

import pytest

from campaigns import guard_index, key_window, mail, sender, workflow
from campaigns.models import Campaign, Delivery, State
from campaigns.seen import Seen
from countersign import sealing
from roster import data_keys
from roster.samples import sample_rows
from tests.factories import (
    OBSERVER_TICKS,
    SUPERVISOR_TICKS,
    make_campaign,
    make_roster,
    run_until_done,
)

REAL = sample_rows(20)
CANDIDATES = sample_rows(60)  # the attacker's list: the 20 members among 40 who are not


@pytest.fixture(autouse=True)
def _a_fresh_worker_key():
    key_window.forget_process_key()
    guard_index.forget_windowed_values()
    yield
    key_window.forget_process_key()
    guard_index.forget_windowed_values()


def _released(oscar, olivia, sam, association_private_key):
    roster = make_roster(oscar, rows=REAL)
    assert roster.data_key is None  # only the association holds its key
    campaign = make_campaign(olivia, roster, canary_enabled=False)
    workflow.submit(campaign=campaign, user=olivia)
    workflow.test_send(campaign=campaign, user=olivia, member=roster.members.first(),
                       recipients=[sam])
    campaign = workflow.approve(campaign=campaign, seen=Seen.current(campaign), user=sam,
                                checklist=SUPERVISOR_TICKS)
    key_window.publish()
    grant = json.dumps(sealing.make_grant(key_window.request_for(campaign),
                                          association_private_key, made="x")).encode()
    return workflow.release(campaign=campaign, seen=Seen.current(campaign), user=oscar,
                            checklist=OBSERVER_TICKS, grant=grant)


@pytest.mark.django_db(transaction=True)
def test_a_copy_of_the_database_cannot_test_guesses_against_the_messages_sha256(
        oscar, olivia, sam, sink, association_private_key):
    campaign = _released(oscar, olivia, sam, association_private_key)
    run_until_done(campaign)
    campaign.refresh_from_db()
    assert campaign.state == State.COMPLETED
    # The attacker: the copy's rows only, no settings. Every header the copy tells is rebuilt.
    c = Campaign.objects.values("pk", "sender", "subject", "body_text", "body_html",
                                "charset").get(pk=campaign.pk)
    rows = list(Delivery.objects.filter(campaign_id=c["pk"]).values(
        "member_number", "message_id", "claimed_at", "message_sha256"))
    confirmed = []
    for row in rows:
        for _number, name, email, branch in CANDIDATES:
            built = mail.build_message(
                sender=c["sender"], subject=c["subject"], body_text=c["body_text"],
                body_html=c["body_html"], to=email, message_id=row["message_id"],
                date=format_datetime(row["claimed_at"]), charset=c["charset"],
                values={"name": name, "member_number": row["member_number"],
                        "email": email, "支部": branch},
                headers={"X-Countersign-Campaign": str(c["pk"])})
            if hashlib.sha256(built.wire_bytes()).hexdigest() == row["message_sha256"]:
                confirmed.append(row["member_number"])
    assert confirmed == []
    # ... while the SHA-256 of what each member received is still the ledger's.
    received = {hashlib.sha256(raw).hexdigest() for _t, _r, raw in sink.handler.campaign_mail()}
    assert {row["message_sha256"] for row in rows} == received


@pytest.mark.django_db(transaction=True)
def test_a_worker_forgets_the_windows_index_soon_after_a_slice_that_handed_on(
        oscar, olivia, sam, sink, association_private_key, monkeypatch):
    monkeypatch.setattr(sender, "WINDOWED_INDEX_KEPT_SECONDS", 0.2)
    campaign = _released(oscar, olivia, sam, association_private_key)
    assert sender.run(campaign.pk, worker="w1", budget=0.0,
                      sleep=lambda s: None) is sender.Outcome.CONTINUE
    assert data_keys.open_windows() == ()
    assert guard_index._windowed_index.cache_info().currsize == 1  # for the next slice here
    workflow.stop(campaign=Campaign.objects.get(pk=campaign.pk), user=oscar, wait=0)
    deadline = time.monotonic() + 5
    while guard_index._windowed_index.cache_info().currsize and time.monotonic() < deadline:
        time.sleep(0.05)
    assert guard_index._windowed_index.cache_info().currsize == 0  # no slice came back


def test_a_slice_that_begins_in_time_keeps_the_index():
    guard_index.forget_windowed_values_after(0.2)
    guard_index.keep_windowed_values()  # what run() does first
    assert guard_index._later["timer"] is None


def test_a_copy_of_the_database_holds_no_members_value_lengths(oscar, association_private_key):
    """The guard's tags of a held roster say which member a tag is of (to name them in a
    refusal) but not how long their name or address is: the lengths (which windows of a
    text to tag) are kept per roster and kind, with no member."""
    from roster.models import GuardTag, GuardTagLength

    roster = make_roster(oscar, rows=REAL)
    assert roster.data_key is None
    tag_fields = {field.name for field in GuardTag._meta.get_fields()}
    assert "length" not in tag_fields
    kept = set(GuardTagLength.objects.filter(roster=roster).values_list("kind", "length"))
    assert {("email", len(email)) for _n, _name, email, _b in REAL} <= kept
    assert [f.name for f in GuardTagLength._meta.get_fields()] == [
        "id", "roster", "kind", "length", "keep_until"]  # no member number, no tag
