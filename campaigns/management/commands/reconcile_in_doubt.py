"""Match every message in doubt against the relay's mail log (Postfix or Exim).

    manage.py reconcile_in_doubt --maillog /var/log/mail.log [--maillog /var/log/mail.log.1]
                                 [--log-zone Asia/Tokyo] [--syslog-name postfix]

The evidence is shown beside the "resend"/"skip" buttons; the decision stays a person's.
"""

from pathlib import Path
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand, CommandError

from campaigns import log_stamps, reconcile


class Command(BaseCommand):
    help = "Store the relay's evidence (accepted, or no trace) for every message in doubt."

    def add_arguments(self, parser):
        parser.add_argument("--maillog", action="append", required=True,
                            help="the relay's mail log (repeat for rotated files)")
        parser.add_argument("--log-zone", default="",
                            help="time zone of the log's times "
                                 "(default: this machine's, /etc/localtime)")
        parser.add_argument("--syslog-name", default="postfix",
                            help="the relay's syslog_name (postconf syslog_name): only lines "
                                 "of NAME/cleanup, NAME/qmgr ... are the relay's")
        parser.add_argument("--source", default="postfix log",
                            help="what the evidence is called on the page")

    def handle(self, *args, maillog, log_zone, source, syslog_name, **options):
        paths = [Path(p) for p in maillog]
        for path in paths:
            if not path.is_file():
                raise CommandError(f"no such file: {path}")
        zone = ZoneInfo(log_zone) if log_zone else log_stamps.machine_zone()
        counts = reconcile.reconcile(paths, zone=zone, source=source, syslog_name=syslog_name)
        checked = counts["accepted"] + counts["no_trace"] + counts["not_covered"]
        self.stdout.write(
            f"in doubt: {checked}; accepted by the relay: {counts['accepted']}; "
            f"no trace: {counts['no_trace']}; not covered by the log: {counts['not_covered']}; "
            f"earlier evidence corrected: {counts['corrected']}")
