from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from countersign import association_key
from roster import data_keys, services


class Command(BaseCommand):
    help = "Check a roster file (.xlsx or CSV) and store it, all members or none."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--name", required=True, help="name of the new roster")
        parser.add_argument("--dry-run", action="store_true", help="check only, store nothing")

    def handle(self, *args, file: Path, name: str, dry_run: bool, **options):
        try:
            services.require_importer()  # before the file is read
        except services.NotTheImporter as refusal:
            raise CommandError(str(refusal)) from None
        try:
            data = file.read_bytes()
        except OSError as error:
            raise CommandError(f"cannot read {file}: {error.strerror}") from None
        parsed = services.check_roster_file(data, file.name)
        for warning in parsed.warnings:
            self.stderr.write(f"warning: {warning.message}")
        if not parsed.ok:
            services.roster_import_refused(parsed=parsed, name=name, system="cli")
            for problem in parsed.errors:
                where = ", ".join(
                    part for part in (
                        f"row {problem.row}" if problem.row else "",
                        f"column {problem.column}" if problem.column else "",
                    ) if part
                )
                self.stderr.write(f"{where + ': ' if where else ''}{problem.message}")
            more = parsed.error_count - len(parsed.errors)
            if more > 0:
                self.stderr.write(f"... and {more} more")
            raise CommandError(f"{parsed.error_count} problem(s); nothing was stored")
        try:
            services.check_roster_name_or_refuse(name, parsed, system="cli")
        except ValidationError as refusal:  # the name carries a member's data
            raise CommandError(" ".join(refusal.messages)) from None
        if dry_run:
            self.stdout.write(f"checked {len(parsed.members)} members; nothing stored (dry run)")
            return
        try:
            data_keys.check_before_import()
            roster = services.roster_import(parsed=parsed, name=name, system="cli")
        except association_key.KeyNotAsRegistered as refusal:
            raise CommandError(str(refusal)) from None
        except ValidationError as refusal:  # the name carries a member's data
            raise CommandError(" ".join(refusal.messages)) from None
        self.stdout.write(f"imported {roster.member_count} members into roster {roster.pk} "
                          f"({roster.name}), file SHA-256 {roster.file_sha256}")
