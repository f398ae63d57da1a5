from datetime import date

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

import audit
from audit.actions import Action
from audit.chain import CSV_LABELS, csv_header, csv_lines, csv_row
from audit.models import AuditEntry
from audit.selectors import filtered_entries


class Command(BaseCommand):
    help = ("Export the audit log (or a filtered part) as CSV for Excel: UTF-8 with BOM, CRLF, "
            "formula-safe cells. Verify it with `python audit/chain.py FILE`.")

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="file to write")
        parser.add_argument("--from", dest="date_from", type=date.fromisoformat)
        parser.add_argument("--to", dest="date_to", type=date.fromisoformat)
        parser.add_argument("--object-type", default="",
                            help="what the entries are about, as the log's object_type "
                                 "column names it: app_label.model")
        parser.add_argument("--object-id", default="", help="its id (needs --object-type)")
        parser.add_argument("--actor")
        parser.add_argument("--role")
        parser.add_argument("--organisation")
        parser.add_argument("--action")
        parser.add_argument("--language", choices=sorted(CSV_LABELS), default=None,
                            help="language of the column names in row 2 (default: the "
                                 "site's, LANGUAGE_CODE)")

    def handle(self, *args, out, object_type, object_id, language, **options):
        filters = {k: options[k] for k in ("date_from", "date_to", "actor", "role",
                                            "organisation", "action") if options.get(k)}
        if object_id and not object_type:
            raise CommandError("--object-id needs --object-type: ids repeat across models")
        if object_type:
            try:
                apps.get_model(object_type)  # a typo would export nothing, silently
            except (LookupError, ValueError):
                raise CommandError(f"no model {object_type!r} (write app_label.model, as "
                                   "the log's object_type column does)") from None
            filters.update(object_type=object_type.lower(), object_id=object_id)
        entries = AuditEntry.chain_rows(filtered_entries(**filters))
        zone, header = timezone.get_default_timezone(), csv_header(
            language or settings.LANGUAGE_CODE)
        lines = 0
        with open(out, "w", encoding="utf-8", newline="") as handle:
            for line in csv_lines(header, (csv_row(entry, zone) for entry in entries)):
                handle.write(line)
                lines += 1
        written = lines - len(header)
        with transaction.atomic():
            audit.record(Action.EXPORTED, system="cli", payload={
                "filters": {k: str(v) for k, v in filters.items() if v},
                "format": "csv", "entries": written, "file": str(out)})
        self.stdout.write(f"exported {written} entries to {out}")
