from django.urls import reverse

from roster.samples import csv_bytes, sample_rows
from roster.services import check_roster_file, roster_import
from tests.factories import client_for


def make_roster(actor, count=60, name="June notice"):
    return roster_import(parsed=check_roster_file(csv_bytes(sample_rows(count)), "m.csv"),
                         name=name, actor=actor)


def test_roster_list_shows_metadata_to_every_role(olivia, sam, oscar, audrey):
    make_roster(olivia, name="名簿 2026年6月")
    for user in (olivia, sam, oscar, audrey):
        page = client_for(user).get(reverse("roster:list")).content.decode()
        assert "名簿 2026年6月" in page and "m.csv" in page


def test_members_are_listed_and_paginated_for_operator_supervisor_and_observer(olivia, sam, oscar):
    roster = make_roster(olivia, count=60)
    detail = reverse("roster:detail", args=[roster.pk])
    for user in (olivia, sam, oscar):
        client = client_for(user)
        first = client.get(detail).content.decode()
        assert "W000001" in first and "W000060" not in first
        assert "W000060" in client.get(detail, {"page": 2}).content.decode()


def test_member_search_matches_number_name_or_email(olivia):
    roster = make_roster(olivia)
    page = client_for(olivia).post(reverse("roster:detail", args=[roster.pk]),
                                   {"q": "member000042"}).content.decode()
    assert "W000042" in page and "W000041" not in page


def test_auditor_sees_roster_metadata_but_no_member_data(olivia, audrey):
    roster = make_roster(olivia)
    page = client_for(audrey).post(reverse("roster:detail", args=[roster.pk]),
                                   {"q": "W"}).content.decode()
    assert roster.file_sha256 in page
    assert "W000001" not in page and "members.example" not in page


def test_user_without_role_cannot_see_a_roster(olivia, mallory):
    roster = make_roster(olivia)
    assert client_for(mallory).get(reverse("roster:detail", args=[roster.pk])).status_code == 403


def test_unknown_roster_is_404(olivia):
    assert client_for(olivia).get(reverse("roster:detail", args=[999])).status_code == 404
