"""An error page (DEBUG on: the demo, a developer's machine, a deployment that forgot
DEBUG=false) and an error report (ADMINS' mail, the log) carry no member's data: Django's
shows every frame's local variables and every posted value, and a member's row opened
through the door, a sign-off's comment or a search typed is one of them."""

import sys

from django.test import RequestFactory
from django.views import debug

# Made at run time: a page quotes the source lines around each frame, which must not hold them.
NUMBER, FAMILY, GIVEN = 1, "鈴木", "陽菜"
ADDRESS, NAME = f"member{NUMBER:06d}@members.example", f"{FAMILY} {GIVEN}"


def _failing_view(request):
    row = {"email": ADDRESS, "name": NAME}  # a member's values, as a view holds them
    raise ValueError(f"broken after reading row {len(row)}")


def test_the_debug_page_shows_no_local_variable_and_no_posted_value(settings):
    settings.DEBUG = True
    request = RequestFactory().post("/rosters/1/", {"q": ADDRESS, "comment": NAME})
    try:
        _failing_view(request)
    except ValueError:
        page = debug.technical_500_response(request, *sys.exc_info()).content.decode()
    assert "broken after reading row" in page and "_failing_view" in page  # still useful
    assert ADDRESS not in page and NAME not in page


def test_an_error_report_as_text_shows_none_either(settings):
    settings.DEBUG = False
    request = RequestFactory().post("/campaigns/1/review/", {"comment": ADDRESS})
    try:
        _failing_view(request)
    except ValueError:
        reporter = debug.ExceptionReporter(request, *sys.exc_info())
        text = reporter.get_traceback_text()
    assert "ValueError" in text and ADDRESS not in text and NAME not in text
