"""The Postfix profile for Japanese carriers (docs/relay-carriers.md) is configuration a real
Postfix accepts, with the limits the document states: its three blocks are written into a
Postfix configuration of their own and checked by Debian's Postfix (marker `mta`), and the
relay's log reader still reads a relay set up that way."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings


def needs_postfix(test):
    return pytest.mark.mta(pytest.mark.skipif(
        not (shutil.which("postfix") or Path("/usr/sbin/postfix").exists()),
        reason="Postfix is not installed (apt-get install -y postfix; .ci/run does it)")(test))

ENV = {**os.environ, "PATH": os.environ["PATH"] + ":/usr/sbin"}


def postfix(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, env=ENV).stdout


@pytest.fixture(scope="module")
def profile(tmp_path_factory) -> Path:
    """A Postfix configuration: Debian's master.cf, a minimal main.cf, and the document's
    transport map, master.cf entries and main.cf limits, as written there."""
    root = tmp_path_factory.mktemp("postfix")
    conf, spool, data = root / "etc", root / "spool", root / "data"
    for directory in (conf, spool, data):
        directory.mkdir()
    shutil.chown(data, "postfix")
    document = (settings.BASE_DIR / "docs" / "relay-carriers.md").read_text()
    transport, master, main = re.findall(r"```\n(.*?)```", document, re.DOTALL)[:3]
    (conf / "transport").write_text(transport)
    (conf / "master.cf").write_text(Path("/etc/postfix/master.cf").read_text() + master)
    (conf / "main.cf").write_text(
        f"compatibility_level = 3.6\nqueue_directory = {spool}\ndata_directory = {data}\n"
        "mail_owner = postfix\nsetgid_group = postdrop\ninet_interfaces = loopback-only\n"
        f"maillog_file = {root}/maillog\nmaillog_file_prefixes = {root}\n"
        + main.replace("/etc/postfix/transport", str(conf / "transport")))
    postfix("postmap", str(conf / "transport"))
    return conf


@needs_postfix
def test_postfix_accepts_the_profile(profile):
    postfix("postfix", "-c", str(profile), "check")  # raises on any error


@needs_postfix
@pytest.mark.parametrize(("domain", "transport"), [
    ("docomo.ne.jp", "jp_docomo:"), (".docomo.ne.jp", "jp_docomo:"),
    ("ezweb.ne.jp", "jp_au:"), (".ezweb.ne.jp", "jp_au:"), ("au.com", "jp_au:"),
    ("softbank.ne.jp", "jp_softbank:"), ("i.softbank.jp", "jp_softbank:"),
    ("ymobile.ne.jp", "jp_softbank:")])
def test_each_carrier_domain_goes_to_its_own_transport(profile, domain, transport):
    assert postfix("postmap", "-c", str(profile), "-q", domain,
                   f"hash:{profile / 'transport'}").strip() == transport


@needs_postfix
def test_each_carrier_is_paced_one_session_at_a_time_with_its_own_log_name(profile):
    limits = postfix("postconf", "-c", str(profile), "-n")
    services = postfix("postconf", "-c", str(profile), "-P")
    for carrier, delay in (("jp_docomo", "1s"), ("jp_au", "2s"), ("jp_softbank", "1s")):
        assert f"{carrier}_destination_rate_delay = {delay}" in limits
        assert f"{carrier}_destination_concurrency_limit = 1" in limits
        # A recipient limit of 1 makes each recipient a destination: nothing is paced.
        assert f"{carrier}_destination_recipient_limit" not in limits
        assert f"{carrier}/unix/syslog_name = postfix/{carrier}" in services
    assert "maximal_queue_lifetime = 1d" in limits


def test_reconciliation_reads_a_relay_with_the_profiles_per_carrier_log_names(tmp_path):
    """With the profile, docomo's deliveries are logged as `postfix/jp_docomo/smtp`: the
    relay's log reader (reconcile_in_doubt) still follows a message to its outcome there."""
    from datetime import UTC, datetime, timedelta

    from campaigns import relay_log

    lines = [
        "2026-12-07T10:00:00+09:00 relay postfix/smtpd[10]: 4ABC1: client=app[10.0.0.5]",
        ("2026-12-07T10:00:00+09:00 relay postfix/cleanup[11]: 4ABC1: "
        "message-id=<d42.a1@countersign.test>"),
        ("2026-12-07T10:00:00+09:00 relay postfix/qmgr[12]: 4ABC1: "
        "from=<bounce+42-0123456789abcdef@bounces.example>, size=2048, nrcpt=1 (queue active)"),
        ("2026-12-07T10:00:03+09:00 relay postfix/jp_docomo/smtp[13]: 4ABC1: "
        "to=<member@docomo.ne.jp>, relay=mfsmax.docomo.ne.jp[203.0.113.9]:25, delay=3, "
        "delays=0/2/0.5/0.5, dsn=2.0.0, status=sent (250 ok)"),
        "2026-12-07T10:00:03+09:00 relay postfix/qmgr[12]: 4ABC1: removed",
    ]
    path = tmp_path / "maillog"
    path.write_text("\n".join(lines) + "\n")
    at = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
    log = relay_log.read_logs([path], zone=UTC, wanted={"d42.a1@countersign.test"},
                              windows=[(at - timedelta(minutes=1), at + timedelta(minutes=1))],
                              now=at + timedelta(minutes=5))
    accepted = log.accepted["d42.a1@countersign.test"]
    assert [(a.queue_id, a.after) for a in accepted] == [("4ABC1", "sent")]


def test_the_apps_carrier_groups_are_the_profiles_transport_map():
    """The campaign page counts per carrier what the relay paces per transport: one table."""
    from countersign import carriers

    document = (settings.BASE_DIR / "docs" / "relay-carriers.md").read_text()
    transport = re.findall(r"```\n(.*?)```", document, re.DOTALL)[0]
    in_profile = {tuple(line.split()) for line in transport.splitlines()
                  if line.strip() and not line.startswith("#")}
    in_app = set()
    for group, domains in carriers.DOMAINS.items():
        for name, subdomains in domains:
            if subdomains is not None:
                in_app.add((name, f"jp_{group}:"))
            if subdomains is not False:
                in_app.add(("." + name, f"jp_{group}:"))
    assert in_app == in_profile
