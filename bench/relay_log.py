"""Reading a busy relay's log for the few messages Countersign follows (issue 23).

    python bench/relay_log.py [--messages 300000]

The worker reads the relay's log every RELAY_MAILLOG_MINUTES for what became of its messages
at the carriers (campaigns.carrier_outcomes). The log is mostly other mail. Side by side,
each in a fresh process so that memory is its own: the reader keeping every line of the
period (as reconciliation must, to say where the log has gaps), and keeping only the lines
of the queue ids that carried a followed Message-ID (`only_wanted`, what tracking uses).
Prints lines kept, seconds and the process's peak memory (RSS).
"""

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--messages", type=int, default=300_000,
                    help="other mail in the log (three lines each)")
parser.add_argument("--read", choices=("all", "only_wanted"), help=argparse.SUPPRESS)
parser.add_argument("--log", help=argparse.SUPPRESS)
args = parser.parse_args()

from _setup import django_setup

django_setup()

from datetime import UTC, datetime

from campaigns import relay_log

AT = datetime(2026, 12, 6, 1, 0, tzinfo=UTC)
FOLLOWED = "followed@association.example"


def write_log(path: Path, count: int) -> None:
    stamp = AT.isoformat(timespec="microseconds")
    with open(path, "w") as out:
        for n in range(count):
            queue = f"7{n:06X}EA"
            out.write(f"{stamp} relay postfix/cleanup[11]: {queue}: "
                      f"message-id=<{'followed' if n == count // 2 else f'other{n}'}"
                      "@association.example>\n"
                      f"{stamp} relay postfix/qmgr[12]: {queue}: from=<a@association.example>, "
                      "size=2048, nrcpt=1 (queue active)\n"
                      f"{stamp} relay postfix/smtp[13]: {queue}: to=<m{n}@docomo.ne.jp>, "
                      "relay=mx[203.0.113.9]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, "
                      "status=sent (250 ok)\n")


def read(path: str, only_wanted: bool) -> None:
    started = time.perf_counter()
    log = relay_log.read_logs([path], zone=UTC, wanted={FOLLOWED}, windows=[(AT, AT)],
                              now=AT, only_wanted=only_wanted)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    found = [a.after for a in log.accepted[FOLLOWED]]
    print(f"{'only the followed queue ids' if only_wanted else 'every line (baseline)':30}"
          f"{len(log.lines):>10,} {seconds:9.1f} {peak:9.0f}   outcome {found}")


if args.read:
    read(args.log, args.read == "only_wanted")
    sys.exit()

with tempfile.TemporaryDirectory() as directory:
    path = Path(directory) / "maillog"
    write_log(path, args.messages)
    size = path.stat().st_size / 1e6
    print(f"a log of {3 * args.messages:,} lines ({size:.0f} MB), one followed message")
    print(f"{'kept':30}{'lines':>10} {'seconds':>9} {'peak MB':>9}")
    for mode in ("all", "only_wanted"):
        subprocess.run([sys.executable, __file__, "--read", mode, "--log", str(path)],
                       check=True)
