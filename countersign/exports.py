"""CSV and xlsx downloads that open correctly in Japanese Excel and are safe there.

CSV: UTF-8 with a byte-order mark (Excel otherwise reads Shift_JIS), CRLF line ends, and
every cell that a spreadsheet would run as a formula neutralised (OWASP CSV injection), by
audit.chain.csv_cell, the one rule the audit verifier also undoes: an apostrophe before text
that starts with = + - @ ' (also full-width, also after spaces or a quote), and before such
text after a ";", tab, line break or "؛", where Excel in some locales starts a new cell.
Streamed: rows are written as they are read, so an export of a million rows does not sit in
memory.

Headers: one row, or several (the column keys for programs, then the names in the reader's
language). xlsx: times are date cells (a zone-less local time: the header names the zone),
numbers are numbers, everything else is text.
"""

import io
from collections.abc import Iterable
from datetime import datetime

import openpyxl
from django.http import HttpResponse, StreamingHttpResponse
from openpyxl.cell import WriteOnlyCell

from audit import chain
from countersign import clock


def _safe(values) -> list[str]:
    return [chain.csv_cell("" if v is None else str(v)) for v in values]


def _header_rows(header: list) -> list[list]:
    return header if header and isinstance(header[0], list) else [header]


def csv_lines(header: list, rows: Iterable[list], *, already_safe: bool = False):
    """Text lines (BOM first), written as the audit export writes its file. `header`: one
    row or a list of rows. `already_safe`: the rows were made safe by the caller."""
    if already_safe:
        return chain.csv_lines(header, rows)
    return chain.csv_lines([_safe(row) for row in _header_rows(header)], map(_safe, rows))


def csv_response(filename: str, header: list, rows: Iterable[list], *,
                 already_safe: bool = False) -> StreamingHttpResponse:
    lines = (line.encode("utf-8") for line in csv_lines(header, rows, already_safe=already_safe))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def content_of(response) -> bytes:
    """The whole body of a response made here (streamed or not)."""
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def file_response(filename: str, data: bytes, content_type: str) -> HttpResponse:
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def xlsx_response(filename: str, header: list, rows: Iterable[list]) -> HttpResponse:
    """A workbook where every cell is text, a number or a date: nothing runs as a formula.
    The header rows stay in view when scrolling."""
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet()
    headers = _header_rows(header)
    sheet.freeze_panes = f"A{len(headers) + 1}"
    for row in headers:
        sheet.append([_text_cell(sheet, value) for value in row])
    for row in rows:
        cells = []
        for value in row:
            if isinstance(value, datetime):
                local = clock.spreadsheet(value) if value.tzinfo else value
                cell = WriteOnlyCell(sheet, value=local)
                cell.number_format = "yyyy-mm-dd hh:mm:ss"
            elif isinstance(value, int):
                cell = WriteOnlyCell(sheet, value=value)
            else:
                cell = _text_cell(sheet, value)
            cells.append(cell)
        sheet.append(cells)
    out = io.BytesIO()
    workbook.save(out)
    response = HttpResponse(out.getvalue(), content_type=(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _text_cell(sheet, value):
    cell = WriteOnlyCell(sheet, value="" if value is None else str(value))
    cell.data_type = "s"  # a leading "=" stays text, never a formula
    return cell
