"""Where a request comes from, behind the reverse proxies the settings name."""

from django.conf import settings


def client_address(request) -> str | None:
    """The client's address: with PROXY_COUNT proxies in front, each appends the address it
    received from to X-Forwarded-For, so the entry PROXY_COUNT from the right is the one the
    outermost proxy saw (anything further left was sent by the client and is not trusted).
    Without proxies, or with fewer entries than proxies (a request that bypassed them),
    REMOTE_ADDR. Used by the login lockout (django-axes' AXES_CLIENT_IP_CALLABLE)."""
    count = settings.PROXY_COUNT
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
                 if a.strip()]
    if count and len(forwarded) >= count:
        return forwarded[-count]
    return request.META.get("REMOTE_ADDR")
