"""One clock: every time a person reads (page, mail, export) is in settings.TIME_ZONE, and
says which zone that is. The database and the audit chain keep UTC; only what people read
is converted, here, so that every page shows the same hour for the same moment.

    zone_name()        "JST (UTC+9)": the zone's abbreviation and its offset
    iso(moment)        "2026-11-26T19:46:51+09:00": CSV cells, machine-readable with offset
    spreadsheet(moment) a naive local datetime: an Excel date cell (the zone in its header)
    text(moment)       "2026年11月26日19:46 JST（UTC+9）": mails, in the active language
"""

from datetime import UTC, datetime

from django.utils import formats, timezone
from django.utils.translation import gettext as _


def local(moment: datetime) -> datetime:
    """`moment` in the site's zone. A naive time is taken as UTC (what a mail's "-0000"
    Date header and SQLite's raw columns mean), never as local time."""
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    return timezone.localtime(moment)


def offset_text(moment: datetime | None = None) -> str:
    """"UTC+9", "UTC+5:30", "UTC-3", "UTC+0": the site zone's offset at `moment` (now)."""
    minutes = int(local(moment or timezone.now()).utcoffset().total_seconds()) // 60
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{'-' if minutes < 0 else '+'}{hours}" + (f":{rest:02d}" if rest else "")


def zone_name(moment: datetime | None = None) -> str:
    """The site's zone as people read it: "JST (UTC+9)", or the offset alone where the zone
    has no letters of its own ("UTC+0", "UTC+7")."""
    moment = local(moment or timezone.now())
    abbreviation, offset = moment.tzname() or "", offset_text(moment)
    if not abbreviation or abbreviation[0] in "+-" or abbreviation.startswith("UTC"):
        return offset
    return _("%(zone)s (%(offset)s)") % {"zone": abbreviation, "offset": offset}


def iso(moment: datetime | None) -> str:
    """ISO 8601 in the site's zone with its offset, to the second ("" for no time)."""
    return local(moment).isoformat(timespec="seconds") if moment else ""


def spreadsheet(moment: datetime | None) -> datetime | None:
    """The local wall-clock time without a zone: spreadsheets have no zones in their date
    cells, so the sheet's header names the zone instead."""
    return local(moment).replace(tzinfo=None) if moment else None


def text(moment: datetime | None, format_name: str = "DATETIME_FORMAT") -> str:
    """A time for a mail or a message, in the active language, with its zone."""
    if not moment:
        return ""
    moment = local(moment)
    return f"{formats.date_format(moment, format_name)} {zone_name(moment)}"


def context(request) -> dict:
    """Template context: the zone every page states in its footer."""
    return {"time_zone_name": zone_name()}
