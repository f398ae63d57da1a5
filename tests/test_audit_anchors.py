"""Anchors: the chain head leaves the system, so a deleted or rewritten tail is caught."""

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from audit import anchors, triggers
from audit.models import AuditEntry
from campaigns import notices, workflow
from tests.audit_helpers import raw, write_entries


def verify(*args):
    from io import StringIO

    out = StringIO()
    call_command("verify_audit", *args, stdout=out)
    return out.getvalue()


def mailed_anchor(reason="schedule"):
    mail.outbox.clear()
    notices.send_anchor(reason)
    return mail.outbox[-1].body if mail.outbox else ""


def test_the_head_is_mailed_to_the_associations_observers_and_audited(oscar, sam):
    head = write_entries(3)[-1]
    body = mailed_anchor()
    (message,) = mail.outbox
    assert message.to == [oscar.email]  # observers only, not the contractor's supervisor
    assert (f"countersign-anchor number=1 sequence={head.sequence} hash={head.hash} time="
            in body) and " previous=none" in body
    assert not message.attachments
    entry = AuditEntry.objects.get(action="audit.anchor_mailed")
    assert entry.sequence == head.sequence + 1 and entry.payload["hash"] == head.hash
    assert entry.payload["to"] == ["oscar"] and entry.payload["outcome"] == "sent"


def test_the_anchor_schedule_runs_every_configured_hours(db, settings):
    from django_q.models import Schedule

    from campaigns.schedules import ANCHOR, ensure

    assert Schedule.objects.get(name=ANCHOR).minutes == 24 * 60
    settings.AUDIT_ANCHOR_HOURS = 6
    ensure(record=False)
    schedule = Schedule.objects.get(name=ANCHOR)
    assert schedule.minutes == 360 and schedule.func == "campaigns.tasks.mail_audit_anchor"


def test_a_stop_mails_an_anchor_once_it_has_committed(released, oscar, monkeypatch,
                                                      django_capture_on_commit_callbacks):
    from campaigns import doorbells

    queued = []
    monkeypatch.setattr(doorbells, "queue_audit_anchor", queued.append)
    with django_capture_on_commit_callbacks(execute=True):
        workflow.stop(campaign=released, user=oscar)
    assert queued == [f"campaign {released.pk} stopped"]


@pytest.mark.django_db(transaction=True)
def test_a_tail_deleted_behind_dropped_triggers_is_caught_by_the_anchor(oscar, tmp_path):
    kept = write_entries(5)[-1]
    (tmp_path / "anchors.txt").write_text(mailed_anchor(), encoding="utf-8")  # kept, mailed
    write_entries(2)
    cut = kept.sequence - 2

    triggers.uninstall(connection)  # the attacker: drop, delete the tail, put the triggers back
    raw("DELETE FROM audit_auditentry WHERE sequence > %s", [cut])
    triggers.install(connection)

    assert f"{cut} entries verified" in verify()  # what is left is a valid chain ...
    with pytest.raises(CommandError, match=f"anchor of entry {kept.sequence} .* the log was cut"):
        verify("--anchor", str(tmp_path / "anchors.txt"))  # ... but the anchor says otherwise


@pytest.mark.django_db(transaction=True)
def test_a_rewritten_tail_is_caught_and_the_newest_anchor_that_holds_is_named(oscar, tmp_path):
    first = write_entries(2)[-1]
    first_mail = mailed_anchor()
    write_entries(1)
    second = write_entries(1)[-1]
    second_mail = mailed_anchor()
    kept = tmp_path / "anchors.txt"
    kept.write_text(first_mail + "\n" + second_mail, encoding="utf-8")
    assert f"newest anchor that holds: entry {second.sequence}" in verify("--anchor", str(kept))

    triggers.uninstall(connection)
    raw("DELETE FROM audit_auditentry WHERE sequence > %s", [first.sequence + 1])
    triggers.install(connection)
    write_entries(4)  # written anew: the second anchor's entry has another hash now
    with pytest.raises(CommandError, match=f"anchor of entry {second.sequence} .* cut or "
                                           "rewritten"):
        verify("--anchor", str(kept))
    kept.write_text(first_mail, encoding="utf-8")
    assert f"newest anchor that holds: entry {first.sequence}" in verify("--anchor", str(kept))


def test_anchors_are_read_from_a_saved_mail_or_a_bare_hash(db):
    head = write_entries(2)[-1]
    text = f"> countersign-anchor sequence=2 hash={head.hash} time=2026-11-26T10:00:00Z\nbye"
    (anchor,) = anchors.parse(text)
    assert (anchor.sequence, anchor.hash) == (2, head.hash)
    assert "is in the chain" in verify("--anchor", head.hash)
    with pytest.raises(CommandError, match="no anchor found"):
        verify("--anchor", "not a hash")
