"""Keyed pseudonyms of e-mail addresses: what is kept when an address itself may not be.

A pseudonym is HMAC-SHA256 over the normalised address with MEMBER_PSEUDONYM_KEY. The same
address always gives the same pseudonym, so "was this address sent to?" and "is this address
suppressed?" still have an answer for whoever holds the address; without the key, the
pseudonym says nothing about the address (an unkeyed hash of an address is guessed from a
list of addresses in seconds). Used by the suppression list, the ledger after a purge, and
the sealed ledger digest.
"""

import hashlib
import hmac
import re
import unicodedata

from django.conf import settings
from django.core.checks import Tags, Warning, register


def normalise_address(address: str) -> str:
    """One spelling per mailbox as Countersign treats it: NFKC, trimmed, case-folded (the
    importer refuses two addresses differing only in case), the domain in its ASCII (IDNA)
    form so that 例え.jp and xn--r8jz45g.jp are the same domain."""
    address = unicodedata.normalize("NFKC", address).strip().casefold()
    local, at, domain = address.rpartition("@")
    if not at:
        return address
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        pass  # not a valid IDN: kept as written (the importer would not have taken it)
    return f"{local}@{domain}"


def pseudonym(address: str) -> str:
    """The address's keyed pseudonym (64 hex characters)."""
    return hmac.new(settings.MEMBER_PSEUDONYM_KEY.encode(),
                    normalise_address(address).encode(), hashlib.sha256).hexdigest()


def domain_tag(address: str) -> str:
    """A keyed tag of the address's domain (32 hex characters): domains counted, never
    kept, also for a member whose address only the association can open."""
    domain = normalise_address(address).rpartition("@")[2]
    return hmac.new(settings.MEMBER_PSEUDONYM_KEY.encode(), b"domain:" + domain.encode(),
                    hashlib.sha256).hexdigest()[:32]


# Anything shaped like an e-mail address: a server's reply quoting the recipient
# ("550 5.1.1 <a@b>: unknown user", "recipient=a@b rejected").
_ADDRESS_SHAPED = re.compile(r"[^\s<>\"'(),;:\[\]]*@[^\s<>\"'(),;:\[\]]+")


def mask_addresses(text: str) -> str:
    """`text` with every address-shaped word replaced: for what goes where member data may
    not (the audit log, notifications), when the text came from outside (a server's reply)."""
    return _ADDRESS_SHAPED.sub("<address>", text) if "@" in text else text


def derived_key(secret_key: str) -> str:
    """The key used when MEMBER_PSEUDONYM_KEY is not set (settings.py computes the same)."""
    return hashlib.sha256(f"countersign-pseudonym:{secret_key}".encode()).hexdigest()


@register(Tags.security, deploy=True)
def check_pseudonym_key(app_configs, **kwargs):
    """Derived from SECRET_KEY, the key changes with it: one rotation and every suppressed
    (unsubscribed, bounced, erased) address would be mailed again."""
    if settings.MEMBER_PSEUDONYM_KEY != derived_key(settings.SECRET_KEY):
        return []
    return [Warning("MEMBER_PSEUDONYM_KEY is not set: it is derived from SECRET_KEY",
                    hint="Set MEMBER_PSEUDONYM_KEY to a random value of its own and never "
                         "change it; rotating SECRET_KEY would otherwise forget every "
                         "suppressed address.", id="countersign.W001")]
