"""The content guard: no message may carry roster data of members other than its recipient.

The guarantee is `check_message`: the worker calls it on every rendered message (subject,
plain body, HTML) just before the hand-over, and a message with a finding is not sent.
`check_campaign_content` is the early warning at submit: the template with placeholders
masked and removed, the rendered messages of a few members (the previews, the one whose
placeholder values are shortest, one with an empty value), and every member's values of
the columns the template uses.

Both look for other members' e-mail addresses, member numbers and names with one
Aho-Corasick automaton per roster, in several views of the text, each normalised the same
way as the roster's keys (campaigns.spellings: NFKC, format characters dropped, look-alike
letters folded, case folded):

* the text itself, and with HTML tags stripped and entities decoded;
* with the usual disguises of an address undone (spaces around "@", "(at)", "★");
* percent-, quoted-printable- and base64-decoded runs, scanned the same way in turn.

Addresses are found as the roster's own strings (so every local part the importer accepts
is found, and IDN domains in both forms), bounded by characters an address cannot
continue with; member numbers at letter/digit boundaries whatever follows them (3510件 is
member 3510); names with everything but letters and digits removed, in either order of
their parts, also across two lists read side by side (family names in the subject, given
names in the body). Another member's name is a finding even alone: the officers the
association's observers list as members who may be named are left out of the index.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property, lru_cache

from django.utils.translation import gettext as _

from campaigns import guard_hits, guard_index, guard_tags, links, mail, opaque
from campaigns.findings import (
    COUNTED,
    Finding,
    GuardReport,
    seam_of,
    subject_and_body,
    unreadable_row,
)
from campaigns.guard_index import RosterIndex, roster_index
from campaigns.member_keys import mixed_name_keys, name_keys, own_keys
from campaigns.puzzles import ACROSTIC_MIN_NAME, Acrostic, side_by_side
from campaigns.selectors import sample_members
from campaigns.spellings import (
    clean,
    compact,
    strip_markup,
    views,
)
from roster import member_data

MAX_FINDINGS = 200
PLACES = ("subject", "body_text", "body_html")


@dataclass(frozen=True)
class Recipient:
    """Whose message it is: their own data is no finding."""

    member_number: str = ""
    email: str = ""
    name: str = ""
    others: tuple[str, ...] = ()  # their other values: a reading is their own name too

    @classmethod
    def of(cls, values: dict) -> Recipient:
        own = ("member_number", "email", "name")
        return cls(values.get("member_number", ""), values.get("email", ""),
                   values.get("name", ""),
                   tuple(v for k, v in values.items() if k not in own and isinstance(v, str)))

    @cached_property
    def all_name_keys(self) -> set[str]:
        """Every spelling of their own name: written, read (a homophone's name is theirs
        when they are the recipient), half and half."""
        keys = name_keys(self.name)
        for value in self.others:
            keys |= name_keys(value) | mixed_name_keys(self.name, value)
        return keys


def _locate(original: str, found: str) -> tuple[int, int, str]:
    """(line, column, original text) of a normalised match, or (0, 0, match) when it only
    exists in a decoded or disguised view."""
    folded = _casefolded(original)
    if len(folded) == len(original):
        position = folded.find(found)
        if position >= 0:
            line, column = mail.line_column(original, position)
            return line, column, original[position:position + len(found)]
    for origin, text in _traced(original):
        position = text.find(found)
        if position >= 0:
            start, end = origin[position], origin[position + len(found) - 1] + 1
            line, column = mail.line_column(original, start)
            return line, column, original[start:end]
    return 0, 0, found


@lru_cache(maxsize=8)
def _casefolded(original: str) -> str:
    return original.casefold()  # remembered: a text with many findings is folded once


@lru_cache(maxsize=8)
def _traced(original: str) -> tuple[tuple[list[int], str], ...]:
    """The text normalised character by character, keeping where each character came from;
    then the same with only letters and digits (how names are compared). Remembered for the
    last few texts: a text with many findings is not normalised again for each."""
    pieces = [(i, clean(char).casefold()) for i, char in enumerate(original)]
    traced = []
    for keep in (lambda piece: True, str.isalnum):
        origin, text = [], []
        for i, piece in pieces:
            if piece and keep(piece):
                origin.extend([i] * len(piece))
                text.append(piece)
        traced.append((origin, "".join(text)))
    return tuple(traced)


def _seam_findings(texts: dict[str, str], index: RosterIndex, found: list[Finding], *,
                   recipient: Recipient | None = None) -> list[Finding]:
    """The subject and the body read as one text, where they meet: a value split between
    them (member002@exa in the subject, mple.jp in the body) is whole there. Only what a
    split can hide (an address, a number), in the seam's plain and undisguised views."""
    seam = clean(seam_of(texts))
    if not seam:
        return []
    recipient = recipient or Recipient(index.only_member)
    known = {(f.kind, f.member) for f in found}
    seams = (seam, strip_markup(seam)) if "<" in seam or "&" in seam else (seam,)
    hits = {(hit.kind, hit.member): hit for view in seams
            for hit in guard_hits.hits(view.casefold(), index, spaced=True, compacted=False)
            if hit.kind in ("email", "member_number", "phone")}
    return [Finding(kind, "body_text", 0, 0, hit.text, member, "", recipient.member_number,
                    hit.column) for (kind, member), hit in sorted(hits.items())
            if member != recipient.member_number and (kind, member) not in known]


def scan_texts(texts: dict[str, str], index: RosterIndex, *,
               recipient: Recipient | None = None, column_name: str = "") -> list[Finding]:
    """Other members' data in one message (`texts`: place -> text), or in one roster
    value (place "column"). Names count across all places together."""
    recipient = recipient or Recipient(index.only_member)
    own_email = clean(recipient.email).casefold()
    own_names = name_keys(recipient.name)
    own_spans = frozenset(own_names | {key[::-1] for key in own_names})
    findings = []
    counted: dict[str, dict] = {kind: {} for kind in COUNTED}

    def others_name(hit) -> bool:  # the recipient's own name, in any spelling, is no finding
        return hit.member != recipient.member_number and hit.key not in own_names and (
            hit.key not in recipient.all_name_keys)

    def add(kind, where, found, member="", detail=""):
        if where == "column":
            line, column, text = 0, 0, found
        else:
            line, column, text = _locate(texts[where], found)
        findings.append(Finding(kind, where, line, column, text, member, column_name,
                                recipient.member_number, detail))

    for where, text in texts.items():
        seen = set()
        for view, spaced in views(text):
            folded, shortest = view.casefold(), ACROSTIC_MIN_NAME if isinstance(
                view, Acrostic) else 0
            for hit in guard_hits.hits(folded, index, spaced=spaced, own=own_spans):
                if hit.kind == "names":
                    if len(hit.key) >= shortest and others_name(hit):
                        counted["names"].setdefault(hit.member, (where, hit.text, ""))
                elif hit.kind in COUNTED:  # like names, each kind on its own
                    if hit.member != recipient.member_number:
                        counted[hit.kind].setdefault(hit.member, (where, hit.text, hit.column))
                elif hit.member != recipient.member_number and (hit.kind, hit.member) not in seen:
                    seen.add((hit.kind, hit.member))
                    add(hit.kind, where, hit.text, hit.member, hit.column)
            for row in guard_hits.pasted_rows(folded, own_email) if spaced else ():
                if ("pasted_row", row) not in seen:
                    seen.add(("pasted_row", row))
                    add("pasted_row", where, row)
    lists_place = "body_text" if "body_text" in texts else next(iter(texts), "")
    for view in side_by_side(subject_and_body(texts, each=clean)):
        for hit in guard_hits.compacted_hits(compact(view.casefold()), index, own_spans):
            if hit.kind == "names" and others_name(hit):
                counted["names"].setdefault(hit.member, (lists_place, hit.text, ""))
    for kind, found in counted.items():
        shown, at_least = COUNTED[kind]
        if len(found) >= at_least:
            for member, (where, text, column) in sorted(found.items()):
                add(shown, where, text, member, column)
    return findings


# How a free text names a member: by their number. Every other value of theirs is member data.
_NUMBER_KINDS = frozenset({"member_number", "number_digits"})


def member_data_in(text: str) -> list[Finding]:
    """Member data in a free text that is kept in the audit log, which auditors read, and
    told to people (a sign-off's comment, a written reason, a campaign's name): any value of
    any member of any roster held but their number, in every reading a message's check
    reads (a telephone number, a postal address, a reading of a name, any column), and on
    the keyed tags of rosters the contractor cannot read (held by the association, or
    purged). Stricter than a message: nobody's own data, and a name is found alone."""
    if not text.strip():
        return []
    texts = {"body_text": text}
    found = scan_texts(texts, guard_index.index_of_all(), recipient=Recipient()) + \
        guard_tags.findings(texts)
    return [finding for finding in found if finding.kind not in _NUMBER_KINDS]


def shown_host(host: str, literal: str) -> str:
    """A link's domain as a signer, a refusal or the audit log may show it: one a link in
    the campaign's own text goes to, or one of the allowed domains as listed; else "" (a
    domain built from members' data, https://{name}.example/ or a column of home pages, is
    theirs)."""
    return host if host and (host in _hosts_linked(literal) or host in links.allowed_domains()) \
        else ""


@lru_cache(maxsize=8)
def _hosts_linked(literal: str) -> frozenset[str]:
    """The domains the campaign's own text links to: read once per text, not once per link
    a submit lists (up to MAX_LISTED_LINKS of them)."""
    return frozenset(link.host for link in links.links_in(body_text=literal)) if literal \
        else frozenset()


def _link_finding(link: links.Link, where: str, *, recipient: str = "",
                  column_name: str = "", literal: str = "") -> Finding | None:
    problem = links.problem(link)
    if not problem:
        return None
    host = shown_host(link.host, literal)
    reason = (_("only http, https and mailto links may be sent") if problem == "scheme"
              else _("%(host)s is not one of the allowed link domains") % {"host": host} if host
              else _("a link's domain, built from members' data, is not one of the allowed "
                     "link domains"))
    return Finding("link", where, 0, 0, link.url, column_name=column_name,
                   recipient=recipient, detail=reason)


def scan_links(texts: dict[str, str], *, recipient: Recipient | None = None,
               literal: str = "") -> list[Finding]:
    """Links that may not be sent (CAMPAIGN_LINK_DOMAINS, schemes), per place. `literal`:
    the campaign's own text, whose domains a refusal may name."""
    found = []
    for where, text in texts.items():
        for link in links.links_in(**{where: text}):
            finding = _link_finding(link, where, literal=literal,
                                    recipient=recipient.member_number if recipient else "")
            if finding is not None:
                found.append(finding)
    return found


def scan_opaque(texts: dict[str, str], *, own: frozenset[str] = frozenset(),
                template: bool = False, recipient: str = "") -> list[Finding]:
    """Runs that look encoded (campaigns.opaque), per place; an HTML body by what it shows
    and its links."""
    found = []
    for where, text in texts.items():
        if where == "body_html" and text:
            shown = strip_markup(text)
            hrefs = " ".join(link.url for link in links.links_in(body_html=text))
            runs = opaque.opaque_runs(f"{shown} {hrefs}", own=own, template=template)
        else:
            runs = opaque.opaque_runs(clean(text), own=own, template=template)
        for run in opaque.hidden_selectors(text) + runs:
            line, column, shown_text = _locate(text, run.text.casefold())
            found.append(Finding("opaque", where, line, column, run.text if not line else
                                 shown_text, recipient=recipient, detail=run.encoding))
    return found


def _own_values(values: dict) -> frozenset[str]:
    return frozenset(v for v in values.values() if isinstance(v, str) and len(v) >= 8)


def check_message(*, roster, subject: str, body_text: str, body_html: str,
                  recipient: dict, unsanitised_html: str = "",
                  own_links: tuple[str, ...] = (),
                  template: dict[str, str] | None = None) -> list[Finding]:
    """The check of one rendered message, just before it is handed over: [] to send it.
    `unsanitised_html`: the HTML before the allow-list removed what may not be sent; a
    data: or javascript: link there is refused, not silently dropped. `own_links`: links
    the app itself made for this recipient (a newsletter's unsubscribe link, whose signed
    token is random letters that may spell a name); their text is not read as member data,
    their domain is still checked. `template`: the campaign's subject and bodies as written,
    looked up in the keyed tags of purged rosters (once per text: campaigns.guard_tags)."""
    return [finding for part in check_message_in_parts(
        roster=roster, subject=subject, body_text=body_text, body_html=body_html,
        recipient=recipient, unsanitised_html=unsanitised_html, own_links=own_links,
        template=template) for finding in part]


def check_message_in_parts(*, roster, subject: str, body_text: str, body_html: str,
                           recipient: dict, unsanitised_html: str = "",
                           own_links: tuple[str, ...] = (),
                           template: dict[str, str] | None = None) -> Iterator[list[Finding]]:
    """check_message in two parts, for a caller with something to do between them (the
    worker reads the relay's answer to one command and sends the next): other members'
    data in the texts first, then the links and the runs that look encoded. The message
    passes when both parts found nothing."""
    texts = {"subject": subject, "body_text": body_text, "body_html": body_html}
    who = Recipient.of(recipient)
    scanned = {place: _without(text, own_links) for place, text in texts.items()}
    index = roster_index(roster)
    found = scan_texts(scanned, index, recipient=who)
    purged = guard_tags.findings_in_template(_template_texts(template, "")) if template else []
    yield found + purged + _seam_findings(scanned, index, found, recipient=who)
    yield (scan_links({**texts, "body_html": unsanitised_html or body_html}, recipient=who,
                      literal="\n".join(template.values()) if template else "")
           + scan_opaque(scanned, own=_own_values(recipient), recipient=who.member_number))


def _without(text: str, links: tuple[str, ...]) -> str:
    for link in links:
        text = text.replace(link, " ").replace(html.escape(link), " ")
    return text


# --- the early warning at submit ----------------------------------------------------------------

MAX_LISTED_LINKS = 10_000  # distinct links collected at submit (then summarised)


def _template_texts(templates: dict[str, str], replace) -> dict[str, str]:
    return {where: mail.TEMPLATE_TOKEN.sub(replace, t) for where, t in templates.items()}


def _column_findings(extra: dict, columns: list[str], index: RosterIndex, who: Recipient,
                     found_links: dict[str, str], literal: str) -> list[Finding]:
    """One member's values of the used columns: other members' data, and links (a column
    may hold a URL, or be the href of a link)."""
    findings = []
    for column in columns:
        value = extra.get(column, "")
        if not value:
            continue
        findings += scan_texts({"column": value}, index, recipient=who, column_name=column)
        for link in links.links_in(body_text=value):
            if len(found_links) < MAX_LISTED_LINKS:
                found_links.setdefault(link.url, f"column:{column}")
            finding = _link_finding(link, "column", recipient=who.member_number,
                                    column_name=column, literal=literal)
            if finding is not None:
                findings.append(finding)
    return findings


def check_campaign_content(*, roster, subject: str, body_text: str,
                           body_html: str) -> GuardReport:
    """Everything that can be checked before sending; slow for big rosters, so callers
    run it outside any lock (the campaign row is locked only to store the outcome)."""
    index = roster_index(roster)
    report = GuardReport()
    templates = {"subject": subject, "body_text": body_text, "body_html": body_html}
    # The template's own text: placeholders as breaks, and placeholders as nothing (an
    # empty column inside a pasted row must not hide the row).
    report.add(scan_texts(_template_texts(templates, lambda m: "\x00" * len(m.group(0))),
                          index))
    emptied = _template_texts(templates, "")
    report.add(scan_texts(emptied, index))
    report.add(_seam_findings(emptied, index, report.findings))
    report.add(guard_tags.findings(emptied))  # purged rosters: on keyed tags alone
    # Placeholders as blanks of their length (in a link's query they are the member's own).
    report.add(scan_opaque(_template_texts(templates, lambda m: " " * len(m.group(0))),
                           template=True))

    literal = "\n".join(templates.values())
    used = set().union(*(mail.used_fields(t) for t in templates.values()))
    columns = [c for c in roster.extra_columns if c in used]
    found_links: dict[str, str] = {}  # url -> where it came from
    shortest, shortest_length, with_empty = None, None, None
    for member in member_data.rows(roster):
        report.members_scanned += 1
        if member.unreadable:  # changed or moved in the database: not sent, not signed
            report.add([unreadable_row(member.member_number)])
            continue
        values = member.placeholders()
        report.add(_column_findings(member.extra, columns, index, Recipient.of(values),
                                    found_links, literal))
        length = sum(len(values.get(f, "")) for f in used)
        if shortest_length is None or length < shortest_length:
            shortest, shortest_length = values, length
        if with_empty is None and any(not values.get(f) for f in used):
            with_empty = values
        if report.truncated:
            break

    sample = [mail.member_values(m) for m in sample_members(roster)]
    for values in [*sample, shortest, with_empty]:
        if values is None or values["member_number"] in report.rendered_for:
            continue
        report.rendered_for.append(values["member_number"])
        rendered = mail.render_for(subject=subject, body_text=body_text, body_html=body_html,
                                   values=values)
        texts = {"subject": rendered.subject, "body_text": rendered.body_text,
                 "body_html": rendered.body_html}
        report.add(scan_texts(texts, index, recipient=Recipient.of(values)))
        report.add(scan_links({**texts, "body_html": rendered.unsanitised_html},
                              recipient=Recipient.of(values), literal=literal))
        report.add(scan_opaque(texts, own=_own_values(values),
                               recipient=values["member_number"]))
        report.add(guard_tags.findings(texts, recipient=values["member_number"],
                                       own=own_keys(values, roster.extra_columns)))
        for link in links.links_in(**texts):
            if len(found_links) < MAX_LISTED_LINKS:
                found_links.setdefault(link.url, "message")
    report.links = link_summary(found_links, templates)
    return report


def link_summary(found: dict[str, str], templates: dict[str, str]) -> list[dict]:
    """The links for the signers, with no member data in them: a link written in the
    campaign's own text with its URL; links that members' data built (a roster column, a
    placeholder in a link) by domain (shown_host: none when members' data built it too)
    and origin, with how many distinct ones and a SHA-256 over them (two versions compare
    without showing them)."""
    literal = "\n".join(templates.values())
    listed, built = [], {}
    for url, source in found.items():
        link = links.parse(url)
        if url in literal:
            listed.append({"url": url, "scheme": link.scheme, "host": link.host, "count": 1,
                           "source": "text"})
        else:  # by domain, or all in one when their domains are members' data
            built.setdefault((link.scheme, shown_host(link.host, literal), source),
                             []).append(url)
    for (scheme, host, source), urls in built.items():
        listed.append({"url": "", "scheme": scheme, "host": host, "count": len(urls),
                       "source": source, "sha256": hashlib.sha256(
                           "\n".join(sorted(urls)).encode()).hexdigest()})
    return sorted(listed, key=lambda link: (link["host"], link["url"], link["source"]))
