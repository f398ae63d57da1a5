"""When a line of the relay's log was written: a traditional syslog stamp (no year, the
machine's zone), an ISO one (RFC 3339) or Exim's. A stamp that names a time after
`latest`, or a wall-clock time the zone has twice or never, dates nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

_MONTHS = {name: n for n, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_TRADITIONAL = re.compile(r"(?P<mon>[A-Z][a-z]{2}) (?P<day>[ \d]\d) "
                          r"(?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d) ")
_RFC3339 = re.compile(r"(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?"
                      r"(?:Z|[+-]\d\d:?\d\d)?) ")
_EXIM_STAMP = re.compile(r"(?P<iso>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{3,6})?)"
                         r"(?: (?P<offset>[+-]\d{4}))? ")


def _local(naive: datetime, zone: tzinfo) -> datetime | None:
    """`naive` in `zone`; None for a wall-clock time that zone has twice or never."""
    first, second = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
    return first if first.utcoffset() == second.utcoffset() else None


def _traditional(found, zone: tzinfo, latest: datetime) -> datetime | None:
    """Syslog's stamp has no year: the latest year (this one or the last) in which the date
    exists and is not after `latest`."""
    month = _MONTHS.get(found["mon"])
    if month is None:
        return None
    year = latest.astimezone(zone).year
    for candidate in (year, year - 1):
        try:
            naive = datetime(candidate, month, int(found["day"]), int(found["h"]),
                             int(found["m"]), int(found["s"]))
        except ValueError:
            continue
        moment = _local(naive, zone)
        if moment is None:
            return None
        if moment <= latest:
            return moment
    return None


def _iso(text: str, zone: tzinfo, latest: datetime) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = _local(moment, zone)
    return moment if moment is not None and moment <= latest else None

def dated(line: str, *, zone: tzinfo, latest: datetime) -> tuple[datetime | None, str, str] | None:
    """(when, the rest of the line, "syslog" or "exim") for a line that starts with a stamp;
    when is None for a stamp that dates nothing. None: the line starts with no stamp."""
    if found := _TRADITIONAL.match(line):
        return _traditional(found, zone, latest), line[found.end():], "syslog"
    if found := _RFC3339.match(line):
        return _iso(found["iso"], zone, latest), line[found.end():], "syslog"
    if found := _EXIM_STAMP.match(line):
        stamp = found["iso"].replace(" ", "T") + (found["offset"] or "")
        return _iso(stamp, zone, latest), line[found.end():], "exim"
    return None


def machine_zone(localtime: Path = Path("/etc/localtime")) -> tzinfo:
    """The zone this machine's daemons write their logs in: /etc/localtime, as for any
    process started without TZ. Not this process's local time: Django sets TZ to TIME_ZONE
    when it loads its settings, so a relay logging in UTC would be read nine hours off and
    every message in doubt would look "not covered"."""
    try:
        with open(localtime, "rb") as data:
            return ZoneInfo.from_file(data, key=_zone_key(localtime))
    except (OSError, ValueError):
        return UTC  # what the C library assumes without /etc/localtime


def _zone_key(localtime: Path) -> str:
    target = str(localtime.resolve())
    return target.split("/zoneinfo/", 1)[1] if "/zoneinfo/" in target else str(localtime)
