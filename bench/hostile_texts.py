"""The content guard on hostile texts: bodies built to make its reading slow.

    python bench/hostile_texts.py [--sizes 10000,40000] [--members 200]

A body may hold CAMPAIGN_MAX_BODY_CHARS (50,000) characters and an HTML body 100,000; the
guard reads every message before its hand-over (campaigns.guard.check_message) and the
template at submit (check_campaign_content). Each text below was found by a reviewer to
make one of the guard's readings quadratic (a pattern tried again at every position of a
long run, a loop over every span for every name). Baseline in the same run: an ordinary
notice repeated to the same length. Target: every hostile text checked in under 1 s, and
its time growing with the text's length (4 x the characters: about 4 x the time), not with
its square (16 x).
"""

import argparse
import time

parser = argparse.ArgumentParser()
parser.add_argument("--sizes", default="10000,40000")
parser.add_argument("--members", type=int, default=200)
parser.add_argument("--only", default="", help="run only the texts whose name holds this")
args = parser.parse_args()

from _setup import django_setup, user

django_setup()

from django.core.management import call_command

call_command("migrate", verbosity=0)

from campaigns import guard, mail
from roster import member_data
from roster.samples import csv_bytes, sample_rows
from roster.services import check_roster_file, roster_import

NOTICE = ("{name} 様\n\n2026年度の年会費（12,000円）のお支払いをお願いします。\n"
          "詳しくは https://association.example/dues をご覧ください。\n"
          "お問い合わせ: support@association.example / 03-1234-5678\n\n共済会 事務局\n")


def repeated(unit: str, tail: str = ""):
    return lambda n: (unit * (n // len(unit) + 1))[:n - len(tail)] + tail


def numbered(line: str, head: str = "ß\n"):
    def build(n: int) -> str:
        lines, i = [], 0
        while sum(map(len, lines)) + len(lines) < n - len(head):
            lines.append(line.format(i=i))
            i += 1
        return head + "\n".join(lines)
    return build


# (what it is, where it goes, how it is built for n characters)
HOSTILE = [
    ("spaces before a written-out @", "body_text", repeated(" ", "x @ y")),
    ("a field of dots after @, in a row", "body_text",
     lambda n: "x,y,a@" + "." * (n - 8) + "("),
    ("a member's name again and again", "body_text", repeated("高橋 陽菜、")),
    ("the recipient's own name again and again", "body_text", repeated("吉田直樹 ")),
    ("many rows after one ß", "body_text", numbered("x{i},y,a{i}@b.jp")),
    ("many numbers after one ß", "body_text", numbered("{i:024d}", head="ß ")),
    ("a dotted run without a scheme", "body_text", repeated("a.", " x:")),
    ("a dotted run without a scheme, HTML", "body_html", repeated("a.", " x:")),
    ("opening ruby tags, HTML", "body_html", repeated("<rt>")),
    ("opening ruby tags unclosed, HTML", "body_html", repeated("<rt ")),
    ("one long punycode label, HTML", "body_html", lambda n: "xn--" + "9" * (n - 4)),
    ("numbers ending against a decimal", "body_text", repeated("1, ", "1.5")),
]


def timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def main():
    operator = user("olivia", "contractor", "operator")
    header = ["会員番号", "氏名", "メールアドレス"]
    rows = [row[:3] for row in sample_rows(args.members)]
    rows.append(["K900001", "吉田 直樹", "naoki.yoshida@example.jp"])
    roster = roster_import(parsed=check_roster_file(csv_bytes(rows, header=header), "m.csv"),
                           name="bench", actor=operator)
    recipient = mail.member_values(next(m for m in member_data.rows(roster)
                                        if m.member_number == "K900001"))
    guard.roster_index(roster)
    sizes = [int(size) for size in args.sizes.split(",")]

    def check(where: str, text: str) -> float:
        texts = {"subject": "お知らせ", "body_text": "", "body_html": "", where: text}
        message_s = timed(lambda: guard.check_message(roster=roster, recipient=recipient,
                                                      **texts))
        submit_s = timed(lambda: guard.check_campaign_content(roster=roster, **texts))
        return max(message_s, submit_s)

    print(f"{args.members + 1} members; each text checked before a hand-over and at submit "
          f"(the slower of the two, seconds)")
    print(f"{'text':44}" + "".join(f"{size:>10,}" for size in sizes) + "  growth  target")
    lines = [("baseline: an ordinary notice, repeated", "body_text", repeated(NOTICE))]
    failing = 0
    chosen = [line for line in HOSTILE if args.only in line[0]]
    for name, where, build in lines + chosen:
        seconds = [check(where, build(size)) for size in sizes]
        growth = seconds[-1] / seconds[0] if seconds[0] > 0 else float("inf")
        verdict = "" if name.startswith("baseline") else (
            "PASS" if max(seconds) < 1.0 else "FAIL")
        failing += verdict == "FAIL"
        print(f"{name:44}" + "".join(f"{s:10.3f}" for s in seconds)
              + f"  {growth:5.1f}x  {verdict}")
    print(f"hostile texts over 1 s: {failing} of {len(chosen)} "
          f"(size grows {sizes[-1] / sizes[0]:.0f}x between the columns)")


main()
