"""Encoded runs read as the text they carry, for the guard's views of a message
(campaigns.spellings.views): percent- and quoted-printable encoding, base64 (either
alphabet, any offset), bytes written as decimal numbers, bytes hidden one per variation
selector, punycode host names. Runs too long to be anything but a payload are refused
whole, without decoding (campaigns.opaque)."""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from collections.abc import Iterator
from urllib.parse import unquote

_WHITESPACE = re.compile(r"\s+")


_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_QP = re.compile(r"=[0-9A-Fa-f]{2}|=\r?\n")
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{16,}(?:[ \t]*\r?\n[ \t]*[A-Za-z0-9+/_-]{4,})*={0,2}")


def as_text(data: bytes) -> str | None:
    for encoding in ("utf-8", "cp932"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        printable = sum(1 for c in text if c.isprintable() or c in "\t\r\n")
        if text and printable >= 0.9 * len(text):
            return text
    return None


def _base64_texts(run: str) -> Iterator[str]:
    run = _WHITESPACE.sub("", run).rstrip("=")
    for skip in range(4):  # the run may start with a character that is not part of the data
        part = run[skip:]
        if len(part) % 4 == 1:  # one character too many for any padding
            part = part[:-1]
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                data = decode(part + "=" * (-len(part) % 4))
            except (binascii.Error, ValueError):
                continue
            text = as_text(data)
            if text is not None:
                yield text
                return


# Bytes written as decimal numbers (99 104 105 ...), in groups or not, read as the text they
# make: 16 or more in a row are refused as opaque (campaigns.opaque); fewer are read here.
_DECIMAL_LIST = re.compile(r"\d(?<![\d.,]\d)\d{0,2}+(?:(?:\s*+[,/]\s*+|\s++)\d{1,3}+)*+")
_NUMBER = re.compile(r"\d+")
_NUMBER_GOES_ON = re.compile(r"[\d.,]")


def lists(text: str, whole: re.Pattern, item: re.Pattern, *, least: int,
          goes_on: re.Pattern) -> Iterator[list[re.Match]]:
    """Lists of items (numbers, hex pairs) with separators, as the items' matches: each list
    is matched whole by `whole` (possessively: linear in the text), then cut back to its
    longest head of at least `least` items that `goes_on` does not follow ("... 112 2026年"
    ends at 112). What a backtracking pattern finds, without its quadratic cost on a long
    list that is followed by what it may not be ("1, 1, ... 1, 1.5")."""
    for match in whole.finditer(text):
        items = list(item.finditer(text, match.start(), match.end()))
        while len(items) >= least and goes_on.match(text, items[-1].end()):
            items.pop()
        if len(items) >= least:
            yield items


# A variation selector shows nothing and may follow any character: 256 of them, one byte each
# (bytes hidden after emoji). Read in the text as written: normalising drops them.
SELECTOR = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")


def _decimal_bytes(text: str) -> Iterator[str]:
    for numbers in lists(text, _DECIMAL_LIST, _NUMBER, least=6, goes_on=_NUMBER_GOES_ON):
        values = [int(number.group(0)) for number in numbers]
        if max(values) <= 255 and (decoded := as_text(bytes(values))) is not None:
            yield decoded


def smuggled(text: str) -> str | None:
    """The bytes a text's variation selectors carry, as text (None: too few, or not text)."""
    found = SELECTOR.findall(text)
    if len(found) < 4:
        return None
    return as_text(bytes(ord(c) - 0xFE00 if ord(c) < 0x10000 else ord(c) - 0xE0100 + 16
                         for c in found))


def decodings(text: str) -> Iterator[str]:
    if _PERCENT.search(text):
        for encoding in ("utf-8", "cp932"):
            decoded = unquote(text, encoding=encoding, errors="replace")
            if decoded != text and "\ufffd" not in decoded:
                yield decoded
                break
    if _QP.search(text):
        decoded = as_text(quopri.decodestring(text.encode("utf-8", "replace")))
        if decoded is not None and decoded != text:
            yield decoded
    for match in _BASE64_RUN.finditer(text):
        yield from _base64_texts(match.group(0))
    yield from _decimal_bytes(text)
    if "xn--" in text or "XN--" in text:  # a host name in punycode, as a browser shows it
        decoded = _PUNYCODE_LABEL.sub(_unpunycode, text)
        if decoded != text:
            yield decoded


_PUNYCODE_LABEL = re.compile(r"xn--[a-z0-9-]+", re.IGNORECASE)


def _unpunycode(match: re.Match) -> str:
    if len(match.group(0)) > 63:  # no host name's label is longer; decoding one is slow
        return match.group(0)
    try:
        return match.group(0).encode("ascii").decode("idna")
    except UnicodeError:
        return match.group(0)
