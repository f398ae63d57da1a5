"""Size limits: a clear error on the form, never a slow page; the workflow refuses too."""

import pytest
from django.urls import reverse

from campaigns import workflow
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
