"""Property: whatever bytes arrive as a roster, the importer never crashes and never half-
imports: either every row is a clean member, or there are errors and no members at all."""

import io
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roster.importer import parse_roster
from roster.samples import HEADER, csv_bytes, sample_rows, xlsx_bytes

TRIED = {"inputs": 0}
LIMITS = {"max_bytes": 2_000_000, "max_rows": 500}
FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

@pytest.fixture(scope="module", autouse=True)
def _report_inputs_tried():
    yield
    print(f"\nroster importer fuzzed with {TRIED['inputs']} inputs: no crash, no partial import")


VALID_CSV = csv_bytes(sample_rows(20))
VALID_XLSX = xlsx_bytes(sample_rows(20))


def check(data: bytes, filename: str):
    TRIED["inputs"] += 1
    parsed = parse_roster(data, filename, **LIMITS)
    if parsed.ok:
        assert parsed.error_count == 0 and parsed.members
        assert len({m.member_number for m in parsed.members}) == len(parsed.members)
        assert all(m.member_number and m.name and "@" in m.email for m in parsed.members)
    else:
        assert parsed.members == [] and parsed.error_count > 0
        assert all(p.message for p in parsed.errors)
    return parsed


def mutate(data: bytes, edits) -> bytes:
    out = bytearray(data)
    for position, value, kind in edits:
        if not out:
            break
        position %= len(out)
        if kind == 0:
            out[position] = value
        elif kind == 1:
            del out[position:position + value]
        else:
            out[position:position] = bytes([value]) * (value % 7 + 1)
    return bytes(out)


EDITS = st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255), st.integers(0, 2)),
                 max_size=12)
NAMES = st.sampled_from(["roster.csv", "roster.xlsx", "roster.xlsm", "roster.txt", "名簿.csv"])


@FUZZ
@given(st.binary(max_size=5000), NAMES)
def test_random_bytes(data, filename):
    check(data, filename)


@FUZZ
@given(EDITS)
def test_mangled_csv(edits):
    check(mutate(VALID_CSV, edits), "roster.csv")


@FUZZ
@given(EDITS)
def test_mangled_xlsx(edits):
    check(mutate(VALID_XLSX, edits), "roster.xlsx")


CELL = st.one_of(st.text(max_size=40), st.sampled_from([
    '=HYPERLINK("http://evil")', "+1+1", "@SUM(A1)", "-2", "<script>alert(1)</script>",
    "ｍｅｍｂｅｒ＠ｅｘａｍｐｌｅ．ｊｐ", "０１２３", "\x00", "a\r\nb", "x" * 5000, "",
]))


@FUZZ
@given(st.lists(st.lists(CELL, min_size=0, max_size=6), max_size=30),
       st.sampled_from(["utf-8", "utf-8-sig", "cp932", "utf-16"]))
def test_odd_cells_in_every_encoding(rows, encoding):
    text_rows = [[str(c) for c in row] for row in rows]
    try:
        data = csv_bytes(text_rows, header=HEADER, encoding=encoding)
    except UnicodeEncodeError:
        data = csv_bytes(text_rows, header=HEADER, encoding="utf-8")
    check(data, "roster.csv")


@FUZZ
@given(st.lists(st.lists(CELL, min_size=3, max_size=5), min_size=1, max_size=15))
def test_odd_cells_in_a_workbook(rows):
    safe = [[c.replace("\x00", "") for c in row] for row in rows]
    try:
        data = xlsx_bytes(safe)
    except Exception:  # noqa: BLE001 - openpyxl refuses some characters; not our input then
        return
    check(data, "roster.xlsx")


@FUZZ
@given(st.integers(1, 50), st.booleans())
def test_zip_bombs_and_macro_workbooks(megabytes, macro):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"<" * (megabytes * 1_000_000))
        if macro:
            archive.writestr("xl/vbaProject.bin", b"\x00" * 100)
    parsed = check(buffer.getvalue(), "roster.xlsm" if macro else "roster.xlsx")
    assert not parsed.ok
