from django import template
from django.utils import formats
from django.utils.html import format_html
from django.utils.translation import gettext as _

from countersign import clock
from countersign import labels as labels_module
from countersign.labels import label as lookup

register = template.Library()


@register.filter
def get_item(mapping, key):
    """{{ member.extra|get_item:column }}: dictionary lookup by a variable key."""
    return mapping.get(key, "") if hasattr(mapping, "get") else ""


@register.filter
def label(code, table_name):
    """The translated label of a stored code: {{ signoff.void_reason|label:"VOID_REASONS" }}
    (the tables are registered by the apps that own the codes, see countersign.labels)."""
    return lookup(table_name, code)


@register.filter
def labels(codes, table_name):
    return [lookup(table_name, code) for code in codes]


@register.filter
def minus(value, other):
    """{{ head.sequence|minus:verification.sequence }}: how many more."""
    return int(value) - int(other)


@register.filter
def source(code):
    """{{ suppression.source|source }}: where it came from, in words."""
    return labels_module.source_label(code or "")


@register.filter
def actor(name):
    """{{ entry.actor_name|actor }}: a person's name, or what the system was."""
    return labels_module.actor_label(name or "")


@register.filter
def when(moment, format_name="SHORT_DATETIME_FORMAT"):
    """{{ entry.created_at|when }}: the time in the site's zone (one clock for every page),
    as a <time> element that carries the offset and names the zone when pointed at."""
    if not moment:
        return ""
    local = clock.local(moment)
    return format_html('<time datetime="{}" title="{}">{}</time>', clock.iso(local),
                       clock.zone_name(local), formats.date_format(local, format_name))


@register.simple_tag
def copyable(value):
    """A value people are asked to keep (a hash): shown whole, wrapping on a phone rather than
    cut off, with a button that copies it (countersign/app.js)."""
    if not value:
        return ""
    return format_html(
        '<span class="copyable"><code class="text-break">{}</code> <button type="button" '
        'class="btn btn-sm btn-outline-secondary py-0 px-1 d-print-none" data-copy="{}" '
        'data-copied="{}">{}</button></span>', value, value, _("Copied"), _("Copy"))
