"""Will receivers believe the mail comes from whom it says? SPF, DKIM and DMARC of the From
domain and the bounce domain, read from DNS before the observer releases (issue 23).

Gmail and Yahoo reject bulk mail without SPF, DKIM and an aligned DMARC policy; docomo
checks SPF on the header From domain and warns its users of mail that fails DMARC. A
release that would send 5,000 such messages is refused until the records are fixed or the
observer overrides it, in writing (the release's audit entry keeps both). Checked, each a
result on the supervisor's and the observer's page:

* **mx**: the From and bounce domains receive mail (MX, else A): replies and returned mail;
* **spf**: each publishes exactly one SPF record, and it allows the relay's addresses
  (`RELAY_ADDRESSES`; pyspf evaluates it as a receiver would, includes and all);
* **dkim**: the relay's selector (`DKIM_SELECTOR`) has a key under the From domain, and it
  is the relay's own key (`DKIM_KEY_SHA256`, when given);
* **signature**: what the relay really signs. Each test send takes a probe along, through
  the same relay: a short message with no member data, From the campaign's sender to a
  signed address of the bounce domain (`probe_address`). When process_bounces reads it
  back, its DKIM signature is verified against the key in DNS, aligned with the From domain,
  and the outcome audited (`record_probe`); the latest one is a result of `report_for`;
* **dmarc**: the From domain publishes a policy, and SPF (the bounce domain, relaxed or
  strict) or DKIM (the From domain's selector) aligns with it;
* **bounce_domain**: the bounce domain lies inside the From domain's organisational domain
  (the Public Suffix List), else SPF cannot align.

The lookups use dnspython's resolver, at `SENDER_CHECK_NAMESERVERS` when set (pyspf reads
dnspython's default resolver, so that is the process's). DNS is public: a report holds no
member data and is kept for a few minutes (`cached_check`).
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from email import message_from_bytes
from email.utils import parseaddr
from functools import cache

import dkim
import dns.exception
import dns.resolver
import spf
from django.conf import settings
from django.core.cache import cache as django_cache
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _
from publicsuffixlist import PublicSuffixList

import audit
from audit.models import AuditEntry
from campaigns import mail
from campaigns.actions import Action
from countersign.signing import signed_by_a_current_key

PASS, WARN, FAIL = "pass", "warn", "fail"
CACHE_SECONDS = 300

_WORDS = {
    "mx": _("%(domain)s receives mail (%(record)s)."),
    "mx_none": _("%(domain)s has no MX or A record: replies and returned mail are lost, and "
                 "receivers refuse a sender whose domain receives nothing."),
    "spf_pass": _("SPF of %(domain)s allows the relay %(ip)s: %(record)s"),
    "spf_unchecked": _("SPF of %(domain)s is published: %(record)s (the relay's addresses are "
                       "not configured, RELAY_ADDRESSES, so whether it allows them is not "
                       "checked)."),
    "spf_none": _("%(domain)s publishes no SPF record (TXT “v=spf1 …”): Gmail, Yahoo and "
                  "docomo treat its mail as unauthenticated."),
    "spf_many": _("%(domain)s publishes %(count)s SPF records: receivers read that as an "
                  "error (RFC 7208 permerror)."),
    "spf_denies": _("SPF of %(domain)s does not allow the relay %(ip)s (%(result)s): "
                    "%(record)s"),
    "dkim_unchecked": _("The relay's DKIM selector is not configured (DKIM_SELECTOR): DKIM "
                        "is not checked."),
    "dkim": _("DKIM key at %(name)s: %(bits)s-bit %(kind)s."),
    "dkim_none": _("No DKIM key at %(name)s: receivers cannot verify the relay's "
                   "signature."),
    "dkim_unreadable": _("The DKIM key at %(name)s cannot be read (%(why)s)."),
    "dkim_other_key": _("The DKIM key at %(name)s is not the relay's key (SHA-256 "
                        "%(found)s, the relay signs with %(expected)s): every signature "
                        "fails."),
    "dmarc": _("DMARC policy of %(domain)s: p=%(policy)s, aligned by %(aligned)s."),
    "dmarc_none": _("%(domain)s publishes no DMARC policy (TXT at _dmarc.%(domain)s): Gmail "
                    "and Yahoo require one of bulk senders."),
    "dmarc_unaligned": _("DMARC policy of %(domain)s is p=%(policy)s, and neither SPF (the "
                         "bounce domain %(bounce)s) nor DKIM aligns with %(domain)s: "
                         "%(fate)s"),
    "bounce_domain": _("The bounce domain %(bounce)s lies inside %(org)s."),
    "bounce_outside": _("The bounce domain %(bounce)s lies outside %(org)s, the From "
                        "domain's organisational domain: SPF cannot align for DMARC."),
    "bounce_unset": _("No bounce domain is configured (BOUNCE_DOMAIN): returned mail goes to "
                      "the From address."),
    "signature": _("The relay's DKIM signature on the probe of %(when)s verified (d=%(d)s, "
                   "s=%(s)s)."),
    "signature_failed": _("The relay's DKIM signature on the probe of %(when)s did not verify "
                          "against the key in DNS, or was not aligned with %(domain)s (d=%(d)s): "
                          "receivers will see the same."),
    "signature_unsigned": _("The probe of %(when)s came back without a DKIM signature: the "
                            "relay does not sign mail from %(domain)s."),
    "signature_unseen": _("No probe has come back yet: make a test send (a probe goes with "
                          "it) and let process_bounces read the bounce mailbox."),
    "dns_error": _("%(name)s could not be looked up (%(why)s): try again, or check the "
                   "resolver."),
}


@dataclass(frozen=True)
class Result:
    check: str  # mx | spf | dkim | dmarc | bounce_domain
    status: str  # pass | warn | fail
    code: str  # a key of _WORDS
    params: dict = field(default_factory=dict)

    @property
    def message(self) -> str:
        return str(_WORDS[self.code]) % self.params

    def summary(self) -> dict:
        """For the audit log: what, where, the outcome (DNS is public)."""
        return {"check": self.check, "status": self.status, "code": self.code,
                **{k: v for k, v in self.params.items() if k in ("domain", "name", "ip")}}


@dataclass(frozen=True)
class Report:
    from_domain: str
    bounce_domain: str
    results: tuple[Result, ...]

    @property
    def failures(self) -> list[Result]:
        return [r for r in self.results if r.status == FAIL]

    def summary(self) -> dict:
        return {"from_domain": self.from_domain, "bounce_domain": self.bounce_domain,
                "results": [r.summary() for r in self.results],
                "failed_checks": [r.code for r in self.failures]}


class _Lookup:
    """DNS through one resolver: TXT strings joined, [] for no such name or no answer."""

    def __init__(self):
        self.resolver = resolver()

    def records(self, name: str, kind: str) -> list:
        try:
            return list(self.resolver.resolve(name, kind))
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []

    def txt(self, name: str) -> list[str]:
        return [b"".join(r.strings).decode("utf-8", "replace") for r in self.records(name, "TXT")]


def resolver() -> dns.resolver.Resolver:
    """The resolver of every lookup here (and pyspf's, through dnspython's default)."""
    servers = settings.SENDER_CHECK_NAMESERVERS
    made = dns.resolver.Resolver(configure=not servers)
    if servers:
        made.nameservers, made.port = list(servers), settings.SENDER_CHECK_PORT
    made.lifetime = made.timeout = settings.SENDER_CHECK_TIMEOUT
    dns.resolver.default_resolver = made
    return made


@cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()  # the list bundled with the package (no download)


def organisational_domain(domain: str) -> str:
    """RFC 7489's organisational domain: one label below the public suffix."""
    return _suffixes().privatesuffix(domain.lower()) or domain.lower()


def domain_of(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[2].lower()


def check(sender: str, *, bounce_domain: str | None = None) -> Report:
    """Every check for a campaign's sender (an address, with a name or without), and the
    bounce domain (default: BOUNCE_DOMAIN)."""
    from_domain = domain_of(sender)
    bounce = settings.BOUNCE_DOMAIN if bounce_domain is None else bounce_domain.lower()
    lookup = _Lookup()
    results: list[Result] = []
    for domain in dict.fromkeys(d for d in (from_domain, bounce) if d):
        results.append(_guarded(domain, lambda d=domain: _mx(lookup, d)))
        results.append(_guarded(domain, lambda d=domain: _spf(lookup, d)))
    dkim_result = _guarded(from_domain, lambda: _dkim(lookup, from_domain))
    results.append(dkim_result)
    results.append(_bounce_domain(from_domain, bounce))
    spf_aligned = bounce and _aligned(from_domain, bounce, results)
    results.append(_guarded(from_domain, lambda: _dmarc(
        lookup, from_domain, bounce or from_domain, spf_aligned,
        dkim_result.status == PASS)))
    return Report(from_domain, bounce, tuple(results))


def cached_check(sender: str, *, fresh: bool = False) -> Report:
    """`check`, kept for CACHE_SECONDS: the pages show it on every load (`fresh`: look
    again, as the release does, and keep that)."""
    key = "sender-auth:" + hashlib.sha256(
        f"{sender}|{settings.BOUNCE_DOMAIN}".encode()).hexdigest()
    report = None if fresh else django_cache.get(key)
    if report is None:
        report = check(sender)
        django_cache.set(key, report, CACHE_SECONDS)
    return report


def _guarded(name: str, run) -> Result:
    try:
        return run()
    except (dns.exception.DNSException, spf.TempError) as error:
        return Result("dns", FAIL, "dns_error", {"name": name, "why": type(error).__name__})


def _mx(lookup: _Lookup, domain: str) -> Result:
    hosts = [str(r.exchange).rstrip(".") for r in lookup.records(domain, "MX")]
    if hosts:
        return Result("mx", PASS, "mx", {"domain": domain, "record": "MX " + ", ".join(hosts)})
    addresses = [r.address for r in lookup.records(domain, "A")]
    if addresses:
        return Result("mx", PASS, "mx", {"domain": domain, "record": "A " + ", ".join(addresses)})
    return Result("mx", FAIL, "mx_none", {"domain": domain})


def _spf(lookup: _Lookup, domain: str) -> Result:
    records = [t for t in lookup.txt(domain) if t.lower().split(" ", 1)[0] == "v=spf1"]
    if not records:
        return Result("spf", FAIL, "spf_none", {"domain": domain})
    if len(records) > 1:
        return Result("spf", FAIL, "spf_many", {"domain": domain, "count": len(records)})
    if not settings.RELAY_ADDRESSES:
        return Result("spf", WARN, "spf_unchecked", {"domain": domain, "record": records[0]})
    for ip in settings.RELAY_ADDRESSES:
        result, _explanation = spf.check2(i=ip, s=f"postmaster@{domain}", h=domain,
                                          querytime=settings.SENDER_CHECK_TIMEOUT * 4)
        if result != "pass":
            return Result("spf", FAIL, "spf_denies", {"domain": domain, "ip": ip,
                                                      "result": result, "record": records[0]})
    return Result("spf", PASS, "spf_pass", {"domain": domain, "record": records[0],
                                            "ip": ", ".join(settings.RELAY_ADDRESSES)})


def _dkim(lookup: _Lookup, domain: str) -> Result:
    selector = settings.DKIM_SELECTOR
    if not selector:
        return Result("dkim", WARN, "dkim_unchecked", {"domain": domain})
    name = f"{selector}._domainkey.{domain}"
    records = lookup.txt(name)
    if not records:
        return Result("dkim", FAIL, "dkim_none", {"name": name})
    try:
        _key, bits, kind, _tlsrpt = dkim.evaluate_pk(name, records[0])
    except dkim.KeyFormatError as error:
        return Result("dkim", FAIL, "dkim_unreadable", {"name": name, "why": str(error)[:120]})
    expected = settings.DKIM_KEY_SHA256.lower()
    found = key_sha256(records[0])
    if expected and found != expected:
        return Result("dkim", FAIL, "dkim_other_key", {"name": name, "found": found[:16],
                                                       "expected": expected[:16]})
    return Result("dkim", PASS, "dkim", {"name": name, "bits": bits, "kind": kind.decode()})


def key_sha256(record: str) -> str:
    """SHA-256 of a DKIM key record's public key (the DER in p=): what DKIM_KEY_SHA256
    holds, `openssl rsa -in <key> -pubout -outform DER | sha256sum` of the relay's key."""
    tags = dict(part.strip().split("=", 1) for part in record.split(";") if "=" in part)
    return hashlib.sha256(base64.b64decode("".join(tags.get("p", "").split()))).hexdigest()


def _bounce_domain(from_domain: str, bounce: str) -> Result:
    if not bounce:
        return Result("bounce_domain", WARN, "bounce_unset", {"domain": from_domain})
    org = organisational_domain(from_domain)
    inside = organisational_domain(bounce) == org
    return Result("bounce_domain", PASS if inside else FAIL,
                  "bounce_domain" if inside else "bounce_outside", {"bounce": bounce, "org": org})


def _aligned(from_domain: str, bounce: str, results: list[Result]) -> bool:
    """SPF passes (or is published, the relay unknown) for a bounce domain in the From
    domain's organisational domain (relaxed alignment; strict is read in _dmarc)."""
    spf_ok = any(r.check == "spf" and r.params.get("domain") == bounce and r.status != FAIL
                 for r in results)
    return spf_ok and organisational_domain(bounce) == organisational_domain(from_domain)


def _dmarc(lookup: _Lookup, domain: str, bounce: str, spf_aligned: bool,
           dkim_aligned: bool) -> Result:
    records = [t for t in lookup.txt(f"_dmarc.{domain}") if t.replace(" ", "").lower()
               .startswith("v=dmarc1")]
    if not records:
        org = organisational_domain(domain)
        if org != domain:  # RFC 7489 6.6.3: the organisational domain's policy applies
            records = [t for t in lookup.txt(f"_dmarc.{org}")
                       if t.replace(" ", "").lower().startswith("v=dmarc1")]
    if not records:
        return Result("dmarc", FAIL, "dmarc_none", {"domain": domain})
    tags = {k.strip().lower(): v.strip().lower() for k, _eq, v in
            (part.partition("=") for part in records[0].split(";")) if k.strip()}
    policy = tags.get("p", "none")
    if tags.get("aspf") == "s":
        spf_aligned = spf_aligned and bounce == domain
    aligned = [name for name, ok in (("SPF", spf_aligned), ("DKIM", dkim_aligned)) if ok]
    if aligned:
        return Result("dmarc", PASS, "dmarc", {"domain": domain, "policy": policy,
                                               "aligned": " + ".join(aligned)})
    fate = {"reject": _("receivers will reject this mail."),
            "quarantine": _("receivers will put this mail in spam.")}.get(
        policy, _("receivers may flag this mail."))
    return Result("dmarc", FAIL if policy in ("reject", "quarantine") else WARN,
                  "dmarc_unaligned", {"domain": domain, "policy": policy, "bounce": bounce,
                                      "fate": fate})


def verify_signature(raw: bytes) -> bool:
    """Does the DKIM signature the relay added to a message it passed on verify against the
    key in DNS (through this module's resolver)? False when there is none."""
    lookup = _Lookup()

    def txt(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        found = lookup.txt(name.rstrip("."))
        return found[0].encode() if found else None

    return bool(dkim.verify(raw, dnsfunc=txt))


# --- the probe: what the relay really signs -----------------------------------------------------

PROBE_SUBJECT = "Countersign: DKIM probe"
_PROBE = re.compile(r"^signcheck\+(?P<id>[0-9]{1,18})-(?P<tag>[0-9a-f]{16})@(?P<domain>[^@\s]+)$",
                    re.IGNORECASE)


def _probe_tag(campaign_id: int, secret: str | None = None) -> str:
    return salted_hmac("countersign.sender_auth.probe", str(campaign_id), secret=secret,
                       algorithm="sha256").hexdigest()[:16]


def probing() -> bool:
    return bool(settings.SENDER_CHECK and settings.BOUNCE_DOMAIN and settings.DKIM_SELECTOR)


def probe_address(campaign_id: int) -> str:
    return f"signcheck+{campaign_id}-{_probe_tag(campaign_id)}@{settings.BOUNCE_DOMAIN}"


def probe_campaign_of(address: str) -> int | None:
    """The campaign a probe address names, if its hmac and domain verify; else None."""
    found = _PROBE.match(address.strip().strip("<>"))
    if not found or found["domain"].lower() != settings.BOUNCE_DOMAIN:
        return None
    campaign_id = int(found["id"])
    if signed_by_a_current_key(found["tag"].lower(), lambda key: _probe_tag(campaign_id, key)):
        return campaign_id
    return None


def probe_message(campaign):
    """The probe a test send takes along (None when there is nothing to verify against)."""
    if not probing():
        return None
    return mail.build_message(
        sender=campaign.sender, subject=f"{PROBE_SUBJECT} {campaign.pk}", body_html="",
        body_text="This message checks the DKIM signature the relay adds for this sender. "
                  "It carries no member data.\n", values={},
        to=probe_address(campaign.pk), headers={"X-Countersign-Probe": str(campaign.pk)})


def _signature_tags(raw: bytes) -> dict[str, str]:
    header = message_from_bytes(raw).get("DKIM-Signature", "")
    return {k.strip(): "".join(v.split()) for k, _eq, v in
            (part.partition("=") for part in str(header).split(";")) if k.strip()}


def record_probe(campaign, raw: bytes) -> dict:
    """A probe came back: verify its signature, audit the outcome, return the payload."""
    domain = domain_of(campaign.sender)
    tags = _signature_tags(raw)
    signed = bool(tags)
    verified = signed and tags.get("d", "").lower() == domain and verify_signature(raw)
    payload = {"signed": signed, "verified": verified, "signing_domain": tags.get("d", ""),
               "selector": tags.get("s", ""), "from_domain": domain}
    with transaction.atomic():
        audit.record(Action.SIGNATURE_CHECKED, target=campaign, payload=payload,
                     system="worker")
    return payload


def _signature(campaign) -> Result | None:
    if not probing():
        return None
    entry = AuditEntry.objects.about(campaign).filter(
        action=Action.SIGNATURE_CHECKED).order_by("-sequence").first()
    domain = domain_of(campaign.sender)
    if entry is None:
        return Result("signature", WARN, "signature_unseen", {"domain": domain})
    seen = entry.payload
    when = timezone.localtime(entry.created_at).strftime("%Y-%m-%d %H:%M")
    params = {"when": when, "domain": domain, "d": seen["signing_domain"], "s": seen["selector"]}
    if seen["verified"]:
        return Result("signature", PASS, "signature", params)
    return Result("signature", FAIL, "signature_failed" if seen["signed"]
                  else "signature_unsigned", params)


def report_for(campaign, *, fresh: bool = False) -> Report:
    """The checks of a campaign's sender, and what its latest probe showed."""
    report = cached_check(campaign.sender, fresh=fresh)
    signature = _signature(campaign)
    if signature is None:
        return report
    return Report(report.from_domain, report.bounce_domain, (*report.results, signature))
