"""Sessions hold no member data (a refused submit's findings go by reference, see
test_content_guard), and expired sessions do not pile up: the worker clears them daily."""

from datetime import timedelta

from django.contrib.sessions.models import Session
from django.utils import timezone
from django_q.models import Schedule

from campaigns import schedules, tasks


def test_expired_sessions_are_cleared_by_a_daily_schedule(db):
    schedule = Schedule.objects.get(name=schedules.SESSIONS)
    assert (schedule.func, schedule.minutes) == ("campaigns.tasks.clear_expired_sessions",
                                                 24 * 60)
    past, future = timezone.now() - timedelta(hours=1), timezone.now() + timedelta(hours=1)
    Session.objects.create(session_key="old", session_data="x", expire_date=past)
    Session.objects.create(session_key="live", session_data="x", expire_date=future)
    tasks.clear_expired_sessions()
    assert list(Session.objects.values_list("session_key", flat=True)) == ["live"]
