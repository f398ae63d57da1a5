"""One meaning per word in the Japanese pages (issue 20): お知らせ is the notice members get,
never the app's notifications (通知); the observer witnesses in person (私), the member is
not there (本人 read as the member); the compliance report checks three people, not two."""

import pytest
from django.utils import translation
from django.utils.translation import gettext


@pytest.fixture(autouse=True)
def japanese():
    with translation.override("ja"):
        yield


def test_notifications_are_not_called_like_the_notice_members_get():
    assert "お知らせ" in gettext("Notice to members")
    for text in ("Notifications", "A sign-off no longer counts"):
        assert "お知らせ" not in gettext(text), text
    assert "通知" in gettext("Notifications")


def test_the_observer_witnesses_as_themself_not_as_the_member():
    text = gettext("I am present and witness the release now.")
    assert "本人" not in text and "立会人" in text


def test_the_compliance_report_says_it_checks_three_people():
    for source in ("Two-person compliance", "Two-person compliance report"):
        text = gettext(source)
        assert "二人" not in text and "三者" in text, text
