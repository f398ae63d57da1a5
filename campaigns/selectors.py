"""Reads for the campaign pages: previews, the reviewer's material, the diff."""

import difflib
import random

from django.core.paginator import Paginator
from django.db.models import Max, Min

from campaigns import mail
from campaigns.models import State

PREVIEW_FIELDS = (("sender", "From"), ("subject", "Subject"), ("body_text", "Body"),
                  ("body_html", "HTML body"))


def preview(campaign, member) -> dict:
    rendered = mail.render_for(subject=campaign.subject, body_text=campaign.body_text,
                               body_html=campaign.body_html, values=mail.member_values(member))
    return {"member": member, "subject": rendered.subject, "body_text": rendered.body_text,
            "body_html": rendered.body_html}


def sample_members(roster) -> list:
    """First, last and one random member, found through indexes (fast at any roster size)."""
    members = roster.members.all()
    first = members.order_by("row_number").first()
    if first is None:
        return []
    last = members.order_by("-row_number").first()
    bounds = members.aggregate(low=Min("pk"), high=Max("pk"))
    pick = random.randint(bounds["low"], bounds["high"])
    middle = members.filter(pk__gte=pick).order_by("pk").first()
    chosen = []
    for member in (first, middle, last):
        if member is not None and member.pk not in {m.pk for m in chosen}:
            chosen.append(member)
    return chosen


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
    recipients = Paginator(campaign.roster.members.order_by("row_number"), 50)
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


def awaiting_release(queryset):
    return queryset.filter(state__in=[State.APPROVED, State.RELEASED])

