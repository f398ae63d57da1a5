from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from audit import triggers
from audit.services import verify_and_record


class Command(BaseCommand):
    help = "Walk the audit hash chain; exit 0 with the count, or non-zero naming the first bad entry."

    def add_arguments(self, parser):
        parser.add_argument("--anchor", help="a chain head hash kept elsewhere; it must be in the chain")
        parser.add_argument("--reinstall-triggers", action="store_true",
                            help="put back missing append-only triggers, then verify")

    def handle(self, *args, anchor=None, reinstall_triggers=False, **options):
        if reinstall_triggers:
            triggers.install(connection)
        verdict = verify_and_record(system="cli", anchor=anchor)
        if not verdict.ok:
            where = f"entry {verdict.bad_sequence}" if verdict.bad_sequence else "the chain"
            raise CommandError(
                f"audit chain FAILED at {where}: {verdict.reason} "
                f"({verdict.count} entries verified before it)"
            )
        self.stdout.write(f"audit chain OK: {verdict.count} entries verified; head {verdict.head}")
        if anchor:
            self.stdout.write(f"anchor {anchor} is in the chain")
        absent = triggers.missing(connection)
        if absent:
            raise CommandError(
                f"the append-only triggers are missing: {', '.join(absent)} "
                "(run with --reinstall-triggers)", returncode=3
            )
