"""The auditor's log reads as an office reads a log: newest first (the newest on page 1);
a "chain verified" badge only while no entry was written after the verification (else it
says how many newer entries are not verified yet); the campaign filter tells campaigns
of the same name apart."""

import re

from django.urls import reverse

import audit
from audit.models import AuditEntry
from audit.services import verify_and_record
from tests.factories import client_for, make_campaign


def log_page(audrey, **query):
    return client_for(audrey).get(reverse("audit:log"), query,
                                  HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_the_newest_entry_comes_first(released, audrey):
    page = log_page(audrey)
    shown = [int(n) for n in re.findall(r'<td class="nowrap">(\d+)</td>', page)]
    newest = AuditEntry.objects.order_by("-sequence").first().sequence
    assert shown[0] == newest and shown == sorted(shown, reverse=True)


def test_the_verified_badge_goes_once_newer_entries_are_written(released, audrey):
    verify_and_record(actor=audrey)
    assert 'text-bg-success">chain verified' in log_page(audrey)
    audit.record("audit.test_entry", system="test", payload={})
    audit.record("audit.test_entry", system="test", payload={})
    page = log_page(audrey)
    assert 'text-bg-success">chain verified' not in page
    assert "2 newer entries not verified yet" in page


def test_the_campaign_filter_tells_campaigns_of_one_name_apart(olivia, roster, audrey):
    first, second = (make_campaign(olivia, roster, name="総会のご案内") for _ in range(2))
    page = log_page(audrey)
    options = re.findall(r'<option value="(\d+)"[^>]*>([^<]*)</option>', page)
    labels = [label for value, label in options if value in (str(first.pk), str(second.pk))]
    assert len(labels) == 2 and len(set(labels)) == 2, labels
    assert all("総会のご案内" in label for label in labels)


def test_a_checklist_in_the_log_reads_as_words_not_codes(released, audrey):
    page = log_page(audrey)
    assert ">test_read<" not in page and ">no_roster_data<" not in page
    assert "a test message of this version read" in page
