"""In Chromium: a search by a member's name or address goes in a POST's body, never in a
URL the server's access log, the history or a Referer keeps: the roster page's search and
its pages, and the test send's member picker as the operator types a name."""

import pytest
from django.urls import reverse

from tests.e2e.browsing import signed_in
from tests.factories import make_campaign, make_roster

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_roster_search_and_the_member_picker_send_the_query_in_no_url(
        browser, live_server, olivia, screenshots):
    roster = make_roster(olivia, count=70)
    draft = make_campaign(olivia, roster)
    page = signed_in(browser, live_server, "olivia")
    urls = []
    page.on("request", lambda request: urls.append((request.method, request.url)))

    page.goto(live_server.url + reverse("roster:detail", args=[roster.pk]))
    page.fill("#id_q", "member0000")  # the first 70 addresses: two pages of 50
    page.click("form[role=search] button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("table tbody tr").count() == 50
    page.click("nav button[name=page][value='2']")
    page.wait_for_load_state()
    assert page.locator("table tbody tr").count() == 20
    assert page.input_value("#id_q") == "member0000"
    screenshots(page, "second-page-of-a-search")

    page.goto(live_server.url + reverse("campaigns:detail", args=[draft.pk]))
    name = roster.members.order_by("row_number")[2]
    from roster import member_data

    family = member_data.values(name).name.split()[0]
    with page.expect_response(lambda r: "/members/" in r.url) as answer:
        page.locator("[data-member-search]").type(family, delay=30)
    assert answer.value.status == 200 and answer.value.request.method == "POST"
    page.wait_for_function("document.querySelectorAll('#member-options option').length > 0")
    assert not [url for _method, url in urls if "member0000" in url or "q=" in url
                or family in url]
