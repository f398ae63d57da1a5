"""CSV and xlsx downloads that open correctly in Japanese Excel and are safe there.

CSV: UTF-8 with a byte-order mark (Excel otherwise reads Shift_JIS), CRLF line ends, and
every cell that a spreadsheet would run as a formula neutralised (OWASP CSV injection), by
audit.chain.csv_cell, the one rule the audit verifier also undoes: an apostrophe before text
that starts with = + - @ ' (also full-width, also after spaces or a quote), and before such
text after a ";", tab, line break or "؛", where Excel in some locales starts a new cell.
Streamed: rows are written as they are read, so an export of a million rows does not sit in
memory.
"""

import io
from collections.abc import Iterable

import openpyxl
from django.http import HttpResponse, StreamingHttpResponse
from openpyxl.cell import WriteOnlyCell

from audit import chain


def _safe(values) -> list[str]:
    return [chain.csv_cell("" if v is None else str(v)) for v in values]


def csv_lines(header: list[str], rows: Iterable[list], *, already_safe: bool = False):
    """Text lines (BOM first), written as the audit export writes its file.
    `already_safe`: the rows were made safe by the caller."""
    if already_safe:
        return chain.csv_lines(header, rows)
    return chain.csv_lines(_safe(header), map(_safe, rows))


def csv_response(filename: str, header: list[str], rows: Iterable[list], *,
                 already_safe: bool = False) -> StreamingHttpResponse:
    lines = (line.encode("utf-8") for line in csv_lines(header, rows, already_safe=already_safe))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def xlsx_response(filename: str, header: list[str], rows: Iterable[list]) -> HttpResponse:
    """A workbook where every cell is text or a number: nothing runs as a formula."""
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(header)
    for row in rows:
        cells = []
        for value in row:
            cell = WriteOnlyCell(sheet, value=value if isinstance(value, int) else
                                 ("" if value is None else str(value)))
            if isinstance(cell.value, str):
                cell.data_type = "s"  # a leading "=" stays text, never a formula
            cells.append(cell)
        sheet.append(cells)
    out = io.BytesIO()
    workbook.save(out)
    response = HttpResponse(out.getvalue(), content_type=(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
