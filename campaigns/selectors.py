"""Reads for the campaign pages: previews, the reviewer's material, the diff."""

import dataclasses
import difflib
import random
import re

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from campaigns import mail
from campaigns.states import State
from roster import data_keys, member_data, previews

PREVIEW_FIELDS = (("sender", pgettext_lazy("mail sender", "From")), ("subject", _("Subject")),
                  ("body_text", _("Body")), ("body_html", _("HTML body")))


def preview(campaign, member) -> dict:
    """`member`: roster.member_data.Values."""
    rendered = mail.render_for(subject=campaign.subject, body_text=campaign.body_text,
                               body_html=campaign.body_html,
                               values=mail.member_values(member, campaign.kind))
    return {"member": member, "subject": rendered.subject, "body_text": rendered.body_text,
            "body_html": rendered.body_html}


def sample_members(roster) -> list:
    """First, last and one random member (their values, through the door), each found
    through the (roster, row) index, so the cost does not grow with the roster. For a roster
    only the association holds, the members it lets previews show, if any (roster.previews):
    real messages rather than synthetic ones; else synthetic values as long as the roster's
    typical ones, and for the last as long as its longest (how the lines wrap)."""
    if data_keys.with_association(roster):
        granted = list(previews.current(roster).values_list("member_id", flat=True)[:3])
        found = member_data.values_of(granted, shown=True)
        if found:
            return [found[pk] for pk in granted if pk in found]
    members = roster.members.order_by("row_number").only("pk", "row_number")
    first, last = members.first(), members.reverse().first()
    if first is None:
        return []
    picked = [first, last] if first.pk != last.pk else [first]
    if len(picked) == 2:
        # Strictly between first and last, so that three show whenever there are three.
        pick = random.randint(first.row_number + 1,
                              max(first.row_number + 1, last.row_number - 1))
        middle = members.filter(row_number__gte=pick, row_number__lt=last.row_number).first()
        picked = [first, middle, last] if middle is not None else picked
    found = member_data.values_of((m.pk for m in picked), shown=True)
    shown = [found[m.pk] for m in picked if m.pk in found]
    if len(shown) > 1 and shown[-1].sealed:  # synthetic: the last one as long as the longest
        shown[-1] = dataclasses.replace(shown[-1], longest=True)
    return shown


# Words in Latin script (and addresses, numbers) are compared whole; any other character
# on its own, since Japanese has no spaces between words.
_TOKEN = re.compile(r"[A-Za-z0-9_@.+'-]+(?:,[0-9]{3})*|\s+|.", re.DOTALL)
DIFF_CONTEXT = 2  # unchanged lines shown around a change


def _pieces(before: str, after: str) -> list[tuple[str, str]]:
    """One line's change as (kind, text) pieces: "same", "del", "ins"."""
    a, b = _TOKEN.findall(before), _TOKEN.findall(after)
    pieces: list[tuple[str, str]] = []

    def add(kind, tokens):
        if tokens:
            if pieces and pieces[-1][0] == kind:
                pieces[-1] = (kind, pieces[-1][1] + "".join(tokens))
            else:
                pieces.append((kind, "".join(tokens)))

    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            add("same", a[i1:i2])
        else:
            add("del", a[i1:i2])
            add("ins", b[j1:j2])
    return pieces


def word_diff(before: str, after: str) -> list[dict]:
    """An inline word diff: lines of pieces ({"pieces": [(kind, text)]}), a changed line
    showing what went (del) and what came (ins) within it; unchanged lines further than
    DIFF_CONTEXT from a change fold into one {"skipped": n} line."""
    a, b = before.splitlines(), after.splitlines()
    opcodes = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    lines: list[dict] = []
    for n, (op, i1, i2, j1, j2) in enumerate(opcodes):
        if op == "equal":
            same = [{"pieces": [("same", line)]} for line in a[i1:i2]]
            head = same[:DIFF_CONTEXT] if n > 0 else []
            tail = same[-DIFF_CONTEXT:] if n < len(opcodes) - 1 else []
            if len(same) > len(head) + len(tail):
                lines += [*head, {"skipped": len(same) - len(head) - len(tail)}, *tail]
            else:
                lines += same
            continue
        old, new = a[i1:i2], b[j1:j2]
        for k in range(max(len(old), len(new))):
            if k < len(old) and k < len(new):
                lines.append({"pieces": _pieces(old[k], new[k])})
            elif k < len(old):
                lines.append({"pieces": [("del", old[k])]})
            else:
                lines.append({"pieces": [("ins", new[k])]})
    return lines


def content_diff(old, new) -> list[dict]:
    """What changed between two versions (anything with the content fields and the sending
    terms), field by field, as an inline word diff."""
    changes = []
    for field, label in PREVIEW_FIELDS:
        before, after = getattr(old, field), getattr(new, field)
        if before != after:
            changes.append({"field": field, "label": label, "lines": word_diff(before, after)})
    before, after = old.sending_terms(), new.sending_terms()
    if before != after:
        changes.append({"field": "sending", "label": _("How it is sent"),
                        "lines": word_diff(before, after)})
    return changes


def review_material(campaign, *, user, page_number=None) -> dict:
    version = campaign.current_version()
    previous = (campaign.versions.filter(number=version.number - 1).first()
                if version and version.number > 1 else None)
    return {
        "version": version,
        "previous": previous,
        "diff": content_diff(previous, version) if previous else [],
        "guard": version.guard if version else None,
        "previews": [preview(campaign, m) for m in sample_members(campaign.roster)],
        # A roster's size is stored at import and never changes: no COUNT(*) per view.
        # 20 a page: the signing page stays short on a phone; the count is above it.
        "recipients": member_data.page_of(campaign.roster, user=user, page=page_number,
                                          per_page=20, count=campaign.roster.member_count),
        "test_sends": campaign.test_sends.filter(content_hash=campaign.content_hash)
                      .select_related("sent_by").prefetch_related("recipients")
                      if campaign.content_hash else [],
        "approvals": campaign.valid_approvals().select_related("user"),
        "suppressed": len(campaign.suppressed_numbers()),
    }


def history(campaign):
    return campaign.signoffs.select_related("user").order_by("created_at")



def recounted(campaign):
    """The sign-off voided because the recipients changed under the version now up for
    review (workflow.recount_recipients), or None: the campaign page says so first."""
    current = campaign.current_version()
    if campaign.state != State.SUBMITTED or current is None:
        return None
    return campaign.signoffs.filter(void_reason="recipients_changed",
                                    voided_at__gte=current.submitted_at).select_related(
        "user").order_by("-voided_at").first()
