"""Nobody waits unseen, in a browser: each step's notice reaches the right person only (the
real worker mails it to the real catcher), the association hears of the stop with counts,
and the operator sends to the rest and duplicates. In English and in Japanese."""

import functools

import pytest
from django.urls import reverse
from playwright.sync_api import Error as PlaywrightError

from campaigns.models import Campaign, State
from countersign import mailcatcher
from countersign.models import Organisation
from countersign.roles import Role
from tests.e2e.browsing import signed_in
from tests.factories import make_campaign, make_roster, make_user, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


open_as = functools.partial(signed_in, width=1280)


def notices_to(directory, address, *, containing=""):
    """The app's own mails (not member mail) that reached `address` in the catcher."""
    found = []
    for path in mailcatcher.caught_files(directory):
        message = mailcatcher.read(path)
        if message["X-Countersign-Campaign"] or address not in str(message["To"]):
            continue
        if containing in str(message["Subject"]) + message.get_content():
            found.append(message)
    return found


def test_each_step_tells_the_next_person_and_the_stop_tells_the_association(
        browser, live_server, worker, catcher, screenshots):
    _port, directory = catcher
    olivia = make_user("olivia", Organisation.CONTRACTOR, Role.OPERATOR)
    sam = make_user("sam", Organisation.CONTRACTOR, Role.SUPERVISOR)
    oscar = make_user("oscar", Organisation.ASSOCIATION, Role.OBSERVER)
    audrey = make_user("audrey", Organisation.ASSOCIATION, Role.AUDITOR)
    roster = make_roster(olivia, count=20)
    campaign = make_campaign(olivia, roster, name="Notice test", canary_size=5, rate_limit=2,
                             rate_unit="second")

    def url(name, *args):
        return live_server.url + reverse(name, args=args)

    # The operator submits (English): the supervisor, and only he, is told.
    operator = open_as(browser, live_server, "olivia", locale="en-GB")
    operator.goto(url("campaigns:detail", campaign.pk))
    with operator.expect_navigation():
        operator.click(f"form[action='{reverse('campaigns:submit', args=[campaign.pk])}'] button")
    operator.fill("#id_member_number", "W000001")
    operator.check(f"input[name=recipients][value='{sam.pk}']")
    with operator.expect_navigation():
        operator.click(f"form[action='{reverse('campaigns:test_send', args=[campaign.pk])}'] "
                       "button[type=submit]")
    wait_until(lambda: notices_to(directory, sam.email), timeout=60, what="the review notice")
    assert not notices_to(directory, oscar.email) and not notices_to(directory, audrey.email)

    supervisor = open_as(browser, live_server, "sam", locale="en-GB")
    screenshots(supervisor, "supervisor-home-waiting-for-you")
    assert "Waiting for you" in supervisor.content() and "Notice test" in supervisor.content()
    supervisor.goto(url("notifications"))
    screenshots(supervisor, "supervisor-notifications")
    assert "Submitted for your review" in supervisor.content()

    # The supervisor approves (Japanese): the association's observer is told.
    supervisor_ja = open_as(browser, live_server, "sam", locale="ja-JP")
    supervisor_ja.goto(url("campaigns:review", campaign.pk))
    for box in supervisor_ja.query_selector_all("input[name=checklist]"):
        box.check()
    with supervisor_ja.expect_navigation():
        supervisor_ja.click("button[name=approve]")
    wait_until(lambda: notices_to(directory, oscar.email), timeout=60, what="the approval notice")

    observer = open_as(browser, live_server, "oscar", locale="ja-JP")
    screenshots(observer, "observer-home-waiting-for-you-ja")
    assert "あなたの対応を待っているもの" in observer.content()
    observer.goto(url("campaigns:release", campaign.pk))
    for box in observer.query_selector_all("input[name=checklist]"):
        box.check()
    with observer.expect_navigation():
        observer.click("button[name=release]")

    # The worker sends the first five and holds: everyone on it and the observers are told.
    wait_until(lambda: Campaign.objects.get().state == State.HELD, timeout=90, what="the hold")
    wait_until(lambda: notices_to(directory, olivia.email, containing="保留"), timeout=60,
               what="the hold notice to the author")

    # The supervisor stops: the association hears it, with the counts and the report.
    supervisor.goto(url("campaigns:detail", campaign.pk))
    supervisor.on("dialog", lambda dialog: dialog.accept())
    with supervisor.expect_navigation():
        supervisor.click(".btn-stop")
    stop_notices = wait_until(lambda: notices_to(directory, oscar.email, containing="停止"),
                              timeout=60, what="the stop notice to the association")
    body = stop_notices[0].get_content()
    assert "送信済み：5" in body and "未送信：15" in body
    assert reverse("audit:incident", args=[campaign.pk]) in body
    assert not notices_to(directory, sam.email, containing="停止")  # he pressed it
    assert not notices_to(directory, audrey.email)
    # The observer's campaign page reloads itself while sending (its progress); a reload may
    # still be under way when she opens her notifications: open them once it is done.
    for attempt in range(3):
        try:
            observer.goto(url("notifications"))
            break
        except PlaywrightError as error:
            if "interrupted by another navigation" not in str(error) or attempt == 2:
                raise
    screenshots(observer, "observer-notifications-after-stop-ja")

    # The operator sends to the rest (15 members) and duplicates (20).
    operator.goto(url("campaigns:detail", campaign.pk))
    screenshots(operator, "operator-stopped-campaign")
    with operator.expect_navigation():
        operator.click("form:has(input[name=rest]) button")
    rest = Campaign.objects.exclude(pk=campaign.pk).get()
    assert rest.roster.member_count == 15 and rest.state == State.DRAFT
    screenshots(operator, "operator-rest-draft")
    operator.goto(url("campaigns:detail", campaign.pk))
    with operator.expect_navigation():
        operator.click(f"form[action='{reverse('campaigns:duplicate', args=[campaign.pk])}']"
                       ":not(:has(input[name=rest])) button")
    assert Campaign.objects.count() == 3
    copy = Campaign.objects.exclude(pk__in=[campaign.pk, rest.pk]).get()
    assert copy.roster == roster and copy.state == State.DRAFT
    assert len(screenshots.taken) >= 6
