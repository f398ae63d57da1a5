"""What the content guard found: a finding (kind, place, whose data; the text found is
shown on the page that ran the check and never kept), and the report of one check, with
what of it is kept (summaries without member values)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from django.utils.translation import gettext as _

SEAM = 80  # characters either side of the subject's end and the body's start


def seam_of(texts: dict[str, str]) -> str:
    """Where the subject and the body meet, read as one text: a value split between them
    (member002@exa in the subject, mple.jp in the body; the family name in one, the given
    name in the other) is whole there. "" without both."""
    subject, body = texts.get("subject", ""), texts.get("body_text", "")
    return subject[-SEAM:] + body[:SEAM] if subject and body else ""


def subject_and_body(texts: dict[str, str], *, each=str) -> str:
    """The subject and the plain body as one text, where lists in each are read side by
    side (清水・松本 in the subject, 千尋さん、樹さん in the body); `each` applied to each
    (spellings.clean: it never reads across a line break)."""
    return "\n".join(each(texts.get(place, "")) for place in ("subject", "body_text"))

MAX_FINDINGS = 200

# Values that name nobody alone, counted, each kind on its own: this many members' or more
# are a finding, of the kind shown. One other member's name is a finding (the officers the
# association lists may be named: they are not in the index); a local part (fujita.j), a
# date or a member number's digits without its letters could be anyone's; a list of digits
# needs three (two meeting passcodes or order numbers are often someone's digits).
COUNTED = {"names": ("names", 1), "local_part": ("email", 2), "date": ("column", 2),
           "number_digits": ("member_number", 3)}


@dataclass(frozen=True)
class Finding:
    kind: str  # "email" | "member_number" | "names" | "phone" | "address" | "column" |
    #            "pasted_row" | "link" | "opaque" | "charset" | "unreadable"
    where: str  # "subject" | "body_text" | "body_html" | "column" | "roster"
    line: int  # 0: found only in a decoded or disguised form of the text
    column: int
    text: str  # what was found: shown on the page that ran the check, never kept
    member: str = ""  # whose data it is (member number), if known
    column_name: str = ""  # where == "column": the roster column ...
    recipient: str = ""  # ... in the row of this member; or the message's recipient
    detail: str = ""  # kind == "link": why it may not be sent; a roster value: its column
    length: int = 0  # read back from a summary: the text's length where it was found

    @property
    def message(self) -> str:
        if self.kind == "email":
            return _("E-mail address of member %(member)s") % {"member": self.member}
        if self.kind == "member_number":
            return _("Member number of member %(member)s") % {"member": self.member}
        if self.kind == "names":
            return _("Name of member %(member)s (not on the association's list of members "
                     "who may be named)") % {
                "member": self.member}
        if self.kind == "phone":
            return _("Telephone number of member %(member)s (column “%(column)s”)") % {
                "member": self.member, "column": self.detail}
        if self.kind == "address":
            return _("Postal address of member %(member)s (column “%(column)s”)") % {
                "member": self.member, "column": self.detail}
        if self.kind == "column":
            return _("Roster data of member %(member)s (column “%(column)s”)") % {
                "member": self.member, "column": self.detail}
        if self.kind == "opaque":
            return _("A run that looks encoded (%(encoding)s): a notice to members carries no "
                     "encoded data") % {"encoding": self.detail}
        if self.kind == "link":
            return _("A link that may not be sent: %(reason)s") % {"reason": self.detail}
        if self.kind == "unreadable":
            return _("The stored data of member %(member)s does not open: it was changed in "
                     "the database, or moved there from another member or roster. Nothing is "
                     "sent to or for it; tell the association and import the roster again") % {
                "member": self.member}
        if self.kind == "charset":
            if self.detail == "long_line":
                return _("A line too long for ISO-2022-JP (over 998 bytes)")
            return _("A character ISO-2022-JP cannot carry as written")
        return _("A line that looks like a pasted roster row (delimited, with an e-mail address)")

    @property
    def place(self) -> str:
        labels = {"subject": _("Subject"), "body_text": _("Body"), "body_html": _("HTML body")}
        if self.where == "column":
            return _("column “%(column)s” of member %(member)s") % {
                "column": self.column_name, "member": self.recipient}
        if self.where == "roster":
            return _("the roster's row of member %(member)s") % {"member": self.member}
        if not self.line:
            return _("%(part)s, disguised or encoded") % {"part": labels[self.where]}
        return _("%(part)s, line %(line)s, column %(column)s") % {
            "part": labels[self.where], "line": self.line, "column": self.column}

    def summary(self) -> dict:
        """What is kept of a finding (the audit log, the ledger, a campaign version, a
        session): what kind, where, how long, and whose, never the text found (another
        member's data) nor a link (it may be built from member data)."""
        return {"kind": self.kind, "where": self.where, "line": self.line,
                "column": self.column,
                "length": (len(self.text) or self.length) if self.line else 0,
                "member": self.member, "column_name": self.column_name,
                "recipient": self.recipient, "detail": self.detail}

    @classmethod
    def from_summary(cls, summary: dict) -> Finding:
        known = {k: summary.get(k, "") for k in ("kind", "where", "member", "column_name",
                                                  "recipient", "detail")}
        return cls(line=summary.get("line", 0), column=summary.get("column", 0), text="",
                   length=summary.get("length", 0), **known)


def unreadable_row(member_number: str) -> Finding:
    """A member whose stored values do not open (roster.member_data: changed or moved)."""
    return Finding("unreadable", "roster", 0, 0, "", member_number, recipient=member_number)


def _snippet(template: str, finding: Finding) -> str:
    length = finding.length
    if not (finding.line and template and length):
        return ""
    lines = template.split("\n")
    if finding.line > len(lines):
        return ""
    line = lines[finding.line - 1]
    return line[finding.column - 1:finding.column - 1 + length]


def labelled(summary: dict) -> dict:
    """A finding's summary (as stored in the ledger and the audit log) with words."""
    kinds = {"email": _("an e-mail address"), "member_number": _("a member number"),
             "names": _("several members' names"), "pasted_row": _("a pasted roster row"),
             "phone": _("a telephone number"), "address": _("a postal address"),
             "column": _("another roster value"), "opaque": _("a run that looks encoded"),
             "link": _("a link that may not be sent"),
             "charset": _("what ISO-2022-JP cannot carry"),
             "unreadable": _("a roster row that does not open")}
    places = {"subject": _("Subject"), "body_text": _("Body"), "body_html": _("HTML body"),
              "column": _("a roster column"), "roster": _("the roster")}
    return {**summary, "kind_label": kinds.get(summary.get("kind"), summary.get("kind")),
            "where_label": places.get(summary.get("where"), summary.get("where"))}


@dataclass
class GuardReport:
    findings: list[Finding] = field(default_factory=list)
    truncated: bool = False
    members_scanned: int = 0
    rendered_for: list[str] = field(default_factory=list)  # member numbers checked rendered
    links: list[dict] = field(default_factory=list)
    _seen: set = field(default_factory=set, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return not self.findings

    def add(self, findings) -> None:
        for finding in findings:
            if len(self.findings) >= MAX_FINDINGS:
                self.truncated = True
                return
            # The same data found in the template and again in a rendered message is one
            # finding (the template's, whose position the operator can find).
            key = (finding.kind, finding.where, finding.member, finding.column_name,
                   finding.text.casefold())
            if key not in self._seen:
                self._seen.add(key)
                self.findings.append(finding)

    def to_json(self) -> dict:
        """What is kept: no member value (findings as summaries, links as domains, counts
        and hashes where a member's data built them)."""
        return {"findings": [f.summary() for f in self.findings], "truncated": self.truncated,
                "members_scanned": self.members_scanned, "rendered_for": self.rendered_for,
                "links": self.links}

    @classmethod
    def from_json(cls, data: dict | None) -> GuardReport | None:
        if not data:
            return None
        return cls([Finding.from_summary(f) for f in data["findings"]], data["truncated"],
                   data.get("members_scanned", 0), data.get("rendered_for", []),
                   data.get("links", []))

    @classmethod
    def from_audit(cls, summary: dict) -> GuardReport:
        """The report as its audit entry keeps it (audit_summary: the first findings)."""
        findings = [Finding.from_summary(f) for f in summary.get("findings", [])]
        return cls(findings, summary.get("truncated", False) or summary.get(
            "finding_count", 0) > len(findings), links=summary.get("links", []))

    def with_snippets(self, texts: dict[str, str]) -> GuardReport:
        """The report with each finding's text read back from the campaign's own `texts`
        (place -> template) where it was found at a line and column, for the page."""
        findings = [replace(f, text=_snippet(texts.get(f.where, ""), f)) for f in self.findings]
        return replace(self, findings=findings)

    def audit_summary(self) -> dict:
        return {"ok": self.ok, "finding_count": len(self.findings), "truncated": self.truncated,
                "findings": [f.summary() for f in self.findings[:20]],
                "links": self.links[:20]}

