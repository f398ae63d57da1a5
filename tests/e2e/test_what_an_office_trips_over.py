"""Issue 20, in a browser: the six defects a real office tripped over, each seen where a
person would see it (headless Chromium on the live server). The campaigns are brought to the
step in question by the workflow itself, in this process (the mail goes to a loopback SMTP
sink); what is checked is what each person then reads and can do."""

import csv
import io
from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from campaigns import bounces, retention, schedules, workflow
from campaigns.models import DeletionCertificate, Delivery, State
from campaigns.seen import Seen
from tests.e2e.browsing import signed_in
from tests.factories import (
    SUPERVISOR_TICKS,
    email_of,
    make_newsletter,
    make_roster,
    released_campaign,
    run_until_done,
    through_the_countersign,
)

pytestmark = pytest.mark.django_db(transaction=True)


def url(live_server, name, *args):
    return live_server.url + reverse(name, args=args)


def text_of(page) -> str:
    return page.inner_text("main")


def test_an_unsubscribe_after_approval_sends_the_newsletter_back_to_the_supervisor(
        browser, live_server, olivia, sam, oscar, sink, screenshots):
    roster = make_roster(olivia)
    first = make_newsletter(olivia, roster, canary_enabled=False, name="November letter")
    through_the_countersign(first, olivia, sam, oscar)
    run_until_done(first)
    second = make_newsletter(olivia, roster, name="December letter")
    workflow.submit(campaign=second, user=olivia)
    workflow.test_send(campaign=second, user=olivia, member=roster.members.first(),
                       recipients=[sam])
    workflow.approve(campaign=second, seen=Seen.current(second), user=sam,
                     checklist=SUPERVISOR_TICKS)

    # A member opens the link of November's letter and unsubscribes, in the browser.
    message = sink.handler.messages()[0]
    link = message["List-Unsubscribe"].split(",")[0].strip().strip("<>")
    member = browser.new_context(locale="ja-JP").new_page()
    member.goto(live_server.url + link.removeprefix(settings.SITE_URL))
    screenshots(member, "member-unsubscribe-page")
    member.click("main button[type=submit]")
    screenshots(member, "member-unsubscribed")

    # The supervisor sees it waiting for him again, with the reason.
    supervisor = signed_in(browser, live_server, "sam")
    home = text_of(supervisor)
    screenshots(supervisor, "supervisor-home")
    assert "December letter" in home, home
    supervisor.goto(url(live_server, "campaigns:detail", second.pk))
    page = text_of(supervisor)
    screenshots(supervisor, "campaign-sent-back")
    assert "a member left the recipients after the sign-off" in page, page
    # He approves again, and the observer can release it (it did not "differ").
    supervisor.goto(url(live_server, "campaigns:review", second.pk))
    for box in supervisor.query_selector_all("input[name=checklist]"):
        box.check()
    with supervisor.expect_navigation():
        supervisor.click("button[name=approve]")
    observer = signed_in(browser, live_server, "oscar")
    observer.goto(url(live_server, "campaigns:release", second.pk))
    for box in observer.query_selector_all("input[name=checklist]"):
        box.check()
    with observer.expect_navigation():
        observer.click("button[name=release]")
    second.refresh_from_db()
    assert second.state == State.RELEASED, text_of(observer)


def test_the_incident_report_keeps_every_ledger_row_after_an_erasure_and_the_purge(
        browser, live_server, olivia, sam, oscar, sink, screenshots, settings):
    roster = make_roster(olivia)
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    run_until_done(campaign)
    erased = campaign.deliveries.order_by("id")[2]
    address = email_of(erased)
    retention.erase_member(address=address, actor=oscar)
    observer = signed_in(browser, live_server, "oscar")
    observer.goto(url(live_server, "audit:incident", campaign.pk))
    rows = observer.locator("main table tbody tr")
    screenshots(observer, "incident-after-erasure")
    assert rows.count() == 20
    assert address not in observer.content()
    row = rows.filter(has_text=erased.member_number).inner_text()
    assert "erased" in row, row

    retention.purge_rosters(now=timezone.now() + timedelta(days=settings.ROSTER_RETENTION_DAYS
                                                          + 1))
    observer.goto(url(live_server, "audit:incident", campaign.pk))
    screenshots(observer, "incident-after-purge")
    assert observer.locator("main table tbody tr").count() == 20
    with observer.expect_download() as download:
        observer.click("text=Export (CSV)")
    with open(download.value.path(), encoding="utf-8-sig") as exported:
        lines = list(csv.reader(io.StringIO(exported.read())))
    assert len(lines) == 2 + 20  # two header rows, one row per ledger row
    certificate = DeletionCertificate.objects.get(kind=DeletionCertificate.Kind.RETENTION)
    observer.goto(live_server.url + certificate.get_absolute_url())
    screenshots(observer, "deletion-certificate")
    assert "Deletion certificate" in text_of(observer)


def test_a_stalled_send_says_so_on_the_page_and_in_the_worker_health_check(
        browser, live_server, olivia, sam, oscar, sink, screenshots):
    roster = make_roster(olivia)
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False,
                                 rate_limit=10, rate_unit="minute")
    from campaigns import sender
    sender.run(campaign.pk, worker="test", budget=0.5, sleep=lambda s: None)
    campaign.refresh_from_db()
    assert campaign.state == State.SENDING
    # Both worker processes were killed ten minutes ago; the scheduler itself is alive.
    ago = timezone.now() - timedelta(minutes=10)
    type(campaign).objects.filter(pk=campaign.pk).update(last_worker_at=ago, next_send_at=ago)
    campaign.deliveries.filter(state=Delivery.State.SENT).update(sent_at=ago)
    schedules.ensure(record=False)
    Schedule.objects.filter(name=schedules.WATCHDOG).update(next_run=timezone.now())

    observer = signed_in(browser, live_server, "oscar")
    observer.goto(url(live_server, "campaigns:detail", campaign.pk))
    page = text_of(observer)
    screenshots(observer, "stalled-send")
    assert "Nothing has been sent for 10 minutes" in page, page
    assert observer.inner_text("[data-field=eta]") == "—"
    health = observer.request.get(url(live_server, "health_worker"))
    assert health.status == 503, health.text()


def test_send_to_the_rest_is_made_once_and_the_derived_roster_names_the_original_file(
        browser, live_server, olivia, sam, oscar, sink, screenshots):
    roster = make_roster(olivia)
    campaign = released_campaign(olivia, sam, oscar, roster, canary_size=5)
    run_until_done(campaign)  # held after the first 5
    workflow.stop(campaign=campaign, user=oscar)

    operator = signed_in(browser, live_server, "olivia")
    operator.goto(url(live_server, "campaigns:detail", campaign.pk))
    # a double click posts twice
    operator.evaluate("""() => { const f = document.querySelector("input[name=rest]").form;
                                 f.requestSubmit(); f.requestSubmit(); }""")
    operator.wait_for_load_state("networkidle")
    from campaigns.models import Campaign
    assert Campaign.objects.filter(name__contains="(the rest)").count() == 1
    operator.goto(url(live_server, "campaigns:detail", campaign.pk))
    screenshots(operator, "stopped-after-the-rest")
    assert operator.locator("input[name=rest]").count() == 0
    rest = Campaign.objects.get(name__contains="(the rest)")
    operator.goto(url(live_server, "roster:detail", rest.roster_id))
    page = text_of(operator)
    screenshots(operator, "derived-roster")
    assert roster.file_sha256 in page and "Derived from" in page, page


def test_the_numbers_of_a_finished_campaign_add_up_and_say_what_they_count(
        browser, live_server, olivia, sam, oscar, sink, screenshots, bounce_domain):
    roster = make_roster(olivia)
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    run_until_done(campaign)
    bounced = campaign.deliveries.order_by("id")[0]
    bounces.record_bounce(delivery_id=bounced.pk, kind=bounces.BounceKind.HARD, status="5.1.1",
                          source="dsn")
    stopped = released_campaign(olivia, sam, oscar, roster, canary_size=5, name="Stopped one")
    run_until_done(stopped)
    workflow.stop(campaign=stopped, user=oscar)

    observer = signed_in(browser, live_server, "oscar")
    observer.goto(url(live_server, "campaigns:detail", campaign.pk))
    page = text_of(observer)
    screenshots(observer, "completed")
    assert "Started at" in page and "Finished at" in page, page
    assert observer.inner_text("[data-field=accepted]") == "20"
    assert "of which bounced later: 1" in page, page

    observer.goto(url(live_server, "campaigns:detail", stopped.pk))
    page = text_of(observer)
    screenshots(observer, "stopped")
    assert "Remaining" not in page and "Not sent (stopped)" in page, page

    japanese = signed_in(browser, live_server, "oscar", locale="ja-JP")
    japanese.goto(url(live_server, "campaigns:ledger", campaign.pk) + "?state=bounced")
    screenshots(japanese, "ledger-bounce-ja")
    assert "宛先のメールアドレスが存在しません" in text_of(japanese)


# A newsletter in the demo's own database, made the way an operator would on the demo roster
# (imported by the demo association's observer: the association holds the demo's keys).
MAKE_A_NEWSLETTER = """
from django.conf import settings
from campaigns import workflow
from countersign.models import User
from roster.services import check_roster_file, roster_import
olivia, oscar = User.objects.get(username="olivia"), User.objects.get(username="oscar")
path = settings.BASE_DIR / "var" / "demo" / "demo-roster.xlsx"
roster = roster_import(parsed=check_roster_file(path.read_bytes(), path.name), name="demo",
                       actor=oscar)
footer = "\\n".join([settings.ASSOCIATION_NAME, settings.ASSOCIATION_POSTAL_ADDRESS,
                    settings.ASSOCIATION_CONTACT, "配信停止: {unsubscribe_url}"])
campaign = workflow.create(user=olivia, roster=roster, name="letter", kind="newsletter",
                           sender=settings.CAMPAIGN_SENDERS[0], subject="news",
                           body_text="{name} 様\\n\\nお知らせです。\\n--\\n" + footer + "\\n")
print(campaign.pk)
"""


def test_the_demo_on_another_port_puts_that_port_in_its_links(browser, tmp_path, screenshots):
    import os
    import re
    import subprocess
    import sys
    import threading

    from tests.factories import free_port, stop_group, wait_until

    web_port, smtp_port = free_port(), free_port()
    env = {**{k: v for k, v in os.environ.items() if k != "SITE_URL"},
           "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}", "DEBUG": "true",
           "EMAIL_PORT": str(smtp_port), "MAILCATCHER_DIR": str(tmp_path / "mail")}
    manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
    demo = subprocess.Popen([*manage, "demo", "--port", str(web_port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    printed = []
    threading.Thread(target=lambda: printed.extend(demo.stdout), daemon=True).start()
    site = f"http://127.0.0.1:{web_port}"
    try:
        wait_until(lambda: any("Countersign is running" in line for line in printed),
                   timeout=120, what="the demo to start")
        made = subprocess.run([*manage, "shell", "-c", MAKE_A_NEWSLETTER], env=env,
                              capture_output=True, text=True, check=True)
        pk = made.stdout.strip().splitlines()[-1]
        page = browser.new_context(locale="en-GB").new_page()
        page.goto(f"{site}/accounts/login/")
        page.fill("#id_username", "olivia")
        page.fill("#id_password", "olivia-demo-pass")
        page.click("main button[type=submit]")
        page.wait_for_url(f"{site}/")
        page.goto(f"{site}/campaigns/{pk}/")
        screenshots(page, "demo-newsletter-preview")
        links = set(re.findall(r"https?://[^\s<\"]+/u/preview/", page.inner_text("main")))
        assert links == {f"{site}/u/preview/"}, links
        page.goto(links.pop())
        assert page.locator("main").count() == 1 and "unsubscribe" in text_of(page).lower()
    finally:
        stop_group(demo, timeout=30)  # its web server, worker and mail catcher too
