"""Purge time for a big roster beside the bare SQL a purge cannot do without.

    python bench/purge.py [--members 100000]
    DATABASE_URL=postgres://... python bench/purge.py

Builds two identical rosters of --members members, each with a completed campaign whose
ledger has a row per member (1 % of them failed with a server reply quoting the address).
Baseline, on roster B: the two statements any purge needs (addresses out of the ledger,
member rows deleted) in one transaction. Ours, on roster A: `purge_rosters`, which also
redacts the quoted replies, deletes expired uploads, scans the demo inbox, hashes the
pseudonyms into the certificate and writes the audit entry. Prints both and ours/bare.
"""

import argparse
import time

parser = argparse.ArgumentParser()
parser.add_argument("--members", type=int, default=100_000)
args = parser.parse_args()

from _setup import django_setup, user

django_setup()

from django.core.management import call_command

call_command("migrate", verbosity=0)

from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from campaigns import deliveries, retention, workflow
from campaigns.models import Campaign, Delivery, State
from roster import member_data
from roster.models import Member, Roster
from roster.samples import csv_bytes, sample_rows
from roster.services import check_roster_file, roster_import


def completed_campaign(count, olivia, label):
    started = time.perf_counter()
    roster = roster_import(parsed=check_roster_file(csv_bytes(sample_rows(count)), "m.csv"),
                           name=label, actor=olivia)
    campaign = workflow.create(user=olivia, roster=roster, name=label,
                               sender=settings.CAMPAIGN_SENDERS[0], subject="{name} 様",
                               body_text="{name} 様\n会員番号 {member_number}\n")
    deliveries.create_ledger(campaign)
    rows = Delivery.objects.filter(campaign=campaign)
    rows.update(state=Delivery.State.SENT, message_id="<bench@x>", sent_at=timezone.now())
    # One in a hundred failed with a reply quoting the address (as an older relay reply,
    # stored before replies were masked, would: the purge still redacts it).
    failed = rows.filter(pk__in=rows.values("pk")[:max(1, count // 100)])
    addresses = member_data.values_of(failed.values_list("member_id", flat=True))
    for delivery in failed:
        address = addresses[delivery.member_id].email
        Delivery.objects.filter(pk=delivery.pk).update(
            state=Delivery.State.FAILED,
            smtp_reply=f"550 5.1.1 <{address}>: Recipient address rejected")
    past = timezone.now() - timedelta(days=settings.ROSTER_RETENTION_DAYS + 1)
    Campaign.objects.filter(pk=campaign.pk).update(state=State.COMPLETED, completed_at=past)
    print(f"set up {label}: {count:,} members and ledger rows in "
          f"{time.perf_counter() - started:.1f} s")
    return roster, campaign


def bare_purge(roster, campaign):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {Delivery._meta.db_table} SET member_id = NULL "
                       "WHERE campaign_id = %s", [campaign.pk])
        cursor.execute(f"DELETE FROM {Member._meta.db_table} WHERE roster_id = %s", [roster.pk])
    Roster.objects.filter(pk=roster.pk).update(purged_at=timezone.now())


def main():
    olivia = user("olivia", "contractor", "operator")
    a = completed_campaign(args.members, olivia, "A")
    b = completed_campaign(args.members, olivia, "B")
    started = time.perf_counter()
    bare_purge(*b)
    bare = time.perf_counter() - started
    started = time.perf_counter()
    (certificate,) = retention.purge_rosters()
    ours = time.perf_counter() - started
    assert certificate.document["counts"]["members"] == args.members
    assert not Member.objects.filter(roster=a[0]).exists()
    assert not Delivery.objects.filter(campaign=a[1]).exclude(member=None).exists()
    assert not Delivery.objects.filter(campaign=a[1], smtp_reply__contains="@members.").exists()
    print(f"{connection.vendor}, {args.members:,} members")
    print(f"{'purge':36} {'s':>8} {'members/s':>12}")
    for label, seconds in (("bare SQL (ledger update + delete)", bare),
                           ("purge_rosters (certificate, audit)", ours)):
        print(f"{label:36} {seconds:8.2f} {args.members / seconds:12,.0f}")
    print(f"ours/bare time: {ours / bare:.2f}")


main()
