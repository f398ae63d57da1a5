"""Read returned mail and record it: bounces (RFC 3464 delivery status notifications),
complaints from providers' feedback loops (ARF, RFC 5965) and mail readers' unsubscribe mails
(the List-Unsubscribe mailto:, RFC 2369). See campaigns.bounces.

    manage.py process_bounces --maildir /var/mail/bounces/Maildir
    manage.py process_bounces --imap                      # BOUNCE_IMAP_* settings
    manage.py process_bounces --stdin [--recipient ADDR]  # one mail, from a Postfix pipe

Maildir: each mail in new/ is read and then moved to cur/ with the "seen" flag, whatever came
of it (forged and unreadable mails too: they are kept for a person to look at, and never read
twice). A bounce about a message whose success is not written yet stays in new/ for the next
run. IMAP: unseen mails are read and flagged seen (the same exception). stdin: the exit status
tells Postfix what to do: 0 taken (forged mail included: nothing to retry), 75 (EX_TEMPFAIL)
try again later.
"""

import sys
from collections import Counter
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from campaigns import bounces

EX_TEMPFAIL = 75


class Command(BaseCommand):
    help = ("Record bounces, complaints and unsubscribe mails from a Maildir, an IMAP mailbox "
            "or stdin.")

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--maildir", help="a Maildir whose new/ holds the bounces")
        source.add_argument("--imap", action="store_true",
                            help="the mailbox of the BOUNCE_IMAP_* settings")
        source.add_argument("--stdin", action="store_true",
                            help="one mail on standard input (a Postfix pipe transport)")
        parser.add_argument("--recipient", default="",
                            help="with --stdin: the envelope recipient (Postfix: ${recipient})")

    def handle(self, *args, maildir=None, imap=False, stdin=False, recipient="", **options):
        if not settings.BOUNCE_DOMAIN:
            raise CommandError("BOUNCE_DOMAIN is not set: no message carries a VERP address")
        counts = Counter()
        if maildir:
            self._maildir(Path(maildir), counts)
        elif imap:
            self._imap(counts)
        else:
            try:
                result = bounces.process_mail(sys.stdin.buffer.read(),
                                              envelope_recipient=recipient, source="dsn:stdin")
            except DatabaseError as error:  # temporary: Postfix keeps the mail and retries
                self.stderr.write(f"database unavailable, try later: {error}")
                sys.exit(EX_TEMPFAIL)
            counts[result] += 1
            self._summary(counts)
            if result == bounces.Result.NOT_YET:
                sys.exit(EX_TEMPFAIL)
            return
        self._summary(counts)

    def _summary(self, counts: Counter) -> None:
        ignored = sum(n for r, n in counts.items() if r.value.startswith("ignored"))
        self.stdout.write(
            f"bounces: {counts[bounces.Result.HARD]} hard, {counts[bounces.Result.SOFT]} soft, "
            f"{counts[bounces.Result.BLOCKED]} refused by policy, "
            f"{counts[bounces.Result.COMPLAINT]} complaints, "
            f"{counts[bounces.Result.UNSUBSCRIBED]} unsubscribed, "
            f"{counts[bounces.Result.DUPLICATE]} already recorded, {ignored} ignored "
            f"(forged or unknown {counts[bounces.Result.FORGED]}, not matching "
            f"{counts[bounces.Result.MISMATCH]}, never sent {counts[bounces.Result.NEVER_SENT]}"
            f", not a bounce {counts[bounces.Result.NOT_A_BOUNCE]}, unreadable "
            f"{counts[bounces.Result.UNREADABLE]}), "
            f"{counts[bounces.Result.NOT_YET]} left for later, "
            f"{counts[bounces.Result.PROBE]} DKIM probes checked")

    def _maildir(self, root: Path, counts: Counter) -> None:
        new, cur = root / "new", root / "cur"
        if not new.is_dir():
            raise CommandError(f"{root} is not a Maildir (no new/)")
        cur.mkdir(exist_ok=True)
        for path in sorted(new.iterdir()):
            if not path.is_file():
                continue
            result = bounces.process_mail(path.read_bytes(), source="dsn:maildir")
            counts[result] += 1
            if result != bounces.Result.NOT_YET:
                path.rename(cur / f"{path.name}:2,S")

    def _imap(self, counts: Counter) -> None:
        from imapclient import IMAPClient

        if not settings.BOUNCE_IMAP_HOST:
            raise CommandError("BOUNCE_IMAP_HOST is not set")
        with IMAPClient(settings.BOUNCE_IMAP_HOST, ssl=True,
                        timeout=settings.EMAIL_TIMEOUT) as client:
            client.login(settings.BOUNCE_IMAP_USER, settings.BOUNCE_IMAP_PASSWORD)
            client.select_folder(settings.BOUNCE_IMAP_FOLDER)
            unseen = client.search(["UNSEEN"])
            for uid, data in client.fetch(unseen, ["BODY.PEEK[]"]).items():
                result = bounces.process_mail(data[b"BODY[]"], source="dsn:imap")
                counts[result] += 1
                if result != bounces.Result.NOT_YET:
                    client.add_flags([uid], [b"\\Seen"])
