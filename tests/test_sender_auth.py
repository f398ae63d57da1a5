"""Sender authentication before release (issue 23, item 3): SPF, DKIM and DMARC of the From
and bounce domains, read from a real DNS server on loopback (dnsmasq, tests/dns_zone.py),
shown to supervisor and observer; a hard failure refuses the release until it is fixed or
the observer overrides it in writing, and the audit log keeps both."""

import re

import dkim
import pytest
from django.core.cache import cache
from django.urls import reverse

from audit.models import AuditEntry
from campaigns import dkim_probe, sender_auth, workflow
from campaigns.models import State
from campaigns.seen import Seen
from tests import dns_zone
from tests.factories import (
    OBSERVER_TICKS,
    SUPERVISOR_TICKS,
    client_for,
    make_campaign,
)

pytestmark = pytest.mark.skipif(not dns_zone.available(),
                                reason="dnsmasq is not installed (apt-get install dnsmasq-base)")


@pytest.fixture(scope="module")
def zone(tmp_path_factory):
    served = dns_zone.start(tmp_path_factory.mktemp("dns"))
    yield served
    served.stop()


@pytest.fixture
def checks_on(settings, zone):
    settings.SENDER_CHECK = True
    settings.SENDER_CHECK_NAMESERVERS = ["127.0.0.1"]
    settings.SENDER_CHECK_PORT = zone.port
    settings.SENDER_CHECK_TIMEOUT = 2
    settings.RELAY_ADDRESSES = [dns_zone.RELAY]
    settings.DKIM_SELECTOR = dns_zone.SELECTOR
    settings.DKIM_KEY_SHA256 = zone.relay_key_sha256
    settings.CAMPAIGN_SENDERS = [f"会員サポート <members@{d}.test>" for d in (
        "good", "nospf", "wrongkey", "unaligned", "outside", "otherrelay", "nowhere")]
    cache.clear()
    yield settings
    cache.clear()


def sender_of(settings, domain: str, bounce: str = "") -> str:
    settings.BOUNCE_DOMAIN = bounce or f"bounces.{domain}"
    return f"会員サポート <members@{domain}>"


def statuses(report) -> dict[str, str]:
    return {f"{r.check}:{r.params.get('domain') or r.params.get('name') or ''}": r.status
            for r in report.results}


def test_a_correct_zone_passes_every_check(checks_on):
    report = sender_auth.check(sender_of(checks_on, "good.test"))
    assert report.failures == []
    assert [r.status for r in report.results] == ["pass"] * len(report.results)
    assert {r.check for r in report.results} == {"mx", "spf", "dkim", "dmarc", "bounce_domain"}
    words = [r.message for r in report.results]
    assert f"SPF of good.test allows the relay {dns_zone.RELAY}: v=spf1 ip4:" in words[1]
    assert any(w.startswith("DKIM key at cs2026._domainkey.good.test: 2048-bit rsa")
               for w in words)
    assert "DMARC policy of good.test: p=reject, aligned by SPF + DKIM." in words


@pytest.mark.parametrize(("domain", "bounce", "failures"), [
    ("nospf.test", "", ["spf_none", "spf_none"]),
    ("wrongkey.test", "", ["dkim_other_key"]),
    ("unaligned.test", dns_zone.BOUNCE_ELSEWHERE, ["dkim_none", "bounce_outside",
                                                   "dmarc_unaligned"]),
    ("outside.test", dns_zone.BOUNCE_ELSEWHERE, ["bounce_outside"]),
    ("otherrelay.test", "", ["spf_denies", "spf_denies"]),
    ("nowhere.test", "bounces.nowhere.test", ["mx_none", "spf_none", "mx_none", "spf_none",
                                              "dkim_none", "dmarc_none"]),
])
def test_a_broken_zone_names_each_failure(checks_on, domain, bounce, failures):
    report = sender_auth.check(sender_of(checks_on, domain, bounce))
    assert [r.code for r in report.failures] == failures
    for failure in report.failures:
        assert domain in failure.message or (bounce and bounce in failure.message), \
            failure.message


def test_the_failures_say_what_receivers_will_do(checks_on):
    words = " ".join(r.message for r in sender_auth.check(
        sender_of(checks_on, "unaligned.test", dns_zone.BOUNCE_ELSEWHERE)).failures)
    assert "No DKIM key at cs2026._domainkey.unaligned.test" in words
    assert ("DMARC policy of unaligned.test is p=reject, and neither SPF (the bounce domain "
            "bounces.elsewhere.test) nor DKIM aligns with unaligned.test: receivers will "
            "reject this mail.") in words
    assert "lies outside unaligned.test, the From domain's organisational domain" in words


def test_without_a_relay_address_or_selector_spf_and_dkim_are_warnings_not_passes(checks_on):
    checks_on.RELAY_ADDRESSES, checks_on.DKIM_SELECTOR = [], ""
    report = sender_auth.check(sender_of(checks_on, "good.test"))
    by_code = {r.code: r.status for r in report.results}
    assert by_code["spf_unchecked"] == "warn" and by_code["dkim_unchecked"] == "warn"
    assert by_code["dmarc_guessed"] == "warn"  # aligned by SPF only if SPF allows the relay
    assert report.failures == []  # SPF published and aligned: DMARC still passes


def test_a_dead_resolver_is_a_failure_that_names_the_lookup(checks_on):
    checks_on.SENDER_CHECK_PORT, checks_on.SENDER_CHECK_TIMEOUT = 9, 0.3  # nothing answers
    report = sender_auth.check(sender_of(checks_on, "good.test"))
    assert report.failures and {r.code for r in report.failures} == {"dns_error"}
    assert "could not be looked up" in report.failures[0].message


def test_the_organisational_domain_follows_the_public_suffix_list():
    assert sender_auth.organisational_domain("mail.kyosai.or.jp") == "kyosai.or.jp"
    assert sender_auth.organisational_domain("bounces.example.co.jp") == "example.co.jp"
    assert sender_auth.organisational_domain("a.b.example.com") == "example.com"


# --- the release: refused until fixed or overridden in writing -----------------------------------

def approved_from(settings, olivia, sam, roster, domain, bounce=""):
    campaign = make_campaign(olivia, roster, sender=sender_of(settings, domain, bounce))
    workflow.submit(campaign=campaign, user=olivia)
    workflow.test_send(campaign=campaign, user=olivia, member=roster.members.first(),
                       recipients=[sam])
    return workflow.approve(campaign=campaign, seen=Seen.current(campaign), user=sam,
                            checklist=SUPERVISOR_TICKS)


def test_a_hard_failure_refuses_the_release_and_the_refusal_is_audited(
        checks_on, olivia, sam, oscar, roster, sink):
    campaign = approved_from(checks_on, olivia, sam, roster, "unaligned.test",
                             dns_zone.BOUNCE_ELSEWHERE)
    with pytest.raises(workflow.IncompleteSignOff, match="Receivers would not believe"):
        workflow.release(campaign=campaign, seen=Seen.current(campaign), user=oscar,
                         checklist=OBSERVER_TICKS)
    campaign.refresh_from_db()
    assert campaign.state == State.APPROVED
    entry = AuditEntry.objects.get(action="campaign.refused", payload__code="sender_auth")
    assert entry.payload["sender_check"]["failed_checks"] == ["dkim_none", "bounce_outside",
                                                         "dmarc_unaligned"]
    assert sink.handler.campaign_mail() == []


def test_blank_override_is_no_override_and_a_written_one_releases(
        checks_on, olivia, sam, oscar, roster):
    campaign = approved_from(checks_on, olivia, sam, roster, "wrongkey.test")
    with pytest.raises(workflow.IncompleteSignOff, match="not the relay's key"):
        workflow.release(campaign=campaign, seen=Seen.current(campaign), user=oscar,
                         checklist=OBSERVER_TICKS, override="   ")
    reason = "DKIM 鍵は本日 17 時に差し替え済み（DNS の反映待ち）"
    with pytest.raises(workflow.IncompleteSignOff, match="not the relay's key"):
        # a reason not written for the failure found (a script that read no page)
        workflow.release(campaign=campaign, seen=Seen.current(campaign), user=oscar,
                         checklist=OBSERVER_TICKS, override=reason)
    shown = dkim_probe.report_for(campaign).failure_keys
    assert shown == ["dkim_other_key:cs2026._domainkey.wrongkey.test"]
    released = workflow.release(campaign=campaign, seen=Seen.current(campaign), user=oscar,
                                checklist=OBSERVER_TICKS, override=reason, overridden=shown)
    assert released.state == State.RELEASED
    entry = AuditEntry.objects.get(action="campaign.released")
    assert entry.payload["sender_check_overridden"] == reason
    assert entry.payload["sender_check"]["failed_checks"] == ["dkim_other_key"]
    assert entry.actor == oscar


def test_a_reason_naming_a_member_is_refused_like_a_comment(checks_on, olivia, sam, oscar,
                                                            roster):
    """The reason is kept in the audit log for good: it names members by number only."""
    from roster import member_data

    campaign = approved_from(checks_on, olivia, sam, roster, "wrongkey.test")
    email = member_data.values(roster.members.first()).email
    with pytest.raises(workflow.IncompleteSignOff, match="carries a member's data"):
        workflow.release(campaign=campaign, seen=Seen.current(campaign), user=oscar,
                         checklist=OBSERVER_TICKS, override=f"{email} の迷惑判定は承知",
                         overridden=dkim_probe.report_for(campaign).failure_keys)
    assert not AuditEntry.objects.filter(action="campaign.released").exists()
    assert email not in str(list(AuditEntry.objects.values_list("payload", flat=True)))


def test_a_correct_zone_releases_without_an_override_and_records_the_checks(
        checks_on, olivia, sam, oscar, roster):
    campaign = approved_from(checks_on, olivia, sam, roster, "good.test")
    workflow.release(campaign=campaign, seen=Seen.current(campaign), user=oscar,
                     checklist=OBSERVER_TICKS, override="ignored: nothing failed")
    entry = AuditEntry.objects.get(action="campaign.released")
    assert entry.payload["sender_check"]["failed_checks"] == []
    assert entry.payload["sender_check_overridden"] == ""


def test_the_release_reads_dns_again_rather_than_the_pages_copy(
        checks_on, olivia, sam, oscar, roster):
    """The page keeps a report for a few minutes; the release must not sign off a stale one."""
    campaign = approved_from(checks_on, olivia, sam, roster, "good.test")
    sender_auth.cached_check(campaign.sender)  # the page, while DNS was right
    checks_on.DKIM_KEY_SHA256 = "0" * 64  # the relay rotated its key since
    with pytest.raises(workflow.IncompleteSignOff, match="not the relay's key"):
        workflow.release(campaign=campaign, seen=Seen.current(campaign), user=oscar,
                         checklist=OBSERVER_TICKS)


def test_the_signers_see_the_checks_and_only_the_observer_gets_the_override(
        checks_on, olivia, sam, oscar, roster):
    campaign = approved_from(checks_on, olivia, sam, roster, "unaligned.test",
                             dns_zone.BOUNCE_ELSEWHERE)
    review = client_for(sam).get(reverse("campaigns:review", args=[campaign.pk]),
                                 HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'id="sender-check"' in review and 'data-status="fail"' in review
    assert "No DKIM key at cs2026._domainkey.unaligned.test" in review
    assert 'id="sender-check-override"' not in review
    url = reverse("campaigns:release", args=[campaign.pk])
    page = client_for(oscar).get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'id="sender-check-override"' in page
    ja = client_for(oscar).get(url, HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "DKIM 鍵がありません" in ja
    post = {**dict(re.findall(r'<input type="hidden" name="((?:seen|sender)_[^"]+)" '
                              r'value="([^"]*)"', page)),
            "checklist": OBSERVER_TICKS, "comment": "", "release": "1"}
    assert post["sender_failures_seen"].split() == [
        "dkim_none:cs2026._domainkey.unaligned.test", "bounce_outside:bounces.elsewhere.test",
        "dmarc_unaligned:unaligned.test"]
    client_for(oscar).post(url, post)
    campaign.refresh_from_db()
    assert campaign.state == State.APPROVED
    client_for(oscar).post(url, {**post, "override": "宛先は会員のみ、迷惑メール判定を承知"})
    campaign.refresh_from_db()
    assert campaign.state == State.RELEASED


def test_with_the_check_off_nothing_is_looked_up(settings, olivia, sam, oscar, roster,
                                                monkeypatch):
    settings.SENDER_CHECK = False
    monkeypatch.setattr(sender_auth, "check", lambda sender: pytest.fail("looked up"))
    campaign = approved_from(settings, olivia, sam, roster, "association.example")
    workflow.release(campaign=campaign, seen=Seen.current(campaign), user=oscar,
                     checklist=OBSERVER_TICKS)
    assert AuditEntry.objects.get(action="campaign.released").payload["sender_check"] is None


# --- what the relay signed verifies against the key in DNS ---------------------------------------

def signed(zone, key_path, domain="good.test") -> bytes:
    message = (b"From: =?utf-8?b?5Lya5ZOh?= <members@" + domain.encode() + b">\r\n"
               b"To: member1@countersign.test\r\nSubject: test\r\n"
               b"Message-ID: <1@countersign.test>\r\n\r\nhello\r\n")
    signature = dkim.sign(message, dns_zone.SELECTOR.encode(), domain.encode(),
                          key_path.read_bytes(), include_headers=[b"from", b"to", b"subject"])
    return signature + message


def test_a_signature_by_the_relays_key_verifies_and_by_another_key_does_not(
        checks_on, zone, tmp_path):
    assert sender_auth.verify_signature(signed(zone, zone.relay_key))
    other = tmp_path / "rotated.private"
    dns_zone.make_key(other)
    assert not sender_auth.verify_signature(signed(zone, other))
    assert not sender_auth.verify_signature(signed(zone, zone.relay_key, "wrongkey.test"))
    assert not sender_auth.verify_signature(b"From: a@good.test\r\n\r\nunsigned\r\n")


# --- the probe a test send takes along: what the relay really signs ------------------------------

def sent_probe(campaign, author, supervisor, sink) -> bytes:
    """A test send of `campaign`; the probe it took along, as the relay received it."""
    before = len(sink.handler.received)
    workflow.test_send(campaign=campaign, user=author, member=campaign.roster.members.first(),
                       recipients=[supervisor])
    probes = [raw for _t, to, raw in sink.handler.received[before:]
              if to.startswith("signcheck+")]
    assert len(probes) == 1, "no probe went with the test send"
    return probes[0]


def signed_by(raw: bytes, key_path, domain: str) -> bytes:
    """The probe as the bounce mailbox gets it from a relay that signed it with `key_path`."""
    return dkim.sign(raw, dns_zone.SELECTOR.encode(), domain.encode(), key_path.read_bytes(),
                     include_headers=[b"from", b"to", b"subject"]) + raw


def test_a_test_send_takes_a_probe_with_no_member_data_along(
        checks_on, olivia, sam, roster, sink):

    from roster import member_data

    campaign = make_campaign(olivia, roster, sender=sender_of(checks_on, "good.test"))
    workflow.submit(campaign=campaign, user=olivia)
    member = roster.members.first()
    probe = sent_probe(campaign, olivia, sam, sink)
    to = next(to for _t, to, _raw in sink.handler.received if to.startswith("signcheck+"))
    nonce = AuditEntry.objects.get(action="campaign.test_sent").payload["signature_probe"]
    assert dkim_probe.named_by(to) == (campaign.pk, nonce)
    values = member_data.values(member)
    for value in (values.name, values.email, member.member_number):
        assert value.encode() not in probe
    assert campaign.test_sends.filter(recipients=sam).exists()


def test_no_probe_without_a_selector_to_verify_against(checks_on, olivia, sam, roster, sink):
    checks_on.DKIM_SELECTOR = ""
    campaign = make_campaign(olivia, roster, sender=sender_of(checks_on, "good.test"))
    workflow.test_send(campaign=campaign, user=olivia, member=roster.members.first(),
                       recipients=[sam])
    assert not [to for _t, to, _raw in sink.handler.received if to.startswith("signcheck+")]


def test_a_probe_signed_by_the_relays_key_passes_and_the_outcome_is_audited(
        checks_on, zone, olivia, sam, roster, sink):
    from campaigns import bounces

    campaign = make_campaign(olivia, roster, sender=sender_of(checks_on, "good.test"))
    last = dkim_probe.report_for(campaign).results[-1]
    assert (last.code, last.status) == ("signature_unseen", "warn")
    raw = signed_by(sent_probe(campaign, olivia, sam, sink), zone.relay_key, "good.test")
    assert bounces.process_mail(raw, source="dsn:maildir") is bounces.Result.PROBE
    entry = AuditEntry.objects.get(action="campaign.signature_checked")
    nonce = AuditEntry.objects.get(action="campaign.test_sent").payload["signature_probe"]
    assert entry.payload == {"nonce": nonce, "signed": True, "verified": True,
                             "signing_domain": "good.test", "selector": dns_zone.SELECTOR,
                             "from_domain": "good.test"}
    last = dkim_probe.report_for(campaign).results[-1]
    assert (last.code, last.status) == ("signature", "pass")
    assert bounces.process_mail(raw) is bounces.Result.DUPLICATE  # read once


@pytest.mark.parametrize(("how", "code"), [("other key", "signature_failed"),
                                           ("another domain", "signature_failed"),
                                           ("unsigned", "signature_unsigned")])
def test_a_probe_that_does_not_verify_refuses_the_release(
        checks_on, zone, olivia, sam, oscar, roster, tmp_path, sink, how, code):
    from campaigns import bounces

    campaign = approved_from(checks_on, olivia, sam, roster, "good.test")
    raw = [raw for _t, to, raw in sink.handler.received if to.startswith("signcheck+")][-1]
    if how == "other key":
        rotated = tmp_path / "rotated.private"
        dns_zone.make_key(rotated)
        raw = signed_by(raw, rotated, "good.test")
    elif how == "another domain":  # verifies, but for outside.test: not aligned with good.test
        raw = signed_by(raw, zone.relay_key, "outside.test")
    assert bounces.process_mail(raw) is bounces.Result.PROBE
    assert dkim_probe.report_for(campaign).results[-1].code == code
    with pytest.raises(workflow.IncompleteSignOff, match="Receivers would not believe"):
        workflow.release(campaign=campaign, seen=Seen.current(campaign), user=oscar,
                         checklist=OBSERVER_TICKS)


def test_a_forged_probe_address_changes_nothing(checks_on, zone, olivia, sam, roster, sink):
    from campaigns import bounces

    campaign = make_campaign(olivia, roster, sender=sender_of(checks_on, "good.test"))
    raw = signed_by(sent_probe(campaign, olivia, sam, sink), zone.relay_key, "good.test")
    forged = re.sub(rb"signcheck\+(\d+)-([0-9a-f]{8})-[0-9a-f]{16}",
                    rb"signcheck+\1-\2-0123456789abcdef", raw)
    assert forged != raw
    assert bounces.process_mail(forged) is not bounces.Result.PROBE
    assert not AuditEntry.objects.filter(action="campaign.signature_checked").exists()


def test_the_check_sender_command_prints_each_check_and_fails_on_a_broken_zone(checks_on):
    import io

    from django.core.management import CommandError, call_command

    out = io.StringIO()
    call_command("check_sender", "members@good.test", bounce_domain="bounces.good.test",
                 stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[-1] == "no check failed (7 read)" and lines[0].startswith("pass  mx ")
    out = io.StringIO()
    with pytest.raises(CommandError, match="3 of 7 checks failed"):
        call_command("check_sender", "members@unaligned.test",
                     bounce_domain=dns_zone.BOUNCE_ELSEWHERE, stdout=out)
    assert "fail  dmarc" in out.getvalue() and "fail  bounce_domain" in out.getvalue()
