"""Nobody waits unseen: each step tells who must act next, in the app and by mail, audited."""

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from campaigns import notifications, workflow
from campaigns.models import Notification, SignOff
from campaigns.seen import Seen
from tests.factories import (
    SUPERVISOR_TICKS,
    client_for,
    email_of,
    make_campaign,
    name_of,
    run_until_done,
)


@pytest.fixture
def cast(olivia, sam, oscar, audrey):
    """Everyone exists before the story starts (the fixtures otherwise come late)."""
    return {"olivia": olivia, "sam": sam, "oscar": oscar, "audrey": audrey}


def told(event):
    return sorted(Notification.objects.filter(event=event).values_list("user__username",
                                                                        flat=True))


def mailed(sink=None):
    """Run the mail task the workflow queued (the queue runs it after the commit); the
    messages by recipient (the last one each got)."""
    ids = list(Notification.objects.filter(mailed_at=None).values_list("pk", flat=True))
    mail.outbox.clear()
    if sink is not None:
        sink.handler.received.clear()
    notifications.send_mail_for(ids)
    if sink is None:
        return {m.to[0]: (m.subject, m.body, bool(m.attachments)) for m in mail.outbox}
    return {m["To"].addresses[0].addr_spec: (str(m["Subject"]), m.get_content(),
                                              any(p.is_attachment() for p in m.walk()))
            for m in sink.handler.notices()}


def test_a_submit_tells_the_supervisors_and_an_approval_tells_the_observers(cast, roster):
    olivia, sam, oscar = cast["olivia"], cast["sam"], cast["oscar"]
    campaign = make_campaign(olivia, roster)
    workflow.submit(campaign=campaign, user=olivia)
    assert told("submit") == ["sam"]  # never the author, never the auditor
    workflow.test_send(campaign=campaign, user=olivia, member=roster.members.first(),
                       recipients=[sam])
    workflow.approve(campaign=campaign, seen=Seen.current(campaign),
                     user=sam, checklist=SUPERVISOR_TICKS)
    assert told("approve") == ["oscar"]
    letters = mailed()
    assert set(letters) == {sam.email, oscar.email}
    _subject, body, attached = letters[oscar.email]
    assert campaign.name in body and not attached
    assert reverse("campaigns:detail", args=[campaign.pk]) in body
    entries = AuditEntry.objects.about(campaign).filter(action="campaign.notified")
    assert [(e.payload["event"], e.payload["to"]) for e in entries] == [
        ("submit", ["sam"]), ("approve", ["oscar"])]
    assert AuditEntry.objects.filter(action="campaign.notice_mailed",
                                     payload__outcome="sent").count() == 2


def test_a_rejection_tells_the_author_with_the_reason(cast, roster):
    olivia, sam = cast["olivia"], cast["sam"]
    campaign = make_campaign(olivia, roster)
    workflow.submit(campaign=campaign, user=olivia)
    workflow.reject(campaign=campaign, user=sam, comment="件名の日付が違います")
    (notice,) = Notification.objects.filter(event="reject")
    assert notice.user == olivia and notice.detail == {"reason": "件名の日付が違います"}
    assert "件名の日付が違います" in mailed()[olivia.email][1]


def test_a_stop_tells_everyone_on_the_campaign_and_the_association_with_counts(
        cast, released, sink):
    run_until_done(released)  # held after the first 10
    assert told("hold") == ["olivia", "oscar", "sam"]
    mailed(sink)  # the earlier ones
    workflow.stop(campaign=released, user=cast["sam"])
    assert told("stop") == ["olivia", "oscar"]  # not sam: he pressed it
    body = mailed(sink)[cast["oscar"].email][1]
    assert "送信済み：10\u3000未送信：10\u3000不確定：0" in body  # mails speak the site's language
    assert reverse("audit:incident", args=[released.pk]) in body


def test_an_approval_about_to_expire_warns_its_author_once(cast, approved, settings):
    settings.APPROVAL_TTL_HOURS = 72
    SignOff.objects.filter(kind=SignOff.Kind.APPROVAL).update(
        created_at=timezone.now() - timedelta(hours=50))
    assert notifications.warn_of_expiring_approvals() == 1
    assert notifications.warn_of_expiring_approvals() == 0  # once
    assert sorted(told("approval_expiring")) == ["olivia", "oscar"]


def test_notifications_carry_no_member_data(cast, released, sink):
    from roster.models import Member

    run_until_done(released)
    workflow.stop(campaign=released, user=cast["oscar"])
    letters = mailed(sink)
    text = "".join(subject + body for subject, body, _a in letters.values()) + str(
        list(Notification.objects.values_list("detail", flat=True)))
    for member in Member.objects.all():
        assert name_of(member) not in text and email_of(member) not in text


def test_the_home_page_lists_what_waits_for_each_person(cast, approved):
    home = reverse("home")
    page = client_for(cast["oscar"]).get(home, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Waiting for you" in page and approved.name in page and "release it" in page
    page = client_for(cast["sam"]).get(home, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Nothing is waiting for you" in page  # approved: nothing left for the supervisor


def test_the_notifications_page_shows_unread_ones_and_marks_them_read(cast, roster):
    olivia, sam = cast["olivia"], cast["sam"]
    campaign = make_campaign(olivia, roster)
    workflow.submit(campaign=campaign, user=olivia)
    client = client_for(sam)
    assert ">1</span>" in client.get(reverse("home"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    page = client.get(reverse("notifications"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert campaign.name in page and "Submitted for your review" in page and "new" in page
    assert not Notification.objects.filter(user=sam, read_at=None).exists()
    assert client_for(cast["audrey"]).get(reverse("notifications")).status_code == 200  # own
