"""Finding things: search and pages in the campaign list, the ledger, the incident report and
the test send's member picker; each shows member data only to those the policy allows."""

from django.urls import reverse

from campaigns import workflow
from tests.factories import client_for, make_campaign, run_until_done


def test_campaigns_are_found_by_name_or_subject_and_paged(olivia, roster):
    for n in range(55):
        make_campaign(olivia, roster, name=f"お知らせ {n:02d}")
    make_campaign(olivia, roster, name="総会のご案内")
    client, campaigns = client_for(olivia), reverse("campaigns:list")
    page = client.get(campaigns, {"q": "総会"}, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "総会のご案内" in page and "お知らせ 01" not in page
    first = client.get(campaigns, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Page 1 of 2" in first and "page=2" in first


def test_the_ledger_is_searched_by_number_name_or_address(released, oscar, sink):
    run_until_done(released)
    client, ledger = client_for(oscar), reverse("campaigns:ledger", args=[released.pk])
    for query in ("W000003", "member000003", "田中"):
        page = client.post(ledger, {"q": query}).content.decode()
        assert "W000003" in page and "W000004" not in page, query


def test_an_auditor_searches_the_incident_report_by_member_number_only(released, audrey,
                                                                      oscar, sink):
    run_until_done(released)
    url = reverse("audit:incident", args=[released.pk])
    assert "W000003" in client_for(audrey).post(url, {"q": "W000003"}).content.decode()
    by_name = client_for(audrey).post(url, {"q": "田中"}).content.decode()
    assert "W000003" not in by_name  # a name finds nothing for someone who may not see names
    assert "W000003" in client_for(oscar).post(url, {"q": "田中"}).content.decode()


def test_the_test_send_picker_offers_matching_members(draft, olivia, audrey):
    url = reverse("campaigns:member_search", args=[draft.pk])
    found = client_for(olivia).post(url, {"q": "田中"}).json()["members"]
    assert {"number": "W000003", "name": "田中 陽菜"} in found and len(found) <= 20
    assert client_for(audrey).post(url, {"q": "田中"}).status_code == 403
    page = client_for(olivia).get(reverse("campaigns:detail", args=[draft.pk])).content.decode()
    assert 'list="member-options"' in page and f'data-member-search="{url}"' in page


def test_a_stopped_campaign_offers_send_to_the_rest(released, olivia, oscar, sink):
    run_until_done(released)
    workflow.stop(campaign=released, user=oscar, wait=0)
    page = client_for(olivia).get(reverse("campaigns:detail", args=[released.pk]),
                                  HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Send to the rest" in page and "Duplicate" in page


def test_a_search_by_name_or_address_puts_it_in_no_url(released, olivia, oscar, audrey, sink):
    """A URL is kept where erasure cannot reach (access logs, history, Referer): the pages
    that search member data take the query by POST, ignore one in a URL, and page a
    search's results by POST as well (a reviewer's attack: the address was in the log)."""
    import re

    from django.test import Client

    run_until_done(released)
    address = "member000003@members.example"
    roster = reverse("roster:detail", args=[released.roster_id])
    ledger = reverse("campaigns:ledger", args=[released.pk])
    incident = reverse("audit:incident", args=[released.pk])
    for url in (roster, ledger, incident):
        client = client_for(oscar)
        in_url = client.get(url, {"q": address}).content.decode()  # not read from a URL
        assert "W000004" in in_url, url
        page = client.post(url, {"q": address}).content.decode()
        assert "W000003" in page and "W000004" not in page, url
        assert 'method="post"' in page.split('role="search"')[0].rsplit("<form", 1)[1]
        hrefs = " ".join(re.findall(r'(?:href|action)="([^"]*)"', page))
        assert "member000003" not in hrefs and "%40" not in hrefs, url
    picker = reverse("campaigns:member_search", args=[released.pk])
    assert client_for(olivia).get(picker, {"q": "田中"}).status_code == 405
    csrf = Client(enforce_csrf_checks=True)
    csrf.force_login(olivia)
    assert csrf.post(picker, {"q": "田中"}).status_code == 403


def test_a_searchs_second_page_is_asked_for_by_post_with_its_query(olivia):
    from tests.factories import make_roster

    roster = make_roster(olivia, count=70)  # 50 a page: two pages match "members.example"
    client = client_for(olivia)
    url = reverse("roster:detail", args=[roster.pk])
    first = client.post(url, {"q": "members.example"}, HTTP_ACCEPT_LANGUAGE="en")
    page = first.content.decode()
    assert "Page 1 of 2" in page and 'name="page" value="2"' in page
    assert 'type="hidden" name="q" value="members.example"' in page
    assert "?q=" not in page and "page=2" not in page  # no link carries the query
    second = client.post(url, {"q": "members.example", "page": "2"}).content.decode()
    assert "W000070" in second and "W000001<" not in second


def test_a_query_left_in_an_old_url_is_carried_into_no_form(roster, olivia):
    url = reverse("roster:detail", args=[roster.pk])
    page = client_for(olivia).get(url + "?q=member000001%40members.example").content.decode()
    assert "member000001%40" not in page.split('role="search"')[0].rsplit("<form", 1)[1]


def test_the_campaign_lists_pages_are_still_links_with_its_query(olivia, roster):
    for n in range(55):
        make_campaign(olivia, roster, name=f"会報 {n:02d}")
    page = client_for(olivia).get(reverse("campaigns:list"), {"q": "会報"},
                                  HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Page 1 of 2" in page and "page=2" in page and 'name="page"' not in page
