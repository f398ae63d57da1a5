"""What an .xlsx upload may cost, checked before openpyxl parses any of it.

An .xlsx is a zip of XML parts, and both layers amplify. A part inflates up to a thousand
times its packed size. openpyxl then turns XML elements into Python objects (several
microseconds each), loads the whole shared-strings table into memory at once, and at load
time reads every worksheet up to its <dimension> element, or to its end when there is none.
A 381 KB workbook with 150 MB of shared strings took a minute and 920 MB that way.

So, before openpyxl sees the file, two cheap steps:

1. the zip directory, nothing inflated: how many parts; each part's inflated size, and its
   ratio to the packed size; the shared strings' size; the total;
2. one streaming pass of expat over each XML part, stopping at the first excess: no document
   type declaration (so no entities to expand), nesting depth, XML elements per packed byte
   (what a legitimate part holds is measured in bench/RESULTS.md); the workbook's sheet
   count; the shared-strings count; in every worksheet the row numbers, the columns and the
   length of each cell's text.

Only a workbook that passes reaches openpyxl, whose work is then bounded by these limits.
Plain: no request, no database.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from xml.parsers import expat

from django.utils.translation import gettext as _

MAX_PARTS = 500
MAX_SHEETS = 100
MAX_DEPTH = 100  # a chart's XML nests about 12 deep, a worksheet 7
MAX_CELL_CHARS = 32_767  # Excel's own limit for the text of one cell
# Legitimate parts inflate 3 to 15 times (a blank formatted template: 14); zip bombs a
# thousand times. Below a mebibyte any ratio costs nothing.
MAX_RATIO = 50
RATIO_FREE_BYTES = 1 << 20
# XML elements a part may hold, per packed byte plus a floor. Legitimate worksheets and
# shared strings hold at most about 1.2 per packed byte (a table of short, similar
# addresses), styles about 0.3; a part of empty cells "<c/>" packed at the ratio limit would
# hold about 12. openpyxl spends 3-7 microseconds on an element of a worksheet or of the
# shared strings, and about 30 on one of the other parts it reads (styles, properties, the
# workbook), which it turns into objects: those get a tighter budget.
SHEET_ELEMENTS = (200_000, 3)  # (floor, per packed byte): worksheets and shared strings
OTHER_ELEMENTS = (20_000, 1)
_CHUNK = 1 << 16
_CELL_REFERENCE = re.compile(r"\$?([A-Za-z]{1,3})")


class WorkbookRefused(Exception):
    def __init__(self, code: str, message: str, *, row: int | None = None,
                 column: str | None = None):
        self.code, self.message, self.row, self.column = code, message, row, column


@dataclass(frozen=True)
class WorkbookLimits:
    max_rows: int  # rows in a sheet, blank ones included: row numbers stay below it too
    max_columns: int
    max_part_bytes: int  # inflated, each part
    max_total_bytes: int  # inflated, all parts together
    max_shared_strings_bytes: int  # inflated
    max_shared_strings: int


def _letters(index: int) -> str:
    """Column 1 -> A, 26 -> Z, 27 -> AA: how spreadsheet users name columns."""
    letters = ""
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters.upper():
        number = number * 26 + ord(letter) - 64
    return number


def inspect_workbook(archive: zipfile.ZipFile, limits: WorkbookLimits) -> None:
    """Raise WorkbookRefused at the first limit the workbook exceeds."""
    parts = archive.infolist()
    if len(parts) > MAX_PARTS:
        raise WorkbookRefused("too_many_parts", _("The workbook has more than %(limit)s parts.")
                              % {"limit": f"{MAX_PARTS:,}"})
    total = sum(part.file_size for part in parts)
    if total > limits.max_total_bytes:
        raise WorkbookRefused(
            "too_large_unzipped",
            _("The workbook unpacks to %(size)s bytes; the limit is %(limit)s bytes.")
            % {"size": f"{total:,}", "limit": f"{limits.max_total_bytes:,}"})
    for part in parts:
        _check_directory_entry(part, limits)
    for part in parts:
        _scan(archive, part, limits)


def _check_directory_entry(part: zipfile.ZipInfo, limits: WorkbookLimits) -> None:
    shared_strings = part.filename.lower().endswith("sharedstrings.xml")
    limit = limits.max_shared_strings_bytes if shared_strings else limits.max_part_bytes
    if part.file_size > limit:
        raise WorkbookRefused(
            "too_large_unzipped",
            _("A part of the workbook (%(part)s) unpacks to %(size)s bytes; the limit is "
              "%(limit)s bytes.")
            % {"part": part.filename, "size": f"{part.file_size:,}", "limit": f"{limit:,}"})
    if part.file_size > RATIO_FREE_BYTES and part.file_size > MAX_RATIO * part.compress_size:
        raise WorkbookRefused(
            "compression_ratio",
            _("A part of the workbook (%(part)s) unpacks to %(ratio)s times its packed size, "
              "which no spreadsheet program writes: it looks built to overload the import.")
            % {"part": part.filename,
               "ratio": f"{part.file_size // max(part.compress_size, 1):,}"})


def _scan(archive: zipfile.ZipFile, part: zipfile.ZipInfo, limits: WorkbookLimits) -> None:
    scanner = _PartScanner(part, limits)
    parser = expat.ParserCreate(namespace_separator="}")
    parser.StartDoctypeDeclHandler = scanner.doctype
    parser.EntityDeclHandler = scanner.entity
    parser.StartElementHandler = scanner.start
    parser.EndElementHandler = scanner.end
    parser.CharacterDataHandler = scanner.text
    parser.buffer_text = True
    with archive.open(part) as source:
        try:
            while chunk := source.read(_CHUNK):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
        except expat.ExpatError:
            # Not XML (a picture fails at its first byte), or malformed: openpyxl's parser,
            # expat as well, would stop at the same place, and all before it passed the
            # checks. Every part is tried, whatever its name: a part named .png can still be
            # what a relationship points openpyxl to.
            return


class _PartScanner:
    """expat handlers for one part; raise WorkbookRefused to stop the parse at once."""

    def __init__(self, part: zipfile.ZipInfo, limits: WorkbookLimits):
        self.part, self.limits, self.packed = part.filename, limits, part.compress_size
        self.max_elements = self._element_budget(OTHER_ELEMENTS)
        self.kind = None  # the root element's local name: worksheet, sst, workbook, ...
        self.depth = self.elements = self.count = 0
        self.row = self.column = 0
        self.text_chars = None  # characters of the current cell's (or string's) text

    def _element_budget(self, budget: tuple[int, int]) -> int:
        floor, per_packed_byte = budget
        return floor + per_packed_byte * self.packed

    def _refuse(self, code, message, **where):
        raise WorkbookRefused(code, message, **where)

    def doctype(self, *args):
        self._refuse("xml_doctype", _("A part of the workbook (%(part)s) declares a document "
                                      "type, which spreadsheet programs never do.")
                     % {"part": self.part})

    entity = doctype

    def start(self, name, attributes):
        local = name.rpartition("}")[2]
        self.depth += 1
        self.elements += 1
        if self.depth > MAX_DEPTH:
            self._refuse("too_deep", _("A part of the workbook (%(part)s) nests deeper than "
                                       "%(limit)s levels.")
                         % {"part": self.part, "limit": MAX_DEPTH})
        if self.elements > self.max_elements:
            self._refuse("too_dense",
                         _("A part of the workbook (%(part)s) holds more XML elements than a "
                           "spreadsheet program writes in its size: it looks built to "
                           "overload the import.") % {"part": self.part})
        if self.kind is None:
            self.kind = local
            if local in ("worksheet", "sst"):
                self.max_elements = self._element_budget(SHEET_ELEMENTS)
        elif self.kind == "worksheet":
            self._worksheet(local, attributes)
        elif self.kind == "sst" and local == "si":
            self._shared_string()
        elif self.kind == "workbook" and local == "sheet":
            self.count += 1
            if self.count > MAX_SHEETS:
                self._refuse("too_many_sheets",
                             _("The workbook has more than %(limit)s sheets. Save the member "
                               "list on its own and upload it again.") % {"limit": MAX_SHEETS})

    def end(self, name):
        self.depth -= 1
        if self.text_chars is not None and name.rpartition("}")[2] in ("c", "si"):
            self.text_chars = None

    def text(self, data):
        if self.text_chars is not None:
            self.text_chars += len(data)
            if self.text_chars > MAX_CELL_CHARS:
                self._too_long()

    def _worksheet(self, local, attributes):
        if local == "row":
            self.row = self._row_number(attributes.get("r"))
            self.column = 0
            self.count += 1
            if self.row > self.limits.max_rows or self.count > self.limits.max_rows:
                self._refuse("too_many_rows",
                             _("The file has more than %(limit)s rows (blank rows count too).")
                             % {"limit": f"{self.limits.max_rows:,}"}, row=self.row)
        elif local == "c":
            reference = _CELL_REFERENCE.match(attributes.get("r", ""))
            self.column = _column_number(reference.group(1)) if reference else self.column + 1
            self.text_chars = 0
            if self.column > self.limits.max_columns:
                letter = _letters(self.column)
                self._refuse(
                    "too_many_columns",
                    _("Row %(row)s has a cell in column %(column)s; at most %(limit)s columns "
                      "are read. Delete the columns to the right of the data (empty formatted "
                      "cells count too) and save again.")
                    % {"row": self.row, "column": letter, "limit": self.limits.max_columns},
                    row=self.row, column=letter)

    def _row_number(self, value: str | None) -> int:
        if value is None:
            return self.row + 1
        try:
            number = float(value)  # openpyxl accepts "5" and "5.0"
        except ValueError:
            return self.row + 1  # openpyxl refuses it later; nothing large is read before
        return int(number) if number.is_integer() and number > 0 else self.row + 1

    def _shared_string(self):
        self.count += 1
        self.text_chars = 0
        if self.count > self.limits.max_shared_strings:
            self._refuse("too_many_strings",
                         _("The workbook's table of texts holds more than %(limit)s entries.")
                         % {"limit": f"{self.limits.max_shared_strings:,}"})

    def _too_long(self):
        if self.kind == "worksheet":
            letter = _letters(self.column)
            self._refuse("too_long",
                         _("Row %(row)s, column %(column)s holds more than %(limit)s "
                           "characters.")
                         % {"row": self.row, "column": letter, "limit": f"{MAX_CELL_CHARS:,}"},
                         row=self.row, column=letter)
        self._refuse("too_long", _("A text in the workbook is longer than %(limit)s "
                                   "characters.") % {"limit": f"{MAX_CELL_CHARS:,}"})
