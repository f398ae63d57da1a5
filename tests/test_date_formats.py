"""Dates read one way: in English the year first (2026-12-04 19:46, never 12/04/2026, which
a Japanese office reads as April), in Japanese 2026/12/04 19:46 on every page, the long form
2026年12月4日 19:46; hours always with two digits."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.utils import translation

from countersign.templatetags.countersign_tags import when

MOMENT = datetime(2026, 12, 4, 10, 5, tzinfo=ZoneInfo("UTC"))  # 19:05 in Tokyo


@pytest.mark.parametrize("language, short, long", [
    ("en", ">2026-12-04 19:05<", ">2026-12-04 19:05<"),
    ("ja", ">2026/12/04 19:05<", ">2026年12月4日 19:05<")])
def test_a_time_reads_the_same_way_on_every_page(language, short, long):
    with translation.override(language):
        assert short in when(MOMENT)
        assert long in when(MOMENT, "DATETIME_FORMAT")
