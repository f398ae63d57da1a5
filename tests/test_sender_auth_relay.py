"""What the relay really signs (issue 23, item 3), through a real Postfix that signs with
Debian's OpenDKIM (.ci/postfix.sh, its second port) and a real DNS server (dnsmasq) that
publishes the relay's key for good.test and another key for wrongkey.test: a test send
takes a probe along, the probe lands in the bounce Maildir, process_bounces verifies the
signature the relay added, and the release follows what it found. Marked `mta`."""

import io
import shutil
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.management import call_command

from audit.models import AuditEntry
from campaigns import dkim_probe, workflow
from campaigns.models import State
from campaigns.seen import Seen
from tests import dns_zone
from tests.factories import OBSERVER_TICKS, SUPERVISOR_TICKS, make_campaign, wait_until
from tests.test_mta_postfix import PORT, ROOT, _postfix_running, postfix  # noqa: F401

pytestmark = [pytest.mark.mta, pytest.mark.skipif(
    not (dns_zone.available() and (shutil.which("opendkim") or Path("/usr/sbin/opendkim")
                                   .exists())),
    reason="dnsmasq or OpenDKIM is not installed (apt-get install dnsmasq-base opendkim)")]


@pytest.fixture(scope="module")
def relay_zone(_postfix_running, tmp_path_factory):  # noqa: F811
    """The zone, publishing the key the Postfix's OpenDKIM signs with."""
    served = dns_zone.start(tmp_path_factory.mktemp("dns"), relay_key=ROOT / "dkim" /
                            "relay.private")
    yield served
    served.stop()


@pytest.fixture
def signing_relay(postfix, relay_zone, settings):  # noqa: F811
    settings.EMAIL_PORT = PORT + 1  # the port whose mail OpenDKIM signs
    settings.SENDER_CHECK = True
    settings.SENDER_CHECK_NAMESERVERS, settings.SENDER_CHECK_PORT = ["127.0.0.1"], relay_zone.port
    settings.RELAY_ADDRESSES = [dns_zone.RELAY]
    settings.DKIM_SELECTOR, settings.DKIM_KEY_SHA256 = dns_zone.SELECTOR, ""
    settings.CAMPAIGN_SENDERS = ["会員サポート <members@good.test>",
                                 "会員サポート <members@wrongkey.test>"]
    cache.clear()
    yield postfix
    cache.clear()


def probe_read_back(relay, campaign, olivia, sam) -> str:
    """A test send through the signing relay; process_bounces reads the probe back."""
    workflow.submit(campaign=campaign, user=olivia)
    workflow.test_send(campaign=campaign, user=olivia, member=campaign.roster.members.first(),
                       recipients=[sam])
    wait_until(lambda: relay.mails("bounces"), timeout=30, what="the probe in the Maildir")
    received = relay.mails("bounces")[0].read_bytes()
    assert b"DKIM-Signature:" in received and b"s=" + dns_zone.SELECTOR.encode() in received
    out = io.StringIO()
    call_command("process_bounces", maildir=str(relay.maildir("bounces")), stdout=out)
    return out.getvalue()


def test_the_relays_signature_on_the_probe_verifies_against_the_published_key(
        signing_relay, olivia, sam, oscar, roster):
    campaign = make_campaign(olivia, roster, sender="会員サポート <members@good.test>")
    assert "1 DKIM probes checked" in probe_read_back(signing_relay, campaign, olivia, sam)
    entry = AuditEntry.objects.get(action="campaign.signature_checked")
    assert entry.payload["verified"] and entry.payload["signing_domain"] == "good.test"
    signature = dkim_probe.report_for(campaign).results[-1]
    assert (signature.code, signature.status) == ("signature", "pass")
    workflow.approve(campaign=campaign, seen=Seen.current(campaign), user=sam,
                     checklist=SUPERVISOR_TICKS)
    # bounces.countersign.test (the relay's bounce domain) is not good.test's: overridden.
    released = workflow.release(campaign=campaign, seen=Seen.current(campaign), user=oscar,
                                checklist=OBSERVER_TICKS, override="test relay's domain",
                                overridden=dkim_probe.report_for(campaign).failure_keys)
    assert released.state == State.RELEASED
    kept = AuditEntry.objects.get(action="campaign.released").payload["sender_check"]
    assert "bounce_outside" in kept["failed_checks"]
    assert "signature_failed" not in kept["failed_checks"]


def test_a_key_in_dns_that_is_not_the_relays_fails_the_probe_and_the_release(
        signing_relay, olivia, sam, oscar, roster):
    campaign = make_campaign(olivia, roster, sender="会員サポート <members@wrongkey.test>")
    probe_read_back(signing_relay, campaign, olivia, sam)
    entry = AuditEntry.objects.get(action="campaign.signature_checked")
    assert entry.payload["signed"] and not entry.payload["verified"]
    signature = dkim_probe.report_for(campaign).results[-1]
    assert (signature.code, signature.status) == ("signature_failed", "fail")
    workflow.approve(campaign=campaign, seen=Seen.current(campaign), user=sam,
                     checklist=SUPERVISOR_TICKS)
    with pytest.raises(workflow.IncompleteSignOff, match="did not verify"):
        workflow.release(campaign=campaign, seen=Seen.current(campaign), user=oscar,
                         checklist=OBSERVER_TICKS)
