"""Read the sender checks a release will make (campaigns.sender_auth) and print them:

    manage.py check_sender "会員サポート <members@association.example>"
    manage.py check_sender members@association.example --bounce-domain bounces.association.example

One line per check (pass / warn / fail, and what it found). The exit status is 1 when a
check failed (a release would be refused), so a deployment script can stop on it. DNS only: it
writes nothing and reads no member data.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from campaigns import sender_auth


class Command(BaseCommand):
    help = "Check SPF, DKIM and DMARC of a sender (and the bounce domain) as a release would."

    def add_arguments(self, parser):
        parser.add_argument("sender", nargs="?", default="",
                            help="the From address (default: the first of CAMPAIGN_SENDERS)")
        parser.add_argument("--bounce-domain", default=None,
                            help="the bounce domain (default: BOUNCE_DOMAIN)")

    def handle(self, *args, sender="", bounce_domain=None, **options):
        sender = sender or (settings.CAMPAIGN_SENDERS or [""])[0]
        if not sender_auth.domain_of(sender):
            raise CommandError("give a sender address, or set CAMPAIGN_SENDERS")
        report = sender_auth.check(sender, bounce_domain=bounce_domain)
        for result in report.results:
            self.stdout.write(f"{result.status:4}  {result.check:13} {result.message}")
        if report.failures:
            raise CommandError(f"{len(report.failures)} of {len(report.results)} checks "
                               "failed: a release would be refused", returncode=1)
        self.stdout.write(f"no check failed ({len(report.results)} read)")
