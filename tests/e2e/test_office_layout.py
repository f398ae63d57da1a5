"""Issue 20's layout, in Chromium: at 1366 px (the commonest office laptop) no menu item
breaks inside a word; at 390 px (a phone) no table cell is narrower than four characters,
and no page of a 5,000-member campaign is taller than 4,000 px (pagination and a summary
instead of everything)."""

import functools

import pytest
from django.urls import reverse

from campaigns import workflow
from campaigns.seen import Seen
from countersign.models import Organisation
from countersign.roles import Role
from tests.e2e.browsing import signed_in
from tests.factories import (
    SUPERVISOR_TICKS,
    make_newsletter,
    make_roster,
    make_user,
)

pytestmark = pytest.mark.django_db(transaction=True)

# Menu items whose text runs over more than one line at this width.
WRAPPED_MENU_ITEMS = """() => [...document.querySelectorAll(
    "nav .nav-link, nav .navbar-text, nav .btn")]
  .filter(el => el.offsetParent !== null)
  .filter(el => {
    const style = getComputedStyle(el);
    const line = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.5;
    const padding = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom);
    return el.getBoundingClientRect().height - padding > line * 1.5;
  })
  .map(el => el.textContent.trim())"""

# Table cells narrower than four characters of their own font.
NARROW_CELLS = """() => [...document.querySelectorAll("main td, main th")]
  .filter(el => el.offsetParent !== null && el.textContent.trim().length > 1)
  .filter(el => {
    const style = getComputedStyle(el);
    const inner = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    return inner < 4 * parseFloat(style.fontSize) - 0.5;
  })
  .map(el => el.textContent.trim().slice(0, 20))"""


open_as = functools.partial(signed_in, locale="ja-JP", height=800)


def test_no_menu_item_breaks_inside_a_word_at_1366_px(browser, live_server, screenshots):
    for username, organisation, roles in (
            ("oscar", Organisation.ASSOCIATION, (Role.OBSERVER, Role.AUDITOR)),
            ("olivia", Organisation.CONTRACTOR, (Role.OPERATOR,)),
            ("sam", Organisation.CONTRACTOR, (Role.SUPERVISOR,))):
        make_user(username, organisation, *roles)
        page = open_as(browser, live_server, username, width=1366)
        screenshots(page, f"menu-{username}-1366")
        assert page.evaluate(WRAPPED_MENU_ITEMS) == [], username


def test_the_pages_of_a_5000_member_campaign_fit_a_phone(browser, live_server, olivia, sam,
                                                       oscar, sink, screenshots):
    roster = make_roster(olivia, count=5000, name="会員名簿 5,000")
    campaign = make_newsletter(olivia, roster, name="12月号ニュースレター")
    workflow.submit(campaign=campaign, user=olivia)
    workflow.test_send(campaign=campaign, user=olivia, member=roster.members.first(),
                       recipients=[sam])
    workflow.approve(campaign=campaign, seen=Seen.current(campaign), user=sam,
                     checklist=SUPERVISOR_TICKS)
    started = make_newsletter(olivia, roster, name="11月号ニュースレター",
                              canary_enabled=False)
    from tests.factories import through_the_countersign
    through_the_countersign(started, olivia, sam, oscar)
    workflow.start(campaign_id=started.pk)
    workflow.stop(campaign=started, user=oscar, wait=0)

    phone = open_as(browser, live_server, "oscar", width=390)
    problems = {}
    for name, pk in (("campaigns:release", campaign.pk), ("campaigns:detail", campaign.pk),
                     ("campaigns:detail", started.pk), ("campaigns:ledger", started.pk),
                     ("audit:incident", started.pk), ("roster:detail", roster.pk)):
        phone.goto(live_server.url + reverse(name, args=[pk]))
        shot = screenshots(phone, name.replace(":", "-"))
        height = phone.evaluate("document.documentElement.scrollHeight")
        narrow = phone.evaluate(NARROW_CELLS)
        if height > 4000 or narrow:
            problems[f"{name} {pk}"] = {"height": height, "narrow": narrow[:5],
                                        "shot": shot.name}
    assert problems == {}
