"""The canary drill (issue 19, item 4): a roster whose every member value is a canary, taken
through its whole life the way people and the worker take it: upload and import, a draft, a
submit the content guard refuses, the fixed submit, a test message, approval, release,
sending (one address refused by the relay, one message left in doubt by a killed worker), a
hard bounce, a newsletter and an unsubscribe, the decision on the message in doubt, the
incident report downloaded, one member erased, the purge. After each step every place is
searched for every canary in every form (tests/canaries.py) and the hits are checked
against where member data may be:

* the database: nowhere, at any step (the door stores every member value encrypted under
  its roster's data key, issue 22). One exception, named below: the draft the guard has
  just refused holds what the operator pasted into it, until they fix it;
* mail handed to the relay (mailboxes, which no erasure reaches): a member's message holds
  that member's values only, a test message the tested member's, a notice to staff none;
* the demo inbox: anything until the erasure, then not the erased member, and nothing
  after the purge; the SQLite file (whose bytes no table owns): only what the operator
  pasted into the draft, until the erasure;
* nowhere else, ever: sessions (decoded), django-q2's tables (decoded), logs and command
  output, files the app wrote (exports, temporary files, its var directory), and what an
  auditor downloads.

It prints a table of the hits, step by place, which the failure message carries too. It
fails until member data has one door and nothing else keeps a copy (issue 19, items 1-3).
"""

import asyncio
import dataclasses
import json
import logging
import tempfile
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ, Success

from audit.models import AuditEntry
from campaigns import bounces, retention, sender, workflow
from campaigns.models import DeletionCertificate, Delivery, State
from campaigns.seen import Seen
from countersign import mailcatcher
from countersign.pseudonyms import normalise_address
from roster import member_data
from roster.models import Member, Roster, RosterUpload, Suppression
from roster.samples import xlsx_bytes
from tests import canaries
from tests.factories import (
    OBSERVER_TICKS,
    SUPERVISOR_TICKS,
    client_for,
    database_dump,
    make_campaign,
    make_newsletter,
    run_queued_tasks,
    run_until_done,
    shown_on,
    through_the_countersign,
)
from tests.returned_mail import dsn_for, postfix_log, reconcile, token_of

STATES = ["upload", "import", "draft", "refused", "submit", "test send", "approve",
          "release", "send", "bounce", "unsubscribe", "decision", "incident", "erasure",
          "purge"]
PLACES = ["database", "sessions", "task queue", "logs", "files", "demo inbox", "sqlite file",
          "mail", "auditor export"]
# Who plays which part: 1 is tested, refused by the relay, then erased; 2's row is pasted
# into the draft; 4 (an IDN domain) bounces; 5 unsubscribes; 6 is left in doubt.
TESTED, PASTED, BOUNCED, UNSUBSCRIBED, IN_DOUBT = 1, 2, 4, 5, 6
ERASED = TESTED

SUBJECT = "【重要】{name} 様: ご登録内容の確認"
BODY = ("{name} 様\n\n会員番号 {member_number} のご登録内容をご確認ください。\n"
        "メール: {email}\n電話: {電話番号}\n住所: {住所}\nフリガナ: {フリガナ}\n"
        "備考: {備考}\n所属支部: {支部}\n確認フォーム: {フォーム}\n\n共済会 事務局\n")
HTML = '<p>{name} 様</p><p><a href="{フォーム}">確認フォームを開く</a></p>'
# The test's own relay logs every SMTP command (aiosmtpd): not the app's log.
RELAY_LOGGERS = ("mail.log",)


def may_be(state: str, place: str, hit: canaries.Hit) -> bool:
    """Whether this canary may be in this place at this step (the module's docstring)."""
    canary = hit.canary
    if place == "mail":
        kind = hit.location
        if kind.startswith("member mail to m"):
            return kind == f"member mail to m{canary.member}"
        return kind.startswith("test message") and canary.member == TESTED
    erased = STATES.index(state) >= STATES.index("erasure") and canary.member == ERASED
    if erased or state == "purge":
        return False
    if place == "demo inbox":
        return True
    if place == "sqlite file":  # the pasted draft's pages, until SQLite reuses them
        return canary.member == PASTED
    if place == "database":
        # The operator pasted member 2's row into the draft; the guard refused the submit,
        # and the next step fixes the draft.
        return (state == "refused" and hit.location == "campaigns_campaign.body_text"
                and canary.member == PASTED)
    return False


class Drill:
    def __init__(self, members, *, tmp_path, caplog, sink):
        self.members = members
        self.finder = canaries.Finder(c for m in members for c in m.canaries)
        self.tmp_path, self.caplog, self.sink = tmp_path, caplog, sink
        self.started = time.time() - 1
        self.found: list[canaries.Found] = []
        self.searched: set[tuple[str, str]] = set()
        self.outputs: list[tuple[str, str]] = []  # what commands printed
        self.downloads: list[tuple[str, bytes]] = []  # what the auditor took away
        self.notes: list[str] = []

    def member_of(self, address: str) -> int | None:
        wanted = normalise_address(address)
        return next((m.index for m in self.members if normalise_address(m.email) == wanted),
                    None)

    def app_files(self):
        inbox = django_settings.MAILCATCHER_DIR
        yield from ((label, path) for label, path in canaries.files_under(
            self.tmp_path, label="tmp_path") if inbox not in path.parents)
        yield from canaries.files_under(django_settings.BASE_DIR / "var", label="var",
                                        since=self.started)
        # Temporary files (Django's uploads, openpyxl's sheets) left behind.
        yield from canaries.files_under(
            Path(tempfile.gettempdir()), label="$TMPDIR",
            since=self.started, names=("tmp", "openpyxl"), recursive=False)
        for extra in (django_settings.MEDIA_ROOT, django_settings.FILE_UPLOAD_TEMP_DIR):
            if extra:
                yield from canaries.files_under(Path(extra),
                                                label=str(extra), since=self.started)

    def snapshot(self, state: str) -> None:
        finder, places = self.finder, {}
        places["database"] = canaries.search_database(finder)
        places["sessions"] = canaries.search_sessions(finder)
        places["task queue"] = canaries.search_task_queue(finder)
        places["logs"] = canaries.search_logs(finder, self.caplog.records,
                                              outputs=self.outputs, skip=RELAY_LOGGERS)
        places["files"] = canaries.search_files(finder, self.app_files())
        inbox = [path.read_bytes() for path in
                 mailcatcher.caught_files(django_settings.MAILCATCHER_DIR)]
        places["demo inbox"] = canaries.search_mail(finder, inbox, self.member_of)
        if connection.vendor == "sqlite":
            places["sqlite file"] = canaries.search_sqlite_files(finder)
        places["mail"] = canaries.search_mail(
            finder, [raw for _t, _r, raw in self.sink.handler.received], self.member_of)
        if self.downloads:
            places["auditor export"] = [hit for name, data in self.downloads
                                        for hit in canaries.search_blob(finder, name, data)]
            self.downloads = []
        for place, hits in places.items():
            self.searched.add((state, place))
            self.found += [canaries.Found(state, place, hit, may_be(state, place, hit))
                           for hit in hits]

    def in_place(self, state: str, place: str, location_prefix: str = "") -> set:
        return {f.hit.canary for f in self.found if f.state == state and f.place == place
                and f.hit.location.startswith(location_prefix)}

    def table(self) -> str:
        return canaries.hits_table(self.found, states=STATES, places=PLACES,
                                   searched=self.searched, notes=self.notes)

    def leaks(self) -> list[canaries.Found]:
        return [f for f in self.found if not f.allowed]


def download(client, url) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, url
    return b"".join(response.streaming_content) if response.streaming else response.content


def keep_demo_inbox_copies(sink):
    """The relay also files every message in the demo inbox, as `manage.py mailcatcher`
    does (its own handler writes the file)."""
    catcher = mailcatcher.SaveToDirectory(django_settings.MAILCATCHER_DIR)

    def file_it(count):
        raw = sink.handler.received[count - 1][2]
        envelope = SimpleNamespace(original_content=raw, content=raw)
        asyncio.run(catcher.handle_DATA(None, None, envelope))

    sink.handler.after_message = file_it


def test_the_search_finds_a_canary_in_every_form():
    """The drill is only as good as its search: each form of a value is found inside a
    longer text, and nothing is found in text that merely looks similar."""
    import base64
    import json
    import quopri
    from urllib.parse import quote

    member = canaries.canary_members(6, seed=7)[3]  # the IDN domain
    finder = canaries.Finder(member.canaries)
    name_ja = next(c for c in member.canaries if c.field == "name_ja")
    token = next(c for c in member.canaries if c.field == "email_local").text
    punycode = member.domain.encode("idna").decode()
    kana = next(c for c in member.canaries if c.field == "kana").text
    cases = [  # (text, the form it must be found as)
        (f"x {name_ja.text} y", "plain"), (f"x {token.upper()} y", "plain"),
        (canaries.full_width(f"x {token} y"), "plain"),
        (canaries.half_width_kana(kana), "plain"),
        (json.dumps({"n": name_ja.text}), "json-escape"),
        (quote(f"a {name_ja.text}"), "percent"),
        (quopri.encodestring(f"--{name_ja.text}--".encode()).decode(), "quoted-printable"),
        (f"to: x@{punycode}", "idn"), (f"\\x{token.encode().hex()}", "hex"),
        (repr(name_ja.text.encode()), "bytes-repr"),
        ("".join(f"&#{ord(c)};" for c in name_ja.text), "html-entity"),
        (member.phone.replace("-", ""), "digits"),
    ]
    for pad in range(3):  # each alignment, and wrapped as MIME wraps it
        cases.append((base64.b64encode(b"p" * pad + name_ja.text.encode() + b"tail").decode(),
                      "base64"))
        cases.append((base64.encodebytes(b"q" * 50 + b"r" * pad + token.encode() + b"t")
                      .decode(), "base64"))
        cases.append((base64.urlsafe_b64encode(b"\xff" * (pad + 3) + kana.encode()).decode(),
                      "base64"))
    for text, form in cases:
        assert form in {found for _canary, found in finder.find(text)}, (form, text)
    near = [text[:-1] + ("1" if text[-1] != "1" else "2")
            for text in (member.canaries[2].text, member.phone)]
    assert not finder.find(f"{near[0]} {near[1]} 鵺 {canaries.PREFIX}")


@pytest.mark.drill
@pytest.mark.django_db(transaction=True)
def test_canary_drill(settings, tmp_path, caplog, sink, bounce_domain, olivia, sam, oscar,
                      audrey, monkeypatch):
    caplog.set_level(logging.DEBUG)
    settings.CAMPAIGN_LINK_DOMAINS = [canaries.LINK_DOMAIN]
    settings.MAILCATCHER_DIR = tmp_path / "var" / "mail"
    members = canaries.canary_members(6)
    m = {member.index: member for member in members}
    drill = Drill(members, tmp_path=tmp_path, caplog=caplog, sink=sink)
    keep_demo_inbox_copies(sink)
    if connection.vendor != "sqlite":
        drill.notes.append("sqlite file n/a on PostgreSQL: the server's data files and WAL "
                           "(dead rows until VACUUM) are not read")
    if "orm" not in settings.Q_CLUSTER:
        drill.notes.append("task queue: the broker is Redis (Q_REDIS_URL); only django-q2's "
                           "tables were read")
    try:
        _the_story(drill, m, settings, tmp_path, olivia, sam, oscar, audrey, monkeypatch)
    finally:
        print("\n" + drill.table())
    assert not drill.leaks(), "member data where it may not be:\n" + drill.table()


def _the_story(drill, m, settings, tmp_path, olivia, sam, oscar, audrey, monkeypatch):
    operator = client_for(olivia)

    # upload: checked and previewed, waiting for the operator's confirmation
    response = operator.post(reverse("roster:upload"), {
        "name": "会員名簿 2026", "file": SimpleUploadedFile(
            "members.xlsx", xlsx_bytes([list(x.row) for x in m.values()],
                                       header=canaries.HEADER))})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert operator.get(response.url).status_code == 200
    assert RosterUpload.objects.count() == 1
    drill.snapshot("upload")

    # import: confirmed
    operator.post(response.url, {"confirm": ""})
    roster = Roster.objects.get()
    assert roster.member_count == len(m) and roster.extra_columns == canaries.COLUMNS
    drill.snapshot("import")
    every = {c for x in m.values() for c in x.canaries}
    # The search itself is tried on what the door opens (the values as stored before they
    # were encrypted): it must find every canary there, and none in the database.
    opened = json.dumps([dataclasses.asdict(v) for v in member_data.rows(roster)],
                        ensure_ascii=False)
    assert {canary for canary, _form in drill.finder.find(opened)} == every, (
        "the search must find every canary in the members' values")
    assert drill.in_place("import", "database") == set(), "member values stored in the clear"
    dumped = canaries.dump_by_table(database_dump())
    assert dumped["roster_member"] and not drill.finder.find("\n".join(dumped.values())), (
        "the engine's own dump holds member values")

    # draft
    campaign = make_campaign(olivia, roster, subject=SUBJECT, body_text=BODY, body_html=HTML,
                             canary_enabled=False)
    drill.snapshot("draft")

    # refused: the operator pastes another member's row and submits from the page; the
    # browser never loads the campaign page after it (the tab was closed)
    pasted = m[PASTED]
    workflow.edit(campaign=campaign, user=olivia, body_text=BODY + (
        f"\n{pasted.member_number},{pasted.name},{pasted.email},{pasted.phone}\n"))
    response = operator.post(reverse("campaigns:submit", args=[campaign.pk]))
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.state == State.DRAFT
    assert AuditEntry.objects.filter(action="campaign.refused", payload__code="guard").exists()
    drill.snapshot("refused")

    # submit: fixed and submitted
    workflow.edit(campaign=campaign, user=olivia, body_text=BODY)
    workflow.submit(campaign=campaign, user=olivia)
    drill.snapshot("submit")

    tested = roster.members.get(member_number=m[TESTED].member_number)
    workflow.test_send(campaign=campaign, user=olivia, member=tested, recipients=[sam, oscar])
    drill.snapshot("test send")

    workflow.approve(campaign=campaign, seen=Seen.current(campaign), user=sam,
                     checklist=SUPERVISOR_TICKS)
    drill.snapshot("approve")

    workflow.release(campaign=campaign, seen=Seen.current(campaign), user=oscar,
                     checklist=OBSERVER_TICKS)
    assert OrmQ.objects.exists()  # the worker's doorbell rang: the queue is searched full
    drill.snapshot("release")

    # send: the relay refuses member 1's address, quoting it in several spellings; the
    # worker is killed right after handing member 6's message over
    refused = m[TESTED]
    drill.sink.handler.refuse[refused.email] = (
        f"550 5.1.1 <{refused.email}>: Recipient address rejected: mailbox "
        f"{refused.local_part}%40{refused.domain} unknown; user {refused.local_part} "
        f"({refused.name_latin}) has moved")
    real_deliver = sender.deliver

    def killed_after_handing_over(claim, *args, **kwargs):
        handed_over = real_deliver(claim, *args, **kwargs)
        if claim.member_number == m[IN_DOUBT].member_number:
            raise SystemExit("worker killed")
        return handed_over

    monkeypatch.setattr(sender, "deliver", killed_after_handing_over)
    with pytest.raises(SystemExit):
        sender.run(campaign.pk, worker="doomed", budget=10, sleep=lambda s: None)
    monkeypatch.setattr(sender, "deliver", real_deliver)
    # restarted long enough later for the claim to be stale
    Delivery.objects.filter(campaign=campaign, state=Delivery.State.SENDING).update(
        claimed_at=timezone.now() - timedelta(hours=1))
    run_until_done(campaign)
    run_queued_tasks()
    ledger = {d.member_number: d for d in campaign.deliveries.all()}
    assert campaign.state == State.PAUSED
    assert ledger[m[TESTED].member_number].state == Delivery.State.FAILED
    assert ledger[m[IN_DOUBT].member_number].state == Delivery.State.IN_DOUBT
    assert Success.objects.exists()  # and the task table holds results
    drill.snapshot("send")

    # bounce: the relay's DSN for member 4 quotes the address plain, as %40, the local
    # part alone and the name
    bounced = m[BOUNCED]
    delivery = ledger[bounced.member_number]
    puny = bounced.ascii_email
    quoted = (f"550 5.1.1 <{puny}>: Recipient address rejected: "
              f"{puny.replace('@', '%40')} unknown; user {bounced.local_part} "
              f"({bounced.name_latin}) not found")
    result = bounces.process_dsn(dsn_for(delivery, recipient=puny, diagnostic=quoted))
    assert result == bounces.Result.HARD
    drill.snapshot("bounce")

    # unsubscribe: a newsletter to the roster; member 5 unsubscribes with one click
    newsletter = make_newsletter(olivia, roster, canary_enabled=False)
    through_the_countersign(newsletter, olivia, sam, oscar)
    run_until_done(newsletter)
    run_queued_tasks()
    assert newsletter.state == State.COMPLETED
    leaving = newsletter.deliveries.get(member_number=m[UNSUBSCRIBED].member_number)
    response = Client(enforce_csrf_checks=True).post(
        reverse("unsubscribe", args=[token_of(leaving)]), {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert Suppression.objects.filter(reason=Suppression.Reason.UNSUBSCRIBED).count() == 1
    drill.snapshot("unsubscribe")

    # decision: the relay's log says it took member 6's message; the supervisor skips it
    # on the campaign page, the observer releases again, the campaign completes
    doubtful = Delivery.objects.get(pk=ledger[m[IN_DOUBT].member_number].pk)
    drill.outputs.append(("reconcile_in_doubt", reconcile(postfix_log(tmp_path,
                                                                     accepted=[doubtful]))))
    supervisor = client_for(sam)
    page = reverse("campaigns:detail", args=[campaign.pk])
    decide = reverse("campaigns:decide", args=[campaign.pk, doubtful.pk])
    response = supervisor.post(decide, {**shown_on(supervisor, page, form=decide),
                                        "decision": "skip"})
    assert response.status_code == 302
    workflow.release(campaign=campaign, seen=Seen.current(campaign), user=oscar,
                     checklist=OBSERVER_TICKS)
    run_until_done(campaign)
    run_queued_tasks()
    assert campaign.state == State.COMPLETED
    assert Delivery.objects.get(pk=doubtful.pk).state == Delivery.State.SKIPPED
    drill.snapshot("decision")

    # incident: the observer downloads the report with member data, the auditor without
    # (and the audit log); an auditor's export of the log is left on disk
    observer = client_for(oscar)
    incident = reverse("audit:incident", args=[campaign.pk])
    with_data = [download(observer, f"{incident}?format={fmt}") for fmt in ("csv", "xlsx")]
    names_and_addresses = {c for x in m.values() for c in x.canaries
                           if c.field in ("name_ja", "name_latin", "email_local",
                                          "email_domain")}
    for data, fmt in zip(with_data, ("csv", "xlsx"), strict=True):
        found = {h.canary for h in canaries.search_blob(drill.finder, fmt, data)}
        assert names_and_addresses <= found, f"the search must read the {fmt} report"
    auditor = client_for(audrey)

    def auditor_downloads():
        drill.downloads += [
            (f"incident.{fmt} (campaign {c.pk})", download(
                auditor, reverse("audit:incident", args=[c.pk]) + f"?format={fmt}"))
            for c in (campaign, newsletter) for fmt in ("csv", "xlsx")]
        drill.downloads.append(("audit log export.csv",
                                download(auditor, reverse("audit:export"))))

    auditor_downloads()
    exports = tmp_path / "exports"
    exports.mkdir()
    out = StringIO()
    call_command("export_audit", out=str(exports / "audit.csv"), stdout=out)
    drill.outputs.append(("export_audit", out.getvalue()))
    drill.snapshot("incident")

    # erasure: member 1 asks; the observer erases them on the page and countersigns
    response = observer.post(reverse("retention:erase"), {"email": m[ERASED].email,
                                                          "confirm": "on"})
    assert response.status_code == 302
    assert not Member.objects.filter(member_number=m[ERASED].member_number).exists()
    certificate = DeletionCertificate.objects.get()
    observer.post(reverse("retention:certificate", args=[certificate.pk]),
                  {"seen_sha256": certificate.sha256})
    run_queued_tasks()
    auditor_downloads()
    drill.snapshot("erasure")

    # purge: past the retention period
    settings.ROSTER_RETENTION_DAYS = 30
    (purged,) = retention.purge_rosters(now=timezone.now() + timedelta(days=31))
    retention.countersign(certificate=purged, user=oscar, seen_sha256=purged.sha256)
    run_queued_tasks()
    roster.refresh_from_db()
    assert roster.purged_at is not None
    auditor_downloads()
    drill.snapshot("purge")
