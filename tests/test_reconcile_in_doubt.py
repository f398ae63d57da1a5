"""Messages in doubt settled from evidence: reconcile_in_doubt reads the relay's mail log and
shows the signer whether the relay took each message; the decision stays a person's, and its
audit entry keeps the evidence that was shown."""

import io
import os
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from campaigns import log_stamps, workflow
from campaigns.models import Delivery
from campaigns.seen import Seen
from tests.factories import client_for
from tests.returned_mail import RelayLog, postfix_log, reconcile

pytestmark = pytest.mark.usefixtures("sink")


def test_without_a_zone_the_log_is_read_in_this_machines_zone_not_in_time_zone(
        three_in_doubt, tmp_path):
    """A relay started by the system logs in /etc/localtime's zone. This process's local
    time is TIME_ZONE (Django sets TZ to it), so reading the log in that zone put every line
    hours off: on a UTC machine every message in doubt came out "not covered"."""
    taken, _cut, _absent = three_in_doubt
    path = postfix_log(tmp_path, accepted=[taken], zone=log_stamps.machine_zone())
    out = io.StringIO()
    call_command("reconcile_in_doubt", maillog=[str(path)], stdout=out)
    assert "accepted by the relay: 1; no trace: 2; not covered by the log: 0" in out.getvalue()


def test_the_machines_zone_comes_from_etc_localtime_whatever_tz_this_process_has(tmp_path):
    localtime = tmp_path / "localtime"
    localtime.symlink_to("/usr/share/zoneinfo/America/New_York")
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Pacific/Chatham"
    time.tzset()
    try:
        zone = log_stamps.machine_zone(localtime)
    finally:
        os.environ.pop("TZ") if before is None else os.environ.update(TZ=before)
        time.tzset()
    assert str(zone) == "America/New_York"
    assert datetime(2026, 1, 15, 12, tzinfo=zone).utcoffset() == timedelta(hours=-5)
    assert log_stamps.machine_zone(tmp_path / "absent") is UTC


def test_a_message_the_relay_queued_is_shown_as_accepted_with_its_queue_id(three_in_doubt,
                                                                           tmp_path):
    taken, cut, _absent = three_in_doubt
    out = reconcile(postfix_log(tmp_path, accepted=[taken], cut_off=[cut]))
    assert "in doubt: 3; accepted by the relay: 1; no trace: 2" in out
    for delivery in three_in_doubt:
        delivery.refresh_from_db()
        assert delivery.state == Delivery.State.IN_DOUBT  # evidence, not a decision
    assert taken.relay_evidence["accepted"] is True
    assert taken.relay_evidence["queue_id"] == "4B000EA2000"
    assert taken.relay_evidence["source"] == "postfix log" and taken.relay_evidence["at"]


def test_a_message_cut_off_during_data_is_not_taken_for_accepted(three_in_doubt, tmp_path):
    """cleanup logs the Message-ID while the data still arrives: only the queue proves it."""
    _taken, cut, _absent = three_in_doubt
    reconcile(postfix_log(tmp_path, cut_off=[cut]))
    cut.refresh_from_db()
    assert cut.relay_evidence["accepted"] is False
    assert cut.relay_evidence["reason"] == "not_queued"


def test_a_log_that_starts_after_the_claim_cannot_say_no_trace(three_in_doubt, tmp_path):
    later = timezone.now() + timedelta(minutes=30)
    out = reconcile(postfix_log(tmp_path, start=later))
    assert "not covered by the log: 3" in out
    three_in_doubt[0].refresh_from_db()
    assert three_in_doubt[0].relay_evidence["accepted"] is None


def test_an_exim_log_line_is_evidence_too(three_in_doubt, tmp_path):
    taken = three_in_doubt[0]
    at = taken.claimed_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    path = tmp_path / "mainlog"
    path.write_text(f"{at} 1vXyZa-000123-AB <= {RelayLog.sender(taken)} H=localhost "
                    f"[127.0.0.1] P=esmtp S=2048 id={taken.message_id.strip('<>')}\n")
    reconcile(path)
    taken.refresh_from_db()
    assert taken.relay_evidence["accepted"] is True
    assert taken.relay_evidence["queue_id"] == "1vXyZa-000123-AB"


def test_each_run_is_audited_per_campaign_with_counts_only(three_in_doubt, tmp_path, held):
    reconcile(postfix_log(tmp_path, accepted=three_in_doubt[:1]))
    entry = AuditEntry.objects.get(action="campaign.in_doubt_reconciled")
    assert entry.object_id == str(held.pk)
    assert entry.payload == {"checked": 3, "accepted": 1, "no_trace": 2, "not_covered": 0,
                             "corrected": 0, "source": "postfix log"}


def test_the_signer_sees_the_evidence_beside_the_buttons(three_in_doubt, tmp_path, held, sam):
    taken, cut, _absent = three_in_doubt
    reconcile(postfix_log(tmp_path, accepted=[taken], cut_off=[cut]))
    page = client_for(sam).get(reverse("campaigns:detail", args=[held.pk]),
                               HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert page.count('data-evidence="accepted"') == 1
    assert page.count('data-evidence="no_trace"') == 2
    assert "Accepted by the relay at" in page and "4B000EA2000" in page
    assert "No trace in the relay&#x27;s records" in page or "No trace in the relay's" in page


def test_a_message_not_checked_yet_says_so(three_in_doubt, held, sam):
    page = client_for(sam).get(reverse("campaigns:detail", args=[held.pk]),
                               HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert page.count('data-evidence="unchecked"') == 3


def test_the_decision_is_audited_with_the_evidence_that_was_shown(three_in_doubt, tmp_path,
                                                                  sam):
    taken = three_in_doubt[0]
    reconcile(postfix_log(tmp_path, accepted=[taken]))
    taken.refresh_from_db()
    workflow.decide(delivery=taken, seen=Seen.current(taken), user=sam, decision="skip")
    entry = AuditEntry.objects.filter(action="campaign.delivery_decided").get()
    assert entry.payload["decision"] == "skip"
    assert entry.payload["relay_evidence"] == taken.relay_evidence
    assert entry.payload["relay_evidence"]["accepted"] is True


def test_reconcile_refuses_a_missing_log(db, tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no such file"):
        call_command("reconcile_in_doubt", maillog=[str(tmp_path / "nope")])


def test_a_resent_message_does_not_keep_the_old_messages_evidence(three_in_doubt, tmp_path,
                                                                   sam):
    taken = three_in_doubt[0]
    reconcile(postfix_log(tmp_path, accepted=[taken]))
    taken.refresh_from_db()
    workflow.decide(delivery=taken, seen=Seen.current(taken), user=sam, decision="resend")
    taken.refresh_from_db()
    assert taken.state == Delivery.State.PENDING and taken.relay_evidence == {}
    entry = AuditEntry.objects.filter(action="campaign.delivery_decided").get()
    assert entry.payload["relay_evidence"]["accepted"] is True  # what the person saw
