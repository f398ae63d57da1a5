"""403, 404 and 500 in the reader's language, with a way back; 500 without the database."""

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import translation

from tests.factories import client_for


def test_a_refused_page_says_why_in_japanese_and_leads_home(olivia):
    response = client_for(olivia).get(reverse("audit:log"), HTTP_ACCEPT_LANGUAGE="ja")
    page = response.content.decode()
    assert response.status_code == 403
    assert "このページを開く権限がありません" in page and "403 Forbidden" not in page
    assert 'href="/">ホームへ</a>' in page and "data-back" in page
    assert "名簿" in page  # the usual menu, for the roles this person has


def test_a_refused_page_speaks_english_to_an_english_reader(olivia):
    page = client_for(olivia).get(reverse("audit:log"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "This page is not open to you" in page and "Go to the home page" in page


def test_a_missing_page_says_so_and_leads_home(olivia):
    response = client_for(olivia).get(reverse("campaigns:detail", args=[999999]),
                                      HTTP_ACCEPT_LANGUAGE="ja")
    assert response.status_code == 404
    page = response.content.decode()
    assert "ページが見つかりません" in page and 'href="/">ホームへ</a>' in page


def test_a_form_sent_without_its_token_is_explained(olivia):
    client = Client(enforce_csrf_checks=True)
    client.force_login(olivia)
    response = client.post(reverse("campaigns:create"), {}, HTTP_ACCEPT_LANGUAGE="ja")
    assert response.status_code == 403
    page = response.content.decode()
    assert "フォームの有効期限が切れました" in page and 'href="/"' in page


def test_the_error_page_needs_no_database():
    """A 500 is often the database failing: its page must render without one (this test has
    no database access; any query would fail it)."""
    from django.views.defaults import server_error

    request = RequestFactory().get("/campaigns/1/")
    with translation.override("ja"):
        response = server_error(request)
    page = response.content.decode()
    assert response.status_code == 500
    assert "システムでエラーが発生しました" in page and 'href="/">ホームへ</a>' in page
    assert 'lang="ja"' in page


@pytest.mark.parametrize("template", ["403.html", "404.html"])
def test_the_error_pages_link_back_without_inline_script(template):
    from django.conf import settings

    text = (settings.BASE_DIR / "templates" / template).read_text()
    assert "<script" not in text and "javascript:" not in text
