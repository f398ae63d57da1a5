"""Made-up Japanese rosters for the demo, the tests and the benchmarks (nobody real)."""

import csv
import io
import zipfile
from pathlib import Path

import openpyxl

FAMILY = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤",
          "吉田", "山田", "佐々木", "山口", "松本", "井上", "木村", "林", "斎藤", "清水"]
GIVEN = ["陽菜", "結衣", "さくら", "美咲", "葵", "翔太", "蓮", "大翔", "悠真", "湊",
         "花子", "太郎", "由美", "健一", "真由美", "恵子", "直樹", "彩", "優子", "誠"]
BRANCHES = ["東京", "大阪", "名古屋", "札幌", "福岡"]
HEADER = ["会員番号", "氏名", "メールアドレス", "支部"]


def sample_rows(count: int, *, start: int = 1) -> list[list[str]]:
    rows = []
    for i in range(start, start + count):
        name = f"{FAMILY[i % len(FAMILY)]} {GIVEN[(i // len(FAMILY)) % len(GIVEN)]}"
        rows.append([f"W{i:06d}", name, f"member{i:06d}@members.example",
                     BRANCHES[i % len(BRANCHES)]])
    return rows


def xlsx_bytes(rows: list[list], header: list = HEADER) -> bytes:
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("名簿")
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def csv_bytes(rows: list[list], header: list = HEADER, *, encoding: str = "utf-8") -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")  # what Excel writes
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def write_demo_files(directory: Path, count: int = 50) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    rows = sample_rows(count)
    files = {
        "demo-roster.xlsx": xlsx_bytes(rows),
        "demo-roster-shift_jis.csv": csv_bytes(rows, encoding="cp932"),
    }
    paths = []
    for name, data in files.items():
        (directory / name).write_bytes(data)
        paths.append(directory / name)
    return paths


# --- Hostile files: built the way an attacker would, for the tests and bench/hostile_rosters.py

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_DOC_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def _inline(reference: str, text: str) -> str:
    return f'<c r="{reference}" t="inlineStr"><is><t>{text}</t></is></c>'


# A header and one member: what a hostile file wraps its payload around, so that only the
# payload can be the reason it is refused.
ROSTER_ROWS = ('<row r="1">' + _inline("A1", "会員番号") + _inline("B1", "氏名")
               + _inline("C1", "メールアドレス") + '</row><row r="2">' + _inline("A2", "W000001")
               + _inline("B2", "佐藤 陽菜") + _inline("C2", "member000001@members.example")
               + "</row>").encode()


def raw_xlsx(sheet_data=ROSTER_ROWS, *, shared_strings=None, sheets: int = 1,
             sheet_parts: int = 1, dimension: str = "", workbook_xml: str = "",
             extra_parts: tuple = (), strings_part: str = "xl/sharedStrings.xml",
             strings_root: str = "sst", same_part: bool = False) -> bytes:
    """A minimal workbook written part by part, as no spreadsheet program would. Any part
    may be bytes or an iterable of byte chunks (streamed: a gigabyte never sits in memory).
    `sheets` sheets are declared; `sheet_parts` of them have a part of their own, the others
    point to a part that is missing or, with `same_part`, all to the first one. The shared
    strings go where `strings_part` says, which [Content_Types].xml tells openpyxl."""
    workbook = workbook_xml or (
        f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{_MAIN}" '
        f'xmlns:r="{_DOC_RELS}"><sheets>'
        + "".join(f'<sheet name="S{i}" sheetId="{i}" r:id="rId{1 if same_part else i}"/>'
                  for i in range(1, sheets + 1))
        + "</sheets></workbook>")
    relationships = "".join(
        f'<Relationship Id="rId{i}" Type="{_DOC_RELS}/worksheet" Target="worksheets/'
        f'{"sheet" if i <= sheet_parts else "missing"}{i}.xml"/>' for i in range(1, sheets + 1))
    if shared_strings is not None:
        relationships += (f'<Relationship Id="rIdS" Type="{_DOC_RELS}/sharedStrings" '
                          f'Target="/{strings_part}"/>')
    parts = [
        ("[Content_Types].xml",
         '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
         'package/2006/content-types"><Default Extension="rels" ContentType="application/'
         'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
         'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType='
         '"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
         + "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
                   'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                   for i in range(1, sheet_parts + 1))
         + (f'<Override PartName="/{strings_part}" ContentType="application/vnd.'
            'openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
            if shared_strings is not None else "")
         + "</Types>"),
        ("_rels/.rels", _relationships(
            f'<Relationship Id="rId1" Type="{_DOC_RELS}/officeDocument" '
            'Target="xl/workbook.xml"/>')),
        ("xl/workbook.xml", workbook),
        ("xl/_rels/workbook.xml.rels", _relationships(relationships)),
    ]
    for i in range(1, sheet_parts + 1):
        head = f'<worksheet xmlns="{_MAIN}">'
        head += f'<dimension ref="{dimension}"/>' if dimension else ""
        parts.append((f"xl/worksheets/sheet{i}.xml",
                      _chunks(head + "<sheetData>", sheet_data if i == 1 else ROSTER_ROWS,
                              "</sheetData></worksheet>")))
    if shared_strings is not None:
        parts.append((strings_part, _chunks(f'<{strings_root} xmlns="{_MAIN}">', shared_strings,
                                            f"</{strings_root}>")))
    parts.extend(extra_parts)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts:
            with archive.open(name, "w", force_zip64=True) as part:
                for chunk in _chunks(content):
                    part.write(chunk)
    return out.getvalue()


def _relationships(body: str) -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?>'
            f'<Relationships xmlns="{_RELS}">{body}</Relationships>')


def _chunks(*pieces):
    for piece in pieces:
        if isinstance(piece, str):
            yield piece.encode()
        elif isinstance(piece, bytes):
            yield piece
        else:
            yield from _chunks(*piece)


def repeated(chunk: bytes, total: int):
    block = chunk * max(1, (1 << 20) // len(chunk))
    for _i in range(total // len(block)):
        yield block
    yield chunk * ((total % len(block)) // len(chunk))


def hostile_rosters() -> list[tuple[str, str, bytes, str]]:
    """(name, file name, bytes, the refusal code expected or "ok") for each attack, sized for
    the default limits (20 MB files, 200,000 rows, 100 columns)."""
    many_rows = "".join(f'<row r="{i}"/>' for i in range(3, 1_048_577)).encode()
    blank_rows = "".join(f'<row r="{i}"/>' for i in range(3, 200_000)).encode()
    wide_row = ('<row r="3">' + "".join(f'<c r="{_letters(i)}3"><v>{i}</v></c>'
                                        for i in range(1, 16_385)) + "</row>").encode()
    # Unique short texts: shared strings compress about as well as real ones.
    many_strings = "".join(f"<si><t>{i:07d}</t></si>" for i in range(700_000)).encode()
    # Each part alone within its element budget; the guard's own pass over all of them
    # would cost forty million elements.
    crowded = b"<x><sheetData>" + b"<y/>" * 199_000 + b"</sheetData></x>"
    return [
        ("declared A1:XFD1048576, a row at 200,000", "padded.xlsx",
         raw_xlsx(ROSTER_ROWS + b'<row r="200000"><c r="A200000" s="1"/></row>',
                  dimension="A1:XFD1048576"), "ok"),
        ("shared strings, 150 MB unpacked", "strings.xlsx",
         raw_xlsx(shared_strings=repeated(b"<si><t>x</t></si>", 150_000_000)),
         "too_large_unzipped"),
        ("shared strings, 15 MB at 1,000:1", "strings-packed.xlsx",
         raw_xlsx(shared_strings=repeated(b"<si><t>x</t></si>", 15_000_000)),
         "compression_ratio"),
        ("shared strings, 700,000 unique", "strings-many.xlsx",
         raw_xlsx(shared_strings=many_strings), "too_many_strings"),
        ("the same, another name and root", "strings-hidden.xlsx",
         raw_xlsx(shared_strings=many_strings, strings_part="xl/texts.xml",
                  strings_root="worksheet"), "too_many_strings"),
        ("XML nested 100,000 deep", "deep.xlsx",
         raw_xlsx(ROSTER_ROWS + b"<x>" * 100_000 + b"</x>" * 100_000), "too_deep"),
        ("entity expansion (DTD)", "laughs.xlsx", raw_xlsx(workbook_xml=(
            '<?xml version="1.0"?><!DOCTYPE workbook [<!ENTITY a "aaaaaaaaaa">'
            + "".join(f'<!ENTITY {c} "{("&" + p + ";") * 10}">'
                      for p, c in zip("abcdefgh", "bcdefghi"))
            + f']><workbook xmlns="{_MAIN}"><sheets>&i;</sheets></workbook>')), "xml_doctype"),
        ("5,000 sheets declared", "sheets.xlsx", raw_xlsx(sheets=5_000), "too_many_sheets"),
        ("one sheet of 200,000 rows listed 100 times", "listed.xlsx",
         raw_xlsx(ROSTER_ROWS + blank_rows, sheets=100, same_part=True), "sheet_twice"),
        ("1,000 sheet parts", "parts.xlsx", raw_xlsx(sheets=1_000, sheet_parts=1_000),
         "too_many_parts"),
        ("a cell of 900,000 characters", "long-cell.xlsx", raw_xlsx(
            ROSTER_ROWS + b'<row r="3"><c r="D3" t="inlineStr"><is><t>' + b"x" * 900_000
            + b"</t></is></c></row>"), "too_long"),
        ("a row of 16,384 cells", "wide.xlsx", raw_xlsx(ROSTER_ROWS + wide_row),
         "too_many_columns"),
        ("one cell in column XFD", "far-column.xlsx",
         raw_xlsx(ROSTER_ROWS + b'<row r="3"><c r="XFD3"><v>1</v></c></row>'),
         "too_many_columns"),
        ("1,048,574 blank rows", "blank-rows.xlsx", raw_xlsx(ROSTER_ROWS + many_rows),
         "too_many_rows"),
        ("one cell in row 1,048,576", "far-row.xlsx",
         raw_xlsx(ROSTER_ROWS + b'<row r="1048576"><c r="A1048576"><v>1</v></c></row>'),
         "too_many_rows"),
        ("240,000 empty cells in 3 KB", "dense.xlsx",
         raw_xlsx(ROSTER_ROWS + b"".join(b'<row r="%d">' % r + b"<c/>" * 100 + b"</row>"
                                         for r in range(3, 2_403))), "too_dense"),
        ("200,000 cell formats in 2 KB", "styles.xlsx", raw_xlsx(extra_parts=(
            ("xl/styles.xml", b'<styleSheet xmlns="' + _MAIN.encode() + b'"><cellXfs>'
             + b"<xf/>" * 200_000 + b"</cellXfs></styleSheet>"),)), "too_dense"),
        ("200 parts of 199,000 elements, packed tight", "parts-packed.xlsx",
         raw_xlsx(extra_parts=tuple((f"customXml/item{i}.xml", crowded) for i in range(200))),
         "compression_ratio"),
        ("zip bomb, 1 GB of zeros", "bomb.xlsx", raw_xlsx(ROSTER_ROWS, extra_parts=(
            ("xl/media/padding.xml", repeated(b"\0" * 1024, 1_000_000_000)),)),
         "too_large_unzipped"),
        ("CSV, 10 million blank lines", "blank.csv",
         "会員番号,氏名,メールアドレス\r\n".encode() + b"\r\n" * 10_000_000, "too_many_rows"),
        ("CSV, one line of 20 million commas", "commas.csv", b"," * 20_000_000,
         "row_too_long"),
        ("CSV, a row of 5,000 cells", "wide.csv",
         ("会員番号,氏名,メールアドレス\r\n1,A,a@example.jp" + ",x" * 5_000 + "\r\n").encode(),
         "too_many_columns"),
    ]


def _letters(index: int) -> str:
    letters = ""
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters
