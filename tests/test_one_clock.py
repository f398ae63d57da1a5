"""One clock: every time a person reads is in TIME_ZONE and says which zone that is; the demo
inbox shows the same hour as the other pages; mails carry the local time too."""

import re
from datetime import UTC, datetime

import pytest
from django.core import mail as outbox
from django.urls import reverse
from django.utils import timezone, translation

from countersign import clock
from tests.factories import client_for


@pytest.mark.parametrize("zone, expected", [
    ("Asia/Tokyo", "JST (UTC+9)"),
    ("Asia/Kolkata", "IST (UTC+5:30)"),
    ("America/Sao_Paulo", "UTC-3"),  # the zone database has no letters for it
    ("UTC", "UTC+0"),
])
def test_the_zone_is_named_with_its_offset(settings, zone, expected):
    settings.TIME_ZONE = zone
    assert clock.zone_name(datetime(2026, 1, 15, tzinfo=UTC)) == expected


def test_a_naive_time_is_taken_as_utc_and_shown_in_the_sites_zone():
    naive = datetime(2026, 11, 26, 10, 44)  # as a "-0000" Date header parses
    assert clock.iso(naive) == "2026-11-26T19:44:00+09:00"
    assert clock.spreadsheet(naive) == datetime(2026, 11, 26, 19, 44)
    with translation.override("ja"):
        assert clock.text(naive) == "2026年11月26日 19:44 JST（UTC+9）"


def test_every_page_says_which_zone_its_times_are_in(olivia):
    client = client_for(olivia)
    page = client.get(reverse("roster:list"), HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "表示している時刻はすべてJST（UTC+9）です。" in page
    page = client.get(reverse("roster:list"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "All times are in JST (UTC+9)." in page


def test_a_time_on_a_page_carries_its_offset(olivia, roster):
    page = client_for(olivia).get(reverse("roster:list")).content.decode()
    local = timezone.localtime(roster.imported_at)
    assert f'<time datetime="{local.isoformat(timespec="seconds")}" title="JST（UTC+9）">' in page
    assert local.isoformat(timespec="seconds").endswith("+09:00")


def test_the_demo_inbox_shows_the_same_hour_as_the_other_pages(olivia, settings, tmp_path):
    """Django writes Date: ... -0000 unless told otherwise; the inbox showed it as 10:44 where
    every other page showed 19:44."""
    settings.MAILCATCHER_INBOX, settings.MAILCATCHER_DIR = True, tmp_path
    (tmp_path / "1-1.eml").write_bytes(
        b"From: a@example.jp\r\nTo: b@example.jp\r\nSubject: x\r\n"
        b"Date: Thu, 26 Nov 2026 10:44:00 -0000\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n")
    client = client_for(olivia)
    listing = client.get(reverse("mailbox"), HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    message = client.get(reverse("mailbox_message", args=["1-1.eml"]),
                         HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    for page in (listing, message):
        assert '<time datetime="2026-11-26T19:44:00+09:00"' in page
        assert "19:44" in page and "10:44" not in page


def test_mails_the_app_writes_are_dated_in_the_sites_zone(settings):
    assert settings.EMAIL_USE_LOCALTIME
    from django.core.mail import EmailMessage

    message = EmailMessage("x", "y", to=["a@example.jp"]).message()
    assert message["Date"].endswith("+0900")


def test_the_anchor_mail_gives_the_time_in_the_sites_zone_beside_the_utc_line(oscar,
                                                                               settings):
    from campaigns import notices

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with translation.override("ja"):
        notices.send_anchor("schedule")
    body = outbox.outbox[-1].body
    line = next(x for x in body.splitlines() if x.startswith("countersign-anchor"))
    utc = datetime.fromisoformat(re.search(r"time=(\S+)", line).group(1))
    with translation.override("ja"):
        assert f"（このエントリの記録日時：{clock.text(utc)}）" in body
    assert "JST（UTC+9）" in body


def test_the_approval_expiry_notice_gives_the_time_in_the_sites_zone(olivia, sam, approved,
                                                                     settings):
    from datetime import timedelta

    from campaigns import notifications
    from campaigns.models import Notification, SignOff

    settings.APPROVAL_TTL_HOURS = 72
    SignOff.objects.filter(kind=SignOff.Kind.APPROVAL).update(
        created_at=timezone.now() - timedelta(hours=50))
    notifications.warn_of_expiring_approvals()
    notice = Notification.objects.get(user=olivia, event="approval_expiring")
    expires = SignOff.objects.get(kind=SignOff.Kind.APPROVAL).expires_at()
    with translation.override("ja"):
        _subject, body = notifications.mail_text(notice)
        assert f"承認の有効期限は {clock.text(expires)} です。" in body
    assert "JST（UTC+9）" in body
    page = client_for(olivia).get(reverse("notifications"),
                                  HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "承認の有効期限は <time datetime=" in page and "+09:00" in page
