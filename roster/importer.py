"""Roster file -> checked rows and problems. No database, no request: a plain function.

Reads .xlsx (openpyxl, read-only) and CSV in UTF-8, UTF-8 with BOM, UTF-16 with BOM
("Unicode text" from Excel) and Shift_JIS/CP932, without asking which. Headers may be
English or Japanese. Every text cell is NFKC-normalised (full-width digits, letters and
"＠" become ASCII; half-width kana become full-width) and trimmed.

The result is all-or-nothing by construction: `ParsedRoster.ok` is true only when there is
no error at all, and only then may roster.services store it.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import re
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import openpyxl
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from roster.xlsx_guard import WorkbookLimits, WorkbookRefused, inspect_workbook

REQUIRED = ("member_number", "name", "email")

# Header spellings, compared after header_key(): NFKC, lower case, no spaces/-/_/・.
HEADER_ALIASES = {
    "member_number": {"membernumber", "memberno", "memberid", "会員番号", "会員no", "会員id"},
    "name": {"name", "fullname", "氏名", "お名前", "名前"},
    "email": {
        "email", "emailaddress", "mail", "mailaddress",
        "メールアドレス", "電子メールアドレス", "メール", "eメール", "eメールアドレス",
    },
}  # fmt: skip
_ALIAS_TO_FIELD = {alias: name for name, aliases in HEADER_ALIASES.items() for alias in aliases}

MAX_LENGTH = {"member_number": 64, "name": 200, "email": 254}
MAX_EXTRA_LENGTH = 1000
MAX_REPORTED_ERRORS = 500
HEADER_SEARCH_ROWS = 10  # a title line or two above the header is common in Japanese Excel
PREVIEW_ROWS = 5
# Rows beyond the member limit that a file may have: the header, title lines above it and
# blank lines. Every row counts, blank or not: a sheet padded with a million empty rows is
# refused when it passes the limit, not read to its end.
SPARE_ROWS = 100
MAX_COLUMNS = 100  # the default of the ROSTER_MAX_COLUMNS setting

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_WHITESPACE = re.compile(r"\s+")
_LINE_END = re.compile(r"\r\n|\r|\n")
_HEADER_NOISE = re.compile(r"[\s\-_・]")
# A strict subset of what Django's EmailValidator accepts (dot-atom local part, LDH
# labels, alphabetic TLD): addresses that match need no further check, the rest go through
# the full validator. It only makes the common case fast; it never changes the verdict.
_PLAIN_EMAIL = re.compile(
    r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}\Z"
)
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@dataclass(frozen=True, slots=True)
class Problem:
    row: int | None  # row number in the file, the header row counting as a row
    column: str | None
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class MemberRow:
    row: int
    member_number: str
    name: str
    email: str
    extra: dict


@dataclass
class ParsedRoster:
    filename: str
    sha256: str
    size: int
    file_format: str = ""
    extra_columns: list[str] = field(default_factory=list)
    members: list[MemberRow] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    error_count: int = 0
    warnings: list[Problem] = field(default_factory=list)
    rows_read: int = 0

    @property
    def ok(self) -> bool:
        return self.error_count == 0 and bool(self.members)

    def error(self, row, column, code, message) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(Problem(row, column, code, message))

    def warn(self, row, column, code, message) -> None:
        self.warnings.append(Problem(row, column, code, message))

    def preview(self) -> dict:
        """What the operator sees before confirming (JSON-safe)."""
        first = self.members[:PREVIEW_ROWS]
        last = self.members[max(PREVIEW_ROWS, len(self.members) - PREVIEW_ROWS):]
        as_dict = lambda m: {
            "row": m.row, "member_number": m.member_number, "name": m.name,
            "email": m.email, "extra": m.extra,
        }  # fmt: skip
        return {
            "member_count": len(self.members),
            "file_format": self.file_format,
            "extra_columns": self.extra_columns,
            "first": [as_dict(m) for m in first],
            "last": [as_dict(m) for m in last],
            "warnings": [p.message for p in self.warnings],
        }

    def checked(self) -> dict:
        """A clean result as JSON, kept with the upload until the operator confirms it, so
        that confirming stores these rows without parsing the file a second time."""
        if not self.ok:
            raise ValueError("only a roster without errors is kept for confirmation")
        return {
            "file_format": self.file_format,
            "size": self.size,
            "rows_read": self.rows_read,
            "extra_columns": self.extra_columns,
            "members": [[m.row, m.member_number, m.name, m.email, m.extra] for m in self.members],
        }

    @classmethod
    def from_checked(cls, checked: dict, *, filename: str, sha256: str) -> ParsedRoster:
        return cls(
            filename=filename, sha256=sha256, size=checked["size"],
            file_format=checked["file_format"], extra_columns=checked["extra_columns"],
            members=[MemberRow(*member) for member in checked["members"]],
            rows_read=checked["rows_read"],
        )


class _Refused(Exception):
    """The file as a whole cannot be read; carries the one error that says why."""

    def __init__(self, code: str, message: str, *, row: int | None = None,
                 column: str | None = None):
        self.code, self.message, self.row, self.column = code, message, row, column


def clean_text(value) -> str:
    """Cell value -> normalised text."""
    if type(value) is str:  # the common case, kept fast: ASCII is already NFKC-normal
        text = value if value.isascii() else unicodedata.normalize("NFKC", value)
        return (text if text.isprintable() else _CONTROL.sub("", text)).strip()
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "TRUE" if value else "FALSE"
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))  # Excel stores 1001 as 1001.0
    elif isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        text = value.isoformat()
    else:
        text = str(value)
    return _CONTROL.sub("", unicodedata.normalize("NFKC", text)).strip()


def header_key(text: str) -> str:
    return _HEADER_NOISE.sub("", text.lower())


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA: how spreadsheet users name columns."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def parse_roster(data: bytes, filename: str, *, max_bytes: int, max_rows: int,
                 max_columns: int = MAX_COLUMNS) -> ParsedRoster:
    parsed = ParsedRoster(filename=filename, sha256=hashlib.sha256(data).hexdigest(),
                          size=len(data))
    try:
        if not data:
            raise _Refused("empty", _("The file is empty."))
        if len(data) > max_bytes:
            raise _Refused(
                "too_large",
                _("The file is larger than the limit of %(limit)s bytes.")
                % {"limit": f"{max_bytes:,}"},
            )
        limits = WorkbookLimits(
            max_rows=max_rows + SPARE_ROWS,
            max_columns=max_columns,
            max_part_bytes=4 * max_bytes,
            max_total_bytes=10 * max_bytes,
            max_shared_strings_bytes=max_bytes,
            # member number, name and address of every member, plus some
            max_shared_strings=3 * max_rows + 10_000,
        )
        rows = _rows(data, filename, parsed, limits)
        _check_rows(_bounded(rows, limits), parsed, max_rows=max_rows)
    except _Refused as refused:
        parsed.members.clear()
        parsed.error(refused.row, refused.column, refused.code, refused.message)
    if parsed.error_count:
        parsed.members.clear()  # nothing half-checked may be stored or shown as importable
    return parsed


def _rows(data: bytes, filename: str, parsed: ParsedRoster, limits: WorkbookLimits):
    if data.startswith(b"PK\x03\x04"):
        parsed.file_format = "xlsx"
        return _xlsx_rows(data, parsed, limits)
    if data.startswith(_OLE_MAGIC):
        raise _Refused(
            "old_or_encrypted",
            _("This is an old .xls workbook or a password-protected one. Save it as .xlsx "
              "(without a password) or as CSV and upload again."),
        )
    if filename.lower().endswith((".xlsx", ".xlsm")):
        raise _Refused("not_spreadsheet", _("The file is named .xlsx but is not a spreadsheet."))
    text, parsed.file_format = _decode_csv(data)
    # Longest line a member row can need: every column at its longest, quoted.
    return _csv_rows(text, max_line=limits.max_columns * (MAX_EXTRA_LENGTH + 3))


def _decode_csv(data: bytes) -> tuple[str, str]:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = [("utf-16", "csv-utf16")]
    else:
        candidates = [("utf-8-sig", "csv-utf8"), ("cp932", "csv-cp932")]
    for encoding, label in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            break  # binary data that happens to decode
        if label == "csv-utf8" and data.startswith(b"\xef\xbb\xbf"):
            label = "csv-utf8-bom"
        return text, label
    raise _Refused(
        "not_spreadsheet",
        _("This is not a spreadsheet or a CSV file we can read (tried .xlsx, UTF-8 and "
          "Shift_JIS)."),
    )


def _csv_rows(text: str, *, max_line: int) -> Iterator[list]:
    end = text.find("\n")
    first_line = text if end < 0 else text[:end]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    reader = csv.reader(_lines(text, max_line), delimiter=delimiter)
    try:
        yield from reader
    except csv.Error as error:
        raise _Refused(
            "bad_csv",
            _("The CSV file is broken near row %(row)s: %(error)s")
            % {"row": reader.line_num, "error": error},
        ) from None


def _lines(text: str, max_line: int) -> Iterator[str]:
    """The text's lines, one at a time (no copy of the whole text), none absurdly long: the
    csv module builds a whole row before anyone can look at it, so a line of twenty million
    commas would be a list of twenty million cells."""
    start, number = 0, 0
    while start < len(text):
        line_end = _LINE_END.search(text, start)  # as io.StringIO(newline="") splits them
        end = line_end.end() if line_end else len(text)
        number += 1
        if end - start > max_line:
            raise _Refused("row_too_long",
                           _("Line %(line)s of the file is longer than %(limit)s characters.")
                           % {"line": number, "limit": f"{max_line:,}"}, row=number)
        yield text[start:end]
        start = end


def _xlsx_rows(data: bytes, parsed: ParsedRoster, limits: WorkbookLimits) -> Iterator[tuple]:
    not_xlsx = _Refused("not_spreadsheet", _("The file is not a readable .xlsx workbook."))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            if "xl/workbook.xml" not in names:
                raise not_xlsx
            if any(name.lower().endswith("vbaproject.bin") for name in names):
                raise _Refused(
                    "macros",
                    _("The workbook contains macros. Save it as a plain .xlsx workbook and "
                      "upload again."),
                )
            inspect_workbook(archive, limits)
    except WorkbookRefused as refused:
        raise _Refused(refused.code, refused.message, row=refused.row,
                       column=refused.column) from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, RuntimeError,
            NotImplementedError):  # broken, encrypted or oddly compressed members
        raise not_xlsx from None
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True,
                                          keep_links=False)
    except Exception:  # noqa: BLE001 - openpyxl raises many kinds (KeyError, XML...) on a bad file
        raise not_xlsx from None
    try:
        sheets = workbook.worksheets
        if not sheets:
            raise not_xlsx
        if len(sheets) > 1:
            parsed.warn(None, None, "other_sheets",
                        _("Only the first sheet, “%(sheet)s”, was read.")
                        % {"sheet": sheets[0].title})
        # The <dimension> a file declares is not trusted: "A1:XFD1048576" would make openpyxl
        # pad every row to 16,384 cells and the sheet to a million rows. Without it, a row is
        # as wide as its last cell and the sheet ends with its last row.
        sheets[0].reset_dimensions()
        try:
            yield from sheets[0].iter_rows(values_only=True)
        except Exception:  # noqa: BLE001 - as above, while reading the sheet
            raise not_xlsx from None
    finally:
        workbook.close()


def _bounded(rows: Iterable, limits: WorkbookLimits) -> Iterator:
    """Every row, counted whether blank or not, refused past the limit; none wider than the
    column limit (a CSV line may end in empty cells beyond it, which are dropped)."""
    for number, row in enumerate(rows, start=1):
        if number > limits.max_rows:
            raise _Refused("too_many_rows",
                           _("The file has more than %(limit)s rows (blank rows count too).")
                           % {"limit": f"{limits.max_rows:,}"}, row=number)
        if len(row) > limits.max_columns:
            beyond = [i for i in range(limits.max_columns, len(row)) if row[i] not in (None, "")]
            if beyond:
                letter = column_letter(beyond[0])
                raise _Refused(
                    "too_many_columns",
                    _("Row %(row)s has a cell in column %(column)s; at most %(limit)s columns "
                      "are read. Delete the columns to the right of the data (empty formatted "
                      "cells count too) and save again.")
                    % {"row": number, "column": letter, "limit": limits.max_columns},
                    row=number, column=letter)
            row = row[:limits.max_columns]
        yield row


def _find_header(rows: Iterator, parsed: ParsedRoster):
    """Return (row number, header cells, {field: column index}), consuming rows up to it."""
    first_nonblank, nonblank_rows = None, 0
    for number, raw in enumerate(rows, start=1):
        cells = [clean_text(v) for v in raw]
        if not any(cells):
            continue
        nonblank_rows += 1
        if first_nonblank is None:
            first_nonblank = (number, cells)
        mapping = _map_header(cells)
        if all(name in mapping for name in REQUIRED):
            if number > first_nonblank[0]:
                parsed.warn(None, None, "rows_above_header",
                            _("Rows above the header (row %(row)s) were ignored.")
                            % {"row": number})
            return number, cells, mapping
        if nonblank_rows >= HEADER_SEARCH_ROWS:
            break
    if first_nonblank is None:
        raise _Refused("empty", _("The file has no rows."))
    number, cells = first_nonblank
    missing = [name for name in REQUIRED if name not in _map_header(cells)]
    raise _Refused(
        "missing_column",
        _("Row %(row)s is not a complete header: required column(s) %(missing)s not found. "
          "Accepted headers: member_number/会員番号, name/氏名/お名前, email/メールアドレス.")
        % {"row": number, "missing": ", ".join(missing)},
    )


def _map_header(cells: list[str]) -> dict[str, int]:
    mapping = {}
    for index, text in enumerate(cells):
        name = _ALIAS_TO_FIELD.get(header_key(text))
        if name and name not in mapping:
            mapping[name] = index
    return mapping


def _check_rows(rows, parsed: ParsedRoster, *, max_rows: int) -> None:
    rows = iter(rows)
    header_row, header, mapping = _find_header(rows, parsed)
    labels = {name: f"{column_letter(i)} ({header[i]})" for name, i in mapping.items()}

    for name, index in mapping.items():
        for other, text in enumerate(header):
            if other != index and _ALIAS_TO_FIELD.get(header_key(text)) == name:
                parsed.error(header_row, f"{column_letter(other)} ({text})", "duplicate_column",
                             _("Two columns hold %(field)s: %(a)s and %(b)s.")
                             % {"field": name, "a": labels[name], "b": column_letter(other)})
    extras: list[tuple[str, int]] = []
    for index, text in enumerate(header):
        if not text or _ALIAS_TO_FIELD.get(header_key(text)):
            continue
        key = _WHITESPACE.sub("_", text)
        if any(key == known for known, _index in extras):
            parsed.error(header_row, column_letter(index), "duplicate_column",
                         _("The column name “%(name)s” appears twice.") % {"name": text})
            continue
        extras.append((key, index))
    parsed.extra_columns = [key for key, _index in extras]
    if len(extras) > settings.ROSTER_MAX_EXTRA_COLUMNS:
        parsed.error(header_row, None, "too_many_columns",
                     _("The file has %(count)s extra columns besides member number, name and "
                       "e-mail; the limit is %(limit)s. Remove the columns the message does "
                       "not need.") % {"count": len(extras),
                                       "limit": settings.ROSTER_MAX_EXTRA_COLUMNS})
    if parsed.error_count:
        return

    number_index, name_index, email_index = (mapping[name] for name in REQUIRED)
    seen_numbers: dict[str, int] = {}
    seen_emails: dict[str, int] = {}
    for row, raw in enumerate(rows, start=header_row + 1):
        if not any(value is not None and value != "" for value in raw):
            continue
        cells = [clean_text(value) for value in raw]
        if not any(cells):
            continue
        parsed.rows_read += 1
        if parsed.rows_read > max_rows:
            parsed.error(row, None, "too_many_rows",
                         _("The file has more than %(limit)s member rows.")
                         % {"limit": f"{max_rows:,}"})
            return
        width = len(cells)
        member_number = cells[number_index] if number_index < width else ""
        name = cells[name_index] if name_index < width else ""
        email = cells[email_index] if email_index < width else ""
        errors_before = parsed.error_count

        fields = (("member_number", member_number), ("name", name), ("email", email))
        for field_name, value in fields:
            if not value:
                parsed.error(row, labels[field_name], "blank",
                             _("%(column)s is empty.") % {"column": labels[field_name]})
            elif len(value) > MAX_LENGTH[field_name]:
                parsed.error(row, labels[field_name], "too_long",
                             _("%(column)s is longer than %(limit)s characters.")
                             % {"column": labels[field_name], "limit": MAX_LENGTH[field_name]})
        email_ok = bool(email) and len(email) <= MAX_LENGTH["email"]
        if email_ok:
            try:
                if not _PLAIN_EMAIL.match(email):
                    validate_email(email)
            except ValidationError:
                email_ok = False
                parsed.error(row, labels["email"], "invalid_email",
                             _("“%(value)s” is not a valid e-mail address.") % {"value": email})
        if member_number:
            first = seen_numbers.setdefault(member_number, row)
            if first != row:
                parsed.error(row, labels["member_number"], "duplicate_member_number",
                             _("Member number “%(value)s” is already on row %(first)s.")
                             % {"value": member_number, "first": first})
        if email_ok:
            first = seen_emails.setdefault(email.casefold(), row)
            if first != row:
                parsed.error(row, labels["email"], "duplicate_email",
                             _("E-mail address “%(value)s” is already on row %(first)s.")
                             % {"value": email, "first": first})
        extra = {}
        for key, index in extras:
            value = cells[index] if index < width else ""
            if len(value) > MAX_EXTRA_LENGTH:
                parsed.error(row, f"{column_letter(index)} ({key})", "too_long",
                             _("%(column)s is longer than %(limit)s characters.")
                             % {"column": key, "limit": MAX_EXTRA_LENGTH})
            extra[key] = value
        extra_chars = sum(len(value) for value in extra.values())
        if extra_chars > settings.ROSTER_MAX_EXTRA_CHARS:
            parsed.error(row, None, "too_much_extra",
                         _("The extra columns of this row hold %(count)s characters; the limit "
                           "is %(limit)s per member.")
                         % {"count": f"{extra_chars:,}",
                            "limit": f"{settings.ROSTER_MAX_EXTRA_CHARS:,}"})
        if parsed.error_count == errors_before == 0:
            parsed.members.append(MemberRow(row, member_number, name, email, extra))

    if not parsed.rows_read and not parsed.error_count:
        parsed.error(header_row, None, "header_only",
                     _("The file has a header but no member rows."))
