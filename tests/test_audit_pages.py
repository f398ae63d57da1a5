"""The auditor's log browser, filters and chain verification page."""

from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from audit import triggers
from audit.models import AuditEntry
from tests.audit_helpers import raw
from tests.factories import client_for, make_campaign


@pytest.mark.parametrize("page", ["audit:log", "audit:export", "audit:verify", "audit:compliance"])
def test_only_auditors_see_the_audit_pages(page, everyone):
    url = reverse(page)
    for name in ("olivia", "sam", "oscar", "mallory"):
        assert client_for(everyone[name]).get(url).status_code == 403, name
    assert client_for(everyone["audrey"]).get(url).status_code == 200


def test_the_log_shows_entries_with_payload_and_chain_position(released, audrey):
    page = client_for(audrey).get(reverse("audit:log"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    approved = AuditEntry.objects.get(action="campaign.approved")
    assert "campaign.approved" in page and approved.payload["content_hash"] in page
    assert "a test message of this version read" in page  # the ticked checklist
    assert f'<td class="nowrap">{approved.sequence}</td>' in page


def test_payloads_are_a_table_with_translated_labels_and_action_names(released, audrey):
    page = client_for(audrey).get(reverse("audit:log"), HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    approved = AuditEntry.objects.get(action="campaign.approved")
    assert "{'content_hash'" not in page  # no Python code
    assert ('<th scope="row" class="fw-normal text-muted" data-key="content_hash">'
            "内容ハッシュ</th>") in page
    assert "承認" in page and "<code class=\"text-muted\">campaign.approved</code>" in page
    assert approved.payload["content_hash"] in page
    released_entry = AuditEntry.objects.get(action="campaign.released")
    utc = released_entry.payload["release_expires_at"]
    assert utc.endswith("+00:00") and utc not in page  # shown in local time instead
    assert "立会人" in page and "委託先" in page  # roles and organisations by their labels


def test_every_action_and_payload_key_has_a_label():
    """An action or payload key added without its label shows as a bare code to auditors."""
    from audit.actions import Action as AuditAction
    from campaigns.actions import Action as CampaignAction
    from countersign import labels
    from countersign.actions import Action as AccountAction
    from roster.actions import Action as RosterAction

    actions = labels.table("ACTIONS")
    codes = [a for enum in (AuditAction, CampaignAction, AccountAction, RosterAction)
             for a in enum]
    assert [code for code in codes if code not in actions] == []


@pytest.mark.parametrize("filters, expected", [
    ({"actor": "sam"}, {"campaign.approved"}),
    ({"role": "observer"}, {"campaign.released"}),
    ({"organisation": "association"}, {"campaign.released"}),
    ({"action": "campaign.submitted"}, {"campaign.submitted"}),
])
def test_filters_narrow_the_log(released, audrey, filters, expected):
    page = client_for(audrey).get(reverse("audit:log"), filters)
    assert {e.action for e in page.context["page"].object_list} == expected


def test_filter_by_campaign_and_date_range(released, olivia, audrey):
    other = make_campaign(olivia, released.roster, name="other")
    client, log = client_for(audrey), reverse("audit:log")
    shown = client.get(log, {"campaign": other.pk}).context["page"].object_list
    assert [e.action for e in shown] == ["campaign.created"]
    # The entries' own days (Tokyo's midnight falls at 15:00 UTC, maybe inside this test).
    first, last = (timezone.localdate(AuditEntry.objects.order_by(order).first().created_at)
                   for order in ("id", "-id"))
    assert client.get(log, {"date_from": first, "date_to": last}).context[
        "page"].paginator.count == AuditEntry.objects.count()
    tomorrow = last + timedelta(days=1)
    assert client.get(log, {"date_from": tomorrow}).context["page"].paginator.count == 0


def test_an_invalid_filter_shows_nothing_and_exports_nothing(released, audrey):
    client = client_for(audrey)
    assert client.get(reverse("audit:log"), {"action": "forged"}).context["page"] is None
    assert client.get(reverse("audit:export"), {"action": "forged"}).status_code == 400


def test_verifying_in_the_ui_records_the_result(released, audrey):
    client = client_for(audrey)
    client.post(reverse("audit:verify"))
    entry = AuditEntry.objects.get(action="audit.verified")
    assert entry.payload["ok"] and entry.actor_name == "audrey"
    page = client.get(reverse("audit:verify"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "chain verified" in page and f"{entry.payload['verified']} entries verified" in page


def test_a_broken_chain_is_shown_with_its_first_bad_entry(released, audrey):
    triggers.uninstall(connection)
    raw("UPDATE audit_auditentry SET actor_name = 'nobody' WHERE sequence = 3")
    client = client_for(audrey)
    response = client.post(reverse("audit:verify"), follow=True, HTTP_ACCEPT_LANGUAGE="en")
    page = response.content.decode()
    assert "does NOT verify" in page and "chain BROKEN" in page and "#3" in page
