from django import template

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
