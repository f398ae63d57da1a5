"""What an .xlsx upload may cost, checked before openpyxl parses any of it.

An .xlsx is a zip of XML parts, and both layers amplify. A part inflates up to a thousand
times its packed size. openpyxl then turns XML elements into Python objects (several
microseconds each), loads the whole shared-strings table into memory at once, and at load
time reads every worksheet up to its <dimension> element, or to its end when there is none.
A 381 KB workbook with 150 MB of shared strings took a minute and 920 MB that way.

So, before openpyxl sees the file, two cheap steps:

1. the zip directory, nothing inflated: how many parts; each part's inflated size, and its
   ratio to the packed size; the same for the whole workbook;
2. one streaming pass of expat over every part, whatever its name or root element (openpyxl
   finds parts through relationships and content types the file itself declares, and reads
   a part as styles, strings or a sheet whatever its root says), stopping at the first
   excess: no document type declaration (so no entities to expand); nesting depth; XML
   elements per packed byte; sheets declared, none twice; shared strings (<si>), their
   number and size; rows (<row>), their numbers; cells (any child of a row, as openpyxl
   takes them), their columns and size.

Only a workbook that passes reaches openpyxl, whose work is then bounded by these limits.
Plain: no request, no database.
"""

from __future__ import annotations

import posixpath
import zipfile
from dataclasses import dataclass
from xml.parsers import expat

from django.utils.translation import gettext as _

MAX_PARTS = 500
MAX_SHEETS = 100
MAX_DEPTH = 100  # a chart's XML nests about 12 deep, a worksheet 7
MAX_CELL_CHARS = 32_767  # Excel's own limit for the text of one cell
# A cell's or a string's XML, measured in bytes: no character takes more than 10
# ("&#1114111;"), so one longer than this holds more than MAX_CELL_CHARS characters.
MAX_ITEM_BYTES = 10 * MAX_CELL_CHARS
# Legitimate parts inflate 3 to 15 times (a blank formatted template: 14); zip bombs a
# thousand times. Below a mebibyte any ratio costs nothing.
MAX_RATIO = 50
RATIO_FREE_BYTES = 1 << 20
# XML elements a part may hold, per packed byte plus a floor. openpyxl spends 3-8
# microseconds on an element of a worksheet's <sheetData> or of a shared string (<si>),
# which it reads row by row and string by string, and about 30 on any other element it
# reads (styles, properties, the workbook, a worksheet's other parts), which it turns into
# objects. So elements inside <sheetData> and <si> ("bulk") get a budget fit for a large
# roster, and all others a tight one. Legitimate parts hold at most about 1.2 bulk elements
# per packed byte (a table of short, similar addresses) and 0.3 others (styles); empty cells
# "<c/>" packed at the ratio limit would be 12. The floors count once per workbook, not per
# part: five hundred parts may not each bring their own.
BULK_ELEMENTS = (200_000, 3)  # (floor, per packed byte)
OTHER_ELEMENTS = (20_000, 1)
_CHUNK = 1 << 16


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
    max_shared_strings_bytes: int  # the shared strings' XML, all of it
    max_shared_strings: int


def _letters(index: int) -> str:
    """Column 1 -> A, 26 -> Z, 27 -> AA: how spreadsheet users name columns."""
    letters = ""
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _column_number(letters: str) -> int:
    """"AB" -> 28; 0 for anything that is not one to three letters (openpyxl refuses it)."""
    if not (letters.isascii() and letters.isalpha() and len(letters) <= 3):
        return 0
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
    packed = sum(part.compress_size for part in parts)
    if total > RATIO_FREE_BYTES and total > MAX_RATIO * packed:  # many parts, each under 1 MiB
        raise WorkbookRefused(
            "compression_ratio",
            _("The workbook unpacks to %(ratio)s times its packed size, which no spreadsheet "
              "program writes: it looks built to overload the import.")
            % {"ratio": f"{total // max(packed, 1):,}"})
    tally = _Tally(limits, packed)
    for part in parts:
        _scan(archive, part, tally)


def _check_directory_entry(part: zipfile.ZipInfo, limits: WorkbookLimits) -> None:
    # The usual name of the shared strings gets their smaller cap at once; under another
    # name, the scan below adds up every <si> against the same cap.
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


class _Tally:
    """What the whole workbook may hold, counted across its parts."""

    def __init__(self, limits: WorkbookLimits, packed: int):
        self.limits = limits
        self.bulk = BULK_ELEMENTS[0] + BULK_ELEMENTS[1] * packed
        self.other = OTHER_ELEMENTS[0] + OTHER_ELEMENTS[1] * packed
        self.strings = limits.max_shared_strings
        self.string_bytes = limits.max_shared_strings_bytes


def _scan(archive: zipfile.ZipFile, part: zipfile.ZipInfo, tally: _Tally) -> None:
    parser = expat.ParserCreate(namespace_separator="}")
    scanner = _PartScanner(parser, part, tally)
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
            pass
    tally.bulk -= scanner.bulk
    tally.other -= scanner.elements


class _PartScanner:
    """expat handlers for one part; they raise WorkbookRefused to stop the parse at once.

    Kept lean, as they run for every element of every part. A cell's or a string's size is
    read from expat's byte position when it ends, not counted from its text."""

    def __init__(self, parser, part: zipfile.ZipInfo, tally: _Tally):
        self.parser, self.part, self.tally = parser, part.filename, tally
        self.limits = tally.limits
        packed = part.compress_size
        # This part's own budgets, and what is left of the workbook's: whichever is smaller.
        self.max_bulk = min(BULK_ELEMENTS[0] + BULK_ELEMENTS[1] * packed, tally.bulk)
        self.max_elements = min(OTHER_ELEMENTS[0] + OTHER_ELEMENTS[1] * packed, tally.other)
        self.depth = self.elements = self.bulk = self.sheets = self.rows = 0
        self.bulk_depth = 0  # depth of the open <sheetData> or <si>, if any
        self.row_depth = self.row = self.column = 0  # the open <row>, if any
        self.item_depth = self.item_start = 0  # the open cell or string, if any
        self.item_is_cell = False
        self.names: dict[str, str] = {}  # qualified name -> local name
        self.columns: dict[str, int] = {}  # "AB" -> 28
        self.seen: set[tuple[str, str]] = set()  # sheets listed, sheet parts related
        parser.StartDoctypeDeclHandler = parser.EntityDeclHandler = self.doctype
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end

    def doctype(self, *args):
        raise WorkbookRefused(
            "xml_doctype", _("A part of the workbook (%(part)s) declares a document type, "
                             "which spreadsheet programs never do.") % {"part": self.part})

    def start(self, name, attributes):
        self.depth += 1
        if self.bulk_depth:
            self.bulk += 1
            if self.bulk > self.max_bulk or self.depth > MAX_DEPTH:
                self._too_big()
        else:
            self.elements += 1
            if self.elements > self.max_elements or self.depth > MAX_DEPTH:
                self._too_big()
        if self.row_depth and self.depth == self.row_depth + 1:
            self._cell(attributes)  # openpyxl takes any child of a row for a cell
            return
        local = self.names.get(name)
        if local is None:
            local = self.names[name] = name.rpartition("}")[2]
        if local == "row":
            self._row(attributes)
        elif local == "si":
            self._string()
        elif local == "sheetData":
            self.bulk_depth = self.bulk_depth or self.depth
        elif local == "sheet":
            self._sheet(attributes)
        elif local == "Relationship":
            self._relationship(attributes)

    def end(self, name):
        depth = self.depth
        if depth == self.item_depth:  # a cell or a shared string ends
            self.item_depth = 0
            size = self.parser.CurrentByteIndex - self.item_start
            if not self.item_is_cell:
                self.tally.string_bytes -= size
                if self.tally.string_bytes < 0:
                    raise WorkbookRefused(
                        "too_large_unzipped",
                        _("The workbook's table of texts is larger than %(limit)s bytes.")
                        % {"limit": f"{self.limits.max_shared_strings_bytes:,}"})
            if size > MAX_ITEM_BYTES:
                self._too_long()
        if depth == self.bulk_depth:
            self.bulk_depth = 0
        if depth == self.row_depth:
            self.row_depth = 0
        self.depth = depth - 1

    def _cell(self, attributes):
        letters = attributes.get("r", "").rstrip("0123456789")
        column = self.columns.get(letters)
        if column is None:
            column = self.columns[letters] = _column_number(letters)
        self.column = column or self.column + 1  # no reference: the next column
        if not self.item_depth:
            self.item_depth, self.item_start = self.depth, self.parser.CurrentByteIndex
            self.item_is_cell = True
        if self.column > self.limits.max_columns:
            letter = _letters(self.column)
            raise WorkbookRefused(
                "too_many_columns",
                _("Row %(row)s has a cell in column %(column)s; at most %(limit)s columns are "
                  "read. Delete the columns to the right of the data (empty formatted cells "
                  "count too) and save again.")
                % {"row": self.row, "column": letter, "limit": self.limits.max_columns},
                row=self.row, column=letter)

    def _sheet(self, attributes):
        self.sheets += 1
        if self.sheets > MAX_SHEETS:
            raise WorkbookRefused(
                "too_many_sheets",
                _("The workbook has more than %(limit)s sheets. Save the member list on its "
                  "own and upload it again.") % {"limit": MAX_SHEETS})
        # openpyxl reads a sheet once for each time the workbook lists it: a hundred
        # listings of one large sheet cost a hundred reads of it.
        for key, value in attributes.items():
            if key.endswith("}id"):
                self._once(("sheet", value), value)

    def _relationship(self, attributes):
        if attributes.get("TargetMode") == "External" or not attributes.get("Type", "").endswith(
                ("/worksheet", "/chartsheet", "/dialogsheet", "/macrosheet")):
            return
        target = attributes.get("Target", "")
        if target.startswith("/"):  # resolved as openpyxl resolves it (get_dependents)
            target = target[1:]
        else:
            folder = posixpath.split(posixpath.dirname(self.part))[0]
            target = posixpath.normpath(posixpath.join(folder, target))
        self._once(("target", target), target)

    def _once(self, key, shown: str):
        if key in self.seen:
            raise WorkbookRefused(
                "sheet_twice",
                _("Two sheets of the workbook are one and the same (%(part)s), which "
                  "spreadsheet programs never write.") % {"part": shown})
        self.seen.add(key)

    def _row(self, attributes):
        self.row = self._row_number(attributes.get("r"))
        self.row_depth, self.column = self.depth, 0
        self.rows += 1
        if self.row > self.limits.max_rows or self.rows > self.limits.max_rows:
            raise WorkbookRefused(
                "too_many_rows",
                _("The file has more than %(limit)s rows (blank rows count too).")
                % {"limit": f"{self.limits.max_rows:,}"}, row=self.row)

    def _row_number(self, value: str | None) -> int:
        if value is None:
            return self.row + 1
        try:
            number = float(value)  # openpyxl accepts "5" and "5.0"
        except ValueError:
            return self.row + 1  # openpyxl refuses it later; nothing large is read before
        return int(number) if number.is_integer() and number > 0 else self.row + 1

    def _string(self):
        # openpyxl loads every <si> of the shared-strings part, wherever it sits in it.
        if not self.bulk_depth:  # what is inside counts as bulk, and this one too
            self.bulk_depth = self.depth
            self.elements -= 1
            self.bulk += 1
        if not self.item_depth:
            self.item_depth, self.item_start = self.depth, self.parser.CurrentByteIndex
            self.item_is_cell = False
        self.tally.strings -= 1
        if self.tally.strings < 0:
            raise WorkbookRefused(
                "too_many_strings",
                _("The workbook's table of texts holds more than %(limit)s entries.")
                % {"limit": f"{self.limits.max_shared_strings:,}"})

    def _too_big(self):
        if self.depth > MAX_DEPTH:
            raise WorkbookRefused(
                "too_deep", _("A part of the workbook (%(part)s) nests deeper than %(limit)s "
                              "levels.") % {"part": self.part, "limit": MAX_DEPTH})
        raise WorkbookRefused(
            "too_dense", _("A part of the workbook (%(part)s) holds more XML elements than a "
                           "spreadsheet program writes in its size: it looks built to overload "
                           "the import.") % {"part": self.part})

    def _too_long(self):
        if self.item_is_cell:
            letter = _letters(self.column)
            raise WorkbookRefused(
                "too_long", _("Row %(row)s, column %(column)s holds more than %(limit)s "
                              "characters.")
                % {"row": self.row, "column": letter, "limit": f"{MAX_CELL_CHARS:,}"},
                row=self.row, column=letter)
        raise WorkbookRefused("too_long", _("A text in the workbook is longer than %(limit)s "
                                            "characters.") % {"limit": f"{MAX_CELL_CHARS:,}"})
