"""What became of the messages at the carriers, from the relay's mail log (Postfix or Exim).

    manage.py track_carriers [--maillog /var/log/mail.log --maillog /var/log/mail.log.1]
                             [--log-zone Asia/Tokyo] [--syslog-name postfix]

Without --maillog: the files RELAY_MAILLOG names, as the worker reads them every
RELAY_MAILLOG_MINUTES. The zone and the syslog name default to RELAY_MAILLOG_ZONE (else this
machine's zone) and RELAY_SYSLOG_NAME. Each message handed over in the last
CARRIER_TRACK_DAYS whose outcome is not final is looked up; the campaign page counts them
per carrier group (docs/relay-carriers.md).
"""

from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from campaigns import carrier_outcomes, log_stamps
from campaigns.models import AtCarrier


class Command(BaseCommand):
    help = "Record what the relay's log says became of each message at its carrier."

    def add_arguments(self, parser):
        parser.add_argument("--maillog", action="append", default=[],
                            help="the relay's mail log (repeat for rotated files; default: "
                                 "RELAY_MAILLOG)")
        parser.add_argument("--log-zone", default=settings.RELAY_MAILLOG_ZONE,
                            help="time zone of the log's times (default: RELAY_MAILLOG_ZONE, "
                                 "else this machine's, /etc/localtime)")
        parser.add_argument("--syslog-name", default=settings.RELAY_SYSLOG_NAME,
                            help="the relay's syslog_name (default: RELAY_SYSLOG_NAME)")
        parser.add_argument("--source", default="postfix log",
                            help="what the audit entry calls this reading")

    def handle(self, *args, maillog, log_zone, syslog_name, source, **options):
        paths = [Path(p) for p in maillog or settings.RELAY_MAILLOG]
        if not paths:
            raise CommandError("no log to read: give --maillog, or set RELAY_MAILLOG")
        for path in paths:
            if not path.is_file():
                raise CommandError(f"no such file: {path}")
        zone = ZoneInfo(log_zone) if log_zone else log_stamps.machine_zone()
        counts = carrier_outcomes.track(paths, zone=zone, syslog_name=syslog_name,
                                        source=source)
        self.stdout.write("changed: " + "; ".join(
            f"{status} {counts[status]}" for status in AtCarrier.values))
