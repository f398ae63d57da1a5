from django import template

register = template.Library()


@register.filter
def get_item(mapping, key):
    """{{ member.extra|get_item:column }}: dictionary lookup by a variable key."""
    return mapping.get(key, "") if hasattr(mapping, "get") else ""
