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
import unicodedata

from django.conf import settings


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
