"""The deletion certificate reads as a certificate: one line per field (what, when, which
rosters, how many of each), what is kept as a list, and a sign button that says in the
reader's language what signing means (not the product's name, untranslated)."""

import re

import pytest
from django.urls import reverse

from campaigns import retention
from tests.factories import client_for, email_of, make_roster

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def certificate(olivia, oscar):
    roster = make_roster(olivia)
    return retention.erase_member(address=email_of(roster.members.first()), actor=oscar)


def test_each_field_of_the_certificate_is_a_line_of_its_own(certificate, oscar):
    page = client_for(oscar).get(reverse("retention:certificate", args=[certificate.pk]),
                                 HTTP_ACCEPT_LANGUAGE="en").content.decode()
    block = page.split('id="certificate"')[1].split("</dl>")[0]
    labels = re.findall(r"<dt[^>]*>(.*?)</dt>", block)
    assert labels[:4] == ["Certificate", "Kind", "Erased at", "Rosters"]
    assert len(labels) >= 9
    kept = page.split('id="certificate-kept"')[1].split("</ul>")[0]
    assert kept.count("<li>") >= 4


def test_the_sign_button_says_what_signing_means_in_japanese(certificate, oscar):
    page = client_for(oscar).get(reverse("retention:certificate", args=[certificate.pk]),
                                 HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    button = re.search(r'<button type="submit"[^>]*>(.*?)</button>', page).group(1)
    assert "Countersign" not in button and "確認" in button, button
