"""audit/chain.py reads an export strictly: a file that shows a person one thing while the
hashes check another is refused, naming the row and the column. Row 1 holds the column keys,
row 2 their names for people, entry 1 is row 3."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction

import audit
from audit import chain
from tests.audit_helpers import write_entries


@pytest.fixture
def export(db, tmp_path):
    """A genuine export of five entries (the export's own entry comes after it)."""
    write_entries(4)
    with transaction.atomic():
        audit.record('=HYPERLINK("http://evil")', system="test", payload={"note": "x"})
    path = tmp_path / "audit.csv"
    call_command("export_audit", "--out", str(path), stdout=StringIO())
    return path


def run(path, *args, capsys):
    code = chain.main([str(path), *args])
    return code, capsys.readouterr().out


def lines_of(path) -> list[str]:
    """The file's lines: [keys, names, entry 1, entry 2, ...]."""
    return path.read_bytes().decode("utf-8-sig").split("\r\n")[:-1]


def write_lines(path, lines, *, bom=True):
    path.write_bytes(("\ufeff" if bom else "").encode() + "".join(f"{line}\r\n"
                                                              for line in lines).encode())


def entries_of(path) -> list[dict]:
    return list(chain.read_csv(str(path)))


def line_for(entry: dict) -> str:
    return chain._written(chain.csv_row(entry))


def made_up(sequence: int, prev_hash: str, **fields) -> dict:
    """An entry anyone can write: its hash is correct for its own content."""
    entry = {"sequence": sequence, "time": "2026-06-01T09:00:00.000000Z", "actor": "sam",
             "role": "supervisor", "organisation": "contractor", "action": "campaign.approved",
             "object_type": "", "object_id": "", "payload": {}, "prev_hash": prev_hash, **fields}
    return {**entry, "hash": chain.entry_hash(prev_hash, entry)}


def test_a_genuine_export_verifies(export, capsys):
    code, out = run(export, capsys=capsys)
    assert code == 0 and "OK: 5 entries verified" in out


def test_a_second_payload_column_is_refused(export, capsys):
    lines = lines_of(export)
    lines[0] += ",payload"
    lines[1:] = [line + ',"{""i"":0}"' for line in lines[1:]]
    write_lines(export, lines)
    code, out = run(export, capsys=capsys)
    assert code == 1
    assert 'REFUSED at row 1, column "payload": the column appears more than once' in out


def test_a_missing_column_is_refused(export, capsys):
    lines = [line.rsplit(",", 1)[0] for line in lines_of(export)]  # drop "hash"
    write_lines(export, lines)
    code, out = run(export, capsys=capsys)
    assert code == 1 and 'row 1, column "hash": the column is missing' in out


def test_a_row_with_a_cell_too_many_is_refused(export, capsys):
    lines = lines_of(export)
    lines[3] += ",extra"
    write_lines(export, lines)
    code, out = run(export, capsys=capsys)
    assert code == 1 and "REFUSED at row 4: 13 cells where the header has 12" in out


def test_a_payload_with_a_duplicated_key_is_refused(export, capsys):
    entries = entries_of(export)
    # {"i": 1, "i": 999}: a reader sees 1, json.loads keeps 999. The hash is made for 999.
    forged = made_up(2, entries[0]["hash"], payload={"i": 999})
    lines = lines_of(export)
    lines[3] = line_for(forged).replace('{""i"":999}', '{""i"":1,""i"":999}')
    write_lines(export, lines)
    code, out = run(export, capsys=capsys)
    assert code == 1
    assert 'row 4, column "payload": the key "i" appears twice' in out


def test_a_payload_written_with_spaces_is_refused(export, capsys):
    lines = lines_of(export)
    lines[3] = lines[3].replace('{""i"":1}', '{""i"": 1}')
    write_lines(export, lines)
    code, out = run(export, capsys=capsys)
    assert code == 1 and 'row 4, column "payload": the JSON is not written as the export' in out


def test_a_formula_without_its_apostrophe_is_refused(export, capsys):
    """The old reader removed an apostrophe if there was one: a file without it verified
    while Excel showed the formula's result instead of the text."""
    text = export.read_bytes().decode("utf-8")
    assert ',"\'=HYPERLINK(' in text
    export.write_bytes(text.replace(',"\'=HYPERLINK(', ',"=HYPERLINK(').encode())
    code, out = run(export, capsys=capsys)
    assert code == 1
    assert 'REFUSED at row 7, column "action": the text would run as a formula' in out


def test_an_apostrophe_the_export_would_not_write_is_refused(export, capsys):
    lines = lines_of(export)
    lines[2] = lines[2].replace(",system:test,", ",'system:test,")
    write_lines(export, lines)
    code, out = run(export, capsys=capsys)
    assert code == 1 and 'row 3, column "actor": an apostrophe the export would not' in out


@pytest.mark.parametrize("where", ["start of a row", "inside a cell"])
def test_a_byte_order_mark_after_the_start_is_refused(export, capsys, where):
    lines = lines_of(export)
    lines[3] = "\ufeff" + lines[3] if where == "start of a row" else lines[3].replace(
        "system:test", "system:\ufefftest")
    write_lines(export, lines)
    code, out = run(export, capsys=capsys)
    assert code == 1 and "REFUSED at row 4: a byte-order mark (U+FEFF)" in out


def test_a_file_without_a_byte_order_mark_still_verifies(export, capsys):
    write_lines(export, lines_of(export), bom=False)
    assert run(export, capsys=capsys)[0] == 0


def test_a_direction_override_in_a_cell_is_refused(export, capsys):
    entries = entries_of(export)
    forged = made_up(2, entries[0]["hash"], actor="sam\u202etset")  # shows as "samtest" reversed
    lines = lines_of(export)
    lines[3] = line_for(forged)
    write_lines(export, lines)
    code, out = run(export, capsys=capsys)
    assert code == 1
    assert 'row 4, column "actor": contains U+202E RIGHT-TO-LEFT OVERRIDE' in out


def test_invisible_characters_in_a_payload_are_exported_as_escapes_and_verify(db, tmp_path,
                                                                             capsys):
    with transaction.atomic():
        audit.record("roster.import_refused", system="test",
                     payload={"file_name": "名簿\u202excod.exe", "note": "a\u200bb\ufeff"})
    path = tmp_path / "audit.csv"
    call_command("export_audit", "--out", str(path), stdout=StringIO())
    text = path.read_bytes().decode("utf-8")
    assert "\u202e" not in text and "\u200b" not in text and "\ufeff" not in text[1:]
    assert "名簿\\u202excod.exe" in text and "a\\u200bb\\ufeff" in text
    assert run(path, capsys=capsys)[0] == 0


@pytest.mark.parametrize("sequence", ["03", "３", " 3", "+3", "3_0"])
def test_a_sequence_number_written_another_way_is_refused(export, capsys, sequence):
    lines = lines_of(export)
    lines[4] = sequence + lines[4][1:]
    write_lines(export, lines)
    code, out = run(export, capsys=capsys)
    assert code == 1 and "REFUSED at row 5" in out


def test_needless_quotes_are_refused(export, capsys):
    lines = lines_of(export)
    lines[2] = lines[2].replace(",system:test,", ',"system:test",')
    write_lines(export, lines)
    code, out = run(export, capsys=capsys)
    assert code == 1 and "REFUSED at row 3: the cells are not quoted as the export" in out


def test_mixed_line_ends_are_refused(export, capsys):
    data = export.read_bytes()
    position = data.index(b"\r\n", data.index(b"\r\n") + 2)  # the end of row 2
    export.write_bytes(data[:position] + b"\n" + data[position + 2:])
    code, out = run(export, capsys=capsys)
    assert code == 1 and "REFUSED at row 2: the line ends differently" in out


def test_an_empty_line_is_refused(export, capsys):
    lines = lines_of(export)
    lines.insert(3, "")
    write_lines(export, lines)
    code, out = run(export, capsys=capsys)
    assert code == 1 and "REFUSED at row 4: an empty line" in out


def test_a_file_that_is_not_utf8_is_refused(export, capsys):
    export.write_bytes(export.read_bytes().replace(b"system:test", b"system:t\xe9st", 1))
    code, out = run(export, capsys=capsys)
    assert code == 1 and "is not UTF-8 text" in out


def test_a_partial_run_verifies_against_an_anchor_inside_it(export, capsys):
    lines = lines_of(export)
    entries = entries_of(export)
    write_lines(export, [*lines[:2], *lines[3:6]])  # entries 2, 3 and 4
    code, out = run(export, "--partial", "--anchor", entries[2]["hash"], capsys=capsys)
    assert code == 0 and "OK: 3 entries verified" in out


def test_made_up_entries_after_a_gap_are_refused_with_an_anchor(export, capsys):
    entries = entries_of(export)
    lines = lines_of(export)
    # Real entries 1-3 (the anchor is entry 2), then a gap and two entries anyone can write.
    first = made_up(9, "f" * 64, action="campaign.released")
    second = made_up(10, first["hash"])
    write_lines(export, [*lines[:5], line_for(first), line_for(second)])
    anchor = entries[1]["hash"]
    code, out = run(export, "--partial", "--anchor", anchor, capsys=capsys)
    assert code == 1
    assert "FAILED at entry 9 (row 6): expected sequence 4: with an anchor" in out
    # Without an anchor a filtered export can only show that each entry holds, and says so.
    code, out = run(export, "--partial", capsys=capsys)
    assert code == 0 and "not that no entry was made up" in out


def test_a_made_up_entry_before_the_anchor_is_found(export, capsys):
    entries = entries_of(export)
    lines = lines_of(export)
    lines[3] = line_for(made_up(2, entries[0]["hash"]))  # replaces the real entry 2
    write_lines(export, lines)
    code, out = run(export, "--partial", "--anchor", entries[3]["hash"], capsys=capsys)
    assert code == 1 and "FAILED at entry 3 (row 5): prev_hash does not match" in out


def test_reordered_entries_are_refused_in_a_partial_export(export, capsys):
    lines = lines_of(export)
    lines[3], lines[4] = lines[4], lines[3]
    write_lines(export, lines)
    code, out = run(export, "--partial", capsys=capsys)
    assert code == 1 and "FAILED at entry 2 (row 5): entries are out of order" in out


def test_an_anchor_that_is_not_a_hash_is_a_usage_error(export, capsys):
    with pytest.raises(SystemExit) as exit_:
        chain.main([str(export), "--anchor", "not-a-hash"])
    assert exit_.value.code == 2
    assert "64 hexadecimal digits" in capsys.readouterr().err


def test_the_column_names_for_people_are_row_2_in_the_site_language(export, capsys):
    lines = lines_of(export)
    assert lines[0].split(",") == list(chain.CSV_COLUMNS)
    assert lines[1].split(",") == list(chain.CSV_LABELS["ja"])  # LANGUAGE_CODE
    assert run(export, capsys=capsys)[0] == 0


def test_an_english_export_verifies_too(db, tmp_path, capsys):
    write_entries(2)
    path = tmp_path / "en.csv"
    call_command("export_audit", "--out", str(path), "--language", "en", stdout=StringIO())
    assert lines_of(path)[1].split(",") == list(chain.CSV_LABELS["en"])
    assert run(path, capsys=capsys)[0] == 0


@pytest.mark.parametrize("names", [
    ("連番,日時（UTC）,日時（現地時刻）,役割,実行者,組織,操作,対象の種類,対象ID,"
     "内容（JSON）,直前のハッシュ,ハッシュ"),
    ("Sequence,Time (UTC),Local time,Actor,Role,Organisation,Action,Object type,Object ID,"
     "Payload,Previous hash,Hash"),
])
def test_column_names_that_are_not_the_exports_are_refused(export, capsys, names):
    """Names swapped over two columns would have a reader take the role for the actor."""
    lines = lines_of(export)
    lines[1] = names
    write_lines(export, lines)
    code, out = run(export, capsys=capsys)
    assert code == 1 and "REFUSED at row 2: not the row of column names the export writes" in out


def test_a_file_without_its_row_of_names_is_refused(export, capsys):
    lines = lines_of(export)
    write_lines(export, [lines[0], *lines[2:]])
    code, out = run(export, capsys=capsys)
    assert code == 1 and "REFUSED at row 2: not the row of column names" in out


def test_the_local_time_is_the_hashed_time_in_the_sites_zone(export):
    from datetime import datetime

    entry_line = lines_of(export)[2].split(",")
    utc, local = entry_line[1], entry_line[2]
    assert utc.endswith("Z") and local.endswith("+09:00")  # TIME_ZONE Asia/Tokyo
    assert datetime.fromisoformat(local) == datetime.fromisoformat(utc)


@pytest.mark.parametrize("change", ["another moment", "no offset"])
def test_a_local_time_that_is_not_the_hashed_time_is_refused(export, capsys, change):
    lines = lines_of(export)
    cells = lines[3].split(",")
    cells[2] = (cells[2].replace("+09:00", "+08:00") if change == "another moment"
                else cells[2].removesuffix("+09:00"))
    lines[3] = ",".join(cells)
    write_lines(export, lines)
    code, out = run(export, capsys=capsys)
    assert code == 1 and 'REFUSED at row 4, column "local_time"' in out


def test_an_export_written_before_the_local_time_still_verifies(export, capsys):
    """Files kept from before the local time and the names row: eleven columns, one header."""
    legacy = [",".join(chain.LEGACY_COLUMNS)]
    for line in lines_of(export)[2:]:
        cells = line.split(",")
        legacy.append(",".join(cells[:2] + cells[3:]))
    write_lines(export, legacy)
    code, out = run(export, capsys=capsys)
    assert code == 0 and "OK: 5 entries verified" in out
