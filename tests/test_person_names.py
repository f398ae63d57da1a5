"""Staff names as people write them: family name first for a Japanese name."""

import pytest
from django.urls import reverse

from countersign.models import person_name
from tests.factories import client_for


@pytest.mark.parametrize("given, family, shown", [
    ("里美", "小野", "小野 里美"),
    ("Olivia", "Smith", "Olivia Smith"),
    ("ｻﾄﾐ", "ｵﾉ", "ｵﾉ ｻﾄﾐ"),
    ("", "小野", "小野"),
    ("Satomi", "", "Satomi"),
])
def test_a_japanese_name_is_family_name_first(given, family, shown):
    assert person_name(given, family) == shown


def test_pages_show_japanese_staff_family_name_first(olivia):
    olivia.first_name, olivia.last_name = "里美", "小野"
    olivia.save()
    assert str(olivia) == "小野 里美" == olivia.get_full_name()
    page = client_for(olivia).get(reverse("home"), HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "ようこそ、小野 里美さん" in page and "里美 小野" not in page


def test_someone_without_a_name_is_shown_by_login_name(olivia):
    assert str(olivia) == "olivia"
