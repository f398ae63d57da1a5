"""Test sends go to staff only, rendered for one chosen member, bound to the content hash."""

from django.core import mail as outbox
from django.urls import reverse

from audit.models import AuditEntry
from campaigns.models import TestSend
from tests.factories import client_for, email_of, make_user, name_of


def test_operator_sends_a_test_to_self_and_chosen_reviewers(olivia, sam, oscar, submitted):
    response = client_for(olivia).post(reverse("campaigns:test_send", args=[submitted.pk]), {
        "member_number": "W000005", "recipients": [sam.pk, oscar.pk]}, HTTP_ACCEPT_LANGUAGE="ja")
    assert response.status_code == 302
    assert sorted(m.to[0] for m in outbox.outbox) == sorted([olivia.email, sam.email, oscar.email])
    member = submitted.roster.members.get(member_number="W000005")
    for message in outbox.outbox:
        assert len(message.to) == 1 and not message.cc and not message.bcc
        assert message.subject.startswith("[テスト]") and name_of(member) in message.subject
        assert "W000005" in message.body and message.attachments == []
    record = TestSend.objects.get()
    assert record.content_hash == submitted.content_hash
    assert set(record.recipients.all()) == {olivia, sam, oscar}
    entry = AuditEntry.objects.get(action="campaign.test_sent")
    assert entry.payload["member"] == "W000005"
    assert entry.payload["to"] == ["olivia", "oscar", "sam"]


def test_a_test_send_never_goes_to_members(olivia, submitted, roster):
    member = roster.members.first()
    impostor = make_user("member", "contractor")  # an account without a reviewer role
    impostor.email = email_of(member)
    impostor.save()
    response = client_for(olivia).post(reverse("campaigns:test_send", args=[submitted.pk]), {
        "member_number": member.member_number, "recipients": [impostor.pk]})
    assert response.status_code == 302
    assert outbox.outbox == [] and not TestSend.objects.exists()


def test_a_member_of_another_roster_cannot_be_chosen(olivia, submitted):
    client_for(olivia).post(reverse("campaigns:test_send", args=[submitted.pk]),
                            {"member_number": "NOPE"})
    assert outbox.outbox == []


def test_only_the_author_may_test_send(otto, sam, submitted):
    for user in (otto, sam):
        response = client_for(user).post(reverse("campaigns:test_send", args=[submitted.pk]),
                                         {"member_number": "W000001"})
        assert response.status_code == 403
    assert outbox.outbox == []


def test_no_test_send_after_approval(olivia, approved):
    before = len(outbox.outbox)
    response = client_for(olivia).post(reverse("campaigns:test_send", args=[approved.pk]),
                                       {"member_number": "W000001"})
    assert response.status_code == 302 and len(outbox.outbox) == before


def test_a_failing_mail_server_is_reported_and_audited(olivia, sam, submitted, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    response = client_for(olivia).post(reverse("campaigns:test_send", args=[submitted.pk]), {
        "member_number": "W000001", "recipients": [sam.pk]}, follow=True,
        HTTP_ACCEPT_LANGUAGE="en")
    assert "did not accept the test message" in response.content.decode()
    assert not TestSend.objects.exists()
    assert AuditEntry.objects.filter(action="campaign.test_send_failed").exists()
