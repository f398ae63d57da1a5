"""The incident report is read from the delivery ledger, so an erasure or the retention purge
loses none of its rows: every member the campaign was for keeps a row (member number,
outcome, Message-ID, hashes), an erased member's name and address read "erased" (never
their values), and the header's counts are the rows' counts."""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns import retention
from tests.factories import (
    client_for,
    email_of,
    make_roster,
    name_of,
    released_campaign,
    run_until_done,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def stopped(olivia, sam, oscar, sink):
    """20 members: the first 5 sent, then held and stopped (15 not sent)."""
    from campaigns import workflow

    campaign = released_campaign(olivia, sam, oscar, make_roster(olivia), canary_size=5)
    run_until_done(campaign)
    workflow.stop(campaign=campaign, user=oscar)
    campaign.refresh_from_db()
    return campaign


def csv_rows(client, campaign):
    response = client.get(reverse("audit:incident", args=[campaign.pk]), {"format": "csv"},
                          HTTP_ACCEPT_LANGUAGE="en")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))[1:]  # the second header row: names


def test_an_erased_member_keeps_a_row_that_says_erased(stopped, oscar):
    sent = stopped.deliveries.filter(state="sent").order_by("id").first()
    address, name = email_of(sent), name_of(sent)
    retention.erase_member(address=address, actor=oscar)
    rows = csv_rows(client_for(oscar), stopped)
    assert len(rows) == 20
    row = next(r for r in rows if r["member_number"] == sent.member_number)
    assert (row["name"], row["email"], row["outcome_code"]) == ("(erased)", "(erased)",
                                                                 "accepted")
    assert row["message_id"] == sent.message_id
    page = client_for(oscar).get(reverse("audit:incident", args=[stopped.pk]),
                                 HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert address not in page and name not in page
    assert page.count("(erased)") == 2


def test_after_the_purge_every_ledger_row_is_still_in_the_report(stopped, oscar, settings):
    retention.purge_rosters(now=timezone.now() + timedelta(
        days=settings.ROSTER_RETENTION_DAYS + 1))
    stopped.roster.refresh_from_db()
    assert stopped.roster.purged_at is not None
    rows = csv_rows(client_for(oscar), stopped)
    assert sorted(r["member_number"] for r in rows) == sorted(
        stopped.deliveries.values_list("member_number", flat=True))
    outcomes = [r["outcome_code"] for r in rows]
    assert (outcomes.count("accepted"), outcomes.count("not_sent")) == (5, 15)
    assert {r["name"] for r in rows} == {"(erased)"}
    page = client_for(oscar).get(reverse("audit:incident", args=[stopped.pk]),
                                 HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "5 sent (accepted by the mail server)" in page and "15 not sent" in page
