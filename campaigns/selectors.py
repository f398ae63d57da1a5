"""Reads for the campaign pages: previews, the reviewer's material, the diff."""

import difflib
import random

from django.core.paginator import Paginator
from django.utils.translation import gettext_lazy as _

from campaigns import mail

PREVIEW_FIELDS = (("sender", _("From")), ("subject", _("Subject")), ("body_text", _("Body")),
                  ("body_html", _("HTML body")))


def preview(campaign, member) -> dict:
    rendered = mail.render_for(subject=campaign.subject, body_text=campaign.body_text,
                               body_html=campaign.body_html, values=mail.member_values(member))
    return {"member": member, "subject": rendered.subject, "body_text": rendered.body_text,
            "body_html": rendered.body_html}


def sample_members(roster) -> list:
    """First, last and one random member, each found through the (roster, row) index, so
    the cost does not grow with the roster."""
    members = roster.members.order_by("row_number")
    first, last = members.first(), members.reverse().first()
    if first is None:
        return []
    if first.pk == last.pk:
        return [first]
    # Strictly between first and last, so that three members show whenever there are three.
    pick = random.randint(first.row_number + 1, max(first.row_number + 1, last.row_number - 1))
    middle = members.filter(row_number__gte=pick, row_number__lt=last.row_number).first()
    return [m for m in (first, middle, last) if m is not None]


class KnownCountPaginator(Paginator):
    """A roster's size is stored at import and never changes: no COUNT(*) per page view."""

    def __init__(self, object_list, per_page, *, count: int):
        super().__init__(object_list, per_page)
        self.__dict__["count"] = count  # fills Paginator.count (a cached_property)


def content_diff(old, new) -> list[dict]:
    """Unified diff per field between two versions (anything with the content fields)."""
    changes = []
    for field, label in PREVIEW_FIELDS:
        before, after = getattr(old, field), getattr(new, field)
        if before != after:
            lines = list(difflib.unified_diff(before.splitlines(), after.splitlines(),
                                              lineterm="", n=2))[2:]
            changes.append({"field": field, "label": label, "lines": lines})
    return changes


def review_material(campaign, *, page_number=None) -> dict:
    version = campaign.current_version()
    previous = (campaign.versions.filter(number=version.number - 1).first()
                if version and version.number > 1 else None)
    recipients = KnownCountPaginator(campaign.roster.members.order_by("row_number"), 50,
                                     count=campaign.roster.member_count)
    return {
        "version": version,
        "previous": previous,
        "diff": content_diff(previous, version) if previous else [],
        "guard": version.guard if version else None,
        "previews": [preview(campaign, m) for m in sample_members(campaign.roster)],
        "recipients": recipients.get_page(page_number),
        "test_sends": campaign.test_sends.filter(content_hash=campaign.content_hash)
                      .select_related("sent_by").prefetch_related("recipients")
                      if campaign.content_hash else [],
        "approvals": campaign.valid_approvals().select_related("user"),
    }


def history(campaign):
    return campaign.signoffs.select_related("user").order_by("created_at")

