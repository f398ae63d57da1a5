"""roster.importer: file bytes -> members or errors naming row and column. No database."""

import io
import zipfile

import pytest

from roster.importer import parse_roster
from roster.samples import HEADER, csv_bytes, sample_rows, xlsx_bytes


def parse(data, filename="roster.csv", *, max_bytes=20_000_000, max_rows=200_000):
    return parse_roster(data, filename, max_bytes=max_bytes, max_rows=max_rows)


def codes(parsed):
    return [(p.row, p.code) for p in parsed.errors]


def test_cp932_csv_with_japanese_headers_and_full_width_digits_imports():
    text = ("会員番号,氏名,メールアドレス,支部\r\n"
            "０００１２３,山田　太郎,ＴＡＲＯ＠ｅｘａｍｐｌｅ．ｊｐ,東京\r\n"
            "000124,ｻﾄｳ ﾊﾅｺ,hanako@example.jp,大阪\r\n")
    parsed = parse(text.encode("cp932"))
    assert parsed.ok, parsed.errors
    assert parsed.file_format == "csv-cp932"
    first, second = parsed.members
    assert (first.member_number, first.name, first.email) == (
        "000123", "山田 太郎", "TARO@example.jp")
    assert second.name == "サトウ ハナコ"  # half-width kana made full-width by NFKC
    assert first.extra == {"支部": "東京"} and parsed.extra_columns == ["支部"]
    assert (first.row, second.row) == (2, 3)


@pytest.mark.parametrize("encoding, label", [("utf-8", "csv-utf8"), ("utf-8-sig", "csv-utf8-bom"),
                                             ("utf-16", "csv-utf16")])
def test_unicode_csv_encodings_are_detected(encoding, label):
    parsed = parse(csv_bytes(sample_rows(3), encoding=encoding))
    assert parsed.ok and parsed.file_format == label
    assert parsed.members[0].name == sample_rows(1)[0][1]


def test_tab_separated_text_is_read():
    data = b"member_number\tname\temail\n1\tA B\ta@example.jp\n"
    parsed = parse(data, "roster.txt")
    assert parsed.ok and parsed.members[0].email == "a@example.jp"


def test_xlsx_imports_with_numbers_as_text():
    parsed = parse(xlsx_bytes([[1001, "鈴木 一郎", "ichiro@example.jp", "札幌"]]), "r.xlsx")
    assert parsed.ok, parsed.errors
    assert parsed.file_format == "xlsx"
    assert parsed.members[0].member_number == "1001"  # not "1001.0"


@pytest.mark.parametrize("header", [
    ["member_number", "name", "email"],
    ["Member Number", "Name", "E-mail"],
    ["会員番号", "お名前", "電子メールアドレス"],
    ["会員番号", "氏名", "メールアドレス"],
])
def test_english_and_japanese_headers_are_recognised(header):
    assert parse(csv_bytes([["1", "A", "a@example.jp"]], header=header)).ok


def test_title_rows_above_the_header_are_skipped_with_a_warning():
    data = ("2026年6月 会員名簿,,\r\n,,\r\n"
            "会員番号,氏名,メールアドレス\r\n1,A,a@example.jp\r\n")
    parsed = parse(data.encode("cp932"))
    assert parsed.ok
    assert parsed.members[0].row == 4
    assert [w.code for w in parsed.warnings] == ["rows_above_header"]


def test_blank_rows_are_skipped():
    data = csv_bytes([["1", "A", "a@example.jp"], ["", "", ""], ["2", "B", "b@example.jp"]],
                     header=HEADER[:3])
    parsed = parse(data)
    assert [m.row for m in parsed.members] == [2, 4]


def test_missing_required_column_is_named():
    parsed = parse(csv_bytes([["1", "A"]], header=["会員番号", "氏名"]))
    assert not parsed.ok and codes(parsed) == [(None, "missing_column")]
    assert "email" in parsed.errors[0].message


def test_empty_file_is_refused():
    assert codes(parse(b"")) == [(None, "empty")]


def test_file_of_blank_lines_is_refused():
    assert codes(parse(b"\r\n,,\r\n")) == [(None, "empty")]


def test_header_only_is_refused():
    assert codes(parse(csv_bytes([], header=HEADER))) == [(1, "header_only")]


@pytest.mark.parametrize("data, filename", [
    (bytes(range(256)) * 10, "roster.csv"),
    (b"\x89PNG\r\n\x1a\n" + bytes(200), "photo.png"),
    (b"just some text", "roster.xlsx"),
    (b"PK\x03\x04 broken zip", "roster.xlsx"),
])
def test_something_that_is_not_a_spreadsheet_is_refused(data, filename):
    parsed = parse(data, filename)
    assert not parsed.ok
    assert parsed.errors[0].code in {"not_spreadsheet", "missing_column"}
    assert parsed.members == []


def test_old_xls_or_encrypted_workbook_is_refused_with_advice():
    parsed = parse(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), "old.xls")
    assert codes(parsed) == [(None, "old_or_encrypted")]


def test_blank_required_cell_names_row_and_column():
    parsed = parse(csv_bytes([["1", "A", "a@example.jp"], ["2", "", "b@example.jp"]]))
    assert not parsed.ok
    (problem,) = parsed.errors
    assert (problem.row, problem.column, problem.code) == (3, "B (氏名)", "blank")
    assert parsed.members == []  # all or nothing


def test_invalid_email_names_row_and_column():
    parsed = parse(csv_bytes([["1", "A", "not-an-address"], ["2", "B", "b@@example.jp"]]))
    assert codes(parsed) == [(2, "invalid_email"), (3, "invalid_email")]
    assert parsed.errors[0].column == "C (メールアドレス)"


def test_duplicate_member_number_names_both_rows():
    parsed = parse(csv_bytes([["1", "A", "a@example.jp"], ["１", "B", "b@example.jp"]]))
    assert codes(parsed) == [(3, "duplicate_member_number")]
    assert "row 2" in parsed.errors[0].message


def test_duplicate_email_ignores_case():
    parsed = parse(csv_bytes([["1", "A", "a@example.jp"], ["2", "B", "A@Example.JP"]]))
    assert codes(parsed) == [(3, "duplicate_email")]


def test_two_columns_for_one_field_are_refused():
    data = csv_bytes([["1", "A", "B", "a@example.jp"]],
                     header=["会員番号", "氏名", "name", "email"])
    assert codes(parse(data)) == [(1, "duplicate_column")]


def test_file_over_the_size_limit_is_refused():
    parsed = parse(csv_bytes(sample_rows(100)), max_bytes=1000)
    assert codes(parsed) == [(None, "too_large")]


def test_file_over_the_row_limit_is_refused():
    parsed = parse(csv_bytes(sample_rows(11)), max_rows=10)
    assert codes(parsed) == [(12, "too_many_rows")]
    assert parsed.members == []


def test_a_file_at_the_row_limit_is_accepted():
    assert parse(csv_bytes(sample_rows(10)), max_rows=10).ok


def test_overlong_cells_are_refused_not_truncated():
    parsed = parse(csv_bytes([["1", "名" * 201, "a@example.jp", "x" * 1001]]))
    assert codes(parsed) == [(2, "too_long"), (2, "too_long")]


def test_control_characters_are_removed():
    parsed = parse(csv_bytes([["1", "A\x07B\x1b", "a@example.jp"]], header=HEADER[:3]))
    assert parsed.members[0].name == "AB"


def test_broken_csv_quoting_is_reported():
    parsed = parse(b'member_number,name,email\n1,"A,a@example.jp\n' + (b"x" * 1000 + b"\n") * 200)
    assert not parsed.ok and parsed.errors[0].code == "bad_csv"


def test_macro_enabled_workbook_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/vbaProject.bin", b"\x00" * 10)
    assert codes(parse(buffer.getvalue(), "r.xlsm")) == [(None, "macros")]


def test_zip_bomb_is_refused_before_it_is_unpacked():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\x00" * 50_000_000)
    data = buffer.getvalue()
    assert len(data) < 100_000
    assert codes(parse(data, "r.xlsx", max_bytes=1_000_000)) == [(None, "too_large_unzipped")]


def test_only_the_first_sheet_is_read_with_a_warning():
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.active.append(HEADER[:3])
    workbook.active.append(["1", "A", "a@example.jp"])
    workbook.create_sheet("other").append(["x"])
    out = io.BytesIO()
    workbook.save(out)
    parsed = parse(out.getvalue(), "r.xlsx")
    assert parsed.ok and [w.code for w in parsed.warnings] == ["other_sheets"]


def test_errors_are_capped_but_counted():
    rows = [[str(i), "A", "bad"] for i in range(800)]
    parsed = parse(csv_bytes(rows, header=HEADER[:3]))
    assert parsed.error_count == 800 and len(parsed.errors) == 500


def test_preview_holds_the_first_and_last_rows():
    parsed = parse(csv_bytes(sample_rows(20)))
    preview = parsed.preview()
    assert preview["member_count"] == 20
    assert [m["row"] for m in preview["first"]] == [2, 3, 4, 5, 6]
    assert [m["row"] for m in preview["last"]] == [17, 18, 19, 20, 21]


def test_preview_of_a_short_file_does_not_repeat_rows():
    preview = parse(csv_bytes(sample_rows(7))).preview()
    assert [m["row"] for m in preview["first"] + preview["last"]] == [2, 3, 4, 5, 6, 7, 8]


def test_sha256_is_of_the_exact_bytes():
    import hashlib

    data = csv_bytes(sample_rows(2))
    assert parse(data).sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("line_end", ["\r\n", "\n", "\r"])
def test_csv_lines_may_end_in_any_of_the_three_ways(line_end):
    data = line_end.join(["member_number,name,email", "1,A,a@example.jp",
                          '2,"B\r\nC",b@example.jp', ""]).encode()
    parsed = parse(data)
    assert parsed.ok and [m.name for m in parsed.members] == ["A", "B\nC"]
