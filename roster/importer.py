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
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

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

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_WHITESPACE = re.compile(r"\s+")
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


class _Refused(Exception):
    """The file as a whole cannot be read; carries the one error that says why."""

    def __init__(self, code: str, message: str):
        self.code, self.message = code, message


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


def parse_roster(data: bytes, filename: str, *, max_bytes: int, max_rows: int) -> ParsedRoster:
    parsed = ParsedRoster(filename=filename, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    try:
        if not data:
            raise _Refused("empty", _("The file is empty."))
        if len(data) > max_bytes:
            raise _Refused(
                "too_large",
                _("The file is larger than the limit of %(limit)s bytes.")
                % {"limit": f"{max_bytes:,}"},
            )
        rows = _rows(data, filename, parsed, max_bytes=max_bytes)
        _check_rows(rows, parsed, max_rows=max_rows)
    except _Refused as refused:
        parsed.members.clear()
        parsed.error(None, None, refused.code, refused.message)
    if parsed.error_count:
        parsed.members.clear()  # nothing half-checked may be stored or shown as importable
    return parsed


def _rows(data: bytes, filename: str, parsed: ParsedRoster, *, max_bytes: int):
    if data.startswith(b"PK\x03\x04"):
        parsed.file_format = "xlsx"
        return _xlsx_rows(data, parsed, max_unzipped=10 * max_bytes)
    if data.startswith(_OLE_MAGIC):
        raise _Refused(
            "old_or_encrypted",
            _("This is an old .xls workbook or a password-protected one. Save it as .xlsx "
              "(without a password) or as CSV and upload again."),
        )
    if filename.lower().endswith((".xlsx", ".xlsm")):
        raise _Refused("not_spreadsheet", _("The file is named .xlsx but is not a spreadsheet."))
    text, parsed.file_format = _decode_csv(data)
    return _csv_rows(text)


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


def _csv_rows(text: str) -> Iterator[list]:
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        yield from reader
    except csv.Error as error:
        raise _Refused(
            "bad_csv",
            _("The CSV file is broken near row %(row)s: %(error)s")
            % {"row": reader.line_num, "error": error},
        ) from None


def _xlsx_rows(data: bytes, parsed: ParsedRoster, *, max_unzipped: int) -> Iterator[tuple]:
    import openpyxl

    not_xlsx = _Refused("not_spreadsheet", _("The file is not a readable .xlsx workbook."))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            unzipped = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        raise not_xlsx from None
    if "xl/workbook.xml" not in names:
        raise not_xlsx
    if any(name.lower().endswith("vbaproject.bin") for name in names):
        raise _Refused(
            "macros",
            _("The workbook contains macros. Save it as a plain .xlsx workbook and upload again."),
        )
    if unzipped > max_unzipped:
        # zipfile never inflates a member past its declared size, so this bounds the work.
        raise _Refused(
            "too_large_unzipped",
            _("The workbook unpacks to %(size)s bytes; the limit is %(limit)s bytes.")
            % {"size": f"{unzipped:,}", "limit": f"{max_unzipped:,}"},
        )
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - openpyxl raises many kinds (KeyError, XML...) on a bad file
        raise not_xlsx from None
    try:
        sheets = workbook.worksheets
        if not sheets:
            raise not_xlsx
        if len(sheets) > 1:
            parsed.warn(None, None, "other_sheets",
                        _("Only the first sheet, “%(sheet)s”, was read.") % {"sheet": sheets[0].title})
        try:
            yield from sheets[0].iter_rows(values_only=True)
        except Exception:  # noqa: BLE001 - as above, while reading the sheet
            raise not_xlsx from None
    finally:
        workbook.close()


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
                            _("Rows above the header (row %(row)s) were ignored.") % {"row": number})
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
                         _("The file has more than %(limit)s member rows.") % {"limit": f"{max_rows:,}"})
            return
        width = len(cells)
        member_number = cells[number_index] if number_index < width else ""
        name = cells[name_index] if name_index < width else ""
        email = cells[email_index] if email_index < width else ""
        errors_before = parsed.error_count

        for field_name, value in (("member_number", member_number), ("name", name), ("email", email)):
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
