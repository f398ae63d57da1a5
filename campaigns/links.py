"""The links a message carries, and which of them a campaign may carry.

A link to a file-sharing page holding the roster is an attachment by another name, so the
signers see every distinct link of a campaign, and an association can allow only its own
domains (CAMPAIGN_LINK_DOMAINS). Links are read from what a member receives: URLs in the
subject and the plain text (mail readers make them clickable) and the HTML's hrefs, after
the HTML has been sanitised (only http, https and mailto survive there).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

SCHEMES = ("http", "https", "mailto")

# What a mail reader turns into a link in plain text. The URL ends at whitespace, quotes,
# angle brackets and Japanese closing brackets; trailing sentence punctuation is dropped.
# A scheme is looked for once per run of scheme characters, from its first word that starts
# with a letter ("link" in "a.link://"), not again at every word of the run: a long run
# without "://" ("a.a.a. ...") was read to its end from each of its words, quadratic.
_TEXT_URL = re.compile(
    r"(?<![a-z0-9+.-])(?>[a-z0-9+.-]*?\b(?=[a-z]))(?P<scheme>[a-z][a-z0-9+.-]*+://"
    r"[^\s<>\"'）」』】〕］}]+)|\b(?:www\.|mailto:)[^\s<>\"'）」』】〕］}]+", re.IGNORECASE)
# Schemes that carry data or code themselves: never a link to send, clickable or not.
_RISKY = re.compile(r"\b(?:data|javascript|vbscript|file|blob):[^\s<>\"']+", re.IGNORECASE)
_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)
_TRAILING = ".,;:!?)]、。"
# Every link above has a colon, "www" or "href" (also in full width, before NFKC).
_MAYBE_LINK = re.compile(r"[:：]|[wｗ]{3}|[hｈ][rｒ][eｅ][fｆ]", re.IGNORECASE)


@dataclass(frozen=True, order=True)
class Link:
    url: str
    scheme: str
    host: str  # lower case; for mailto, the address's domain

    def to_json(self) -> dict:
        return {"url": self.url, "scheme": self.scheme, "host": self.host}


def parse(url: str) -> Link:
    url = url.strip()
    if url.lower().startswith("www."):
        url = "http://" + url
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "mailto":
        host = parts.path.rpartition("@")[2].split("?")[0]
    else:
        host = parts.hostname or ""
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        pass
    return Link(url, scheme, host.lower().rstrip("."))


def links_in(*, subject: str = "", body_text: str = "", body_html: str = "") -> list[Link]:
    """Every link in the message, once each, in a stable order."""
    found = set()
    for text, is_html in ((subject, False), (body_text, False), (body_html, True)):
        if not text or not _MAYBE_LINK.search(text):  # the common case of a plain subject
            continue
        text = text if text.isascii() else unicodedata.normalize("NFKC", text)
        for match in _TEXT_URL.finditer(text):
            found.add((match.group("scheme") or match.group(0)).rstrip(_TRAILING))
        for match in _RISKY.finditer(text):
            found.add(match.group(0).rstrip(_TRAILING))
        if is_html:
            for match in _HREF.finditer(text):
                found.add(next(g for g in match.groups() if g is not None))
    return sorted(parse(url) for url in found if url)


def allowed_domains() -> list[str]:
    """CAMPAIGN_LINK_DOMAINS, and the app's own (a newsletter's unsubscribe link) when set."""
    domains = [d.lower().strip().lstrip(".") for d in settings.CAMPAIGN_LINK_DOMAINS if d.strip()]
    if domains:
        domains.append((urlsplit(settings.SITE_URL).hostname or "").lower())
    return domains


def problem(link: Link, domains: list[str] | None = None) -> str:
    """"" when the link may go out; else "scheme" or "domain"."""
    if link.scheme not in SCHEMES:
        return "scheme"
    domains = allowed_domains() if domains is None else domains
    if domains and not any(link.host == d or link.host.endswith("." + d) for d in domains):
        return "domain"
    return ""
