"""Where a request comes from, behind the reverse proxies the settings trust."""

import ipaddress
from functools import lru_cache

from django.conf import settings


@lru_cache(maxsize=8)
def _networks(specs: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(spec, strict=False) for spec in specs)


def _address(text: str | None):
    """The IP address in `text`, IPv4-mapped IPv6 as IPv4; None if it is not one."""
    try:
        address = ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None
    return getattr(address, "ipv4_mapped", None) or address


def client_address(request) -> str | None:
    """The client's address, for the login lockout (django-axes' AXES_CLIENT_IP_CALLABLE) and
    the audit log alike.

    X-Forwarded-For is believed only from the proxies in settings.TRUSTED_PROXIES: a request
    whose REMOTE_ADDR is not one of them is its own client, whatever it wrote in the header (it
    reached the app without going through them). From a trusted proxy, the header is read from
    the right, each proxy having appended the address it received from: the first address that
    is not a trusted proxy is the client. Everything to its left was written by the client and
    is ignored. An entry that is not an address stops the walk at the proxy that passed it on.
    """
    remote = request.META.get("REMOTE_ADDR")
    networks = _networks(tuple(settings.TRUSTED_PROXIES))
    if not _is_trusted(remote, networks):
        return remote
    client = remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for hop in reversed([hop for hop in hops if hop]):
        if _address(hop) is None:
            break
        client = hop
        if not _is_trusted(hop, networks):
            break
    return client


def _is_trusted(text: str | None, networks) -> bool:
    address = _address(text)
    return address is not None and any(address in network for network in networks)
