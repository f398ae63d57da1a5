"""Made-up Japanese rosters for the demo, the tests and the benchmarks (nobody real)."""

import csv
import io
from pathlib import Path

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
    import openpyxl

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
