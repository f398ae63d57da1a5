"""Size limits: a clear error on the form, never a slow page; the workflow refuses too."""

import pytest
from django.urls import reverse

from campaigns import mail, workflow
from campaigns.models import Campaign
from roster.samples import HEADER, csv_bytes, sample_rows
from roster.services import check_roster_file
from tests.factories import client_for


def form_data(roster, **changes):
    return {"name": "x", "roster": roster.pk,
            "sender": "会員サポート <members@association.example>",
            "subject": "{name} 様", "body_text": "{name} 様", "body_html": "",
            "canary_enabled": "on", "rate_unit": "minute", **changes}


@pytest.mark.parametrize("field, limit_setting", [
    ("subject", "CAMPAIGN_MAX_SUBJECT_CHARS"), ("body_text", "CAMPAIGN_MAX_BODY_CHARS"),
    ("body_html", "CAMPAIGN_MAX_HTML_CHARS")])
def test_a_text_over_its_limit_is_an_error_on_the_form(field, limit_setting, olivia, roster,
                                                       settings):
    limit = getattr(settings, limit_setting)
    data = form_data(roster, **{field: "あ" * (limit + 1)})
    response = client_for(olivia).post(reverse("campaigns:create"), data, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert f"at most {limit:,}".replace(",", "") in response.content.decode().replace(",", "")
    assert not Campaign.objects.exists()


def test_a_four_megabyte_body_is_refused_by_the_workflow_too(olivia, roster):
    with pytest.raises(workflow.ContentRefused) as refused:
        workflow.create(user=olivia, roster=roster, name="x",
                        sender="会員サポート <members@association.example>",
                        subject="{name} 様", body_text="{name} 様\n" + "x" * 4_000_000)
    assert "limit is 50,000" in refused.value.message
    assert not Campaign.objects.exists()


def test_a_roster_with_too_many_extra_columns_is_refused(settings):
    settings.ROSTER_MAX_EXTRA_COLUMNS = 3
    header = [*HEADER, "a", "b", "c"]  # 支部 + 3 = 4 extra columns
    rows = [[*row, "1", "2", "3"] for row in sample_rows(2)]
    parsed = check_roster_file(csv_bytes(rows, header=header), "m.csv")
    assert not parsed.ok and parsed.errors[0].code == "too_many_columns"


def test_a_member_with_too_much_extra_text_is_refused(settings):
    settings.ROSTER_MAX_EXTRA_CHARS = 100
    rows = [[*row[:3], "x" * 101] for row in sample_rows(2)]
    parsed = check_roster_file(csv_bytes(rows), "m.csv")
    assert not parsed.ok and {e.code for e in parsed.errors} == {"too_much_extra"}
    assert parsed.errors[0].row == 2


DEEP_HTML = "<div>" * 300 + "{name} 様" + "</div>" * 300


def test_html_nested_deeper_than_a_message_needs_is_an_error_on_the_form(olivia, roster):
    response = client_for(olivia).post(reverse("campaigns:create"),
                                       form_data(roster, body_html=DEEP_HTML),
                                       HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "more than 256 deep" in response.content.decode()
    assert not Campaign.objects.exists()


def test_html_of_unclosed_tags_is_refused_on_the_form_before_the_sanitiser_reads_it(
        olivia, roster, monkeypatch):
    """20,000 unclosed <ul> cost the sanitiser (nh3) seconds, and would again for every
    message: the form refuses them unread."""
    monkeypatch.setattr(mail.nh3, "clean", lambda *a, **k: pytest.fail("sanitised"))
    response = client_for(olivia).post(reverse("campaigns:create"),
                                       form_data(roster, body_html="<ul>" * 20_000),
                                       HTTP_ACCEPT_LANGUAGE="en")
    assert "more than 256 deep" in response.content.decode()
    assert not Campaign.objects.exists()


def test_html_nested_too_deep_is_refused_by_the_workflow_too(olivia, roster):
    with pytest.raises(workflow.ContentRefused) as refused:
        workflow.create(user=olivia, roster=roster, name="x",
                        sender="会員サポート <members@association.example>",
                        subject="{name} 様", body_text="{name} 様", body_html=DEEP_HTML)
    assert "more than 256 deep" in refused.value.message
    assert not Campaign.objects.exists()


def test_sloppy_html_a_mail_program_writes_is_saved(olivia, roster):
    """Paragraphs, list items and cells left open end at the next of their kind, as in a
    browser; a table layout a few dozen levels deep is an ordinary newsletter."""
    layout = "<table><tr><td>" * 20 + "{name} 様" + "</td></tr></table>" * 20
    html = (layout + "<p>お知らせ" * 1_000 + "<ul>" + "<li>項目" * 1_000 + "</ul>"
            + "<table>" + "<tr><td>会場<td>日時" * 500 + "</table><br><hr/><img src=x>" * 300)
    campaign = workflow.create(user=olivia, roster=roster, name="x",
                               sender="会員サポート <members@association.example>",
                               subject="{name} 様", body_text="{name} 様", body_html=html)
    assert campaign.pk


@pytest.mark.parametrize("html, depth", [
    ("", 0), ("<div><div>a</div></div>", 2), ("<br><img src=x><hr/>", 0), ("<p>a<p>b<p>c", 1),
    ("</div></div>", 0), ("<div><span>a</div><div>", 2), ("<b><i>a</b></i><b>", 2),
    ("<DIV class='x'><Div>", 2), ("<li>a<li>b<ul><li>c<li>d", 3),
    # a reviewer's: what a browser (and the sanitiser) builds
    ("<ul/>" * 300, 257), ("<div/><div/>", 2), ("<svg><path d=x/><path d=y/></svg>", 1),
    ("<table>" + "<tr><td>会場<td>日時" * 130 + "</table>", 3),
    ("<table>" + "<tr><th>氏名<td>x" * 130 + "</table>", 3),
    ("<ul>" + "<li><p>項目" * 130 + "</ul>", 3), ("<dl>" + "<dt>用語<dd>説明" * 130 + "</dl>", 2),
    ("<!-- " + "<div>" * 300 + " -->", 0), ("<p>" + '<img alt="<b>">' * 300, 1),
    ("<p>a<div>b</div><p>c<p>d", 1), ("<rt>" * 300, 257),
    ("<ruby>" + "字<rt>じ" * 300 + "</ruby>", 2), ("<li><section>" * 200, 257)])
def test_html_depth_is_counted_as_a_browser_builds_the_elements(html, depth):
    assert mail.html_depth(html) == depth
