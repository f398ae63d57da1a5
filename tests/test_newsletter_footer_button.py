"""A newsletter's legal footer is inserted by a button, in the mail's language (the site's
LANGUAGE_CODE, which the members read), whatever language the operator's pages are in; the
footer inserted is exactly one that passes the check at submit."""

from django.conf import settings
from django.urls import reverse

from campaigns import unsubscribe, workflow
from tests.factories import BODY, client_for, make_campaign


def footer_on(page: str) -> str:
    import html
    import re

    found = re.search(r'data-insert-footer="([^"]*)"', page)
    assert found, "no footer button"
    return html.unescape(found.group(1))


def test_the_form_offers_the_footer_in_the_mails_language_to_an_english_operator(olivia):
    page = client_for(olivia).get(reverse("campaigns:create"),
                                  HTTP_ACCEPT_LANGUAGE="en").content.decode()
    footer = footer_on(page)
    assert settings.LANGUAGE_CODE == "ja"
    assert "配信停止" in footer and "To stop receiving" not in footer
    assert settings.ASSOCIATION_NAME in footer and "{unsubscribe_url}" in footer
    assert "Insert the footer" in page


def test_the_inserted_footer_passes_the_check_at_submit(olivia, roster):
    footer = footer_on(client_for(olivia).get(reverse("campaigns:create")).content.decode())
    assert unsubscribe.footer_problems(body_text=BODY + "\n" + footer, body_html="") == {}
    campaign = make_campaign(olivia, roster, kind="newsletter", body_text=BODY + "\n" + footer)
    workflow.submit(campaign=campaign, user=olivia)
