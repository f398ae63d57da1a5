"""Roster files built to stall the app are refused, by a named rule, before they cost much.
(How fast, and in how much memory: bench/hostile_rosters.py; these tests time nothing.)"""

import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from roster import importer
from roster.importer import parse_roster
from roster.models import Roster, RosterUpload
from roster.samples import ROSTER_ROWS, raw_xlsx, repeated
from roster.xlsx_guard import WorkbookLimits
from tests.audit_helpers import business_entries
from tests.factories import client_for

SMALL = {"max_bytes": 1_000_000, "max_rows": 100, "max_columns": 10}


def parse(data, filename="roster.xlsx", **limits):
    return parse_roster(data, filename, **{**SMALL, **limits})


def refusal(parsed):
    assert not parsed.ok and parsed.members == []
    (problem,) = parsed.errors
    return problem


def rows(*numbers, cell=b""):
    return b"".join(b'<row r="%d">%s</row>' % (n, cell) for n in numbers)


def test_a_sheet_declaring_a_million_rows_is_read_in_its_real_size():
    # Trusting the declared size, openpyxl pads every row, and every gap between rows, to
    # 16,384 cells: a 2 KB file with a row far down took minutes.
    data = raw_xlsx(ROSTER_ROWS + b'<row r="150"><c r="A150" s="1"/></row>',
                    dimension="A1:XFD1048576")
    parsed = parse(data)
    assert parsed.ok, parsed.errors
    assert [m.member_number for m in parsed.members] == ["W000001"]
    limits = WorkbookLimits(max_rows=200, max_columns=10, max_part_bytes=10**6,
                            max_total_bytes=10**7, max_shared_strings_bytes=10**6,
                            max_shared_strings=10**4)
    widths = {len(row) for row in importer._rows(data, "r.xlsx", parsed, limits)}
    assert widths == {0, 1, 3}  # the gap rows are empty, row 150 ends at its one cell


def test_blank_rows_count_toward_the_row_limit():
    problem = refusal(parse(raw_xlsx(ROSTER_ROWS + rows(*range(3, 400)))))
    assert (problem.code, problem.row) == ("too_many_rows", 201)
    assert "blank rows count too" in problem.message


def test_a_few_blank_rows_beyond_the_members_are_allowed():
    assert parse(raw_xlsx(ROSTER_ROWS + rows(*range(3, 150)))).ok


def test_a_cell_in_the_last_row_of_excel_is_refused_without_reading_the_rows_before_it():
    data = raw_xlsx(ROSTER_ROWS + b'<row r="1048576"><c r="A1048576"><v>1</v></c></row>')
    problem = refusal(parse(data))
    assert (problem.code, problem.row) == ("too_many_rows", 1048576)


def test_a_cell_beyond_the_column_limit_is_refused_even_when_empty():
    data = raw_xlsx(ROSTER_ROWS + b'<row r="3"><c r="K3" s="1"/></row>')
    problem = refusal(parse(data))
    assert (problem.code, problem.row, problem.column) == ("too_many_columns", 3, "K")


def test_a_cell_in_column_xfd_is_refused():
    problem = refusal(parse(raw_xlsx(ROSTER_ROWS + b'<row r="3"><c r="XFD3"><v>1</v></c></row>'),
                            max_columns=100))
    assert (problem.code, problem.column) == ("too_many_columns", "XFD")


def test_a_row_of_sixteen_thousand_cells_is_refused():
    cells = b"".join(b"<c><v>%d</v></c>" % i for i in range(16_384))
    problem = refusal(parse(raw_xlsx(ROSTER_ROWS + rows(3, cell=cells))))
    assert (problem.code, problem.column) == ("too_many_columns", "K")


def test_a_cell_longer_than_excel_allows_is_refused():
    cell = b'<c r="D3" t="inlineStr"><is><t>' + b"x" * 400_000 + b"</t></is></c>"
    problem = refusal(parse(raw_xlsx(ROSTER_ROWS + rows(3, cell=cell))))
    assert (problem.code, problem.row, problem.column) == ("too_long", 3, "D")


def test_a_shared_string_longer_than_excel_allows_is_refused():
    data = raw_xlsx(shared_strings=b"<si><t>" + b"x" * 400_000 + b"</t></si>")
    problem = refusal(parse(data))
    assert problem.code == "too_long" and "32,767" in problem.message


def test_shared_strings_larger_than_the_file_limit_are_refused_before_unpacking():
    problem = refusal(parse(raw_xlsx(shared_strings=repeated(b"<si><t>x</t></si>", 1_500_000))))
    assert problem.code == "too_large_unzipped" and "xl/sharedStrings.xml" in problem.message


def test_shared_strings_packed_a_thousand_to_one_are_refused():
    data = raw_xlsx(shared_strings=repeated(b"<si><t>x</t></si>", 2_000_000))
    problem = refusal(parse(data, max_bytes=5_000_000))
    assert problem.code == "compression_ratio"


def test_more_shared_strings_than_the_roster_could_need_are_refused():
    strings = b"".join(b"<si><t>%07d</t></si>" % i for i in range(11_000))  # limit 10,300
    assert refusal(parse(raw_xlsx(shared_strings=strings))).code == "too_many_strings"


def test_deeply_nested_xml_is_refused():
    data = raw_xlsx(ROSTER_ROWS + b"<x>" * 10_000 + b"</x>" * 10_000)
    assert refusal(parse(data)).code == "too_deep"


def test_a_document_type_with_entities_is_refused():
    workbook = ('<?xml version="1.0"?><!DOCTYPE workbook [<!ENTITY a "aaaaaaaaaa">'
                '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><workbook xmlns="http://'
                'schemas.openxmlformats.org/spreadsheetml/2006/main"><sheets>&b;</sheets>'
                "</workbook>")
    assert refusal(parse(raw_xlsx(workbook_xml=workbook))).code == "xml_doctype"


def test_a_workbook_declaring_too_many_sheets_is_refused():
    assert refusal(parse(raw_xlsx(sheets=150))).code == "too_many_sheets"


def test_one_sheet_listed_many_times_is_refused():
    # openpyxl reads a sheet once per listing: 100 listings of one large sheet, 100 reads.
    problem = refusal(parse(raw_xlsx(sheets=3, same_part=True)))  # all three say rId1
    assert (problem.code, problem.message.count("rId1")) == ("sheet_twice", 1)
    relationships = "".join(
        f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/'
        f'2006/relationships/worksheet" Target="{target}"/>'
        for i, target in ((1, "worksheets/sheet1.xml"), (2, "/xl/worksheets/sheet1.xml")))
    rels = f'<Relationships xmlns="x">{relationships}</Relationships>'
    problem = refusal(parse(raw_xlsx(extra_parts=(("xl/_rels/other.xml.rels", rels),))))
    assert problem.code == "sheet_twice" and "xl/worksheets/sheet1.xml" in problem.message


def test_a_workbook_of_too_many_parts_is_refused():
    extra = tuple((f"customXml/item{i}.xml", "<x/>") for i in range(600))
    assert refusal(parse(raw_xlsx(extra_parts=extra))).code == "too_many_parts"


def test_a_sheet_of_empty_cells_packed_tight_is_refused():
    cells = b"<c/>" * 100
    data = raw_xlsx(ROSTER_ROWS + rows(*range(3, 2_403), cell=cells))
    problem = refusal(parse(data, max_rows=5_000, max_columns=100))
    assert problem.code == "too_dense"


def test_styles_bloated_past_what_excel_writes_are_refused():
    styles = b'<styleSheet><cellXfs>' + b"<xf/>" * 30_000 + b"</cellXfs></styleSheet>"
    problem = refusal(parse(raw_xlsx(extra_parts=(("xl/styles.xml", styles),))))
    assert problem.code == "too_dense" and "xl/styles.xml" in problem.message


def test_styles_dressed_as_a_worksheet_get_no_larger_budget():
    # openpyxl reads xl/styles.xml as styles whatever its root element says.
    styles = b"<worksheet><cellXfs>" + b"<xf/>" * 30_000 + b"</cellXfs></worksheet>"
    problem = refusal(parse(raw_xlsx(extra_parts=(("xl/styles.xml", styles),))))
    assert problem.code == "too_dense" and "xl/styles.xml" in problem.message


def test_many_parts_each_small_but_packed_tight_are_refused_together():
    parts = tuple((f"customXml/item{i}.xml", repeated(b"\0" * 1024, 900_000)) for i in range(5))
    problem = refusal(parse(raw_xlsx(extra_parts=parts)))
    assert problem.code == "compression_ratio" and "The workbook unpacks to" in problem.message


def test_the_element_floor_is_counted_once_per_workbook_not_per_part():
    parts = tuple((f"customXml/item{i}.xml", b"<x>" + b"<y/>" * 15_000 + b"</x>")
                  for i in range(5))
    assert parse(raw_xlsx(extra_parts=parts[:1])).ok  # one alone passes
    assert refusal(parse(raw_xlsx(extra_parts=parts))).code == "too_dense"


def test_shared_strings_under_another_name_and_root_are_counted():
    # openpyxl finds the shared strings through [Content_Types].xml and reads every <si>,
    # whatever the part's name and root element.
    hidden = {"strings_part": "xl/texts.xml", "strings_root": "worksheet"}
    strings = b"<sheetData>" + b"<si><t>x</t></si>" * 11_000 + b"</sheetData>"
    assert refusal(parse(raw_xlsx(shared_strings=strings, **hidden))).code == "too_many_strings"
    texts = b"".join(b"<si><t>" + os.urandom(250).hex().encode() + b"</t></si>"
                     for _i in range(2_500))  # 1.3 MB of text in 2,500 strings
    problem = refusal(parse(raw_xlsx(shared_strings=texts, **hidden)))
    assert problem.code == "too_large_unzipped" and "table of texts" in problem.message


def test_rows_and_cells_are_checked_in_a_part_whatever_its_root():
    far_row = b'<foo><row r="1048576"/></foo>'
    assert refusal(parse(raw_xlsx(extra_parts=(("xl/x.xml", far_row),)))).code == "too_many_rows"
    wide = b'<foo><row r="3"><bar r="XFD3"/></row></foo>'  # any child of a row is a cell
    assert refusal(parse(raw_xlsx(extra_parts=(("xl/x.xml", wide),)))).code == "too_many_columns"


def test_a_zip_bomb_part_is_refused_from_the_zip_directory():
    data = raw_xlsx(extra_parts=(("xl/media/padding.xml", repeated(b"\0" * 1024, 3_000_000)),))
    assert len(data) < 10_000
    assert refusal(parse(data)).code == "compression_ratio"


def test_every_part_is_checked_whatever_its_name():
    # A relationship can point openpyxl at any part; the name promises nothing.
    deep = b"<x>" * 10_000 + b"</x>" * 10_000
    assert refusal(parse(raw_xlsx(extra_parts=(("xl/media/image1.png", deep),)))).code == \
        "too_deep"
    utf16 = '<?xml version="1.0" encoding="UTF-16"?>'.encode("utf-16") + (
        "<x>" * 10_000 + "</x>" * 10_000).encode("utf-16-le")
    assert refusal(parse(raw_xlsx(extra_parts=(("xl/media/x.xml", utf16),)))).code == "too_deep"


def test_a_workbook_with_a_picture_is_still_read():
    picture = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
    assert parse(raw_xlsx(extra_parts=(("xl/media/image1.png", picture),))).ok


def test_a_csv_of_blank_lines_is_refused_at_the_row_limit():
    data = "会員番号,氏名,メールアドレス\r\n1,A,a@example.jp\r\n".encode() + b"\r\n" * 5_000
    problem = refusal(parse(data, "roster.csv"))
    assert (problem.code, problem.row) == ("too_many_rows", 201)


def test_a_csv_line_of_endless_commas_is_refused_before_it_is_split():
    problem = refusal(parse(b"," * 500_000, "roster.csv"))
    assert (problem.code, problem.row) == ("row_too_long", 1)


def test_a_csv_row_with_a_value_beyond_the_column_limit_is_refused():
    data = ("会員番号,氏名,メールアドレス\r\n1,A,a@example.jp" + ",x" * 12 + "\r\n").encode()
    problem = refusal(parse(data, "roster.csv"))
    assert (problem.code, problem.row, problem.column) == ("too_many_columns", 2, "K")


def test_empty_csv_cells_beyond_the_column_limit_are_dropped():
    data = ("会員番号,氏名,メールアドレス" + "," * 20 + "\r\n1,A,a@example.jp" + "," * 20
            + "\r\n").encode()
    parsed = parse(data, "roster.csv")
    assert parsed.ok and parsed.members[0].extra == {}


HOSTILE_UPLOADS = [
    ("far-row.xlsx", raw_xlsx(ROSTER_ROWS + b'<row r="1048576"><c r="A1048576"><v>1</v></c></row>'),
     "too_many_rows"),
    ("deep.xlsx", raw_xlsx(ROSTER_ROWS + b"<x>" * 1_000 + b"</x>" * 1_000), "too_deep"),
    ("bomb.xlsx", raw_xlsx(extra_parts=(("xl/media/padding.xml",
                                         repeated(b"\0" * 1024, 30_000_000)),)),
     "compression_ratio"),
    ("blank.csv", "会員番号,氏名,メールアドレス\r\n".encode() + b"\r\n" * 300_000, "too_many_rows"),
]


@pytest.mark.parametrize("filename, data, code", HOSTILE_UPLOADS,
                         ids=[name for name, _data, _code in HOSTILE_UPLOADS])
def test_a_hostile_upload_is_refused_and_nothing_is_stored(olivia, filename, data, code):
    response = client_for(olivia).post(
        reverse("roster:upload"), {"name": "June", "file": SimpleUploadedFile(filename, data)},
        HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200 and "Nothing was stored" in response.content.decode()
    assert not RosterUpload.objects.exists() and not Roster.objects.exists()
    refused = business_entries().get()
    assert refused.action == "roster.import_refused"
    assert [error["code"] for error in refused.payload["errors"]] == [code]
