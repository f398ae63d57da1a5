"""Hostile roster files, each through the check the web upload runs, in a process of its own.

    python bench/hostile_rosters.py [--only TEXT]

Builds the files itself (roster.samples.hostile_rosters: declared dimensions, shared strings,
deep XML, entities, many sheets and parts, long cells and rows, far columns and rows, blank
rows, dense empty cells, a zip bomb, hostile CSVs), then runs each in a fresh child process
through roster.services.check_roster_file, the parse that roster_upload_check runs before it
stores anything. The child times that call and reports its own peak resident memory
(ru_maxrss: Python, Django and openpyxl included, see the baseline line). Linux carries
ru_maxrss over an exec, so the files are built in a process of their own and the parent that
starts the children stays small. Nothing touches the database. Target for every hostile
file: refused (or read) in under 2 s and 200 MB.

A second group, not attacks, shows what the limits still let through: files built just under
them, beside a legitimate roster, to compare cost per size.
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MAX_SECONDS, MAX_MB = 2.0, 200


def child(path: str, filename: str) -> None:
    from _setup import django_setup

    django_setup()
    from roster.services import check_roster_file

    data = Path(path).read_bytes() if path else b""
    start = time.perf_counter()
    parsed = check_roster_file(data, filename) if path else None
    seconds = time.perf_counter() - start
    outcome = "" if parsed is None else (
        f"ok ({len(parsed.members)} members)" if parsed.ok else parsed.errors[0].code)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    print(json.dumps({"outcome": outcome, "seconds": seconds, "peak_mb": peak_mb}))


def measure(path: Path | None, filename: str) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--child", str(path or ""), filename],
        capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def limit_files() -> list[tuple[str, str, bytes, str]]:
    """Just under the limits: as costly as a legitimate file of their size, no more."""
    from roster.samples import ROSTER_ROWS, raw_xlsx, sample_rows, xlsx_bytes

    strings = "".join(f"<si><t>{i:07d}</t></si>" for i in range(600_000)).encode()
    blank = "".join(f'<row r="{i}"/>' for i in range(3, 200_100)).encode()
    dense = b"".join(b'<row r="%d">' % r + b"<c/>" * 100 + b"</row>" for r in range(3, 1_900))
    styles = (b'<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
              b'<cellXfs>' + b'<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
              * 16_000 + b"</cellXfs></styleSheet>")
    return [
        ("600,000 shared strings (limit 610,000)", "strings.xlsx",
         raw_xlsx(shared_strings=strings), "ok"),
        ("200,097 blank rows (limit 200,100)", "blank.xlsx", raw_xlsx(ROSTER_ROWS + blank), "ok"),
        ("190,000 empty cells in 3 KB (limit 200,000)", "dense.xlsx",
         raw_xlsx(ROSTER_ROWS + dense), "ok"),
        ("16,000 cell formats in 3 KB (limit ~23,000)", "styles.xlsx",
         raw_xlsx(extra_parts=(("xl/styles.xml", styles),)), "ok"),
        ("legitimate roster, 10,000 members", "members.xlsx", xlsx_bytes(sample_rows(10_000)),
         "ok"),
    ]


def build(directory: str) -> None:
    """Write every file and a manifest: run in a process of its own (see above)."""
    from _setup import ROOT

    sys.path.insert(0, str(ROOT))
    from roster.samples import hostile_rosters

    manifest = []
    for group, files in (("hostile", hostile_rosters()), ("limits", limit_files())):
        for number, (name, filename, data, expected) in enumerate(files):
            path = Path(directory) / f"{group}-{number:02d}-{filename}"
            path.write_bytes(data)
            manifest.append({"group": group, "name": name, "filename": filename,
                             "path": str(path), "size": len(data), "expected": expected})
    (Path(directory) / "manifest.json").write_text(json.dumps(manifest))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="", help="run the files whose name contains this")
    args = parser.parse_args()

    failures = 0
    with tempfile.TemporaryDirectory() as directory:
        start = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--build", directory], check=True)
        manifest = json.loads((Path(directory) / "manifest.json").read_text())
        print(f"built {len(manifest)} files in {time.perf_counter() - start:.1f} s; "
              f"targets: under {MAX_SECONDS:.0f} s and {MAX_MB} MB each")
        baseline = measure(None, "")
        print(f"baseline: a child with Django and the importer loaded, no file: "
              f"{baseline['peak_mb']:.0f} MB")
        titles = {"hostile": "hostile files",
                  "limits": "just under the limits, and a legitimate file (no target)"}
        for group, title in titles.items():
            print(f"\n{title}")
            print(f"{'file':<44}{'size':>12}  {'outcome':<20}{'s':>7}{'peak MB':>9}")
            for item in manifest:
                if item["group"] != group or args.only not in item["name"]:
                    continue
                got = measure(Path(item["path"]), item["filename"])
                verdict = ""
                if group == "hostile":
                    right = got["outcome"].split(" (")[0] == item["expected"]
                    ok = right and got["seconds"] < MAX_SECONDS and got["peak_mb"] < MAX_MB
                    failures += not ok
                    verdict = ("PASS" if ok else "FAIL") + (
                        "" if right else f" (expected {item['expected']})")
                print(f"{item['name']:<44}{item['size']:>12,}  {got['outcome']:<20}"
                      f"{got['seconds']:>7.2f}{got['peak_mb']:>9.0f}  {verdict}")
    print(f"\nhostile files failing a target: {failures}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3])
    elif sys.argv[1:2] == ["--build"]:
        build(sys.argv[2])
    else:
        main()
