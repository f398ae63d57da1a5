"""In Chromium, with a real worker: a signing page left open while the contractor swaps the
content signs nothing; the click is refused with what changed, and nothing is sent. The
page reloaded signs the new content, and exactly that is sent."""

import pytest
from django.urls import reverse

from campaigns import workflow
from campaigns.models import Campaign, SignOff, State
from campaigns.seen import Seen
from countersign import mailcatcher
from countersign.models import Organisation
from countersign.roles import Role
from tests.e2e.test_notifications_and_reuse import open_as
from tests.factories import SUPERVISOR_TICKS, make_campaign, make_roster, make_user, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def member_mail(directory):
    return [m for m in map(mailcatcher.read, mailcatcher.caught_files(directory))
            if m["X-Countersign-Campaign"]]


def swap_the_content(campaign, olivia, roster, *, reviewer, approve: bool):
    """What the contractor does while the signer reads: another roster and body, submitted
    and test-sent again to `reviewer`, who approves the new version if `approve`."""
    workflow.edit(campaign=Campaign.objects.get(pk=campaign.pk), user=olivia, roster=roster,
                  body_text="{name} 様\n\nB版の本文です。会員番号 {member_number}\n")
    swapped = workflow.submit(campaign=Campaign.objects.get(pk=campaign.pk), user=olivia)
    workflow.test_send(campaign=swapped, user=olivia, member=roster.members.first(),
                       recipients=[reviewer])
    if approve:
        workflow.approve(campaign=swapped, seen=Seen.current(swapped), user=reviewer,
                         checklist=SUPERVISOR_TICKS)
    return Campaign.objects.get(pk=campaign.pk)


def tick_all(page):
    for box in page.query_selector_all("input[name=checklist]"):
        box.check()


def test_open_signing_pages_refuse_content_swapped_behind_them_and_sign_it_once_reloaded(
        browser, live_server, worker, catcher, screenshots):
    _port, directory = catcher
    olivia = make_user("olivia", Organisation.CONTRACTOR, Role.OPERATOR)
    sam = make_user("sam", Organisation.CONTRACTOR, Role.SUPERVISOR)
    sara = make_user("sara", Organisation.CONTRACTOR, Role.SUPERVISOR)
    make_user("oscar", Organisation.ASSOCIATION, Role.OBSERVER)
    twenty, sixty = make_roster(olivia, count=20), make_roster(olivia, count=60, name="全会員")

    # Campaign A is approved and waits for the observer; campaign B waits for sam's review.
    a = make_campaign(olivia, twenty, name="A", canary_enabled=False,
                      body_text="{name} 様\n\nA版の本文です。会員番号 {member_number}\n")
    a = workflow.submit(campaign=a, user=olivia)
    workflow.test_send(campaign=a, user=olivia, member=twenty.members.first(), recipients=[sara])
    workflow.approve(campaign=a, seen=Seen.current(a), user=sara, checklist=SUPERVISOR_TICKS)
    b = workflow.submit(campaign=make_campaign(olivia, twenty, name="B"), user=olivia)
    workflow.test_send(campaign=b, user=olivia, member=twenty.members.first(), recipients=[sam])

    observer = open_as(browser, live_server, "oscar", locale="ja-JP")
    observer.goto(live_server.url + reverse("campaigns:release", args=[a.pk]))
    supervisor = open_as(browser, live_server, "sam", locale="en-GB")
    supervisor.goto(live_server.url + reverse("campaigns:review", args=[b.pk]))
    assert "20" in observer.inner_text("form.card") and "20" in supervisor.inner_text("form.card")

    swap_the_content(a, olivia, sixty, reviewer=sara, approve=True)  # ... and re-approved
    swap_the_content(b, olivia, sixty, reviewer=sam, approve=False)

    tick_all(observer)
    with observer.expect_navigation():
        observer.click("button[name=release]")
    screenshots(observer, "release-refused-with-the-diff")
    changed = observer.inner_text("#changed-since")
    assert "署名されていません" in changed
    assert observer.inner_text("#changed-since del").strip() in ("20", "A")
    assert "60" in observer.inner_text("#changed-since") and "B" in changed

    tick_all(supervisor)
    with supervisor.expect_navigation():
        supervisor.click("button[name=approve]")
    screenshots(supervisor, "approval-refused-with-the-diff")
    assert "Not signed: the campaign changed" in supervisor.inner_text("#changed-since")

    assert Campaign.objects.get(pk=a.pk).state == State.APPROVED
    assert Campaign.objects.get(pk=b.pk).state == State.SUBMITTED
    assert not SignOff.objects.filter(kind=SignOff.Kind.RELEASE).exists()
    assert not SignOff.objects.filter(campaign=b, kind=SignOff.Kind.APPROVAL).exists()
    assert member_mail(directory) == []

    # Reloaded, the pages show the new content; signed, it is what goes out.
    supervisor.reload()
    assert "60" in supervisor.inner_text("form.card")
    tick_all(supervisor)
    with supervisor.expect_navigation():
        supervisor.click("button[name=approve]")
    assert Campaign.objects.get(pk=b.pk).state == State.APPROVED

    observer.reload()
    assert "60" in observer.inner_text("form.card")
    tick_all(observer)
    with observer.expect_navigation():
        observer.click("button[name=release]")
    screenshots(observer, "released-after-reading-the-new-content")
    wait_until(lambda: len(member_mail(directory)) == 60, timeout=120, what="60 messages")
    bodies = [m.get_body(("plain",)).get_content() for m in member_mail(directory)]
    assert all("B版の本文です。" in body for body in bodies)
    assert Campaign.objects.get(pk=a.pk).content_hash == SignOff.objects.get(
        kind=SignOff.Kind.RELEASE).content_hash
