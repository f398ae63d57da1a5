"""Retention and erasure: after a purge the member data is nowhere in the database (a full
dump of either engine is searched for every address and name), the ledger still answers
"was this address sent to?" through the pseudonym, the audit chain verifies, and the deletion
certificate is countersigned by the association's observer and mailed to them."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from audit.verification import verify_database
from campaigns import ledger, retention, sender, suppression, workflow
from campaigns.models import Campaign, DeletionCertificate, Delivery, Kind
from campaigns.seen import Seen
from countersign import mailcatcher
from countersign.pseudonyms import pseudonym
from roster import member_data
from roster.models import Member, Roster, RosterUpload, Suppression
from roster.samples import csv_bytes, sample_rows
from roster.services import roster_upload_check
from tests.factories import (
    OBSERVER_TICKS,
    SUPERVISOR_TICKS,
    all_addresses,
    client_for,
    database_dump,
    email_of,
    make_campaign,
    make_roster,
    people_of,
    released_campaign,
    run_until_done,
)


@pytest.fixture
def catcher(settings, smtp_sink):
    """Mail goes to the demo catcher, which keeps copies on disk (the demo inbox)."""
    port, directory = smtp_sink
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5
    settings.MAILCATCHER_DIR = directory
    return directory


def a_finished_story(olivia, sam, oscar, roster):
    """A completed campaign (with its test message), and a stopped one, on one roster."""
    done = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    run_until_done(done)
    stopped = released_campaign(olivia, sam, oscar, roster, canary_enabled=False,
                                name="stopped")
    workflow.stop(campaign=stopped, user=oscar)
    return done, stopped


def past_retention(settings, days=30):
    settings.ROSTER_RETENTION_DAYS = days
    return timezone.now() + timedelta(days=days, minutes=1)


@pytest.mark.django_db(transaction=True)
def test_after_a_purge_no_address_or_name_is_anywhere_in_the_database(
        settings, olivia, sam, oscar, catcher):
    roster = make_roster(olivia)
    people = list(people_of(roster))
    done, _stopped = a_finished_story(olivia, sam, oscar, roster)
    roster_upload_check(data=csv_bytes(sample_rows(20)), filename="again.csv", name="again",
                        actor=olivia)  # an upload nobody confirmed
    RosterUpload.objects.update(uploaded_at=timezone.now() - timedelta(days=1))
    digest, sent = done.ledger_sha256, done.deliveries.filter(state=Delivery.State.SENT).count()
    dump = database_dump()
    assert people and not [email for email, name in people if email in dump or name in dump]

    certificates = retention.purge_rosters(now=past_retention(settings))

    dump = database_dump()
    leaked = [text for email, name in people for text in (email, name, email.upper())
              if text in dump]
    assert leaked == []
    assert not mailcatcher.caught_files(catcher) or all(
        email not in path.read_text(errors="replace") for path in mailcatcher.caught_files(
            catcher) for email, _n in people)
    (certificate,) = certificates
    assert certificate.document["counts"] == {
        "members": 20, "deliveries": 20, "uploads": 1, "data_keys": 1,
        "caught_messages": certificate.document["counts"]["caught_messages"]}
    assert certificate.document["counts"]["caught_messages"] >= sent
    assert verify_database().ok
    done.refresh_from_db()
    assert ledger.ledger_digest(done) == digest  # the sealed digest is over pseudonyms
    email = people[4][0]
    assert done.deliveries.filter(address_pseudonym=pseudonym(email.upper()),
                                  state=Delivery.State.SENT).exists()  # "was it sent to?"
    roster.refresh_from_db()
    assert roster.purged_at is not None and roster.member_count == 20
    entry = AuditEntry.objects.get(action="member_data.erased")
    assert entry.payload["certificate_sha256"] == certificate.sha256


def test_rosters_in_use_or_within_retention_are_kept(settings, olivia, sam, oscar, sink):
    roster = make_roster(olivia)
    a_finished_story(olivia, sam, oscar, roster)
    busy = make_roster(olivia, name="in use")
    make_campaign(olivia, busy)  # a draft keeps its roster
    settings.ROSTER_RETENTION_DAYS = 30
    assert list(retention.rosters_due(now=timezone.now() + timedelta(days=29))) == []
    due = retention.rosters_due(now=timezone.now() + timedelta(days=31))
    assert list(due) == [roster]
    assert busy.members.count() == 20


def test_an_unused_roster_is_purged_after_the_period_from_its_import(settings, olivia):
    roster = make_roster(olivia)
    retention.purge_rosters(now=past_retention(settings))
    assert not Member.objects.filter(roster=roster).exists()


def test_purge_rosters_is_scheduled_daily(db):
    from django_q.models import Schedule

    from campaigns.schedules import PURGE

    schedule = Schedule.objects.get(name=PURGE)
    assert (schedule.func, schedule.minutes) == ("campaigns.tasks.purge_rosters", 24 * 60)


def test_nothing_due_writes_no_certificate(settings, olivia):
    make_roster(olivia)
    assert retention.purge_rosters() == []
    assert not DeletionCertificate.objects.exists()


def test_the_observer_countersigns_the_certificate_and_it_is_mailed(
        settings, olivia, sam, oscar, sink):
    roster = make_roster(olivia)
    a_finished_story(olivia, sam, oscar, roster)
    (certificate,) = retention.purge_rosters(now=past_retention(settings))
    sink.handler.received.clear()
    url = reverse("retention:certificate", args=[certificate.pk])
    assert client_for(olivia).post(url).status_code == 403
    assert client_for(sam).post(url).status_code == 403
    response = client_for(oscar).post(url, {"seen_sha256": certificate.sha256},
                                      HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 302
    certificate.refresh_from_db()
    assert certificate.countersigned_by == oscar and certificate.mailed_at is not None
    (mail,) = sink.handler.notices()
    body = mail.get_body(("plain",)).get_content()
    assert certificate.sha256 in body and "oscar" in mail["To"]
    assert not any(email in body for email in all_addresses())
    assert {"member_data.certificate_countersigned", "member_data.certificate_mailed"} <= set(
        AuditEntry.objects.values_list("action", flat=True))
    # once only
    client_for(oscar).post(url, {"seen_sha256": certificate.sha256})
    assert AuditEntry.objects.filter(action="member_data.certificate_countersigned").count() == 1


def test_the_purge_command_prints_the_certificate(settings, olivia, capsys):
    make_roster(olivia)
    settings.ROSTER_RETENTION_DAYS = 0
    call_command("purge_rosters")
    out = capsys.readouterr().out
    assert "Member rows erased: 20" in out
    assert "@members.example" not in out


# --- one person ---------------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_erase_member_removes_one_address_everywhere_and_keeps_it_suppressed(
        olivia, sam, oscar, catcher):
    roster = make_roster(olivia)
    done = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    run_until_done(done)
    address = email_of(roster.members.order_by("row_number")[3])
    other = email_of(roster.members.order_by("row_number")[4])
    digest = done.ledger_sha256

    call_command("erase_member", "--email", address.upper())

    dump = database_dump()
    assert address not in dump and address.upper() not in dump
    assert other in [v.email for v in member_data.values_of(roster.members.values_list(
        "pk", flat=True)).values()]  # the others stay, and open
    assert all(address not in p.read_text(errors="replace")
               for p in mailcatcher.caught_files(catcher))
    assert suppression.is_suppressed(address, Kind.NOTICE)
    assert Roster.objects.get(pk=roster.pk).member_count == 19
    assert ledger.ledger_digest(done) == digest
    assert verify_database().ok
    certificate = DeletionCertificate.objects.get()
    assert certificate.kind == "erasure"
    assert certificate.document["counts"]["members"] == 1
    assert certificate.document["counts"]["deliveries"] == 1

    # the same file imported again: the erased person is skipped
    again = make_roster(olivia, name="again")
    campaign = released_campaign(olivia, sam, oscar, again, canary_enabled=False)
    run_until_done(campaign)
    skipped = campaign.deliveries.get(state=Delivery.State.SKIPPED)
    assert skipped.skip_reason == "suppressed:erased"


def test_erasing_a_member_of_a_roster_under_review_voids_the_approval(olivia, sam, oscar,
                                                                      roster):
    campaign = make_campaign(olivia, roster)
    workflow.submit(campaign=campaign, user=olivia)
    workflow.test_send(campaign=campaign, user=olivia, member=roster.members.first(),
                       recipients=[sam])
    workflow.approve(campaign=campaign, seen=Seen.current(campaign),
                     user=sam, checklist=SUPERVISOR_TICKS)
    retention.erase_member(address=email_of(roster.members.last()), actor=oscar)
    with pytest.raises(workflow.WorkflowError):
        workflow.release(campaign=campaign, seen=Seen.current(campaign),
                         user=oscar, checklist=OBSERVER_TICKS)


def test_an_erased_members_pending_message_is_skipped_mid_send(olivia, sam, oscar, roster,
                                                               sink):
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    sender.run(campaign.pk, worker="t", budget=0, sleep=lambda s: None)
    address = email_of(roster.members.last())
    retention.erase_member(address=address, actor=oscar)
    run_until_done(campaign)
    assert address not in sink.handler.recipients()
    assert len(sink.handler.recipients()) == 19
    assert email_of(campaign.deliveries.get(state=Delivery.State.SKIPPED)) == ""


def test_the_observer_erases_a_person_from_a_page_and_nobody_else_can(olivia, sam, audrey,
                                                                      oscar, roster):
    address = email_of(roster.members.first())
    url = reverse("retention:erase")
    for person in (olivia, sam, audrey):
        assert client_for(person).post(url, {"email": address, "confirm": "on"}).status_code \
            == 403
    assert Member.objects.filter(email_pseudonym=pseudonym(address)).exists()
    refused = client_for(oscar).post(url, {"email": address}, HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 200
    assert Member.objects.filter(email_pseudonym=pseudonym(address)).exists()
    response = client_for(oscar).post(url, {"email": address, "confirm": "on"})
    certificate = DeletionCertificate.objects.get()
    assert response.url == reverse("retention:certificate", args=[certificate.pk])
    assert not Member.objects.filter(email_pseudonym=pseudonym(address)).exists()
    assert Suppression.objects.filter(reason="erased").count() == 1
    entry = AuditEntry.objects.get(action="member_data.erased")
    assert entry.actor == oscar and address not in str(entry.payload)


def test_an_address_nobody_has_still_gets_a_certificate_saying_nothing_was_found(oscar, db):
    certificate = retention.erase_member(address="nobody@example.org", actor=oscar)
    assert certificate.document["counts"]["members"] == 0


def test_a_server_reply_quoting_the_address_keeps_everything_but_the_address(
        olivia, sam, oscar, roster, sink):
    """Masked before it is stored (issue 19), whatever the case it was quoted in; the
    erasure has nothing left to redact."""
    address = email_of(roster.members.order_by("row_number")[2])
    sink.handler.refuse[address] = f"550 5.1.1 <{address.upper()}>: Recipient address rejected"
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    run_until_done(campaign)
    failed = campaign.deliveries.get(state=Delivery.State.FAILED)
    assert failed.smtp_reply == "550 5.1.1 <[member data]>: Recipient address rejected"
    retention.erase_member(address=address, actor=oscar)
    failed.refresh_from_db()
    assert failed.smtp_reply == "550 5.1.1 <[member data]>: Recipient address rejected"


def test_the_observers_home_page_says_a_certificate_awaits_countersignature(settings, olivia,
                                                                           oscar):
    make_roster(olivia)
    retention.purge_rosters(now=past_retention(settings))
    page = client_for(oscar).get(reverse("home"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "1 deletion certificate awaits your countersignature" in page


def test_the_pages_of_a_purged_campaign_still_open_and_say_the_data_was_erased(
        settings, olivia, sam, oscar, audrey, roster, sink):
    done, stopped = a_finished_story(olivia, sam, oscar, roster)
    retention.purge_rosters(now=past_retention(settings))
    pages = [(olivia, reverse("roster:detail", args=[roster.pk])),
             (sam, reverse("campaigns:detail", args=[done.pk])),
             (sam, reverse("campaigns:ledger", args=[done.pk])),
             (oscar, reverse("campaigns:detail", args=[stopped.pk])),
             (sam, reverse("audit:incident", args=[done.pk])),
             (sam, reverse("audit:incident", args=[done.pk]) + "?format=csv"),
             (audrey, reverse("audit:compliance")), (olivia, reverse("campaigns:list"))]
    for person, url in pages:
        response = client_for(person).get(url, HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 200, url
    roster_page = client_for(olivia).get(pages[0][1], HTTP_ACCEPT_LANGUAGE="en")
    assert "Member data erased" in roster_page.content.decode()


def test_a_campaign_paused_after_an_erasure_is_stopped_and_sent_to_the_rest(
        olivia, sam, oscar, roster, sink):
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    sender.run(campaign.pk, worker="t", budget=0, sleep=lambda s: None)  # started
    address = email_of(roster.members.order_by("row_number").last())
    retention.erase_member(address=address, actor=oscar)
    workflow.pause(campaign=campaign, user=sam)
    with pytest.raises(workflow.WorkflowError):
        workflow.release(campaign=Campaign.objects.get(pk=campaign.pk),
                         seen=Seen.current(campaign), user=oscar, checklist=OBSERVER_TICKS)
    workflow.stop(campaign=Campaign.objects.get(pk=campaign.pk), user=sam, wait=0)
    rest = workflow.duplicate(campaign=Campaign.objects.get(pk=campaign.pk), user=olivia,
                              rest_only=True)
    assert rest.roster.member_count == 19
    assert not rest.roster.members.filter(email_pseudonym=pseudonym(address)).exists()
