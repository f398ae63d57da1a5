from django.conf import settings
from django.core.management.base import BaseCommand

from campaigns import retention


class Command(BaseCommand):
    help = ("Erase the member data of rosters past ROSTER_RETENTION_DAYS (what the daily "
            "schedule runs) and print the deletion certificate. --dry-run lists them only.")

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true",
                            help="list the rosters that are due; change nothing")

    def handle(self, *args, dry_run=False, **options):
        if dry_run:
            due = list(retention.rosters_due())
            for roster in due:
                self.stdout.write(f"due: roster {roster.pk} ({roster.member_count} members)")
            self.stdout.write(f"{len(due)} roster(s) past {settings.ROSTER_RETENTION_DAYS} days")
            return
        certificates = retention.purge_rosters()
        if not certificates:
            self.stdout.write("nothing to purge")
        for certificate in certificates:
            self.stdout.write(retention.certificate_text(certificate))
