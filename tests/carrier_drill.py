"""A drill for the relay profile for Japanese carriers (docs/relay-carriers.md; issue 23 item 1):
a real Postfix configured with the profile's three blocks, relaying to fake "carrier" SMTP
servers on loopback that misbehave the way the document says the carriers do (docomo answers
421 to bursts, au resets connections under load), so that what the profile promises (one
session at a time, the stated pace, retries without duplicates) is watched, not assumed.

The relay is an instance of its own, as .ci/postfix.sh runs one for the bounce tests: its own
configuration, queue, data directory and mail log under one directory (the caller's, e.g. from
pytest's tmp_path_factory, or /var/tmp while it runs when the postfix user cannot reach that),
so it touches neither a system Postfix nor the bounce tests' instance (ports 2525-2530).
"""

import asyncio
import itertools
import os
import re
import shutil
import smtplib
import socket
import statistics
import struct
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path
from typing import Self

import pytest
from aiosmtpd.controller import Controller

DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "relay-carriers.md"
LOOPBACK = "127.0.0.1"
BUSY_PORTS = range(2525, 2531)  # the bounce tests' Postfix (.ci/postfix.sh)

FAULTS = ("none", "421 every 5th", "drop every 6th")

# group -> (the carrier's domain in the drill, its fault)
GROUPS = {
    "docomo": ("docomo.ne.jp", "421 every 5th"),
    "au": ("ezweb.ne.jp", "drop every 6th"),
    "softbank": ("softbank.ne.jp", "none"),
    "other": ("example.org", "none"),
}


def postfix_installed() -> bool:
    return bool(shutil.which("postfix") or Path("/usr/sbin/postfix").exists())


def profile_blocks() -> tuple[str, str, str]:
    """The document's transport map, master.cf entries and main.cf limits, extracted as
    tests/test_relay_profile.py does, so the drill runs exactly what the document says."""
    transport, master, main = re.findall(r"```\n(.*?)```", DOCUMENT.read_text(), re.DOTALL)[:3]
    return transport, master, main


def _profile_delays() -> dict[str, float]:
    """The profile's rate delay per carrier group, read from its main.cf block, so that what
    the drill measures is compared with what the document promises, not with a copy."""
    main = profile_blocks()[2]
    return {group: float(seconds) for group, seconds in
            re.findall(r"^jp_(\w+)_destination_rate_delay\s*=\s*(\d+)s?\s*$", main, re.MULTILINE)}


PROFILE_DELAY: dict[str, float] = _profile_delays()


def free_port() -> int:
    """A free loopback port, never one of the bounce tests' (2525-2530)."""
    while True:
        with socket.socket() as probe:
            probe.bind((LOOPBACK, 0))
            port = probe.getsockname()[1]
        if port not in BUSY_PORTS:
            return port


def _reachable_by_postfix(directory: Path) -> bool:
    """Whether the postfix user may open files below `directory` by absolute path: every
    directory on the way is searchable by others."""
    path = Path(directory).resolve()
    return all(part.stat().st_mode & 0o001 for part in (path, *path.parents))


@dataclass(frozen=True)
class Attempt:
    """One message a fake carrier received to the end of DATA, and what it did with it."""
    at: float  # time.time() at the end of DATA
    message_id: str
    rcpt: str
    outcome: str  # "accepted", "421" or "dropped"


class FakeCarrier:
    """A carrier's mail server on loopback (aiosmtpd), with a fault chosen at construction:

    * "none": accepts every message (250);
    * "421 every 5th": answers `421 4.7.0 Try again later` at the end of DATA to every fifth
      message it receives (retries included), as docomo does to senders that go too fast;
    * "drop every 6th": closes the connection at the end of DATA without replying to every
      sixth message (a TCP reset), as au does under load.

    Every message received is logged as an Attempt, so a drill can count deliveries,
    duplicates and the pace at which the relay came.
    """

    def __init__(self, group: str, fault: str = "none"):
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; one of {FAULTS}")
        self.group = group
        self.fault = fault
        self.port = free_port()
        self._lock = threading.Lock()
        self._attempts: list[Attempt] = []
        self.running = False
        self._controller = Controller(self, hostname=LOOPBACK, port=self.port,
                                      server_hostname=f"{group}.carrier.test")

    def start(self) -> Self:
        self._controller.start()
        self.running = True
        return self

    def stop(self) -> None:
        if self.running:
            self._controller.stop()
            self.running = False

    @property
    def attempts(self) -> list[Attempt]:
        with self._lock:
            return list(self._attempts)

    def accepted_ids(self) -> list[str]:
        """Message-IDs accepted, in order and with repeats, so duplicates show."""
        return [a.message_id for a in self.attempts if a.outcome == "accepted"]

    def count(self, outcome: str) -> int:
        return sum(1 for a in self.attempts if a.outcome == outcome)

    def _outcome(self, nth: int) -> str:
        if self.fault == "421 every 5th" and nth % 5 == 0:
            return "421"
        if self.fault == "drop every 6th" and nth % 6 == 0:
            return "dropped"
        return "accepted"

    async def handle_DATA(self, server, session, envelope) -> str:
        message = message_from_bytes(envelope.original_content, policy=policy.compat32)
        with self._lock:
            outcome = self._outcome(len(self._attempts) + 1)
            self._attempts.append(Attempt(time.time(), str(message["Message-ID"]).strip(),
                                          ", ".join(envelope.rcpt_tos), outcome))
        if outcome == "421":
            return "421 4.7.0 Try again later"
        if outcome == "dropped":
            # A reset, not a polite close: SO_LINGER 0 makes close() send RST. abort() drops
            # the reply below unsent, and aiosmtpd's connection_lost() then cancels this session.
            server.transport.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            server.transport.abort()
            await asyncio.sleep(1)  # cancelled here by connection_lost(): nothing is sent
        return "250 2.0.0 OK"


def intervals(carrier: FakeCarrier) -> list[float]:
    """Seconds between consecutive attempts at a carrier, in order."""
    times = [a.at for a in carrier.attempts]
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def pace(carrier: FakeCarrier, delay: float | None = None) -> float:
    """The median interval in seconds between consecutive attempts at a carrier: the pace the
    relay kept. Gaps of 3x the rate delay or more are waits for a retry (nothing else was
    queued), not pacing, and are left out. The delay defaults to the profile's for the group."""
    delay = PROFILE_DELAY[carrier.group] if delay is None else delay
    gaps = [gap for gap in intervals(carrier) if gap < 3 * delay]
    if not gaps:
        raise ValueError(f"{carrier.group}: no two attempts within {3 * delay}s of each other")
    return statistics.median(gaps)


def _override(block: str, name: str, value: str, why: str) -> str:
    """The block with parameter `name` set to `value`, the change commented (main.cf comments
    must be lines of their own). The parameter must be in the block: the drill changes only
    what the profile says, never adds a second, conflicting line."""
    line = re.compile(rf"^{re.escape(name)}\s*=.*$", re.MULTILINE)
    if not line.search(block):
        raise ValueError(f"{name} is not in the profile's main.cf block")
    return line.sub(lambda _: f"# drill: {why}\n{name} = {value}", block, count=1)


class DrillRelay:
    """A private Postfix with the profile's three blocks as written in docs/relay-carriers.md,
    and four fake carriers it relays to ("docomo", "au", "softbank" and "other"). The only
    changes to the profile, each commented in the files written:

    (a) each transport map line `domain  jp_x:` gets the next hop `[127.0.0.1]:<port>` of that
        carrier's fake (the carriers are fakes on loopback);
    (b) mail for any other domain goes to the fourth fake (default_transport, relay_transport);
    (c) retries are minutes apart in the profile; here 3 to 6 seconds, and the deferred queue
        is scanned every second, so the drill takes about a minute. Rate delays, concurrency
        and recipient limits stay as the profile says.

    The rest is what any private instance needs (as .ci/postfix.sh): smtpd on a free loopback
    port, no local delivery, the mail log in the directory. Use as a context manager, or
    start() and stop(). Skips the test when Postfix is not installed.
    """

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.root = self.directory
        self.port = free_port()
        self.carriers = {group: FakeCarrier(group, fault)
                         for group, (_, fault) in GROUPS.items()}
        self.domains = {group: domain for group, (domain, _) in GROUPS.items()}
        self._started = False

    @property
    def conf(self) -> Path:
        return self.root / "etc"

    @property
    def spool(self) -> Path:
        return self.root / "spool"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def maillog(self) -> Path:
        return self.root / "log" / "maillog"

    # --- configuration -------------------------------------------------------------------

    def transport_map(self, transport: str) -> str:
        """(a) The profile's map with each carrier transport given its fake as next hop."""
        ports = {f"jp_{group}": carrier.port for group, carrier in self.carriers.items()}

        def next_hop(match: re.Match) -> str:
            domain, space, service = match.groups()
            return f"{domain}{space}{service}:[{LOOPBACK}]:{ports[service]}"

        hopped = re.sub(r"^(\S+)(\s+)(jp_\w+):[ \t]*$", next_hop, transport, flags=re.MULTILINE)
        return ("# drill: each carrier's next hop is its fake on loopback (the profile has\n"
                "# none: the carrier's MX)\n" + hopped)

    def main_cf(self, main: str) -> str:
        other = f"smtp:[{LOOPBACK}]:{self.carriers['other'].port}"
        instance = f"""\
# A private instance for the carrier drill (tests/carrier_drill.py), as .ci/postfix.sh:
# its own queue, data directory and mail log; loopback only; no local delivery.
compatibility_level = 3.6
queue_directory = {self.spool}
data_directory = {self.data}
mail_owner = postfix
setgid_group = postdrop
myhostname = relay.countersign.test
mydomain = countersign.test
myorigin = $myhostname
inet_interfaces = loopback-only
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
relayhost =
relay_domains =
alias_maps =
alias_database =
local_recipient_maps =
maillog_file = {self.maillog}
maillog_file_prefixes = {self.root}
smtputf8_enable = no
# Without TZ, as .ci/postfix.sh: the daemons log in the machine's zone.
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG LANG=C POSIXLY_CORRECT
biff = no
# Next hops are bracketed addresses: no MX or A lookups, no DNS needed.
smtp_host_lookup = native
# drill (b): mail for any other domain goes to the fake "other" on loopback.
default_transport = {other}
relay_transport = {other}
# drill (c): the deferred queue is scanned every second (default 300s), so a message the
# fakes deferred is retried within the drill's minute.
queue_run_delay = 1s

# The profile's main.cf block, docs/relay-carriers.md section 3:
"""
        main = main.replace("/etc/postfix/transport", str(self.conf / "transport"))
        main = _override(main, "minimal_backoff_time", "3s",
                         "(c) retried after seconds, not minutes (profile: 300s)")
        main = _override(main, "maximal_backoff_time", "6s",
                         "(c) retried after seconds, not minutes (profile: 3600s)")
        return instance + main

    def master_cf(self, master: str) -> str:
        """Debian's master.cf without chroot (the queue is not /var/spool/postfix), smtpd on
        the drill's loopback port only, then the profile's transports. Debian's has the
        postlog service maillog_file needs."""
        debian = Path("/etc/postfix/master.cf").read_text()
        debian = re.sub(r"^smtp(\s+)inet .*$",
                        f"{LOOPBACK}:{self.port} inet n - n - - smtpd", debian, flags=re.MULTILINE)
        debian = re.sub(r"^([a-z][a-z0-9-]*\s+(?:unix|unix-dgram|inet|fifo|pass)\s+[-yn]\s+[-yn])"
                        r"\s+y\s", r"\1 n ", debian, flags=re.MULTILINE)
        return debian + "\n# The profile's transports, docs/relay-carriers.md section 2:\n" + master

    def configure(self) -> None:
        transport, master, main = profile_blocks()
        for directory in (self.conf, self.spool, self.data, self.maillog.parent):
            directory.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        self.maillog.parent.chmod(0o755)
        shutil.chown(self.data, "postfix")
        (self.conf / "transport").write_text(self.transport_map(transport))
        (self.conf / "master.cf").write_text(self.master_cf(master))
        (self.conf / "main.cf").write_text(self.main_cf(main))
        self.postfix("postmap", str(self.conf / "transport"))
        self.postfix("postfix", "-c", str(self.conf), "check")

    # --- running -------------------------------------------------------------------------

    def postfix(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Runs a Postfix command (postfix, postmap, postqueue, ...); /usr/sbin is not on
        every PATH. A failure says what Postfix said, and where its log is."""
        env = {**os.environ, "PATH": os.environ.get("PATH", "") + ":/usr/sbin"}
        env.pop("TZ", None)  # Django sets it under pytest; Postfix logs in the machine's zone
        done = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
        if check and done.returncode:
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): "
                               f"{done.stderr.strip()}; see {self.maillog}")
        return done

    def start(self) -> Self:
        if not postfix_installed():
            pytest.skip("Postfix is not installed (apt-get install -y postfix)")
        self.directory.mkdir(parents=True, exist_ok=True)
        if not _reachable_by_postfix(self.directory):
            # Postfix opens some files by absolute path as the postfix user (master.lock in
            # the data directory): pytest's temporary directories (mode 0700) are closed to
            # it. The instance then lives in /var/tmp; stop() copies its configuration and
            # log back into the caller's directory and removes it.
            self.root = Path(tempfile.mkdtemp(prefix="countersign-carrier-drill-",
                                              dir="/var/tmp"))
        try:
            for carrier in self.carriers.values():
                carrier.start()
            self.configure()
            self.postfix("postfix", "-c", str(self.conf), "start")
            self._started = True
            self._wait_for_port()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_for_port(self, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with smtplib.SMTP(LOOPBACK, self.port, timeout=1):  # QUIT: a clean log line
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"Postfix did not open {LOOPBACK}:{self.port}")

    def _master_running(self) -> bool:
        return self.postfix("postfix", "-c", str(self.conf), "status", check=False).returncode == 0

    def stop(self) -> None:
        """Stops Postfix (and waits until its master is gone), then the fakes. Afterwards
        `maillog` and the configuration are in the caller's directory."""
        if self._started:
            self.postfix("postfix", "-c", str(self.conf), "stop", check=False)
            deadline = time.monotonic() + 15
            while self._master_running() and time.monotonic() < deadline:
                time.sleep(0.1)
            self._started = False
        for carrier in self.carriers.values():
            carrier.stop()
        if self.root != self.directory:
            for kept in ("etc", "log"):
                if (self.root / kept).is_dir():
                    shutil.copytree(self.root / kept, self.directory / kept, dirs_exist_ok=True)
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = self.directory

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def queue_is_empty(self) -> bool:
        """Every message the relay took has left its queue (delivered or bounced)."""
        shown = self.postfix("postqueue", "-c", str(self.conf), "-p", check=False)
        return "Mail queue is empty" in shown.stdout


def report(relay: DrillRelay) -> None:
    """Print per carrier: attempts, accepted, refused (421), dropped, pace, and when its
    acceptances began and ended (seconds from the first at any carrier)."""
    accepted_at = {}
    for group, carrier in relay.carriers.items():
        times = [a.at for a in carrier.attempts if a.outcome == "accepted"]
        accepted_at[group] = times
    start = min(t for times in accepted_at.values() for t in times)
    print()
    for group, carrier in relay.carriers.items():
        times = accepted_at[group]
        paced = f"{pace(carrier):.3f}s" if group in PROFILE_DELAY else "-"
        print(f"{group:9} attempts={len(carrier.attempts):3} "
              f"accepted={carrier.count('accepted'):3} 421={carrier.count('421'):2} "
              f"dropped={carrier.count('dropped'):2} pace={paced} (profile "
              f"{PROFILE_DELAY.get(group, '-')}) accepted from {times[0] - start:.1f}s "
              f"to {times[-1] - start:.1f}s ({times[-1] - times[0]:.1f}s)")
