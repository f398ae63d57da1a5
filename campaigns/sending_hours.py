"""When a campaign may send: a daily window in the association's time zone (TIME_ZONE), on
every day or on weekdays only, and a moment after which it sends nothing more. Both are
signed with the content. Outside the window the worker claims nothing and the campaign's
page says when sending resumes; past "do not send after" the worker stops the campaign
(the members not reached need a new campaign, through the whole countersign again).

Pure functions of the campaign's terms and a moment: the worker, the pages and the tests
(with a moved clock) ask the same questions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

EVERY_DAY, WEEKDAYS = "every_day", "weekdays"
DAYS = ((EVERY_DAY, _("every day")), (WEEKDAYS, _("weekdays (Monday to Friday)")))


@dataclass(frozen=True)
class Hours:
    start: time | None = None  # None: no window (any time of day)
    end: time | None = None  # before start: the window runs past midnight
    days: str = EVERY_DAY
    send_before: datetime | None = None  # "do not send after"

    @classmethod
    def of(cls, obj) -> Hours:
        """A campaign's or a version's hours."""
        return cls(obj.window_start, obj.window_end, obj.window_days, obj.send_before)

    @property
    def windowed(self) -> bool:
        return self.start is not None and self.end is not None


def problems(hours: Hours) -> dict[str, str]:
    """Field -> message: what makes these hours impossible."""
    found = {}
    if (hours.start is None) != (hours.end is None):
        found["window_end" if hours.end is None else "window_start"] = str(
            _("Give both the start and the end of the sending hours, or neither."))
    elif hours.windowed and hours.start == hours.end:
        found["window_end"] = str(_("The sending hours must not start and end at the same "
                                    "time."))
    if hours.days not in (EVERY_DAY, WEEKDAYS):
        found["window_days"] = str(_("Choose every day or weekdays."))
    return found


def _day_open(hours: Hours, day) -> bool:
    return hours.days == EVERY_DAY or day.weekday() < 5


def _inside(hours: Hours, local: datetime) -> bool:
    moment = local.time()
    if hours.start < hours.end:
        return _day_open(hours, local.date()) and hours.start <= moment < hours.end
    # Past midnight (22:00-06:00): the evening part belongs to today, the morning part to
    # the day before (a weekdays window open on Friday night runs into Saturday morning).
    if moment >= hours.start:
        return _day_open(hours, local.date())
    return moment < hours.end and _day_open(hours, local.date() - timedelta(days=1))


def past_deadline(hours: Hours, now: datetime) -> bool:
    return hours.send_before is not None and now >= hours.send_before


def resumes_at(hours: Hours, now: datetime) -> datetime | None:
    """None: the campaign may send at `now`. Else the moment it may send again (aware, in
    the association's time zone), or None past the deadline is asked separately."""
    if not hours.windowed:
        return None
    local = timezone.localtime(now)
    if _inside(hours, local):
        return None
    zone = local.tzinfo
    for offset in range(9):  # the next opening is within a week and a day
        day = local.date() + timedelta(days=offset)
        opening = datetime.combine(day, hours.start, tzinfo=zone)
        if opening > local and _day_open(hours, day):
            return opening
    raise AssertionError("a window that never opens")  # problems() refuses such hours


def seconds_until(hours: Hours, now: datetime) -> float:
    """How long the worker waits before it may claim (0: now)."""
    at = resumes_at(hours, now)
    return 0.0 if at is None else max(0.0, (at - now).total_seconds())
