"""What became of the messages past the relay, per carrier group (issue 23, item 1): the
carrier of each address, the relay's log read into the ledger (delivered, deferred and
retried, refused, given up), an e-mail provider's events, and the campaign page's table.
The attacker's cases first: look-alike domains, lines that are not the relay's or not about
our message or recipient, a final word overwritten, a re-read counted twice."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from campaigns import carrier_outcomes, schedules, tasks
from campaigns.actions import Action
from campaigns.models import AtCarrier, Delivery, State
from countersign import carriers
from roster.samples import HEADER
from tests.carrier_world import ADDRESSES, campaign_to, delivery, relay_took, track
from tests.factories import email_of, make_roster, released_campaign, run_until_done
from tests.returned_mail import RelayLog, esp_event

# --- which carrier -----------------------------------------------------------------------------

@pytest.mark.parametrize(("address", "group"), [
    ("a@docomo.ne.jp", "docomo"), ("a@mail.docomo.ne.jp", "docomo"),
    ("A@DOCOMO.NE.JP", "docomo"), ("a@ｄｏｃｏｍｏ．ｎｅ．ｊｐ", "docomo"),  # full-width: NFKC
    ("a@docomo.ne.jp.", "docomo"), ("a@ezweb.ne.jp", "au"), ("a@au.com", "au"),
    ("a@uqmobile.jp", "au"), ("a@softbank.ne.jp", "softbank"), ("a@i.softbank.jp", "softbank"),
    ("a@ymobile.ne.jp", "softbank"), ("a@t.vodafone.ne.jp", "softbank"),
    # look-alikes and parents are not the carrier
    ("a@evil-docomo.ne.jp", "other"), ("a@docomo.ne.jp.evil.example", "other"),
    ("a@xdocomo.ne.jp", "other"), ("a@vodafone.ne.jp", "other"), ("a@x.uqmobile.jp", "other"),
    ("a@ne.jp", "other"), ("a@gmail.com", "other"), ("", ""),
])
def test_an_address_belongs_to_the_carrier_the_relay_profile_routes_it_to(address, group):
    assert carriers.group_of(address) == group


# --- the ledger ----------------------------------------------------------------------------------

@pytest.fixture
def handed_over(olivia, sam, oscar, sink, settings):
    """A campaign to five members on four carriers, every message taken by the relay."""
    settings.BOUNCE_DOMAIN = "bounces.association.example"
    return campaign_to(olivia, sam, oscar, ADDRESSES)


def test_the_ledger_keeps_each_recipients_carrier_group_not_the_address(handed_over):
    assert sorted(handed_over.deliveries.values_list("carrier", flat=True)) == [
        "au", "docomo", "docomo", "other", "softbank"]


def test_the_relays_log_says_what_became_of_each_message_and_a_second_reading_adds_nothing(
        handed_over, tmp_path):
    at, log = timezone.now(), RelayLog(zone=timezone.get_current_timezone(), style="rfc3339")
    docomo, au, softbank, other, shiro = (delivery(handed_over, a) for a in ADDRESSES)
    relay_took(log, docomo, at, queue="4AA01", then=[(5, "jp_docomo", "4.7.0", "deferred"),
                                                     (310, "jp_docomo", "2.0.0", "sent")])
    relay_took(log, au, at, queue="4AA02", then=[(2, "jp_au", "4.4.2", "deferred"),
                                                 (300, "jp_au", "4.4.2", "deferred")])
    relay_took(log, softbank, at, queue="4AA03", then=[(1, "jp_softbank", "5.1.1", "bounced")])
    relay_took(log, other, at, queue="4AA04")  # queued, nothing since
    path = log.write(tmp_path / "maillog")

    assert track(path) == {"delivered": 1, "deferred": 1, "bounced": 1}
    for d in (docomo, au, softbank, other, shiro):
        d.refresh_from_db()
    assert (docomo.at_carrier, docomo.carrier_dsn, docomo.carrier_deferrals) == (
        AtCarrier.DELIVERED, "2.0.0", 1)
    assert abs(docomo.at_carrier_since - (at + timedelta(seconds=310))) < timedelta(seconds=1)
    assert (au.at_carrier, au.carrier_deferrals) == (AtCarrier.DEFERRED, 2)
    assert (softbank.at_carrier, softbank.carrier_dsn) == (AtCarrier.BOUNCED, "5.1.1")
    assert other.at_carrier == shiro.at_carrier == ""
    # A carrier that defers pauses nothing; the delivery states are the worker's, unchanged.
    handed_over.refresh_from_db()
    assert handed_over.state == State.COMPLETED
    assert set(handed_over.deliveries.values_list("state", flat=True)) == {Delivery.State.SENT}
    entries = AuditEntry.objects.about(handed_over).filter(action=Action.CARRIER_OUTCOMES_READ)
    assert [e.payload for e in entries] == [{
        "source": "postfix log", "carrier_deferred": 1, "carrier_delivered": 1,
        "carrier_bounced": 1, "carrier_expired": 0}]

    assert track(path) == {}  # the same log again: nothing changes, nothing is audited
    assert entries.count() == 1


def test_lines_not_about_our_message_or_recipient_or_not_the_relays_record_nothing(
        handed_over, tmp_path):
    at, log = timezone.now(), RelayLog(zone=timezone.get_current_timezone(), style="rfc3339")
    docomo, au, softbank, _other, shiro = (delivery(handed_over, a) for a in ADDRESSES)
    # our Message-ID, queued from someone else's envelope sender: not our message
    relay_took(log, docomo, at, queue="4BB01", sender="attacker@example.net",
               then=[(1, "jp_docomo", "2.0.0", "sent")])
    # our message, but the outcome line is for another recipient (a Bcc added at the relay)
    relay_took(log, au, at, queue="4BB02", to="someone@ezweb.ne.jp",
               then=[(1, "jp_au", "2.0.0", "sent")])
    # a line written by another program under a look-alike tag
    log.raw(at, "postfix-x/smtp[99]: 4BB03: to=<x@softbank.ne.jp>, dsn=2.0.0, status=sent (ok)")
    relay_took(log, softbank, at, queue="4BB03")
    log.raw(at + timedelta(seconds=2), f"postfix-x/jp_softbank/smtp[99]: 4BB03: "
                                       f"to=<{email_of(softbank)}>, dsn=2.0.0, status=sent (ok)")
    # an erased-looking empty life: a status line with no queue life at all
    log.postfix(at, "jp_docomo/smtp", f"4BB09: to=<{email_of(shiro)}>, dsn=2.0.0, status=sent")
    assert track(log.write(tmp_path / "maillog")) == {}
    assert set(handed_over.deliveries.values_list("at_carrier", flat=True)) == {""}


def test_a_final_word_stays_final_and_a_later_deferral_does_not_reopen_it(
        handed_over, tmp_path):
    at = timezone.now()
    docomo = delivery(handed_over, ADDRESSES[0])
    first = RelayLog(zone=timezone.get_current_timezone(), style="rfc3339")
    relay_took(first, docomo, at, queue="4CC01", then=[(1, "jp_docomo", "2.0.0", "sent")])
    assert track(first.write(tmp_path / "first")) == {"delivered": 1}
    # A later life of the same Message-ID (a replayed or forged one) says deferred: ignored.
    second = RelayLog(zone=timezone.get_current_timezone(), style="rfc3339")
    relay_took(second, docomo, at + timedelta(seconds=30), queue="4CC02",
               then=[(1, "jp_docomo", "4.7.0", "deferred")])
    assert track(second.write(tmp_path / "second")) == {}
    docomo.refresh_from_db()
    assert (docomo.at_carrier, docomo.carrier_deferrals) == (AtCarrier.DELIVERED, 0)


def test_an_e_mail_providers_events_are_recorded_per_message_and_audited(handed_over):
    docomo, au, softbank, *_ = (delivery(handed_over, a) for a in ADDRESSES)
    esp_event("deferred", docomo.message_id, mta_response="421 4.7.0 try later")
    esp_event("delivered", docomo.message_id)
    esp_event("deferred", au.message_id, mta_response="451 4.4.2 timeout")
    esp_event("opened", softbank.message_id)  # not about the carrier's delivery
    for d in (docomo, au, softbank):
        d.refresh_from_db()
    assert (docomo.at_carrier, docomo.soft_bounces) == (AtCarrier.DELIVERED, 1)
    assert (au.at_carrier, au.carrier_dsn) == (AtCarrier.DEFERRED, "4.4.2")
    assert softbank.at_carrier == ""
    esp_event("deferred", docomo.message_id)  # after delivered: stays delivered
    docomo.refresh_from_db()
    assert docomo.at_carrier == AtCarrier.DELIVERED
    assert AuditEntry.objects.about(handed_over).filter(
        action=Action.CARRIER_OUTCOMES_READ).count() == 3


def test_the_campaign_page_counts_per_carrier_what_the_ledger_says(
        handed_over, tmp_path, client, oscar):
    at, log = timezone.now(), RelayLog(zone=timezone.get_current_timezone(), style="rfc3339")
    docomo, au, softbank, _other, shiro = (delivery(handed_over, a) for a in ADDRESSES)
    relay_took(log, docomo, at, queue="4DD01", then=[(1, "jp_docomo", "4.7.0", "deferred"),
                                                     (9, "jp_docomo", "2.0.0", "sent")])
    relay_took(log, shiro, at, queue="4DD02", then=[(1, "jp_docomo", "4.7.0", "deferred")])
    relay_took(log, au, at, queue="4DD03", then=[(1, "jp_au", "2.0.0", "sent")])
    relay_took(log, softbank, at, queue="4DD04", then=[(1, "jp_softbank", "5.1.1", "bounced")])
    track(log.write(tmp_path / "maillog"))
    client.force_login(oscar)
    page = client.get(reverse("campaigns:detail", args=[handed_over.pk])).content.decode()
    table = {group: carrier_outcomes.by_carrier(handed_over)[n].counts
             for n, group in enumerate(("docomo", "au", "softbank", "other"))}
    assert table["docomo"] == {"handed_over": 2, "delivered": 1, "retrying": 1,
                               "deferred_once": 2, "bounced": 0, "expired": 0, "no_word": 0}
    assert table["au"]["delivered"] == 1 and table["softbank"]["bounced"] == 1
    assert table["other"] == {"handed_over": 1, "delivered": 0, "retrying": 0,
                              "deferred_once": 0, "bounced": 0, "expired": 0, "no_word": 1}
    for group, counts in table.items():
        row = page.split(f'data-carrier="{group}"', 1)[1].split("</tr>", 1)[0]
        for column, value in counts.items():
            assert f'data-count="{column}">{value}</td>' in row, (group, column)
    assert "@" not in page.split('id="carriers"', 1)[1].split("</section>", 1)[0]


def test_the_command_and_the_workers_schedule_read_the_configured_log(
        handed_over, tmp_path, settings):
    at, log = timezone.now(), RelayLog(zone=timezone.get_current_timezone(), style="rfc3339")
    docomo = delivery(handed_over, ADDRESSES[0])
    relay_took(log, docomo, at, queue="4EE01", then=[(1, "jp_docomo", "4.7.0", "deferred")])
    path = log.write(tmp_path / "maillog")
    out = StringIO()
    call_command("track_carriers", maillog=[str(path)],
                 log_zone=str(timezone.get_current_timezone()), stdout=out)
    assert "deferred 1" in out.getvalue()

    relay_took(log, docomo, at, queue="4EE01", then=[(60, "jp_docomo", "2.0.0", "sent")])
    log.write(path)
    assert schedules.CARRIERS not in [p.name for p in schedules.plan()]
    settings.RELAY_MAILLOG = [str(path), str(tmp_path / "maillog.1")]  # .1 not there yet
    settings.RELAY_MAILLOG_ZONE = str(timezone.get_current_timezone())
    assert schedules.CARRIERS in [p.name for p in schedules.plan()]
    assert tasks.track_carriers() == "delivered 1"
    docomo.refresh_from_db()
    assert docomo.at_carrier == AtCarrier.DELIVERED


def test_the_ledger_filters_by_carrier_and_shows_each_messages_word(
        handed_over, tmp_path, client, oscar):
    at, log = timezone.now(), RelayLog(zone=timezone.get_current_timezone(), style="rfc3339")
    docomo, au, *_ = (delivery(handed_over, a) for a in ADDRESSES)
    relay_took(log, docomo, at, queue="4FF01", then=[(1, "jp_docomo", "4.7.0", "deferred"),
                                                     (9, "jp_docomo", "2.0.0", "sent")])
    relay_took(log, au, at, queue="4FF02", then=[(1, "jp_au", "4.4.2", "deferred")])
    track(log.write(tmp_path / "maillog"))
    client.force_login(oscar)
    url = reverse("campaigns:ledger", args=[handed_over.pk])
    page = client.get(url, {"carrier": "docomo"}).content.decode()
    rows = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert rows.count("<tr>") == 2 and ADDRESSES[0] in rows and ADDRESSES[4] in rows
    assert 'data-at-carrier="delivered"' in rows and "(2.0.0)" in rows
    assert 'data-at-carrier=""' in rows  # shiro: no word yet
    page = client.get(url, {"carrier": "au"}).content.decode()
    assert 'data-at-carrier="deferred"' in page and "(4.4.2)" in page
    unfiltered = client.get(url, {"carrier": "<script>"}).content.decode()
    assert unfiltered.split("<tbody>", 1)[1].count("<tr>") == len(ADDRESSES)


@pytest.mark.django_db(transaction=True)
def test_members_and_deliveries_made_before_the_groups_get_theirs_on_migrate(
        olivia, sam, oscar, sink):
    """The migrations fill in the carrier group of rosters and ledgers that were there."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    rows = [[f"M{n:05d}", f"会員 {n}", address, "本部"] for n, address in enumerate(ADDRESSES, 1)]
    campaign = released_campaign(olivia, sam, oscar, make_roster(olivia, rows=rows,
                                                                 header=HEADER),
                                 canary_enabled=False)
    run_until_done(campaign)
    Delivery.objects.update(carrier="")
    campaign.roster.members.update(carrier="")
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate([("campaigns", "0017_sending_hours"), ("roster", "0008_guard_tags")])
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(latest)
    assert sorted(campaign.roster.members.values_list("carrier", flat=True)) == [
        "au", "docomo", "docomo", "other", "softbank"]
    assert sorted(campaign.deliveries.values_list("carrier", flat=True)) == [
        "au", "docomo", "docomo", "other", "softbank"]


def test_the_incident_export_says_what_became_of_each_message_at_its_carrier(
        handed_over, tmp_path):
    from datetime import datetime

    from campaigns import reports

    at, log = timezone.now(), RelayLog(zone=timezone.get_current_timezone(), style="rfc3339")
    docomo = delivery(handed_over, ADDRESSES[0])
    relay_took(log, docomo, at, queue="4GG01", then=[(4, "jp_docomo", "2.0.0", "sent")])
    track(log.write(tmp_path / "maillog"))
    def export(member_data, spreadsheet=False):
        keys = [key for key, _name in reports.incident_columns(member_data=member_data)]
        return {row[0]: dict(zip(keys, row, strict=True)) for row in reports.incident_export_rows(
            handed_over, member_data=member_data, spreadsheet=spreadsheet)}

    row = export(member_data=True)[docomo.member_number]
    assert (row["carrier"], row["at_carrier"], row["carrier_dsn"]) == (
        "docomo", "delivered", "2.0.0")
    assert (row["outcome_code"], row["email"]) == ("accepted", ADDRESSES[0])
    assert datetime.fromisoformat(row["at_carrier_since"]) == Delivery.objects.get(
        pk=docomo.pk).at_carrier_since.replace(microsecond=0)
    assert row["bounced_at"] == row["complained_at"] == ""
    other = next(r for r in export(member_data=True).values() if r["carrier"] == "other")
    assert (other["at_carrier"], other["at_carrier_since"]) == ("", "")
    # The auditor's export: the outcome at the carrier, not the carrier (derived from the
    # member's address).
    audited = export(member_data=False)[docomo.member_number]
    assert "carrier" not in audited and audited["at_carrier"] == "delivered"
    sheet = export(member_data=False, spreadsheet=True)
    assert isinstance(sheet[docomo.member_number]["at_carrier_since"], datetime)


def test_a_content_filters_hop_inside_the_relay_is_not_a_delivery(handed_over, tmp_path):
    """amavis-style: the relay hands the message to a filter on loopback, which re-injects it
    (`queued as` a new life of the same Message-ID); that life says what the carrier did."""
    at, log = timezone.now(), RelayLog(zone=timezone.get_current_timezone(), style="rfc3339")
    docomo = delivery(handed_over, ADDRESSES[0])
    relay_took(log, docomo, at, queue="8AA01")
    log.postfix(at + timedelta(seconds=1), "smtp",
                f"8AA01: to=<{email_of(docomo)}>, relay=127.0.0.1[127.0.0.1]:10024, delay=1, "
                "delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 8AA02)")
    log.postfix(at + timedelta(seconds=1), "qmgr", "8AA01: removed")
    relay_took(log, docomo, at + timedelta(seconds=2), queue="8AA02",
               then=[(1, "jp_docomo", "4.7.0", "deferred")])
    assert track(log.write(tmp_path / "maillog")) == {"deferred": 1}
    docomo.refresh_from_db()
    assert (docomo.at_carrier, docomo.carrier_dsn) == (AtCarrier.DEFERRED, "4.7.0")


def test_the_relay_giving_up_a_day_after_the_last_hand_over_is_still_read(
        handed_over, tmp_path):
    """The profile keeps a message a day and retries hourly: its expiry can come more than a
    day after the newest campaign's last hand-over."""
    at, log = timezone.now(), RelayLog(zone=timezone.get_current_timezone(), style="rfc3339")
    au = delivery(handed_over, ADDRESSES[1])
    relay_took(log, au, at, queue="9AA01", then=[(1, "jp_au", "4.4.2", "deferred")])
    gave_up = at + timedelta(days=1, minutes=40)
    log.postfix(gave_up, "qmgr",
                f"9AA01: from=<{RelayLog.sender(au)}>, status=expired, returned to sender")
    log.postfix(gave_up, "qmgr", "9AA01: removed")
    assert carrier_outcomes.track([log.write(tmp_path / "maillog")],
                                  zone=timezone.get_current_timezone(),
                                  now=gave_up + timedelta(minutes=10)) == {"expired": 1}


def test_exim_says_what_became_of_a_message_too(handed_over, tmp_path):
    softbank = delivery(handed_over, ADDRESSES[2])
    at = softbank.claimed_at.astimezone(timezone.get_current_timezone())
    stamp = (lambda seconds: (at + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S"))
    path = tmp_path / "mainlog"
    path.write_text(
        f"{stamp(0)} 1vXyZa-000123-AB <= {RelayLog.sender(softbank)} H=localhost [127.0.0.1] "
        f"P=esmtp S=2048 id={softbank.message_id.strip('<>')}\n"
        f"{stamp(3)} 1vXyZa-000123-AB ** {email_of(softbank)}: Unrouteable address\n")
    assert carrier_outcomes.track([path], zone=timezone.get_current_timezone(),
                                  now=timezone.now() + timedelta(minutes=10)) == {"bounced": 1}


def test_the_other_row_and_its_ledger_link_count_the_same_messages(
        handed_over, client, oscar):
    """A member erased before the groups were kept has no group: "other" counts them."""
    lost = delivery(handed_over, ADDRESSES[3])
    Delivery.objects.filter(pk=lost.pk).update(carrier="")
    other = carrier_outcomes.by_carrier(handed_over)[3]
    assert other.group == "other" and other.counts["handed_over"] == 1
    client.force_login(oscar)
    page = client.get(reverse("campaigns:ledger", args=[handed_over.pk]),
                      {"carrier": "other"}).content.decode()
    assert page.split("<tbody>", 1)[1].split("</tbody>", 1)[0].count("<tr>") == 1


def test_a_relay_log_nobody_can_read_or_a_zone_that_does_not_exist_is_said_by_check(
        settings, tmp_path):
    settings.RELAY_MAILLOG = [str(tmp_path / "mail.log")]
    settings.RELAY_MAILLOG_ZONE = "Asia/Atlantis"
    found = {problem.id for problem in carrier_outcomes.check_settings()}
    assert found == {"campaigns.W101", "campaigns.E101"}
    (tmp_path / "mail.log").write_text("")
    settings.RELAY_MAILLOG_ZONE = "Asia/Tokyo"
    assert carrier_outcomes.check_settings() == []


def test_the_command_reads_the_configured_log_when_given_none(handed_over, tmp_path, settings):
    at, log = timezone.now(), RelayLog(zone=timezone.get_current_timezone(), style="rfc3339")
    docomo = delivery(handed_over, ADDRESSES[0])
    relay_took(log, docomo, at, queue="4HH01", then=[(1, "jp_docomo", "2.0.0", "sent")])
    settings.RELAY_MAILLOG = [str(log.write(tmp_path / "maillog"))]
    out = StringIO()
    call_command("track_carriers", log_zone=str(timezone.get_current_timezone()), stdout=out)
    assert "delivered 1" in out.getvalue()


def test_the_ledgers_filters_combine_and_keep_each_other(handed_over, client, oscar):
    client.force_login(oscar)
    url = reverse("campaigns:ledger", args=[handed_over.pk])
    page = client.get(url, {"carrier": "docomo", "state": "sent"}).content.decode()
    assert page.split("<tbody>", 1)[1].split("</tbody>", 1)[0].count("<tr>") == 2
    assert "?carrier=docomo&amp;state=pending" in page  # a state link keeps the carrier
    assert "?carrier=au&amp;state=sent" in page  # a carrier link keeps the state
    assert "?state=sent\"" in page  # "All carriers" drops only the carrier


def test_a_reading_keeps_only_the_lines_of_the_messages_it_follows(handed_over, tmp_path):
    """A busy relay's log is mostly other mail: the reading holds the lines of the queue ids
    that carried a followed Message-ID, not the log (memory), and still finds the outcome."""
    from campaigns import relay_log

    at, log = timezone.now(), RelayLog(zone=timezone.get_current_timezone(), style="rfc3339")
    docomo = delivery(handed_over, ADDRESSES[0])
    for n in range(3000):  # other mail through the same relay
        queue = f"7{n:05X}EA"
        log.postfix(at, "cleanup", f"{queue}: message-id=<other{n}@elsewhere.example>")
        log.postfix(at, "qmgr", f"{queue}: from=<a@elsewhere.example>, size=9, nrcpt=1 "
                                "(queue active)")
        log.postfix(at, "smtp", f"{queue}: to=<b{n}@docomo.ne.jp>, relay=x[192.0.2.1]:25, "
                                "delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)")
    relay_took(log, docomo, at, queue="6AA01", then=[(5, "jp_docomo", "2.0.0", "sent")])
    path = log.write(tmp_path / "maillog")
    read = relay_log.read_logs([path], zone=timezone.get_current_timezone(),
                               wanted={docomo.message_id.strip("<>")}, windows=[(at, at)],
                               only_wanted=True)
    assert {line.text.split(":", 1)[0] for line in read.lines} == {"6AA01"}
    assert track(path) == {"delivered": 1}


def test_each_carrier_row_says_its_delivered_share_and_the_codes_it_is_answering_now(
        handed_over, tmp_path, client, oscar):
    """What tuning the relay needs (docs/relay-carriers.md, section 4): which carrier is
    deferring, with which answer."""
    at, log = timezone.now(), RelayLog(zone=timezone.get_current_timezone(), style="rfc3339")
    docomo, au, softbank, _other, shiro = (delivery(handed_over, a) for a in ADDRESSES)
    relay_took(log, docomo, at, queue="6BB01", then=[(1, "jp_docomo", "4.7.0", "deferred")])
    relay_took(log, shiro, at, queue="6BB02", then=[(1, "jp_docomo", "4.7.0", "deferred"),
                                                    (9, "jp_docomo", "2.0.0", "sent")])
    relay_took(log, au, at, queue="6BB03", then=[(1, "jp_au", "2.0.0", "sent")])
    relay_took(log, softbank, at, queue="6BB04", then=[(1, "jp_softbank", "5.1.1", "bounced")])
    track(log.write(tmp_path / "maillog"))
    rows = {row.group: row for row in carrier_outcomes.by_carrier(handed_over)}
    assert [(code, n) for code, n, _meaning in rows["docomo"].codes] == [("4.7.0", 1)]
    assert rows["docomo"].delivered_percent == 50 and rows["au"].delivered_percent == 100
    assert [code for code, _n, meaning in rows["softbank"].codes if meaning] == ["5.1.1"]
    assert rows["other"].codes == [] and rows["other"].delivered_percent == 0
    client.force_login(oscar)
    page = client.get(reverse("campaigns:detail", args=[handed_over.pk])).content.decode()
    docomo_row = page.split('data-carrier="docomo"', 1)[1].split("</tr>", 1)[0]
    assert 'data-share="delivered">50%</td>' in docomo_row and "<code>4.7.0</code> ×1" in docomo_row
