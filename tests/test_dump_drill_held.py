"""The dump drill (issue 22, "Done when"): members whose every field carries a canary, in a
roster imported once the association has registered its key. At every step before the
release (upload, import, draft, a submit the guard refuses, the fixed submit, a test message,
a preview grant of one member, a test message to that member, approval) a full dump of the
database, the SQLite file byte for byte, the session store, the task queue (in the database,
and in Redis as production runs it), the logs, every
file the app wrote and every mail it sent hold no canary in any form (tests/canaries.py:
plain, case, NFKC, IDN, percent, base64, quoted-printable, ...). Two exceptions are named:
the draft the guard has just refused holds what the operator pasted into it (from the file
they imported), until they fix it; and the test message to the member the association let
previews show carries that member's values, in the mail only."""

import json
import tempfile
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail as outbox
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from campaigns import workflow
from campaigns.seen import Seen
from countersign import association_key, sealing
from roster import data_keys, previews, synthetic
from roster.models import Roster
from roster.samples import xlsx_bytes
from tests import canaries
from tests.factories import SUPERVISOR_TICKS, make_campaign, signed_in_with_code, with_device

PASTED = 2
GRANTED = 1  # the member the association lets previews and test messages show (an officer)
SUBJECT = "【重要】{name} 様: ご登録内容の確認"
BODY = ("{name} 様\n\n会員番号 {member_number} のご登録内容をご確認ください。\n"
        "メール: {email}\n電話: {電話番号}\n住所: {住所}\n所属支部: {支部}\n\n共済会 事務局\n")


@pytest.fixture(params=["database", "redis"])
def broker(request, monkeypatch):
    """Where django-q2 queues its tasks: the database (the tests' default) or Redis, as in
    production (Q_REDIS_URL): a database of its own on the local Redis, emptied first. Yields
    its URL, or None for the database."""
    if request.param == "database":
        yield None
        return
    redis = pytest.importorskip("redis")
    from django_q.conf import Conf

    url = "redis://127.0.0.1:6379/13"
    try:
        redis.from_url(url).flushdb()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379 (.ci/run starts one)")
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", url)
    yield url
    redis.from_url(url).flushdb()


def _places(finder, caplog, tmp_path, started, redis_url=None,
            read=None) -> dict[str, list]:
    files = [*canaries.files_under(tmp_path, label="tmp_path"),
             *canaries.files_under(settings.BASE_DIR / "var", label="var", since=started),
             *canaries.files_under(Path(tempfile.gettempdir()), label="$TMPDIR", since=started,
                                   names=("tmp", "openpyxl"), recursive=False)]
    queue = canaries.search_task_queue(finder)
    if redis_url:
        in_redis, values = canaries.search_redis(finder, redis_url)
        queue += in_redis
        read.append(values)
    return {
        "task queue": queue,
        "database": canaries.search_database(finder),
        "sqlite file": canaries.search_sqlite_files(finder),
        "sessions": canaries.search_sessions(finder),
        "logs": canaries.search_logs(finder, caplog.records, skip=("mail.log",)),
        "files": canaries.search_files(finder, files),
        "mail": [hit for message in outbox.outbox for hit in canaries.search_blob(
            finder, f"mail to {message.to}", message.message().as_bytes())],
    }


@pytest.mark.django_db(transaction=True)
def test_before_the_release_nothing_the_contractor_holds_carries_a_members_value(
        olivia, sam, oscar, tmp_path, caplog, broker):
    with_device(oscar)
    private = sealing.new_private_key()
    association_key.register(user=oscar, pem=sealing.public_pem(private.public_key()))
    members = canaries.canary_members()
    finder = canaries.Finder(c for m in members for c in m.canaries)
    started = time.time() - 1
    leaks, allowed, granted_sent, read_in_redis = [], [], [], []

    def snapshot(state):
        for place, hits in _places(finder, caplog, tmp_path, started, broker,
                                   read_in_redis).items():
            for hit in hits:
                found = f"{state} / {place}: {hit.location} {hit.canary.label} ({hit.form})"
                (allowed if _pasted(state, place, hit) else leaks).append(found)

    def _pasted(state, place, hit):
        if hit.canary.member == GRANTED and place == "mail" and granted_sent:
            return True  # the test message the association's grant allowed
        # The operator pasted member 2's address into the draft and the guard refused it: the
        # draft holds it until they fix it; SQLite's pages until it reuses them.
        if hit.canary.member != PASTED:
            return False
        return (place == "database" and state == "refused"
                and hit.location.startswith("campaigns_campaign")) or place == "sqlite file"

    observer = signed_in_with_code(oscar)  # the association imports: the contractor never has it
    response = observer.post(reverse("roster:upload"), {
        "name": "会員名簿 2026", "file": SimpleUploadedFile(
            "members.xlsx", xlsx_bytes([list(m.row) for m in members],
                                       header=canaries.HEADER))})
    assert response.status_code == 302
    snapshot("upload")
    observer.post(response.url, {"confirm": ""})
    roster = Roster.objects.get()
    assert data_keys.with_association(roster) and roster.member_count == len(members)
    snapshot("import")

    campaign = make_campaign(olivia, roster, subject=SUBJECT, body_text=BODY,
                             canary_enabled=False)
    snapshot("draft")
    pasted = members[PASTED - 1].email
    workflow.edit(campaign=campaign, user=olivia, body_text=BODY + f"\n連絡先: {pasted}\n")
    with pytest.raises(workflow.ContentRefused):  # known to the guard by its keyed tags
        workflow.submit(campaign=campaign, user=olivia)
    snapshot("refused")
    workflow.edit(campaign=campaign, user=olivia, body_text=BODY)
    workflow.submit(campaign=campaign, user=olivia)
    snapshot("submit")
    workflow.test_send(campaign=campaign, user=olivia, member=roster.members.first(),
                       recipients=[sam, oscar])
    assert synthetic.SYNTHETIC_CHARACTER * 2 in outbox.outbox[-1].body  # a synthetic member
    snapshot("test send")
    officer = roster.members.get(member_number=members[GRANTED - 1].member_number)
    request = previews.request_for(roster, [officer.member_number], days=1, reason="会長",
                                   actor=oscar)
    previews.accept(json.dumps(sealing.make_preview(request, private, made="2026-12-06T00:00:00Z"))
                    .encode(), roster=roster, actor=oscar)
    snapshot("preview granted")
    workflow.test_send(campaign=campaign, user=olivia, member=officer, recipients=[sam])
    granted_sent.append(True)
    assert synthetic.SYNTHETIC_CHARACTER not in outbox.outbox[-1].body  # the officer's own
    snapshot("test send to a granted member")
    workflow.approve(campaign=campaign, seen=Seen.current(campaign), user=sam,
                     checklist=SUPERVISOR_TICKS)
    snapshot("approve")
    assert any(f.startswith("refused / database: campaigns_campaign") for f in allowed), (
        "the search must find the pasted address in the refused draft")
    assert any(f.startswith("test send to a granted member / mail") for f in allowed), (
        "the search must find the granted member's values in the test message")
    assert leaks == [], "member data where the contractor holds it:\n" + "\n".join(leaks)
    if broker:  # the tasks went to Redis, and the search read them there
        assert max(read_in_redis) > 0


@pytest.mark.django_db
def test_the_drill_finds_a_members_value_queued_where_the_tasks_go(broker):
    """The search itself: a task whose arguments carry a canary, queued in Redis, is found
    (and in the database's queue likewise)."""
    from django_q.tasks import async_task

    member = canaries.canary_members()[0]
    finder = canaries.Finder(member.canaries)
    async_task("campaigns.tasks.mail_notifications", [member.email])
    if broker:
        hits, read = canaries.search_redis(finder, broker)
        assert read >= 1
    else:
        hits = canaries.search_task_queue(finder)
    assert any(hit.location.endswith("(decoded)") for hit in hits)
