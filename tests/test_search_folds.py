"""Search the way Japanese users type: full-width letters and digits (Ｗ０００００５),
half-width katakana (ﾆｭｰｽﾚﾀｰ), hiragana for katakana, a name without its space; and a search
that finds nothing says so, instead of "no campaign here yet"."""

import pytest
from django.urls import reverse

from tests.factories import client_for, make_campaign, name_of


@pytest.fixture
def letter(olivia, roster):
    return make_campaign(olivia, roster, name="ニュースレター 12月号")


@pytest.mark.parametrize("typed", ["ﾆｭｰｽﾚﾀｰ", "にゅーすれたー", "ニュースレター12月号",
                                   "ニュースレター　１２月号", "ﾆｭｰｽﾚﾀｰ 12"])
def test_the_campaign_list_finds_a_campaign_however_its_name_is_typed(letter, olivia, typed):
    page = client_for(olivia).get(reverse("campaigns:list"), {"q": typed},
                                  HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert reverse("campaigns:detail", args=[letter.pk]) in page, typed


def test_a_search_that_finds_nothing_says_so(letter, olivia):
    page = client_for(olivia).get(reverse("campaigns:list"), {"q": "総会"},
                                  HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "No campaign here yet" not in page
    assert "No campaign matches" in page and "総会" in page


@pytest.mark.parametrize("typed", ["Ｗ０００００５", "w000005"])
def test_a_member_is_found_by_a_full_width_or_lower_case_number(roster, olivia, typed):
    page = client_for(olivia).post(reverse("roster:detail", args=[roster.pk]), {"q": typed},
                                  HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "W000005" in page and "W000006" not in page


def test_a_member_is_found_by_the_name_typed_without_its_space(roster, olivia):
    member = roster.members.get(member_number="W000005")
    name = name_of(member)
    assert " " in name
    page = client_for(olivia).post(reverse("roster:detail", args=[roster.pk]),
                                   {"q": name.replace(" ", "")},
                                  HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "W000005" in page
