"""Placeholders, rendering, and the one way to build a campaign e-mail.

A template is plain text with `{field}` placeholders: `{name}`, `{member_number}`, `{email}`
and the roster's extra columns (`{支部}`). `{{` and `}}` stand for literal braces. The
message class below has no attachment path at all: `attach()` and `attach_file()` raise.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from dataclasses import dataclass
from email.header import Header
from email.utils import make_msgid, parseaddr
from functools import lru_cache

import nh3
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.urls import reverse
from django.utils.html import escape

BUILTIN_FIELDS = ("name", "member_number", "email")

TEMPLATE_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}\n]*)\}|[{}]")


class AttachmentsForbidden(RuntimeError):
    """Countersign messages never carry attachments (the 2022 leak was one)."""


@dataclass(frozen=True)
class TemplateProblem:
    code: str  # "unknown" | "lone_brace" | "empty"
    text: str
    line: int
    column: int


# A newsletter's own placeholder: the recipient's unsubscribe link (campaigns.unsubscribe).
NEWSLETTER_FIELDS = ("unsubscribe_url",)


def fields_for(extra_columns, kind: str = "notice") -> list[str]:
    return [*BUILTIN_FIELDS, *(NEWSLETTER_FIELDS if kind == "newsletter" else ()),
            *extra_columns]


def segments(template: str):
    """Yield (kind, text, start): kind "text" for literal text, "field" for a placeholder."""
    position = 0
    for match in TEMPLATE_TOKEN.finditer(template):
        if match.start() > position:
            yield "text", template[position:match.start()], position
        token = match.group(0)
        if token in ("{{", "}}"):
            yield "text", token[0], match.start()
        elif match.group(1) is not None:
            yield "field", match.group(1).strip(), match.start()
        else:
            yield "lone_brace", token, match.start()
        position = match.end()
    if position < len(template):
        yield "text", template[position:], position


def line_column(text: str, index: int) -> tuple[int, int]:
    """(line, column), both from 1, of `index` in `text`. The line breaks of the last few
    texts are remembered: a long text with many findings is not counted again for each."""
    if len(text) < 4096:
        line_start = text.rfind("\n", 0, index) + 1
        return text.count("\n", 0, index) + 1, index - line_start + 1
    breaks = _line_breaks(text)
    line = bisect.bisect_left(breaks, index)  # line breaks before index
    return line + 1, index - (breaks[line - 1] + 1 if line else 0) + 1


@lru_cache(maxsize=8)
def _line_breaks(text: str) -> list[int]:
    return [i for i, char in enumerate(text) if char == "\n"]


def template_problems(template: str, fields) -> list[TemplateProblem]:
    known = set(fields)
    problems = []
    for kind, text, start in segments(template):
        line, column = line_column(template, start)
        if kind == "lone_brace":
            problems.append(TemplateProblem("lone_brace", text, line, column))
        elif kind == "field" and not text:
            problems.append(TemplateProblem("empty", "{}", line, column))
        elif kind == "field" and text not in known:
            problems.append(TemplateProblem("unknown", "{" + text + "}", line, column))
    return problems


def used_fields(template: str) -> set[str]:
    return {text for kind, text, _start in segments(template) if kind == "field"}


def masked(template: str) -> str:
    """The template's literal text with every placeholder and brace blanked out by NULs.

    Same length as the template, so positions stay those the operator sees; a NUL joins no
    word, address or number, so the guard never reads across a placeholder.
    """
    return TEMPLATE_TOKEN.sub(lambda match: "\x00" * len(match.group(0)), template)


# Previews and test messages carry this example link, which unsubscribes nobody.
PREVIEW_UNSUBSCRIBE_TOKEN = "preview"


def unsubscribe_url(token: str) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("unsubscribe", args=[token])


def member_values(member, kind: str = "notice") -> dict[str, str]:
    """A member's placeholder values (roster.member_data.Values) for a preview or a test
    message."""
    values = member.placeholders()
    if kind == "newsletter":
        values["unsubscribe_url"] = unsubscribe_url(PREVIEW_UNSUBSCRIBE_TOKEN)
    return values


def render(template: str, values: dict[str, str], *, html: bool = False) -> str:
    out = []
    for kind, text, _start in segments(template):
        if kind == "field":
            value = values.get(text, "")
            out.append(escape(value) if html else value)
        else:
            out.append(text)
    return "".join(out)


# No images (remote images track readers and can carry data out), no data: URLs (a file
# smuggled in as a link is an attachment by another name), no scripts or styles.
# ruby, rt and rp: furigana over a name or a hard kanji, common in Japanese notices (the
# guard reads the text with and without them).
HTML_TAGS = {"a", "b", "blockquote", "br", "code", "div", "em", "h1", "h2", "h3", "h4", "hr",
             "i", "li", "ol", "p", "pre", "rp", "rt", "ruby", "span", "strong", "table",
             "tbody", "td", "th", "thead", "tr", "u", "ul"}
HTML_ATTRIBUTES = {"a": {"href", "title"}}
HTML_URL_SCHEMES = {"http", "https", "mailto"}


# How deep an HTML body's elements may nest. A mail's layout needs a few dozen levels; the
# sanitiser's time grows with the depth for every tag (nh3 on 20,000 unclosed <div>: 1.7 s,
# again for every message), so a body nested deeper is refused when it is saved.
MAX_HTML_DEPTH = 256
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_ELEMENT_TAG = re.compile(  # quoted attribute values may hold "<" and ">"
    r"<(/?)([a-zA-Z][a-zA-Z0-9:-]*)(?:\"[^\"]*+\"|'[^']*+'|[^'\"<>]++)*+>")
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                   "source", "track", "wbr"})
_BLOCKS = frozenset({
    "address", "article", "aside", "blockquote", "center", "details", "dir", "div", "dl",
    "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
    "header", "hr", "main", "menu", "nav", "ol", "p", "pre", "section", "table", "ul"})
# HTML's implied end tags: an open element of these ends where the next one begins, looked
# for back to an element that holds them (a cell's row; for an item, any block but a <div>).
_ITEM_HOLDERS = (_BLOCKS | {"button", "td", "th", "caption", "select"}) - {"address", "div", "p"}
_ENDS = {"li": ({"li"}, _ITEM_HOLDERS), "dt": ({"dt", "dd"}, _ITEM_HOLDERS),
         "dd": ({"dt", "dd"}, _ITEM_HOLDERS), "td": ({"td", "th"}, {"tr", "table"}),
         "th": ({"td", "th"}, {"tr", "table"}), "tr": ({"tr"}, {"table"}),
         "option": ({"option"}, {"select"}), "optgroup": ({"optgroup", "option"}, {"select"}),
         "rt": ({"rt", "rp"}, {"ruby"}), "rp": ({"rt", "rp"}, {"ruby"}),
         "p": ({"p"}, {"button", "table", "td", "th", "caption", "object", "marquee"})}
_FOREIGN = frozenset({"svg", "math"})  # where "/>" closes any element


def _end_implied(open_elements: list[str], name: str) -> None:
    if name in _BLOCKS and name != "p":  # a block that begins ends an open paragraph
        _end_implied(open_elements, "p")
    if name not in _ENDS or (name in ("rt", "rp") and "ruby" not in open_elements):
        return  # outside <ruby>, <rt> nests
    ended, holders = _ENDS[name]
    for i in range(len(open_elements) - 1, -1, -1):
        if open_elements[i] in ended:
            del open_elements[i:]
            return
        if open_elements[i] in holders:
            return


def html_depth(html: str, *, limit: int = MAX_HTML_DEPTH) -> int:
    """How deep the elements of `html` nest, counted as a browser builds them: comments
    hold no elements; a closing tag closes up to its element; void elements add nothing, nor
    does "/>" in SVG or MathML (elsewhere a browser ignores it); an open <li>, <td>, <tr>,
    <dt>, <p> ... ends where the next one begins. The count stops past `limit`."""
    open_elements: list[str] = []
    deepest = 0
    for match in _ELEMENT_TAG.finditer(_COMMENT.sub("", html) if "<!--" in html else html):
        name = match.group(2).lower()
        if match.group(1):
            if name in open_elements:
                while open_elements.pop() != name:
                    pass
            continue
        if name in _VOID or (match.group(0).endswith("/>") and (
                _FOREIGN.intersection(open_elements) or name in _FOREIGN)):
            continue
        _end_implied(open_elements, name)
        open_elements.append(name)
        deepest = max(deepest, len(open_elements))
        if deepest > limit:
            break
    return deepest


def sanitise_html(html: str) -> str:
    """The allow-list above. Run on the template when it is saved, and again on every
    rendered message: a placeholder inside href="{...}" is only known after rendering."""
    if not html.strip():
        return ""
    return nh3.clean(html, tags=HTML_TAGS, attributes=HTML_ATTRIBUTES,
                     url_schemes=HTML_URL_SCHEMES, link_rel="noopener noreferrer")


def render_subject(template: str, values: dict[str, str]) -> str:
    # A value with a line break must not become a second header line.
    return " ".join(render(template, values).split())


@dataclass(frozen=True)
class Rendered:
    subject: str
    body_text: str
    body_html: str
    unsanitised_html: str = ""  # before the allow-list: the guard refuses what it removed


def render_for(*, subject: str, body_text: str, body_html: str, values: dict[str, str]) -> Rendered:
    """What one recipient reads: the same function for previews, test sends and the send."""
    html = render(body_html, values, html=True) if body_html else ""
    return Rendered(render_subject(subject, values), render(body_text, values),
                    sanitise_html(html), html)


class NoAttachmentMessage(EmailMultiAlternatives):
    """The only message type Countersign sends: one recipient, text (+ HTML), no files."""

    _built = None
    unsanitised_html = ""  # the rendered HTML before sanitising (not sent)
    boundary = ""  # set: the MIME boundary is this, not random (campaigns.composing)

    def message(self):
        # Built once, so the bytes hashed for the ledger are exactly the bytes the backend
        # sends (the Date header and the MIME boundary are fixed at the first build).
        if self._built is None:
            self._built = super().message()
            if self.boundary and self._built.is_multipart():
                self._built.set_boundary(self.boundary)
            if not self.subject.isascii():
                # Django hands the header over as pre-encoded text, which the generator then
                # folds without room for "Subject: ": the first line comes out empty and
                # readers show the subject with a leading space. A Header that knows its
                # name folds the encoded words to fit. (The text was already checked for
                # line breaks by Django on the way in.)
                self._built.replace_header("Subject", Header(
                    self.subject, self.encoding or settings.DEFAULT_CHARSET,
                    header_name="Subject"))
        return self._built

    def wire_bytes(self) -> bytes:
        """The message as Django's SMTP backend puts it on the wire."""
        return self.message().as_bytes(linesep="\r\n")

    def attach(self, *args, **kwargs):
        raise AttachmentsForbidden("Countersign messages cannot carry attachments")

    def attach_file(self, *args, **kwargs):
        raise AttachmentsForbidden("Countersign messages cannot carry attachments")


def bare_message_id(message_id: str) -> str:
    """A Message-ID without its angle brackets, as logs and e-mail providers write it."""
    return (message_id or "").strip().strip("<>")


def texts_of(message: NoAttachmentMessage) -> dict[str, str]:
    """What a member reads in a built message: subject, plain body, HTML body."""
    html = next((content for content, mimetype in message.alternatives
                 if mimetype == "text/html"), "")
    return {"subject": message.subject, "body_text": message.body, "body_html": html}


def build_message(*, sender: str, subject: str, body_text: str, body_html: str,
                  values: dict[str, str], to: str, subject_prefix: str = "",
                  headers: dict[str, str] | None = None, message_id: str = "",
                  date: str = "", charset: str = "utf-8") -> NoAttachmentMessage:
    """Render the templates for one recipient and build the message for exactly `to`.
    With `message_id` and `date` (campaigns.composing) the bytes are the same every time
    (the MIME boundary is derived from the Message-ID); without, a fresh Message-ID and the
    time now (previews, test messages). `charset`: the campaign's (campaigns.charsets),
    for every header and body part."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "countersign.invalid"
    rendered = render_for(subject=subject, body_text=body_text, body_html=body_html,
                          values=values)
    fixed = {"Date": date} if date else {}
    message = NoAttachmentMessage(
        subject=subject_prefix + rendered.subject,
        body=rendered.body_text,
        from_email=sender,
        to=[to],
        headers={"Message-ID": message_id or make_msgid(domain=domain), **fixed,
                 **(headers or {})},
    )
    if charset != "utf-8":
        message.encoding = charset
    if message_id:
        message.boundary = "=_cs_" + hashlib.sha256(message_id.encode()).hexdigest()[:32]
    if rendered.body_html:
        message.attach_alternative(rendered.body_html, "text/html")
    message.unsanitised_html = rendered.unsanitised_html
    return message
