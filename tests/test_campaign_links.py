"""Every link of a campaign is shown to the signers; links elsewhere can be refused."""

import pytest
from django.urls import reverse

from campaigns import links, workflow
from tests.factories import client_for, make_campaign, make_roster, values_of


def test_every_distinct_link_and_its_domain_is_listed_on_review_and_release(
        olivia, sam, oscar, roster):
    campaign = make_campaign(
        olivia, roster, body_text="{name} 様 https://association.example/a 詳細 www.example.org/b",
        body_html='<p><a href="https://files.example.net/x">x</a> '
                  '<a href="mailto:help@association.example">y</a></p>')
    workflow.submit(campaign=campaign, user=olivia)
    for user, page_name in ((sam, "campaigns:review"), (oscar, "campaigns:release")):
        page = client_for(user).get(reverse(page_name, args=[campaign.pk]),
                                    HTTP_ACCEPT_LANGUAGE="en").content.decode()
        for host in ("association.example", "files.example.net", "www.example.org"):
            assert f"<strong>{host}</strong>" in page, (page_name, host)
        assert "mailto:help@association.example" in page


def test_a_link_outside_the_allowed_domains_is_refused_at_submit(olivia, roster, settings):
    settings.CAMPAIGN_LINK_DOMAINS = ["association.example"]
    ok = make_campaign(olivia, roster, body_text="{name} 様 https://www.association.example/x")
    workflow.submit(campaign=ok, user=olivia)
    bad = make_campaign(olivia, roster, body_text="{name} 様 https://association.example.evil.net/")
    with pytest.raises(workflow.ContentRefused) as refused:
        workflow.submit(campaign=bad, user=olivia)
    (finding,) = refused.value.report.findings
    assert finding.kind == "link" and "association.example.evil.net" in finding.detail


def test_a_placeholder_in_an_href_is_sanitised_after_rendering(olivia):
    rows = [["W1", "A B", "a@example.jp", "javascript:alert(1)"],
            ["W2", "C D", "c@example.jp", "https://association.example/"]]
    roster = make_roster(olivia, rows=rows, header=["会員番号", "氏名", "メールアドレス", "link"])
    campaign = make_campaign(olivia, roster, body_text="{name} 様",
                             body_html='<a href="{link}">page</a>')
    assert campaign.body_html == '<a href="{link}" rel="noopener noreferrer">page</a>'
    from campaigns import mail

    message = mail.build_message(sender=campaign.sender, subject="s", body_text="b",
                                 body_html=campaign.body_html,
                                 values=mail.member_values(values_of(roster.members.get(
                                     member_number="W1"))),
                                 to="a@example.jp")
    assert "javascript" not in mail.texts_of(message)["body_html"]
    assert "javascript" not in message.wire_bytes().decode()
    with pytest.raises(workflow.ContentRefused):  # and the signers are told, not surprised
        workflow.submit(campaign=campaign, user=olivia)


@pytest.mark.parametrize("url, host", [
    ("https://Association.Example/x", "association.example"),
    ("https://例え.jp/x", "xn--r8jz45g.jp"),
    ("mailto:help@association.example?subject=x", "association.example"),
    ("www.example.org/b", "www.example.org")])
def test_links_are_compared_by_their_host(url, host):
    assert links.parse(url).host == host


def test_a_subdomain_of_an_allowed_domain_is_allowed_and_a_lookalike_is_not():
    domains = ["association.example"]
    assert links.problem(links.parse("https://www.association.example/"), domains) == ""
    assert links.problem(links.parse("https://association.example.net/"), domains) == "domain"
    assert links.problem(links.parse("https://evilassociation.example/"), domains) == "domain"
    assert links.problem(links.parse("data:text/csv;base64,AAAA"), []) == "scheme"
