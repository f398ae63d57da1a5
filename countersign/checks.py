"""Deployment checks of the kernel's own settings (`manage.py check --deploy`)."""

import ipaddress
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def _is_local(host: str) -> bool:
    if host.lower() in _LOCAL_NAMES or host.lower().endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


@register(Tags.security, deploy=True)
def check_site_url(app_configs, **kwargs):
    """Every link in mail (unsubscribe links and the List-Unsubscribe header, notification
    and certificate mails) starts with SITE_URL: missing, it is the demo's
    http://127.0.0.1:8000, and members and the association would be sent dead links."""
    parts = urlsplit(settings.SITE_URL or "")
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host or _is_local(host):
        return [Error(f"SITE_URL is {settings.SITE_URL!r}: not an address people can reach",
                      hint="Set SITE_URL to the address people open the app at, such as "
                           "https://countersign.example.org: every link in mail starts "
                           "with it.", id="countersign.E002")]
    if parts.scheme != "https":
        return [Warning(f"SITE_URL {settings.SITE_URL!r} is not https",
                        hint="Links in mail (unsubscribe, notifications) would send people "
                             "to the app unencrypted.", id="countersign.W002")]
    return []
