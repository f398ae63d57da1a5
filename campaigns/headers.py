"""Reading the headers of mail that anyone can send to the bounce domain.

The standard library's readers are made for mail that is well formed: `decode_header` gives up
on a whole subject for one broken encoded word and is quadratic in the number of words,
`make_header` fails on one character outside the labelled charset (CP932 text labelled
Shift_JIS, as Japanese Windows and phone mailers write it), and with the compat32 policy a
header with raw 8-bit bytes (RFC 6532) comes back as a Header object whose text is lost.
These functions never raise on what a sender controls, and read what a person would read.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
import unicodedata
from email.message import Message

# A subject longer than this is not a person's; only its beginning is read (the cost of
# reading is linear, but a megabyte of encoded words is still a megabyte).
MAX_HEADER_CHARS = 8192

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
# Labels Japanese mailers put on CP932 text: decode them as CP932, a superset of Shift_JIS
# (① and the other NEC and IBM characters).
_CHARSETS = {"shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932",
             "windows-31j": "cp932", "ms_kanji": "cp932", "csshiftjis": "cp932"}


def raw_values(message: Message, name: str) -> list[str]:
    """Every value of header `name` as sent, unfolded, 8-bit bytes read as UTF-8."""
    wanted = name.lower()
    return [_unfold(_as_text(value)) for key, value in message.raw_items()
            if key.lower() == wanted]


def raw_value(message: Message, name: str) -> str:
    values = raw_values(message, name)
    return values[0].strip() if values else ""


def decoded(value: str) -> str:
    """A header's text as a person reads it: RFC 2047 encoded words decoded (adjacent words
    in one charset joined before decoding, as an encoder may cut a character in two),
    broken words and unknown charsets read as far as they go, then NFKC (full-width letters
    and spaces as ASCII)."""
    value = value[:MAX_HEADER_CHARS]
    pieces: list[list] = []  # [text or bytes, charset or None]
    position = 0
    for word in _ENCODED_WORD.finditer(value):
        between = value[position:word.start()]
        after_a_word = pieces and pieces[-1][1] is not None
        if between and not (between.isspace() and after_a_word):
            pieces.append([between, None])
        charset = word[1].split("*", 1)[0].lower()  # RFC 2231: charset*language
        data = _word_bytes(word[2], word[3])
        if pieces and pieces[-1][1] == charset:
            pieces[-1][0] += data
        else:
            pieces.append([data, charset])
        position = word.end()
    pieces.append([value[position:], None])
    text = "".join(part if charset is None else _decode(part, charset)
                   for part, charset in pieces)
    return unicodedata.normalize("NFKC", text)


def angle_addresses(value: str) -> list[str]:
    """The addresses of a Return-Path or Original-Mail-From: `<addr>`, or the bare value.
    No parser of comments: a header of two thousand "(" must not cost a recursion."""
    found = re.findall(r"<([^<>\s]*)>", value)
    return found if found else [value.strip()] if value.strip() else []


_SRS = re.compile(r"^SRS0[=+-][^=@]*=[^=@]*=(?P<domain>[^=@]+)=(?P<local>[^@]+)@"
                  r"|^SRS1[=+-][^=@]*=[^=@]*==[^=@]*=[^=@]*=(?P<domain1>[^=@]+)=(?P<local1>[^@]+)@",
                  re.IGNORECASE)


def without_srs(address: str) -> str:
    """The address a forwarder rewrote with SRS (Sender Rewriting Scheme) put back:
    SRS0=HHH=TT=domain=local@forwarder -> local@domain. Anything else as it is."""
    found = _SRS.match(address)
    if not found:
        return address
    domain, local = found["domain"] or found["domain1"], found["local"] or found["local1"]
    return f"{local}@{domain}"


def _as_text(value) -> str:
    if not isinstance(value, str):
        value = str(value)
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _unfold(value: str) -> str:
    return _FOLD.sub("", value)


def _word_bytes(encoding: str, text: str) -> bytes:
    if encoding in "bB":
        text = text.rstrip("=")
        text = text[:len(text) - 1] if len(text) % 4 == 1 else text  # cut short: no byte
        try:
            return base64.b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            return b""
    return quopri.decodestring(text.replace("_", " ").encode("ascii", "replace"))


def _decode(data: bytes, charset: str) -> str:
    try:
        return data.decode(_CHARSETS.get(charset, charset), "replace")
    except LookupError:
        return data.decode("utf-8", "replace")
