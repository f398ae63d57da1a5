"""Against a real Postfix on loopback (.ci/postfix.sh; `.ci/run` installs and starts it):
unknown users are accepted at SMTP and bounced by Postfix's delivery agent, which writes real
DSNs to the campaign messages' VERP addresses; they land in a Maildir that process_bounces
reads. And a worker killed mid-send: what Postfix's log says it accepted is what
reconcile_in_doubt shows, message by message. Marked `mta`; skipped when Postfix is not
installed."""

import io
import os
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import time
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from campaigns import composing, deliveries, mail
from campaigns.models import Delivery, State
from countersign.pseudonyms import pseudonym
from roster.models import Suppression
from roster.samples import HEADER
from tests.factories import (
    delivery_to,
    email_of,
    make_newsletter,
    make_roster,
    released_campaign,
    run_until_done,
    test_database_url,
    through_the_countersign,
    wait_until,
)
from tests.returned_mail import (
    arf,
)

pytestmark = pytest.mark.mta
ROOT = Path(os.environ.get("COUNTERSIGN_POSTFIX_DIR", "/var/tmp/countersign-postfix"))
PORT = int(os.environ.get("COUNTERSIGN_POSTFIX_PORT", "2525"))
BOUNCE_DOMAIN = "bounces.countersign.test"
SCRIPT = settings.BASE_DIR / ".ci" / "postfix.sh"


class Postfix:
    def __init__(self, root: Path):
        self.root = root
        self.log = root / "log" / "maillog"

    def maildir(self, name: str) -> Path:
        return self.root / "mail" / name

    def mails(self, name: str) -> list[Path]:
        box = self.maildir(name)
        return [p for sub in ("new", "cur") if (box / sub).is_dir()
                for p in sorted((box / sub).iterdir())]

    def empty(self) -> None:
        for name in ("members", "bounces"):
            for path in self.mails(name):
                path.unlink()

    def delivered_message_ids(self) -> list[str]:
        return [message_from_bytes(p.read_bytes(), policy=policy.compat32)["Message-ID"]
                for p in self.mails("members")]

    def queue_is_empty(self) -> bool:
        """Every message Postfix accepted has left its queue (delivered or bounced): only
        then does the Maildir hold all it took. Its log says "accepted" earlier, when the
        message is queued."""
        shown = subprocess.run(["postqueue", "-c", str(self.root / "etc"), "-p"],
                               capture_output=True, text=True, check=False,
                               env={**os.environ, "PATH": os.environ["PATH"] + ":/usr/sbin"})
        return "Mail queue is empty" in shown.stdout


@pytest.fixture(scope="session")
def _postfix_running():
    if not (shutil.which("postfix") or Path("/usr/sbin/postfix").exists()):
        pytest.skip("Postfix is not installed (apt-get install -y postfix; .ci/run does it)")
    subprocess.run(["bash", str(SCRIPT), "start", str(ROOT), str(PORT)], check=True)
    return Postfix(ROOT)


@pytest.fixture
def postfix(_postfix_running, settings):
    _postfix_running.empty()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", PORT, 5
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.BOUNCE_DOMAIN = BOUNCE_DOMAIN
    return _postfix_running


def rows(count: int, unknown: set[int] = frozenset()) -> list[list[str]]:
    return [[f"W{i:06d}", f"会員 {i}", (f"ghost{i}" if i in unknown else f"member{i}")
             + "@countersign.test", "本部"] for i in range(1, count + 1)]


def test_three_unknown_addresses_of_fifty_bounce_through_postfix_and_are_suppressed(
        postfix, olivia, sam, oscar):
    roster = make_roster(olivia, rows=rows(50, unknown={7, 23, 41}), header=HEADER)
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    run_until_done(campaign)
    assert campaign.state == State.COMPLETED
    assert campaign.deliveries.filter(state=Delivery.State.SENT).count() == 50  # all accepted
    wait_until(lambda: len(postfix.mails("bounces")) >= 3, timeout=60, what="three DSNs")
    wait_until(lambda: len(postfix.mails("members")) >= 47, timeout=60, what="47 deliveries")

    out = io.StringIO()
    call_command("process_bounces", maildir=str(postfix.maildir("bounces")), stdout=out)
    assert "3 hard" in out.getvalue(), out.getvalue()
    bounced = campaign.deliveries.filter(state=Delivery.State.BOUNCED)
    assert sorted(email_of(d) for d in bounced) == [
        "ghost23@countersign.test", "ghost41@countersign.test", "ghost7@countersign.test"]
    assert all(d.bounce_status == "5.1.1" and d.bounced_at for d in bounced)
    assert campaign.deliveries.filter(state=Delivery.State.SENT).count() == 47
    suppressed = set(Suppression.objects.filter(reason="hard_bounce").values_list(
        "pseudonym", flat=True))
    assert suppressed == {pseudonym(email_of(d)) for d in bounced}

    # A forged DSN through the same relay to the same mailbox: a bad hmac changes nothing.
    victim = delivery_to(campaign, "member1@countersign.test")
    forged_to = f"bounce+{victim.pk}-{'0' * 16}@{BOUNCE_DOMAIN}"
    forged = (f"From: MAILER-DAEMON@attacker.example\r\nTo: {forged_to}\r\nSubject: bounce\r\n"
              "MIME-Version: 1.0\r\nContent-Type: multipart/report; "
              'report-type=delivery-status; boundary="b"\r\n\r\n--b\r\n'
              "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\n"
              "Final-Recipient: rfc822; member1@countersign.test\r\nAction: failed\r\n"
              "Status: 5.1.1\r\n\r\n--b--\r\n")
    with smtplib.SMTP("127.0.0.1", PORT) as relay:
        relay.sendmail("", [forged_to], forged.encode())
    wait_until(lambda: len([p for p in postfix.mails("bounces") if "/new/" in str(p)]) >= 1,
               timeout=30, what="the forged DSN")
    out = io.StringIO()
    call_command("process_bounces", maildir=str(postfix.maildir("bounces")), stdout=out)
    assert "0 hard" in out.getvalue() and "forged or unknown 1" in out.getvalue()
    victim.refresh_from_db()
    assert victim.state == Delivery.State.SENT and victim.bounced_at is None
    assert Suppression.objects.count() == 3
    print("\npostfix bounces: 50 sent, 3 DSNs -> 3 bounced, 3 suppressed; forged DSN ignored")


def test_an_iso_2022_jp_notice_arrives_in_the_maildir_and_decodes_to_the_approved_text(
        postfix, olivia, sam, oscar):
    """What Postfix stored, read back: 7-bit JIS with its escapes intact, every line within
    998 bytes, subject and body exactly the rendered text (issue 23, charsets)."""
    postfix.empty()
    subject, body = "【重要】{name} 様：総会のご案内", ("{name} 様\n\n会員番号 {member_number}\n"
                                          "総会は 4月25日 10:00-12:00 に開きます。\n")
    roster = make_roster(olivia, rows=rows(5), header=HEADER)
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False,
                                 charset="iso-2022-jp", subject=subject, body_text=body)
    run_until_done(campaign)
    assert campaign.state == State.COMPLETED
    wait_until(postfix.queue_is_empty, timeout=60, what="Postfix's queue to empty")
    stored = {message_from_bytes(p.read_bytes(), policy=policy.default)["To"]: p.read_bytes()
              for p in postfix.mails("members")}
    assert len(stored) == 5
    for number, name, address, _branch in rows(5):
        raw = stored[address]
        assert raw.isascii() and b"\x1b$B" in raw  # JIS X 0208 escapes, as sent
        assert max(len(line) for line in raw.splitlines()) <= 998
        message = message_from_bytes(raw, policy=policy.default)
        values = {"name": name, "member_number": number}
        assert str(message["subject"]) == mail.render_subject(subject, values)
        text = message.get_payload(decode=True).decode("iso-2022-jp")
        assert text.replace("\r\n", "\n") == mail.render(body, values)


def _connect_and_leave():
    with smtplib.SMTP("127.0.0.1", PORT) as relay:
        relay.noop()


@pytest.mark.django_db(transaction=True)
def test_in_doubt_messages_are_shown_accepted_exactly_when_postfix_logged_them(
        postfix, olivia, sam, oscar, settings):
    settings.EMAIL_TIMEOUT, settings.SEND_STALE_MARGIN_SECONDS = 2, 0
    # The worker and Postfix share one clock, but a loaded machine may have Postfix log a
    # message a few seconds after the worker handed it over.
    settings.RECONCILE_CLOCK_MARGIN_SECONDS = margin = 5
    roster = make_roster(olivia, rows=rows(400), header=HEADER)
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    env = {**os.environ, "DATABASE_URL": test_database_url(), "EMAIL_HOST": "127.0.0.1",
           "EMAIL_PORT": str(PORT), "EMAIL_TIMEOUT": "2", "SEND_STALE_MARGIN_SECONDS": "0",
           "SEND_RETRY_SECONDS": "0", "BOUNCE_DOMAIN": BOUNCE_DOMAIN}
    manage = [sys.executable, str(settings.BASE_DIR / "manage.py"), "send_campaign",
              str(campaign.pk)]
    # "No trace" needs the relay's log from before each claim (minus the margin) to after its
    # deadline (plus the margin): a client that connects and leaves is logged by smtpd.
    _connect_and_leave()
    time.sleep(margin + 1)
    kills, in_doubt = 0, 0
    while kills < 8 or (in_doubt < 3 and kills < 30):
        worker = subprocess.Popen(manage, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        start = len(postfix.mails("members"))
        deadline = time.monotonic() + 20
        target = start + 5 + (kills * 7) % 23
        while (len(postfix.mails("members")) < target and worker.poll() is None
               and time.monotonic() < deadline):
            time.sleep(0.002)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        kills += 1
        time.sleep(2.1)  # EMAIL_TIMEOUT + margin: the killed worker's claim is stale
        deliveries.flag_stale_claims(campaign.pk, evidence=composing.evidence_of)
        in_doubt = campaign.deliveries.filter(state=Delivery.State.IN_DOUBT).count()
        campaign.refresh_from_db()
        if campaign.state != State.SENDING:
            break
    last_claim = max(campaign.deliveries.exclude(claimed_at=None).values_list("claimed_at",
                                                                             flat=True))
    deadline = last_claim + timedelta(seconds=settings.EMAIL_TIMEOUT + margin + 1)
    time.sleep(max(1.5, (deadline - timezone.now()).total_seconds()))  # Postfix has logged
    _connect_and_leave()
    call_command("reconcile_in_doubt", maillog=[str(postfix.log)], stdout=io.StringIO())

    # Postfix logs a message accepted when it is queued, and writes it to the Maildir a
    # moment later (seconds on a loaded machine): read the Maildir once its queue is empty.
    wait_until(postfix.queue_is_empty, timeout=60, what="Postfix's queue to empty")
    delivered = postfix.delivered_message_ids()
    assert len(delivered) == len(set(delivered)), "a message reached Postfix twice"
    doubtful = list(campaign.deliveries.filter(state=Delivery.State.IN_DOUBT))
    assert doubtful, "the drill produced no message in doubt"
    shown = {d.message_id: d.relay_evidence.get("accepted") for d in doubtful}
    truth = {d.message_id: bool(d.message_id) and d.message_id in delivered for d in doubtful}
    assert shown == truth, (shown, truth, [d.relay_evidence for d in doubtful])
    accepted = sum(1 for v in shown.values() if v)
    for delivery in campaign.deliveries.filter(state=Delivery.State.SENT):
        assert delivery.message_id in delivered
    print(f"\npostfix kill drill: {kills} SIGKILLs, {len(doubtful)} in doubt, {accepted} of "
          f"them accepted by Postfix (shown as such), {len(doubtful) - accepted} not (shown "
          "as no trace); duplicates 0")


def test_an_unsubscribe_mail_and_a_complaint_sent_through_postfix_are_recorded(
        postfix, olivia, sam, oscar):
    """The newsletter's own List-Unsubscribe mailto:, followed the way a mail reader does,
    and a feedback-loop report quoting the headers as the member's mailbox stored them
    (Postfix's Return-Path included), both mailed through Postfix to the bounce domain."""
    roster = make_roster(olivia, rows=rows(10), header=HEADER)
    campaign = make_newsletter(olivia, roster, canary_enabled=False)
    through_the_countersign(campaign, olivia, sam, oscar)
    run_until_done(campaign)
    wait_until(lambda: len(postfix.mails("members")) >= 10, timeout=60, what="10 deliveries")
    stored = {message_from_bytes(path.read_bytes(), policy=policy.compat32)["To"]: path
              for path in postfix.mails("members")}
    leaver = message_from_bytes(stored["member3@countersign.test"].read_bytes(),
                                policy=policy.default)
    mailto = leaver["List-Unsubscribe"].split(",")[1].strip().strip("<>")
    address, _q, subject = mailto.removeprefix("mailto:").partition("?subject=")
    assert address == f"unsubscribe@{BOUNCE_DOMAIN}"
    complainer = stored["member5@countersign.test"].read_bytes()
    headers = complainer.split(b"\n\n", 1)[0].decode()
    assert headers.startswith("Return-Path: <bounce+")  # written by Postfix's delivery agent
    forged_headers = re.sub(r"bounce\+(\d+)-[0-9a-f]{16}", r"bounce+\1-0000000000000000",
                            headers.replace("member5", "member6"))
    with smtplib.SMTP("127.0.0.1", PORT) as relay:
        relay.sendmail("member3@countersign.test", [address],
                       (f"From: member3@countersign.test\r\nTo: {address}\r\n"
                        f"Subject: {subject.replace('%20', ' ')}\r\n\r\nunsubscribe\r\n").encode())
        for original in (headers, forged_headers):
            relay.sendmail("fbl@provider.example", [f"fbl@{BOUNCE_DOMAIN}"],
                          arf(original, to=f"fbl@{BOUNCE_DOMAIN}").replace(b"\n", b"\r\n"))
    wait_until(lambda: len(postfix.mails("bounces")) >= 3, timeout=30, what="three reports")
    out = io.StringIO()
    call_command("process_bounces", maildir=str(postfix.maildir("bounces")), stdout=out)
    assert "1 complaints, 1 unsubscribed" in out.getvalue(), out.getvalue()
    assert "forged or unknown 1" in out.getvalue()
    assert set(Suppression.objects.values_list("pseudonym", "reason")) == {
        (pseudonym("member3@countersign.test"), "unsubscribed"),
        (pseudonym("member5@countersign.test"), "complaint")}
    assert delivery_to(campaign, "member5@countersign.test").complained_at
    assert not delivery_to(campaign, "member6@countersign.test").complained_at
    print("\npostfix returned mail: 1 unsubscribe mail, 1 complaint recorded; forged ARF ignored")


