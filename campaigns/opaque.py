"""No opaque payloads: a notice to members has no business carrying encoded data.

The guard decodes what it can (percent, quoted-printable, base64, two levels deep), but an
insider has more encodings than any decoder: base32, hex, ascii85, a compressed stream
encoded once more, a private cipher. So a run that looks encoded is refused for what it is,
whatever it decodes to:

* base64 / base64url: 24 or more characters of its alphabet, with digits and both cases
  (or `=` padding);
* base32: 24 or more of A-Z and 2-7 (with a digit);
* hex: 24 or more hex digits with both letters and digits;
* digits: 16 or more in a row (a bank account or a telephone number is shorter);
* ascii85 and other dense encodings: 24 or more non-space ASCII characters of which a
  quarter or more are symbols, or with both cases, digits and three symbols or more (a
  URL is judged by its parts instead);
* bytes written out one by one: 12 or more hex pairs, 4 or more groups of eight bits, or
  16 or more numbers of up to three digits, each separated by a space or a comma; 4 or
  more \\u escapes in a row;
* base32 in lower case (24 or more of a-z and 2-7, with a digit);
* two or more variation selectors in a row (an emoji takes one; bytes hidden after an
  emoji take one each).

In a link, every path segment and query value is judged the same way, and a query value
must be a placeholder (the member's own value), a constant of at most 16 characters, or
belong to a parameter named in GUARD_LINK_PARAMETERS. A run that is the recipient's own
value (a personal token in a column, rendered into their own link) is theirs. Links whose
path is an id by nature (a meeting's, a form's: GUARD_OPAQUE_LINK_PREFIXES) are listed in
full for the signers and not judged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from django.conf import settings

from campaigns.decoding import as_text, lists

MIN_RUN = 24
MIN_DIGITS = 16
MAX_QUERY_CONSTANT = 16

_URL = re.compile(r"\b(?:https?|mailto):[^\s<>\"'）」』】〕］}]+", re.IGNORECASE)
# A web address without its scheme (association.example/News/Kaiho_2026-04.pdf): judged by
# its parts, as a link is, where it read as a run (its path's "/" and "_" are base64's too).
_BARE_URL = re.compile(r"(?<![\w@.\-])(?:[a-z0-9-]+\.)+[a-z]{2,}/[^\s<>\"'）」』】〕］}]*",
                       re.IGNORECASE)
_BASE64 = re.compile(rf"[A-Za-z0-9+/_-]{{{MIN_RUN},}}={{0,2}}")
_BASE32 = re.compile(rf"[A-Z2-7]{{{MIN_RUN},}}={{0,6}}")
_HEX = re.compile(rf"[0-9A-Fa-f]{{{MIN_RUN},}}")
_DIGITS = re.compile(rf"\d{{{MIN_DIGITS},}}")
_DENSE = re.compile(rf"[!-~]{{{MIN_RUN},}}")
_BASE32_LOWER = re.compile(rf"[a-z2-7]{{{MIN_RUN},}}")
# Bytes written one by one: whole lists, each starting with the character class it must start
# with and looking behind only then (a pattern that starts by looking behind is tried at
# every position of the text: slower), cut back to where nothing goes on (decoding.lists).
_SPACED_HEX = re.compile(r"[0-9A-Fa-f](?<![0-9A-Za-z][0-9A-Fa-f])[0-9A-Fa-f]"
                         r"(?:[ ,:]\s*+[0-9A-Fa-f]{2})*+")
_HEX_PAIR, _HEX_GOES_ON = re.compile(r"[0-9A-Fa-f]{2}"), re.compile(r"[0-9A-Za-z]")
_SPACED_BITS = re.compile(r"[01](?<![01][01])[01]{7}+(?:[ ,]\s*+[01]{8}+)*+")
_BYTE_BITS, _BITS_GO_ON = re.compile(r"[01]{8}"), re.compile(r"[01]")
_SPACED_CODES = re.compile(r"\d(?<![\d.,]\d)\d{0,2}+(?:[ ,]\s*+\d{1,3}+)*+")
_CODE, _CODES_GO_ON = re.compile(r"\d+"), re.compile(r"[\d.,]")
# Where any of the runs below can be: every one is made of these characters only, and none
# is shorter than 16 (MIN_DIGITS), so they are looked for in these pieces of a text only.
_PIECE = re.compile(rf"[!-~\d]{{{min(MIN_RUN, MIN_DIGITS)},}}")
_ESCAPES = re.compile(r"(?:\\u[0-9A-Fa-f]{4}){4,}")
_SELECTORS = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]{2,}")
_PLACEHOLDER = re.compile(r"^\{[^{}]+\}$")
_LONG_ASCII = re.compile(rf"[!-~]{{{min(MIN_RUN, MIN_DIGITS, MAX_QUERY_CONSTANT)},}}")
_SYMBOLS = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


@dataclass(frozen=True)
class Run:
    encoding: str  # "base64" | "base32" | "hex" | "digits" | "dense" | "query"
    text: str


def _matches(pattern: re.Pattern, pieces: list[str]):
    for piece in pieces:
        yield from pattern.finditer(piece)


def _looks_base64(run: str) -> bool:
    return run.endswith("=") or (any(c.isdigit() for c in run) and any(c.islower() for c in run)
                                 and any(c.isupper() for c in run))


def runs_in_word(word: str) -> list[Run]:
    """The encoded-looking runs in one piece of text without a link in it."""
    pieces = _PIECE.findall(word)
    return _runs_in(pieces) if pieces else []


def _runs_in(pieces: list[str]) -> list[Run]:
    found = []
    for match in _matches(_HEX, pieces):
        run = match.group(0)
        if any(c.isdigit() for c in run) and any(c.isalpha() for c in run):
            found.append(Run("hex", run))
    for match in _matches(_BASE32, pieces):
        if any(c.isdigit() for c in match.group(0)):
            found.append(Run("base32", match.group(0)))
    for match in _matches(_BASE32_LOWER, pieces):
        if sum(c.isdigit() for c in match.group(0)) >= 3:  # a word with a year is not
            found.append(Run("base32", match.group(0)))
    for match in _matches(_BASE64, pieces):
        if _looks_base64(match.group(0)):
            found.append(Run("base64", match.group(0)))
    found += [Run("digits", m.group(0)) for m in _matches(_DIGITS, pieces)]
    for match in _matches(_DENSE, pieces):
        run = match.group(0)
        symbols = sum(c in _SYMBOLS for c in run)
        rare = sum(c in _SYMBOLS and c not in "-./:_()" for c in run)  # not a path or a Tel:
        if (symbols * 4 >= len(run) and any(c.isalnum() for c in run)) or (
                rare >= 3 and any(c.isdigit() for c in run)
                and any(c.islower() for c in run) and any(c.isupper() for c in run)):
            found.append(Run("dense", run))
    found += [Run("escapes", m.group(0)) for m in _matches(_ESCAPES, pieces)]
    return found


def written_out_bytes(text: str) -> list[Run]:
    """Bytes written one by one with separators (hex pairs, bits, small numbers)."""
    found = []
    for pairs in lists(text, _SPACED_HEX, _HEX_PAIR, least=12, goes_on=_HEX_GOES_ON):
        written = text[pairs[0].start():pairs[-1].end()]
        labels = all(p[0].isalpha() != p[1].isalpha() for p in (m.group(0) for m in pairs))
        if any(c.isalpha() for c in written) and not labels:  # A1 A2 B1: booths; 12 13: numbers
            found.append(Run("hex", written))
    found += [Run("bits", text[bits[0].start():bits[-1].end()]) for bits in lists(
        text, _SPACED_BITS, _BYTE_BITS, least=4, goes_on=_BITS_GO_ON)]
    for codes in lists(text, _SPACED_CODES, _CODE, least=16, goes_on=_CODES_GO_ON):
        numbers = [int(code.group(0)) for code in codes]
        if max(numbers) <= 255 and numbers != sorted(numbers) and as_text(bytes(numbers)):
            found.append(Run("codes", text[codes[0].start():codes[-1].end()]))  # not scores,
    return found  # rooms or bingo balls


def hidden_selectors(text: str) -> list[Run]:
    """Runs of variation selectors (in the text as written: normalising drops them)."""
    return [Run("selectors", m.group(0)) for m in _SELECTORS.finditer(text)]


def _an_id_by_nature(parts) -> bool:
    """A meeting's or a form's link (GUARD_OPAQUE_LINK_PREFIXES): its path is an id."""
    host, path = (parts.hostname or "").lower(), parts.path
    for prefix in settings.GUARD_OPAQUE_LINK_PREFIXES:
        prefix_host, _slash, prefix_path = prefix.strip().partition("/")
        if (host == prefix_host or host.endswith("." + prefix_host)) and path.startswith(
                "/" + prefix_path):
            return True
    return False


def _link_runs(url: str, *, template: bool, own: frozenset[str] = frozenset()) -> list[Run]:
    parts = urlsplit(url)
    if _an_id_by_nature(parts):
        return []
    found = []
    segments = parts.path.split("/")
    for segment in segments:  # a bare address's host is its first
        found += runs_in_word(segment)
    query = parse_qsl(parts.query, keep_blank_values=True)
    # A run split into segments or values (/Y2hpaGlyby5zQGV4/YW1wbGUuanA=, ?a=...&b=...)
    # is whole again without the marks between them; the recipient's own values (a form
    # link prefilled with their address and number) are theirs, and join nothing.
    for pieces in (segments[0 if parts.netloc else 1:], [value for _name, value in query]):
        found += runs_in_word("".join(piece for piece in pieces if not _theirs(piece, own)))
    allowed = {name.lower() for name in settings.GUARD_LINK_PARAMETERS}
    for name, value in query:
        found += runs_in_word(value)
        if name.lower() in allowed or (template and _PLACEHOLDER.match(value)):
            continue
        if len(value) > MAX_QUERY_CONSTANT:
            found.append(Run("query", f"{name}={value}"))
    found += runs_in_word(parts.fragment)
    return found


def _theirs(piece: str, own: frozenset[str]) -> bool:
    """One of the recipient's own values, or a part of one long enough to mean it (a payload
    cut into pairs of characters is not spared because "Y2" happens to be in their token)."""
    return len(piece) >= 4 and any(piece in value for value in own)


def opaque_runs(text: str, *, own: frozenset[str] = frozenset(), template: bool = False) -> (
        list[Run]):
    """Runs of `text` that look encoded; `own`: the recipient's own values, which are
    theirs to receive; `template`: placeholders are allowed as query values."""
    if not text:
        return []
    found = written_out_bytes(text)
    if not found and not _LONG_ASCII.search(text):  # nothing long enough to be a run
        return []
    for match in _URL.finditer(text):
        found += _link_runs(match.group(0), template=template, own=own)
    rest = _URL.sub(" ", text)
    runs = runs_in_word(rest)
    if _BARE_URL.search(rest):
        for match in _BARE_URL.finditer(rest):
            found += _link_runs(match.group(0), template=template, own=own)
        runs = runs_in_word(_BARE_URL.sub(" ", rest))
    found += runs
    seen, kept = set(), []
    for run in found:
        if run.text in seen or any(value and (run.text in value or (
                value in run.text and len(value) * 2 >= len(run.text))) for value in own):
            continue
        seen.add(run.text)
        kept.append(run)
    return kept
