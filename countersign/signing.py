"""Signatures that leave in mail (unsubscribe links, VERP bounce addresses) and must keep
verifying after SECRET_KEY is rotated the Django way: the old key in SECRET_KEY_FALLBACKS."""

from collections.abc import Callable

from django.conf import settings
from django.utils.crypto import constant_time_compare


def signed_by_a_current_key(value: str, sign: Callable[[str], str]) -> bool:
    """`value` is what `sign(secret)` gives with SECRET_KEY or one of SECRET_KEY_FALLBACKS."""
    return any(constant_time_compare(value, sign(secret))
               for secret in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS))
