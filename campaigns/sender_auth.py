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
* **signature**: what the relay really signs, from the probe a test send takes along
  (campaigns.dkim_probe);
* **dmarc**: the From domain publishes a policy, and SPF (the bounce domain, relaxed or
  strict) or DKIM (the From domain's selector) aligns with it;
* **bounce_domain**: the bounce domain lies inside the From domain's organisational domain
  (the Public Suffix List), else SPF cannot align.

The lookups use dnspython's resolver, at `SENDER_CHECK_NAMESERVERS` when set (pyspf reads
dnspython's default resolver, so that is the process's), each within SENDER_CHECK_TIMEOUT
and all of one report within SENDER_CHECK_BUDGET: a slow server makes a failed check, not
a page that never answers. DNS is public: a report holds no
member data and is kept for a few minutes (`cached_check`).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from dataclasses import dataclass, field
from email.utils import parseaddr
from functools import cache

import dkim
import dns.exception
import dns.resolver
import spf
from django.conf import settings
from django.core.cache import cache as django_cache
from django.utils.translation import gettext_lazy as _
from publicsuffixlist import PublicSuffixList

log = logging.getLogger(__name__)

PASS, WARN, FAIL = "pass", "warn", "fail"
CACHE_SECONDS = 300

WORDS = {
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
    "dmarc_guessed": _("DMARC policy of %(domain)s: p=%(policy)s, aligned by SPF only if SPF "
                       "allows the relay, which is not checked (RELAY_ADDRESSES)."),
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
    "mx_null": _("%(domain)s publishes a null MX (RFC 7505): it receives no mail, and "
                 "receivers refuse mail whose bounce address lies there."),
    "dmarc_many": _("%(domain)s publishes %(count)s DMARC records: receivers then apply none "
                    "(RFC 7489)."),
    "check_error": _("%(name)s could not be checked (%(why)s)."),
    "out_of_time": _("%(name)s was not checked: the checks together took longer than "
                     "%(seconds)s seconds (a slow DNS server)."),
    "signature": _("The relay's DKIM signature on the probe of %(when)s verified (d=%(d)s, "
                   "s=%(s)s)."),
    "signature_failed": _("The relay's DKIM signature on the probe of %(when)s did not verify "
                          "against the key in DNS, or was not aligned with %(domain)s (d=%(d)s): "
                          "receivers will see the same."),
    "signature_unsigned": _("The probe of %(when)s came back without a DKIM signature: the "
                            "relay does not sign mail from %(domain)s."),
    "signature_unseen": _("No probe has come back yet: make a test send (a probe goes with "
                          "it) and let process_bounces read the bounce mailbox."),
    "signature_unsent": _("The relay did not take the last test send's probe (%(error)s): "
                          "make another test send."),
    "dns_error": _("%(name)s could not be looked up (%(why)s): try again, or check the "
                   "resolver."),
}


@dataclass(frozen=True)
class Result:
    check: str  # mx | spf | dkim | dmarc | bounce_domain | signature | dns
    status: str  # pass | warn | fail
    code: str  # a key of WORDS
    params: dict = field(default_factory=dict)

    @property
    def message(self) -> str:
        return str(WORDS[self.code]) % self.params

    @property
    def key(self) -> str:
        """Which failure this is, to compare what a page showed with what is found now."""
        where = next((self.params[k] for k in ("domain", "name", "bounce") if k in self.params),
                     "")
        return f"{self.code}:{where}"

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

    @property
    def failure_keys(self) -> list[str]:
        return [r.key for r in self.failures]

    def summary(self) -> dict:
        return {"from_domain": self.from_domain, "bounce_domain": self.bounce_domain,
                "results": [r.summary() for r in self.results],
                "failed_checks": [r.code for r in self.failures]}


class OutOfTime(Exception):
    """The checks' time (SENDER_CHECK_BUDGET) is spent: a request must answer."""


class Lookup:
    """DNS through one resolver, within one budget for all the checks of one report (a slow
    server cannot hold a page or the release for longer): TXT strings joined, [] for no such
    name or no answer. pyspf shares one cache of answers across its evaluations."""

    def __init__(self):
        self.resolver = resolver()
        self.deadline = time.monotonic() + settings.SENDER_CHECK_BUDGET
        self.spf_cache: dict = {}

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise OutOfTime
        return left

    def records(self, name: str, kind: str) -> list:
        lifetime = min(settings.SENDER_CHECK_TIMEOUT, self.remaining())
        try:
            return list(self.resolver.resolve(name, kind, lifetime=lifetime))
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
        dns.resolver.default_resolver = made  # pyspf asks dnspython's default
    made.lifetime = made.timeout = settings.SENDER_CHECK_TIMEOUT
    return made


@cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()  # the list bundled with the package (no download)


def ascii_domain(domain: str) -> str:
    """A domain as DNS, SMTP and DKIM's d= write it: lower case, A-labels (協会.test is
    xn--6oqv6h.test), no final dot."""
    domain = domain.strip().rstrip(".").lower()
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def organisational_domain(domain: str) -> str:
    """RFC 7489's organisational domain: one label below the public suffix."""
    domain = ascii_domain(domain)
    return _suffixes().privatesuffix(domain) or domain


def domain_of(address: str) -> str:
    return ascii_domain(parseaddr(address)[1].rpartition("@")[2])


def check(sender: str, *, bounce_domain: str | None = None) -> Report:
    """Every check for a campaign's sender (an address, with a name or without), and the
    bounce domain (default: BOUNCE_DOMAIN; without one, mail leaves with the From address
    as its envelope sender, and SPF of the From domain is what aligns)."""
    from_domain = domain_of(sender)
    bounce = ascii_domain(settings.BOUNCE_DOMAIN if bounce_domain is None else bounce_domain)
    try:
        lookup = Lookup()
    except dns.exception.DNSException as error:  # no resolver configured on this machine
        return Report(from_domain, bounce, (Result("dns", FAIL, "dns_error", {
            "name": from_domain, "why": type(error).__name__}),))
    results: list[Result] = []
    for domain in dict.fromkeys(d for d in (from_domain, bounce) if d):
        results.append(_guarded(domain, lambda d=domain: _mx(lookup, d)))
        results.append(_guarded(domain, lambda d=domain: _spf(lookup, d)))
    dkim_result = _guarded(from_domain, lambda: _dkim(lookup, from_domain))
    results.append(dkim_result)
    results.append(_bounce_domain(from_domain, bounce))
    envelope = bounce or from_domain
    spf = next((r.status for r in results if r.check == "spf"
                and r.params.get("domain") == envelope), FAIL)
    results.append(_guarded(from_domain, lambda: _dmarc(lookup, from_domain, envelope, spf,
                                                        dkim_result)))
    return Report(from_domain, bounce, tuple(results))


def cached_check(sender: str, *, fresh: bool = False) -> Report:
    """`check`, kept for CACHE_SECONDS: the pages show it on every load (`fresh`: look
    again, as the release does, and keep that)."""
    configured = (sender, settings.BOUNCE_DOMAIN, settings.RELAY_ADDRESSES,
                  settings.DKIM_SELECTOR, settings.DKIM_KEY_SHA256,
                  settings.SENDER_CHECK_NAMESERVERS, settings.SENDER_CHECK_PORT)
    key = "sender-auth:" + hashlib.sha256(repr(configured).encode()).hexdigest()
    report = None if fresh else django_cache.get(key)
    if report is None:
        report = check(sender)
        django_cache.set(key, report, CACHE_SECONDS)
    return report


def _guarded(name: str, run) -> Result:
    """A check's result, whatever DNS answered: a lookup that fails or runs out of time is
    a failed check, and so is anything a library raises on a record it cannot read."""
    try:
        return run()
    except OutOfTime:
        return Result("dns", FAIL, "out_of_time",
                      {"name": name, "seconds": settings.SENDER_CHECK_BUDGET})
    except dns.exception.DNSException as error:
        return Result("dns", FAIL, "dns_error", {"name": name, "why": type(error).__name__})
    except Exception as error:  # a record is anyone's to write; the page must still answer
        log.warning("sender check of %s failed", name, exc_info=True)
        return Result("dns", FAIL, "check_error", {"name": name, "why": type(error).__name__})


def _mx(lookup: Lookup, domain: str) -> Result:
    hosts = [str(r.exchange).rstrip(".") for r in lookup.records(domain, "MX")]
    if hosts == [""]:  # "MX 0 .": no mail here (RFC 7505)
        return Result("mx", FAIL, "mx_null", {"domain": domain})
    if hosts:
        return Result("mx", PASS, "mx", {"domain": domain, "record": "MX " + ", ".join(hosts)})
    addresses = [r.address for r in lookup.records(domain, "A")]
    if addresses:
        return Result("mx", PASS, "mx", {"domain": domain, "record": "A " + ", ".join(addresses)})
    return Result("mx", FAIL, "mx_none", {"domain": domain})


def _spf(lookup: Lookup, domain: str) -> Result:
    records = [t for t in lookup.txt(domain) if t.lower().split(" ", 1)[0] == "v=spf1"]
    if not records:
        return Result("spf", FAIL, "spf_none", {"domain": domain})
    if len(records) > 1:
        return Result("spf", FAIL, "spf_many", {"domain": domain, "count": len(records)})
    if not settings.RELAY_ADDRESSES:
        return Result("spf", WARN, "spf_unchecked", {"domain": domain, "record": records[0]})
    for ip in settings.RELAY_ADDRESSES:
        query = spf.query(i=ip, s=f"postmaster@{domain}", h=domain,
                          timeout=settings.SENDER_CHECK_TIMEOUT, querytime=lookup.remaining())
        query.cache = lookup.spf_cache  # each include is read once per report
        result, _code, _explanation = query.check()
        if result == "temperror":  # pyspf's word for a lookup that failed or timed out
            return Result("dns", FAIL, "dns_error", {"name": domain, "why": "SPF temperror"})
        if result != "pass":
            return Result("spf", FAIL, "spf_denies", {"domain": domain, "ip": ip,
                                                      "result": result, "record": records[0]})
    return Result("spf", PASS, "spf_pass", {"domain": domain, "record": records[0],
                                            "ip": ", ".join(settings.RELAY_ADDRESSES)})


def _dkim(lookup: Lookup, domain: str) -> Result:
    """The relay's key under the From domain. (A relay that signs for the organisational
    domain instead is aligned too, in DMARC's relaxed mode: the probe shows it, not this.)"""
    selector = settings.DKIM_SELECTOR
    if not selector:
        return Result("dkim", WARN, "dkim_unchecked", {"domain": domain})
    name = f"{selector}._domainkey.{domain}"
    records = lookup.txt(name)
    if not records:
        return Result("dkim", FAIL, "dkim_none", {"name": name})
    try:
        _key, bits, kind, _tlsrpt = dkim.evaluate_pk(name, records[0])
        found = key_sha256(records[0])
    except Exception as error:  # noqa: BLE001 - dkimpy raises what its parsers raise
        return Result("dkim", FAIL, "dkim_unreadable",
                      {"name": name, "why": f"{type(error).__name__}: {str(error)[:80]}"})
    expected = settings.DKIM_KEY_SHA256.lower()
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


def _is_dmarc(record: str) -> bool:
    return record.replace(" ", "").lower().startswith("v=dmarc1")


def dmarc_policy(lookup: Lookup, domain: str) -> tuple[list[dict], bool]:
    """The DMARC records that govern `domain` as tag dicts, and whether they are the
    organisational domain's (RFC 7489 6.6.3: then its sp= applies)."""
    records = [t for t in lookup.txt(f"_dmarc.{domain}") if _is_dmarc(t)]
    inherited = False
    org = organisational_domain(domain)
    if not records and org != domain:
        records, inherited = [t for t in lookup.txt(f"_dmarc.{org}") if _is_dmarc(t)], True
    tags = [{k.strip().lower(): v.strip().lower() for k, _eq, v in
             (part.partition("=") for part in record.split(";")) if k.strip()}
            for record in records]
    return tags, inherited


def _dmarc(lookup: Lookup, domain: str, envelope: str, spf: str,
           dkim_result: Result) -> Result:
    """`spf`: the status of the envelope domain's SPF (WARN: published, the relay's
    addresses not configured, so its alignment is a guess and the result a warning)."""
    records, inherited = dmarc_policy(lookup, domain)
    if not records:
        return Result("dmarc", FAIL, "dmarc_none", {"domain": domain})
    if len(records) > 1:
        return Result("dmarc", FAIL, "dmarc_many", {"domain": domain, "count": len(records)})
    tags = records[0]
    policy = tags.get("sp", tags.get("p", "none")) if inherited else tags.get("p", "none")
    spf_aligned = spf != FAIL and (envelope == domain if tags.get("aspf") == "s" else
                                   organisational_domain(envelope) == organisational_domain(domain))
    dkim_aligned = dkim_result.status == PASS  # its key is under the From domain itself
    aligned = [name for name, ok in (("SPF", spf_aligned), ("DKIM", dkim_aligned)) if ok]
    if aligned:
        guessed = not dkim_aligned and spf != PASS
        return Result("dmarc", WARN if guessed else PASS,
                      "dmarc_guessed" if guessed else "dmarc",
                      {"domain": domain, "policy": policy, "aligned": " + ".join(aligned)})
    fate = {"reject": _("receivers will reject this mail."),
            "quarantine": _("receivers will put this mail in spam.")}.get(
        policy, _("receivers may flag this mail."))
    return Result("dmarc", FAIL if policy in ("reject", "quarantine") else WARN,
                  "dmarc_unaligned", {"domain": domain, "policy": policy, "bounce": envelope,
                                      "fate": fate})


def verify_signature(raw: bytes, lookup: Lookup | None = None) -> bool:
    """Does the DKIM signature the relay added to a message it passed on verify against the
    key in DNS (through this module's resolver)? False when there is none. A lookup that
    fails raises (DNSException, OutOfTime): then nothing is known yet."""
    lookup = lookup or Lookup()

    def txt(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        found = lookup.txt(name.rstrip("."))
        return found[0].encode() if found else None

    return bool(dkim.verify(raw, dnsfunc=txt))
