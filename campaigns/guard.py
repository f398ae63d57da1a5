"""The content guard: no message may carry roster data of members other than its recipient.

A rendered message is the template's literal text plus the recipient's own values. So:

* the literal text of subject and bodies reaches every recipient, and any roster member's
  e-mail address or member number found there is a leak (several members' full names too,
  one name alone may be a signature); lines that look like delimited rows with an address
  are pasted data whoever they belong to;
* a roster column used as a placeholder is scanned member by member for *other* members'
  data (a "referred by" column holding someone else's address would leak it).

Together that is the same as scanning every rendered message, at the cost of one scan of
the template plus one look at each used column value. The roster's look-up sets are built
once per roster (rosters never change after import).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, field
from functools import lru_cache

from django.conf import settings
from django.utils.translation import gettext as _

from campaigns import mail

MAX_FINDINGS = 200
MIN_NAME_LENGTH = 2  # names with non-ASCII characters, spaces removed
MIN_ASCII_NAME_LENGTH = 5  # "Li Na" -> "lina" would match ordinary words

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_TOKEN = re.compile(r"[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)*")
# Dates and quantities are not member numbers: 2026/06/30, 2026年6月, 3,510件.
_NOT_A_NUMBER = re.compile(r"\d{4}[-/.年]\d{1,2}(?:[-/.月]\d{1,2}日?)?|\d+(?=[年月日時分秒円件名人%])")
_ROW_DELIMITERS = re.compile(r"[,;，、；]")


@dataclass(frozen=True)
class Finding:
    kind: str  # "email" | "member_number" | "names" | "pasted_row"
    where: str  # "subject" | "body_text" | "body_html" | "column"
    line: int
    column: int
    text: str
    member: str = ""  # whose data it is (member number), if known
    column_name: str = ""  # where == "column": the roster column ...
    recipient: str = ""  # ... in the row of this member

    @property
    def message(self) -> str:
        if self.kind == "email":
            return _("E-mail address of member %(member)s") % {"member": self.member}
        if self.kind == "member_number":
            return _("Member number of member %(member)s") % {"member": self.member}
        if self.kind == "names":
            return _("Name of member %(member)s (several members' names are present)") % {
                "member": self.member}
        return _("A line that looks like a pasted roster row (delimited, with an e-mail address)")

    @property
    def place(self) -> str:
        labels = {"subject": _("Subject"), "body_text": _("Body"), "body_html": _("HTML body")}
        if self.where == "column":
            return _("column “%(column)s” of member %(member)s") % {
                "column": self.column_name, "member": self.recipient}
        return _("%(part)s, line %(line)s, column %(column)s") % {
            "part": labels[self.where], "line": self.line, "column": self.column}


@dataclass
class GuardReport:
    findings: list[Finding] = field(default_factory=list)
    truncated: bool = False
    members_scanned: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings

    def add(self, findings) -> None:
        for finding in findings:
            if len(self.findings) >= MAX_FINDINGS:
                self.truncated = True
                return
            self.findings.append(finding)

    def to_json(self) -> dict:
        return {"findings": [asdict(f) for f in self.findings], "truncated": self.truncated,
                "members_scanned": self.members_scanned}

    @classmethod
    def from_json(cls, data: dict | None) -> GuardReport | None:
        if not data:
            return None
        return cls([Finding(**f) for f in data["findings"]], data["truncated"],
                   data.get("members_scanned", 0))

    def audit_summary(self) -> dict:
        """For the audit log: what kind, where, and whose (member numbers), not the text."""
        return {
            "ok": self.ok,
            "finding_count": len(self.findings),
            "truncated": self.truncated,
            "findings": [{"kind": f.kind, "where": f.where, "line": f.line, "column": f.column,
                          "member": f.member} for f in self.findings[:20]],
        }


@dataclass(frozen=True)
class RosterIndex:
    emails: dict[str, str]  # casefolded address -> member number
    numbers: dict[str, str]  # member number -> member number (only the unambiguous ones)
    names: dict[str, str]  # name without spaces, casefolded -> member number
    name_lengths: tuple[int, ...]
    only_member: str  # the member number when the roster has exactly one member


def _name_key(name: str) -> str:
    return "".join(unicodedata.normalize("NFKC", name).split()).casefold()


@lru_cache(maxsize=8)
def _index(roster_pk: int, file_sha256: str, min_number_length: int) -> RosterIndex:
    from roster.models import Member

    emails, numbers, names = {}, {}, {}
    rows = Member.objects.filter(roster_id=roster_pk).values_list("member_number", "name", "email")
    for number, name, email in rows.iterator(chunk_size=5000):
        emails[email.casefold()] = number
        if len(number) >= min_number_length:
            numbers[number] = number
        key = _name_key(name)
        if len(key) >= (MIN_ASCII_NAME_LENGTH if key.isascii() else MIN_NAME_LENGTH):
            names[key] = number
    only = next(iter(emails.values())) if len(emails) == 1 else ""
    return RosterIndex(emails, numbers, names, tuple(sorted({len(k) for k in names})), only)


def roster_index(roster) -> RosterIndex:
    return _index(roster.pk, roster.file_sha256, settings.GUARD_MIN_NUMBER_LENGTH)


def _normalised(text: str) -> tuple[str, list[int]]:
    """NFKC text, and for each of its characters the index of the original character."""
    out, origin = [], []
    for index, char in enumerate(text):
        norm = char if char.isascii() else unicodedata.normalize("NFKC", char)
        out.append(norm)
        origin.extend([index] * len(norm))
    return "".join(out), origin


def scan(text: str, index: RosterIndex, *, where: str, exclude: str = "",
         column_name: str = "") -> list[Finding]:
    """Every piece of other members' data in `text` (positions are those of `text`)."""
    if not text:
        return []
    recipient, exclude = exclude, exclude or index.only_member
    norm, origin = _normalised(text)
    findings = []

    def found(kind, start, end, member=""):
        line, column = mail._line_column(text, origin[start])
        original = text[origin[start]:origin[end - 1] + 1]
        findings.append(Finding(kind, where, line, column, original, member, column_name,
                                recipient))

    email_spans = []
    for match in _EMAIL.finditer(norm):
        email_spans.append(match.span())
        member = index.emails.get(match.group(0).casefold())
        if member and member != exclude:
            found("email", match.start(), match.end(), member)

    blanked = _NOT_A_NUMBER.sub(lambda m: " " * len(m.group(0)), norm)
    for start, end in email_spans:
        blanked = blanked[:start] + " " * (end - start) + blanked[end:]
    for match in _TOKEN.finditer(blanked):
        candidates = {match.group(0), *re.split(r"[-_]", match.group(0))}
        for token in candidates:
            member = index.numbers.get(token)
            if member and member != exclude:
                found("member_number", match.start(), match.end(), member)
                break

    # Names: compare with spaces removed, keeping where each remaining character came from.
    compact = [(i, c) for i, c in enumerate(norm.casefold()) if not c.isspace()]
    squeezed = "".join(c for _i, c in compact)
    name_hits, members_named = [], set()
    for start in range(len(squeezed)):
        for length in index.name_lengths:
            if start + length > len(squeezed):
                break
            member = index.names.get(squeezed[start:start + length])
            if member and member != exclude:
                name_hits.append((compact[start][0], compact[start + length - 1][0] + 1, member))
                members_named.add(member)
    if len(members_named) >= 2:
        for start, end, member in name_hits:
            found("names", start, end, member)

    offset = 0
    for line in norm.split("\n"):
        if _EMAIL.search(line) and ("\t" in line or len(_ROW_DELIMITERS.findall(line)) >= 2):
            found("pasted_row", offset, offset + max(len(line), 1))
        offset += len(line) + 1
    return findings


def check_campaign_content(*, roster, subject: str, body_text: str, body_html: str) -> GuardReport:
    index = roster_index(roster)
    report = GuardReport()
    for where, template in (("subject", subject), ("body_text", body_text), ("body_html", body_html)):
        report.add(scan(mail.masked(template), index, where=where))

    used = set().union(*(mail.used_fields(t) for t in (subject, body_text, body_html)))
    columns = [c for c in roster.extra_columns if c in used]
    if columns:
        for number, extra in roster.members.values_list("member_number", "extra").iterator(
                chunk_size=5000):
            report.members_scanned += 1
            for column in columns:
                report.add(scan(extra.get(column, ""), index, where="column", exclude=number,
                                column_name=column))
            if report.truncated:
                break
    return report
