"""In Chromium: the operator, with English pages, presses "Insert the footer" and the body
ends with the association's footer in the members' language (Japanese)."""

import pytest
from django.conf import settings
from django.urls import reverse

from tests.e2e.browsing import signed_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_footer_button_puts_the_japanese_footer_at_the_end_of_the_body(
        browser, live_server, olivia, roster, screenshots):
    page = signed_in(browser, live_server, "olivia")
    page.goto(live_server.url + reverse("campaigns:create"))
    page.fill("#id_body_text", "{name} 様\n\n12月のお知らせです。")
    page.click("button[data-insert-footer]")
    body = page.input_value("#id_body_text")
    screenshots(page, "footer-inserted")
    assert body.startswith("{name} 様\n\n12月のお知らせです。\n")
    assert body.rstrip().endswith("{unsubscribe_url}") and "配信停止" in body
    assert settings.ASSOCIATION_POSTAL_ADDRESS in body
    page.click("button[data-insert-footer]")  # twice is once
    assert page.input_value("#id_body_text").count(settings.ASSOCIATION_NAME) == 1
