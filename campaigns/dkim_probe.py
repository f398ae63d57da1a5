"""What the relay really signs: the probe a test send takes along (issue 23, item 3).

A key in DNS says nothing about the key the relay signs with today. So each test send also
hands the relay a probe: a short message with no member data, From the campaign's sender,
to an address of the bounce domain that names the campaign and a one-time nonce under an
HMAC (`signcheck+<campaign>-<nonce>-<tag>@BOUNCE_DOMAIN`). process_bounces reads it back
from the bounce mailbox (campaigns.bounces), and `record` verifies the DKIM signature the
relay added against the key in DNS, aligned with the From domain as DMARC aligns it
(relaxed unless adkim=s), and audits the outcome once per nonce: a replayed probe changes
nothing. `result` is what the pages and the release read: the probe of the latest test
send, for the sender the campaign has now.
"""

from __future__ import annotations

import secrets
from email import message_from_bytes

import dns.exception
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

import audit
from audit.models import AuditEntry
from campaigns import mail, sender_auth
from campaigns.actions import Action
from campaigns.models import Campaign
from campaigns.sender_auth import FAIL, PASS, WARN, Result
from countersign.signing import signed_by_a_current_key

SUBJECT = "Countersign: DKIM probe"
NONCE_LENGTH = 8
TAG_LENGTH = 16
CHECKED, DUPLICATE, LATER = "checked", "duplicate", "later"



def probing() -> bool:
    return bool(settings.SENDER_CHECK and settings.BOUNCE_DOMAIN and settings.DKIM_SELECTOR)


def _tag(campaign_id: int, nonce: str, secret: str | None = None) -> str:
    return salted_hmac("countersign.dkim_probe", f"{campaign_id}-{nonce}", secret=secret,
                       algorithm="sha256").hexdigest()[:TAG_LENGTH]


def address(campaign_id: int, nonce: str) -> str:
    domain = sender_auth.ascii_domain(settings.BOUNCE_DOMAIN)
    return f"signcheck+{campaign_id}-{nonce}-{_tag(campaign_id, nonce)}@{domain}"


def named_by(value: str) -> tuple[int, str] | None:
    """(campaign id, nonce) of a probe address, if its domain and hmac verify; else None."""
    local, _at, domain = value.strip().strip("<>").rpartition("@")
    prefix, _plus, rest = local.partition("+")
    parts = rest.split("-")
    if prefix.lower() != "signcheck" or len(parts) != 3 or not settings.BOUNCE_DOMAIN:
        return None
    if sender_auth.ascii_domain(domain) != sender_auth.ascii_domain(settings.BOUNCE_DOMAIN):
        return None
    campaign_id, nonce, tag = parts
    if not (campaign_id.isdigit() and len(campaign_id) <= 18 and len(nonce) == NONCE_LENGTH
            and len(tag) == TAG_LENGTH):
        return None
    nonce, tag = nonce.lower(), tag.lower()
    if signed_by_a_current_key(tag, lambda key: _tag(int(campaign_id), nonce, key)):
        return int(campaign_id), nonce
    return None


def message(campaign):
    """(the probe, its nonce) for a test send of `campaign`; None when nothing would verify
    it (the checks off, no bounce domain to read it back, no selector)."""
    if not probing():
        return None
    nonce = secrets.token_hex(NONCE_LENGTH // 2)
    probe = mail.build_message(
        sender=campaign.sender, subject=f"{SUBJECT} {campaign.pk}", body_html="",
        body_text="This message checks the DKIM signature the relay adds for this sender. "
                  "It carries no member data.\n", values={},
        to=address(campaign.pk, nonce), headers={"X-Countersign-Probe": str(campaign.pk)})
    return probe, nonce


def _signature_tags(raw: bytes) -> dict[str, str]:
    header = message_from_bytes(raw).get("DKIM-Signature", "")
    return {k.strip(): "".join(v.split()) for k, _eq, v in
            (part.partition("=") for part in str(header).split(";")) if k.strip()}


def _verified(raw: bytes, tags: dict, domain: str) -> tuple[bool, str]:
    """(verified and aligned, why not). DNS that does not answer raises: not known yet."""
    signer = sender_auth.ascii_domain(tags.get("d", ""))
    lookup = sender_auth.Lookup()
    policy, _inherited = sender_auth.dmarc_policy(lookup, domain)
    strict = bool(policy) and policy[0].get("adkim") == "s"
    aligned = signer == domain or (not strict and sender_auth.organisational_domain(
        signer) == sender_auth.organisational_domain(domain))
    if not tags or not aligned:
        return False, "" if not tags else "not aligned"
    try:
        return sender_auth.verify_signature(raw, lookup), ""
    except (dns.exception.DNSException, sender_auth.OutOfTime):
        raise
    except Exception as error:  # noqa: BLE001 - a key record dkimpy cannot parse: not verified
        return False, type(error).__name__


def record(campaign, nonce: str, raw: bytes) -> str:
    """A probe came back: verify, audit (CHECKED), or not again (DUPLICATE), or not now
    (LATER: DNS did not answer; the mail stays for the next run)."""
    domain = sender_auth.domain_of(campaign.sender)
    tags = _signature_tags(raw)
    try:
        verified, why = _verified(raw, tags, domain)
    except (dns.exception.DNSException, sender_auth.OutOfTime):
        return LATER
    payload = {"nonce": nonce, "signed": bool(tags), "verified": verified,
               "signing_domain": sender_auth.ascii_domain(tags.get("d", ""))[:253],
               "selector": tags.get("s", "")[:63], "from_domain": domain}
    if why:
        payload["why"] = why
    with transaction.atomic():
        # One reader at a time per campaign (the pipe and IMAP may both bring it): read once.
        Campaign.objects.select_for_update().filter(pk=campaign.pk).first()
        if AuditEntry.objects.about(campaign).filter(action=Action.SIGNATURE_CHECKED,
                                                     payload__nonce=nonce).exists():
            return DUPLICATE
        audit.record(Action.SIGNATURE_CHECKED, target=campaign, payload=payload,
                     system="worker")
    return CHECKED


def result(campaign) -> Result | None:
    """What the probe of the latest test send showed, for the campaign's sender now."""
    if not probing():
        return None
    domain = sender_auth.domain_of(campaign.sender)
    entries = AuditEntry.objects.about(campaign)
    sent = entries.filter(action=Action.TEST_SENT).order_by("-sequence").first()
    sent = sent.payload if sent is not None else {}
    if sent.get("signature_probe_error"):
        return Result("signature", WARN, "signature_unsent",
                      {"domain": domain, "error": sent["signature_probe_error"]})
    checked = entries.filter(action=Action.SIGNATURE_CHECKED,
                             payload__nonce=sent.get("signature_probe") or "-").first()
    if checked is None or checked.payload["from_domain"] != domain:
        return Result("signature", WARN, "signature_unseen", {"domain": domain})
    seen = checked.payload
    params = {"when": timezone.localtime(checked.created_at).strftime("%Y-%m-%d %H:%M"),
              "domain": domain, "d": seen["signing_domain"], "s": seen["selector"]}
    if seen["verified"]:
        return Result("signature", PASS, "signature", params)
    return Result("signature", FAIL, "signature_failed" if seen["signed"]
                  else "signature_unsigned", params)


def report_for(campaign, *, fresh: bool = False) -> sender_auth.Report:
    """The checks of a campaign's sender, and what its latest probe showed."""
    report = sender_auth.cached_check(campaign.sender, fresh=fresh)
    signature = result(campaign)
    if signature is None:
        return report
    return sender_auth.Report(report.from_domain, report.bounce_domain,
                              (*report.results, signature))
