from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from audit import anchors, triggers
from audit.services import verify_and_record


class Command(BaseCommand):
    help = ("Walk the audit hash chain; exit 0 with the count, or non-zero naming the first bad "
            "entry. With --anchor, also prove that heads kept outside (mailed anchors) are still "
            "in it.")

    def add_arguments(self, parser):
        parser.add_argument(
            "--anchor", action="append", default=[],
            help="a chain head kept elsewhere: a hash, an anchor line, or a file with one "
                 "anchor per line (e.g. the saved anchor mails); may be repeated")
        parser.add_argument("--reinstall-triggers", action="store_true",
                            help="put back missing or altered append-only triggers, then verify")

    def handle(self, *args, anchor=(), reinstall_triggers=False, **options):
        if reinstall_triggers:
            triggers.install(connection)
        kept = [a for value in anchor for a in anchors.parse(
            Path(value).read_text(encoding="utf-8") if Path(value).is_file() else value)]
        if anchor and not kept:
            raise CommandError("no anchor found in --anchor (a 64-character hash per line)")
        bare = [a.hash for a in kept if a.sequence is None]
        checks = anchors.check(kept)  # before this verification adds its own entry
        verdict = verify_and_record(system="cli", anchor=bare[0] if len(bare) == 1 else None,
                                    anchors=checks)
        if not verdict.ok:
            where = f"entry {verdict.bad_sequence}" if verdict.bad_sequence else "the chain"
            raise CommandError(
                f"audit chain FAILED at {where}: {verdict.reason} "
                f"({verdict.count} entries verified before it)"
            )
        self.stdout.write(f"audit chain OK: {verdict.count} entries verified; head {verdict.head}")
        failed = [c for c in checks if not c.ok]
        newest = anchors.newest_that_holds(checks)
        if newest is not None:
            self.stdout.write(f"newest anchor that holds: entry {newest.sequence} "
                              f"({newest.time or 'time unknown'}), {len(checks) - len(failed)} "
                              f"of {len(checks)} anchors hold")
        elif kept and not failed:
            self.stdout.write(f"anchor {kept[0].hash} is in the chain")
        if failed:
            reasons = {"missing": "its entry is gone: the log was cut after it was mailed",
                       "different": "its entry has another hash: the log was cut or rewritten "
                                    "after it was mailed",
                       "not_found": "the hash is not in the chain"}
            raise CommandError("; ".join(
                f"anchor of entry {c.anchor.sequence or '?'} ({c.anchor.time or 'time unknown'}) "
                f"does not hold: {reasons[c.reason]}" for c in failed))
        self._report_gaps(kept)
        wrong = triggers.problems(connection)
        if wrong:
            raise CommandError(
                f"the append-only triggers are not as defined: {', '.join(wrong)} "
                "(run with --reinstall-triggers)", returncode=3
            )

    def _report_gaps(self, kept):
        """Numbered anchors: one missing from what the association kept is named with where
        the log says it went (look for it there); a broken "previous" link fails."""
        problems = anchors.gaps(kept)
        broken = [p for p in problems if "previous head" in p]
        for problem in problems:
            self.stderr.write(f"WARNING: {problem}")
        for number in anchors.missing_numbers(kept):
            self.stderr.write(f"  anchor {number}: {anchors.where_it_went(number)}")
        if broken:
            raise CommandError("the kept anchors do not link up: " + "; ".join(broken),
                               returncode=4)
