"""The charset a campaign's mail is written in, and what that charset cannot carry.

UTF-8 (the default) carries every character. ISO-2022-JP (7-bit JIS, RFC 1468) is what
older Japanese phones and mail programs expect; it carries ASCII and JIS X 0208 only, so:

* machine-dependent characters (機種依存文字: ①, Ⅱ, ㈱, ㍻, the IBM kanji such as 髙 and
  﨑), half-width kana and anything outside Japanese (emoji, accented letters) cannot be
  written at all;
* the wave-dash family (〜 ～, ‖ ∥, − －, ¢ £ ¬ and their full-width forms, — ―) can be
  written, but Microsoft's tables and the JIS standard read the same bytes as different
  characters, so what a member sees is not what was approved;
* a line may not be longer than 998 bytes (RFC 5322; docomo refuses longer lines): a
  7-bit body has no transfer encoding to fold it.

With ISO-2022-JP every one of these is a refusal at submit (the template, the sender's
name and every member's values of the placeholders used) and again before each hand-over
(`findings`). With UTF-8 the same characters are listed as advice: older phones may show
them wrongly or not at all. Each comes with a suggested replacement.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from email.utils import parseaddr

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns import mail
from campaigns.findings import Finding
from campaigns.spellings import common_kanji
from countersign.text import is_control

UTF8 = "utf-8"
ISO_2022_JP = "iso-2022-jp"
CHOICES = ((UTF8, gettext_lazy("UTF-8 (every character; recommended)")),
           (ISO_2022_JP, gettext_lazy("ISO-2022-JP (JIS: older phones and mail programs)")))
MAX_LINE_BYTES = 998
MAX_LISTED = 20  # problems of one kind listed in a refusal

# The wave-dash family: JIS codes that the JIS standard and Microsoft's tables (CP932,
# CP50220) map to different characters. Suggested: what reads the same everywhere.
_AMBIGUOUS = {"\u301c": "-", "\uff5e": "-", "\u2016": "|", "\u2225": "|", "\u2212": "-",
              "\uff0d": "-", "\u2014": "-", "\u2015": "-", "\u00a2": "セント",
              "\uffe0": "セント", "\u00a3": "ポンド", "\uffe1": "ポンド", "\u00ac": "",
              "\uffe2": "",
              # JIS-Roman (ESC ( J): many programs ignore the switch and show \ and ~.
              "\u00a5": "\uffe5", "\u203e": "\uffe3"}


def writable(text: str) -> bool:
    """Can ISO-2022-JP carry `text`, read back as exactly the same characters?"""
    try:
        return text.encode(ISO_2022_JP).decode(ISO_2022_JP) == text
    except UnicodeError:
        return False


def _unreadable(char: str) -> bool:
    """A character older phones cannot show as written (see the module's docstring), or
    a control character: ESC would switch the reader into kanji behind every check."""
    if is_control(char):
        return True
    return not char.isascii() and (char in _AMBIGUOUS or not writable(char))


def suggestion(char: str) -> str:
    """What to write instead ("" when nothing fits: leave it out)."""
    if char in _AMBIGUOUS:
        return _AMBIGUOUS[char]
    name = unicodedata.name(char, "")
    folded = unicodedata.normalize("NFKC", common_kanji(char))
    if name.startswith(("CIRCLED DIGIT", "CIRCLED NUMBER", "PARENTHESIZED DIGIT")):
        folded = f"({folded.strip('()')})"
    return folded if folded != char and all(not _unreadable(c) for c in folded) else ""


@dataclass(frozen=True)
class Problem:
    where: str  # "sender" | "subject" | "body_text" | "body_html"
    line: int
    column: int
    char: str  # the character; "" for a long line
    suggested: str = ""
    line_bytes: int = 0  # a long line: its length in ISO-2022-JP bytes

    @property
    def message(self) -> str:
        place = _PLACES[self.where]()
        if not self.char:
            return _("%(place)s, line %(line)s: %(bytes)s bytes in ISO-2022-JP (at most "
                     "%(limit)s)") % {"place": place, "line": self.line,
                                      "bytes": self.line_bytes, "limit": MAX_LINE_BYTES}
        shown = {"place": place, "line": self.line, "column": self.column, "char": self.char,
                 "code": f"U+{ord(self.char):04X}", "instead": self.suggested}
        if self.suggested:
            return _("%(place)s, line %(line)s, column %(column)s: “%(char)s” (%(code)s); "
                     "write “%(instead)s”") % shown
        return _("%(place)s, line %(line)s, column %(column)s: “%(char)s” (%(code)s); "
                 "leave it out") % shown


_PLACES = {"sender": lambda: _("Sender"), "subject": lambda: _("Subject"),
           "body_text": lambda: _("Body"), "body_html": lambda: _("HTML body")}


def _characters(where: str, text: str) -> list[Problem]:
    found, seen = [], set()
    for index, char in enumerate(text):
        if _unreadable(char):
            # A combining mark (か + U+3099) is written as the one character it makes (が).
            before = text[index - 1] if index and unicodedata.combining(char) else ""
            if (before, char) in seen:
                continue
            seen.add((before, char))
            composed = unicodedata.normalize("NFC", before + char)
            instead = composed if before and len(composed) == 1 and not _unreadable(
                composed) else suggestion(char)
            line, column = mail.line_column(text, index)
            found.append(Problem(where, line, column, char, instead))
    return found


def _line_bytes(line: str) -> int:
    try:
        return len(line.encode(ISO_2022_JP))
    except UnicodeError:
        return 0  # listed as a character already


def template_problems(*, sender: str, subject: str, body_text: str,
                      body_html: str) -> list[Problem]:
    """What older phones cannot show in the campaign's own text: the sender's name, the
    subject and the bodies as written (placeholders are ASCII)."""
    found = _characters("sender", parseaddr(sender)[0])
    for where, text in (("subject", subject), ("body_text", body_text),
                        ("body_html", body_html)):
        found += _characters(where, text)
    return found


def long_lines(*, body_text: str, body_html: str,
               longest: dict[bool, dict[str, str]]) -> list[Problem]:
    """Lines of the bodies that are, or with the longest value of a placeholder they hold
    (`longest`: html? -> field -> the value longest as written there) may be, over 998
    bytes in ISO-2022-JP."""
    found = []
    for where, template, html in (("body_text", body_text, False),
                                  ("body_html", mail.sanitise_html(body_html), True)):
        for number, line in enumerate(template.split("\n"), start=1):
            rendered = mail.render(line, longest.get(html, {}), html=html)
            size = _line_bytes(rendered) + 6 * line.count("{")  # escapes around a value
            if size > MAX_LINE_BYTES:
                found.append(Problem(where, number, 0, "", line_bytes=size))
    return found


@dataclass(frozen=True)
class Lint:
    """What the chosen charset cannot carry: in the campaign's text, and in members'
    values (member number -> the placeholders whose value cannot be written)."""

    charset: str
    problems: list[Problem]
    members: dict[str, list[str]]

    @property
    def refuses(self) -> bool:
        return self.charset == ISO_2022_JP and bool(self.problems or self.members)

    def refusal(self) -> str:
        """The refusal's words: the campaign's own characters with what to write instead,
        and members by number and placeholder only (never a member's value: the message
        is kept in the audit log)."""
        parts = [_("ISO-2022-JP cannot carry what this campaign would send. Change the text, "
                   "or choose UTF-8.")]
        parts += [p.message + "." for p in self.problems[:MAX_LISTED]]
        if len(self.problems) > MAX_LISTED:
            parts.append(_("%(count)s more.") % {"count": len(self.problems) - MAX_LISTED})
        if self.members:
            listed = sorted(self.members)[:MAX_LISTED]
            parts.append(_("%(count)s members' values cannot be written in ISO-2022-JP "
                           "(machine-dependent or variant characters): %(members)s%(more)s.")
                         % {"count": len(self.members),
                            "members": ", ".join(f"{n} ({', '.join(self.members[n])})"
                                                 for n in listed),
                            "more": " …" if len(self.members) > MAX_LISTED else ""})
        return " ".join(parts)

    def summary(self) -> dict:
        """For the audit log: where, not what (a character may be a member's)."""
        return {"charset": self.charset,
                "problems": [{"where": p.where, "line": p.line, "column": p.column,
                              "kind": "line" if not p.char else "character"}
                             for p in self.problems[:MAX_LISTED]],
                "problem_count": len(self.problems),
                "members": sorted(self.members)[:MAX_LISTED],
                "member_count": len(self.members)}


def lint(*, charset: str, sender: str, subject: str, body_text: str, body_html: str,
         members=()) -> Lint:
    """The campaign in `charset`. `members`: every recipient's values (roster.member_data
    .Values), read for the placeholders the text uses; with UTF-8 only the text is read."""
    problems = template_problems(sender=sender, subject=subject, body_text=body_text,
                                 body_html=body_html)
    if charset != ISO_2022_JP:
        return Lint(charset, problems, {})
    used = sorted(mail.used_fields(subject) | mail.used_fields(body_text)
                  | mail.used_fields(body_html))
    unwritable: dict[str, list[str]] = {}
    longest: dict[bool, dict[str, str]] = {False: {}, True: {}}
    for member in members:
        values = member.placeholders()
        for field in used:
            value = values.get(field, "")
            if not (value.isascii() and value.isprintable()) and any(
                    _unreadable(c) for c in value):
                unwritable.setdefault(member.member_number, []).append("{" + field + "}")
                continue
            for html, written in ((False, value), (True, mail.render("{v}", {"v": value},
                                                                     html=True))):
                if _line_bytes(written) > _line_bytes(longest[html].get(field, "")):
                    longest[html][field] = value
    problems += long_lines(body_text=body_text, body_html=body_html, longest=longest)
    return Lint(charset, problems, unwritable)


def findings(texts: dict[str, str], charset: str, *, recipient: str) -> list[Finding]:
    """The check before each hand-over: the rendered message in ISO-2022-JP, character by
    character and line by line ([] with UTF-8). Shown like the guard's findings; what is
    kept of them names no character."""
    if charset != ISO_2022_JP:
        return []
    found = []
    for where, text in texts.items():
        characters = _characters(where, text)
        for problem in characters:
            found.append(Finding("charset", where, problem.line, problem.column,
                                 problem.char, recipient=recipient, detail="character"))
        if not characters and not writable(text):  # what is read back is not what was approved
            found.append(Finding("charset", where, 1, 1, text[:1], recipient=recipient,
                                 detail="character"))
        for number, line in enumerate(text.split("\n"), start=1):
            if _line_bytes(line) > MAX_LINE_BYTES:
                found.append(Finding("charset", where, number, 1, line[:1],
                                     recipient=recipient, detail="long_line"))
    return found
