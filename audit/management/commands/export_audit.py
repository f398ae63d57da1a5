from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

import audit
from audit.chain import CSV_COLUMNS, csv_lines, csv_row
from audit.models import AuditEntry
from audit.selectors import filtered_entries


class Command(BaseCommand):
    help = ("Export the audit log (or a filtered part) as CSV for Excel: UTF-8 with BOM, CRLF, "
            "formula-safe cells. Verify it with `python audit/chain.py FILE`.")

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="file to write")
        parser.add_argument("--from", dest="date_from", type=date.fromisoformat)
        parser.add_argument("--to", dest="date_to", type=date.fromisoformat)
        parser.add_argument("--campaign", type=int, help="campaign id")
        parser.add_argument("--actor")
        parser.add_argument("--role")
        parser.add_argument("--organisation")
        parser.add_argument("--action")

    def handle(self, *args, out, campaign=None, **options):
        filters = {k: options[k] for k in ("date_from", "date_to", "actor", "role",
                                            "organisation", "action") if options.get(k)}
        if campaign is not None:
            from campaigns.models import Campaign

            try:
                filters["campaign"] = Campaign.objects.get(pk=campaign)
            except Campaign.DoesNotExist:
                raise CommandError(f"no campaign {campaign}") from None
        entries = AuditEntry.chain_rows(filtered_entries(**filters))
        rows = 0
        with open(out, "w", encoding="utf-8", newline="") as handle:
            for line in csv_lines(list(CSV_COLUMNS), map(csv_row, entries)):
                handle.write(line)
                rows += 1
        with transaction.atomic():
            audit.record("audit.exported", system="cli", payload={
                "filters": {k: str(getattr(v, "pk", v)) for k, v in filters.items()},
                "format": "csv", "entries": rows - 1, "file": str(out)})
        self.stdout.write(f"exported {rows - 1} entries to {out}")
