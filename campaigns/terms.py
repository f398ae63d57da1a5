"""How a campaign is sent, and the hash that binds it to what the signers saw: the sending
terms (the hold after the first messages, the rate, the charset, the sending hours), their
words as the signers read them, and the SHA-256 of exactly what will be sent."""

import hashlib
import json
import math
from datetime import UTC, datetime, time

from django.conf import settings
from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from campaigns import charsets, sending_hours
from roster import member_data

# How a campaign is sent: signed with the content (part of the content hash).
SENDING_FIELDS = ("canary_enabled", "canary_size", "rate_limit", "rate_unit", "charset",
                  "window_start", "window_end", "window_days", "send_before")
# Sending terms added after campaigns were first signed: at these values they are left out of
# the content hash, so that hashes signed before them stay valid.
_LATER_TERMS = {"charset": charsets.UTF8, "window_start": None, "window_end": None,
                "window_days": sending_hours.EVERY_DAY, "send_before": None}



def content_hash(*, sender: str, subject: str, body_text: str, body_html: str, roster,
                 sending: dict, kind: str = "notice", suppressed=()) -> str:
    """SHA-256 over exactly what will be sent and how: sender, subject, bodies, recipient
    list, and the sending terms the signers saw (the hold after the first messages, the
    rate limit), so that switching off the hold after the sign-offs voids them. Also the
    kind (a newsletter skips those who unsubscribed) and the member numbers the suppression
    list will skip: an address suppressed after the sign-offs voids them, and the signers
    see the new count.

    The recipient list is read from the database every time, as (member number, address
    pseudonym, digest of the stored row) (roster.member_data.recipients_digest: no member
    value is read): a roster altered behind the app's back changes the hash, and so voids
    the approvals.
    """
    recipient_count, recipients_sha256 = member_data.recipients_digest(roster)
    document = {
        "sender": sender,
        "subject": subject,
        "body_text": body_text,
        "body_html": body_html,
        "recipient_count": recipient_count,
        "recipients_sha256": recipients_sha256,
        "sending": {key: _canonical(sending[key]) for key in SENDING_FIELDS
                    if key not in _LATER_TERMS or sending[key] != _LATER_TERMS[key]},
        "kind": kind,
        "suppressed_count": len(suppressed),
        "suppressed_sha256": hashlib.sha256("\n".join(sorted(suppressed)).encode()).hexdigest(),
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _canonical(value):
    """A term as the hash document writes it (times and moments in ISO 8601, in UTC)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, time):
        return value.isoformat()
    return value


def canary_limit(*, enabled: bool, size: int | None, confirmed: bool, recipients: int):
    """The first N messages before the hold: the campaign's own N, else 10 or 1% if more."""
    if not enabled or confirmed:
        return None
    return size or max(10, math.ceil(recipients / 100))


# The units a rate limit may be given in, and their length in seconds.
RATE_UNIT_SECONDS = {"second": 1.0, "minute": 60.0, "hour": 3600.0}
RATE_UNITS = [("second", pgettext_lazy("rate limit unit", "second")),
              ("minute", pgettext_lazy("rate limit unit", "minute")),
              ("hour", pgettext_lazy("rate limit unit", "hour"))]


def send_interval(*, rate_limit: int | None, rate_unit: str) -> float:
    """Seconds between two messages at `rate_limit` per `rate_unit` (0: no limit)."""
    if not rate_limit:
        return 0.0
    return RATE_UNIT_SECONDS[rate_unit] / rate_limit


def sending_terms(obj) -> str:
    """The hold and the rate in words, as the signers read them (campaign or version)."""
    if not obj.canary_enabled:
        hold = _("no hold after the first messages")
    elif obj.canary_size:
        hold = _("hold after the first %(count)s messages") % {"count": obj.canary_size}
    else:
        hold = _("hold after the first 10 messages (or 1 per cent of the recipients if more)")
    if obj.rate_limit:
        rate = {"second": _("at most %(count)s per second"),
                "minute": _("at most %(count)s per minute"),
                "hour": _("at most %(count)s per hour")}[obj.rate_unit] % {
            "count": intcomma(obj.rate_limit)}
    else:
        rate = _("as fast as the mail server takes")
    terms = _("%(hold)s; %(rate)s") % {"hold": hold, "rate": rate}
    if obj.charset == charsets.ISO_2022_JP:
        terms = _("%(terms)s; written in ISO-2022-JP") % {"terms": terms}
    hours = sending_hours.Hours.of(obj)
    if hours.windowed:
        terms = _("%(terms)s; only %(start)s-%(end)s %(days)s (%(zone)s)") % {
            "terms": terms, "start": hours.start.strftime("%H:%M"),
            "end": hours.end.strftime("%H:%M"), "days": dict(sending_hours.DAYS)[hours.days],
            "zone": settings.TIME_ZONE}
    if hours.send_before:
        terms = _("%(terms)s; nothing sent after %(moment)s") % {
            "terms": terms,
            "moment": timezone.localtime(hours.send_before).strftime("%Y-%m-%d %H:%M")}
    return terms
