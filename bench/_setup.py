"""Shared start of the benchmark scripts (run as `python bench/x.py` from the repo root)."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def django_setup(*, debug: bool = False) -> None:
    """Django on a throw-away SQLite database unless DATABASE_URL names one. DEBUG is off by
    default, as in production: with it on, Django keeps a copy of every SQL statement."""
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3")
    os.environ.setdefault("DEBUG", "true" if debug else "false")
    os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "false")  # the test client speaks plain http
    # The benches measure sending, not DNS: the sender checks before release (on when DEBUG
    # is off) would look up association.example.
    os.environ.setdefault("SENDER_CHECK", "false")
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "countersign.settings")
    import django

    django.setup()


def user(username: str, organisation: str, role: str):
    """A benchmark user holding one role (created once per database)."""
    from django.contrib.auth.models import Group

    from countersign.models import User

    person, _created = User.objects.get_or_create(username=username, defaults={
        "organisation": organisation, "email": f"{username}@{organisation}.example"})
    person.groups.add(Group.objects.get(name=role))
    return User.objects.get(pk=person.pk)


def countersigned(campaign, *, operator, supervisor, observer=None, association_key=None):
    """The submitted campaign test-sent to the supervisor and approved; released too when an
    observer is given (with the grant the association's key tool would make, when only the
    association holds the roster's key: `association_key`, its private key). The staff test
    message goes wherever EMAIL_BACKEND says."""
    from campaigns import workflow
    from campaigns.seen import Seen

    workflow.test_send(campaign=campaign, user=operator,
                       member=campaign.roster.members.first(), recipients=[supervisor])
    campaign = workflow.approve(campaign=campaign, seen=Seen.current(campaign), user=supervisor,
                                checklist=["recipients", "no_roster_data", "content",
                                           "test_read"])
    if observer is None:
        return campaign
    return workflow.release(campaign=campaign, seen=Seen.current(campaign), user=observer,
                            checklist=["recipients", "content", "witness"],
                            grant=_grant(campaign, association_key))


def released_notice(roster, name, *, operator, supervisor, observer, association_key=None):
    """The benches' notice (a name, a number, a branch and three lines) created, submitted,
    approved and released, with its staff test message kept in memory; sending then goes
    over SMTP to wherever the settings point."""
    from django.conf import settings

    from campaigns import workflow

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    campaign = workflow.create(user=operator, roster=roster, name=name,
                               sender=settings.CAMPAIGN_SENDERS[0], canary_enabled=False,
                               subject="【重要】{name} 様: 感染症見舞金の変更",
                               body_text="{name} 様\n\n会員番号 {member_number}\n"
                                         "所属支部: {支部}\n\n"
                                         "感染症見舞金の給付内容が変更になりました。\n" * 3)
    workflow.submit(campaign=campaign, user=operator)
    campaign = countersigned(campaign, operator=operator, supervisor=supervisor,
                             observer=observer, association_key=association_key)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    return campaign


def _grant(campaign, private_key):
    from campaigns import key_window

    return key_window.grant_made_here(campaign, private_key) if private_key else None


class SinkProcess:
    """bench/_sink.py in its own process, its arrivals read back from a log file."""

    def __init__(self, port, data_ms=0.0, rcpt_ms=0.0):
        self.log = Path(tempfile.mkdtemp()) / "arrivals.log"
        self.log.touch()
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("_sink.py")), str(port), str(self.log),
             str(data_ms), str(rcpt_ms)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout.readline().strip() == "ready"
        self.offset = 0

    def clear(self):
        self.offset = self.log.stat().st_size

    def received(self):
        with open(self.log, encoding="utf-8") as handle:
            handle.seek(self.offset)
            # a line the sink is still writing has no newline yet: not arrived
            return [(int(t), r) for t, r in (line.split() for line in handle
                                             if line.endswith("\n") and line.strip())]

    def count(self):
        return len(self.received())

    def close(self):
        self.process.stdin.close()
        self.process.wait(10)


def free_port():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
