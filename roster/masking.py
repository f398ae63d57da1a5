"""A member's own values taken out of a text from outside (a relay's reply, an error)
before it is stored where member data may not be: the ledger's reply column, audit
payloads. Works on the values the door opened (roster.values.Values), never on the
stored rows."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import quote

from countersign.pseudonyms import mask_addresses, normalise_address

if TYPE_CHECKING:
    from roster.values import Values

# Values shorter than this are not masked on their own (a two-letter column would blank
# every reply); an address, a name and the local part are masked whatever their length.
MASK_MIN_LENGTH = 3
MASKED = "[member data]"


def spellings(member: Values) -> set[str]:
    """Every way a text from outside (a relay's reply) may quote this member's values: the
    address in both IDN forms and percent-encoded, its local part, the name in both orders
    and without spaces, and each extra column."""
    found = set()
    if member.email:
        for address in {member.email, normalise_address(member.email), _unicode_domain(
                normalise_address(member.email))}:
            local, _at, domain = address.rpartition("@")
            found |= {address, f"{local}%40{domain}", local, quote(address, safe="")}
    parts = member.name.split()
    if member.name:
        found |= {member.name, "".join(parts), " ".join(reversed(parts)),
                  "".join(reversed(parts))}
        found |= {part for part in parts if len(part) >= 2}  # a surname or a given name alone
    found |= {v for v in member.extra.values() if isinstance(v, str)
              and len(v.strip()) >= MASK_MIN_LENGTH}
    return {s.strip().casefold() for s in found if s and s.strip()}


def _unicode_domain(address: str) -> str:
    local, _at, domain = address.rpartition("@")
    try:
        return f"{local}@{domain.encode('ascii').decode('idna')}"
    except UnicodeError:
        return address


def mask(text: str, member: Values | None) -> str:
    """`text` (a relay's reply, an error) with every spelling of the member's own values
    replaced, longest first, case-insensitively; then anything address-shaped. For what is
    stored where member data may not be: the ledger's reply column, audit payloads."""
    if member is not None and text:
        folded = text.casefold()
        for needle in sorted(spellings(member), key=len, reverse=True):
            if needle in folded:  # most replies quote nothing: no pattern built
                text = _pattern(needle).sub(MASKED, text)
                folded = text.casefold()
    return mask_addresses(text)


def _pattern(needle: str) -> re.Pattern:
    """`needle` anywhere, case-insensitively; a word in Latin letters or digits only as a
    whole word (a short given name must not blank the middle of "mailbox")."""
    escaped = re.escape(needle)
    if needle.isascii() and re.fullmatch(r"[\w.'-]+", needle):
        escaped = rf"(?<![\w]){escaped}(?![\w])"
    return re.compile(escaped, re.IGNORECASE)
