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
    write_entries(3)
    body = mailed_anchor()
    (message,) = mail.outbox
    assert message.to == [oscar.email]  # observers only, not the contractor's supervisor
    head = AuditEntry.objects.get(sequence=3)
    assert f"countersign-anchor sequence=3 hash={head.hash} time=" in body
    assert not message.attachments
    entry = AuditEntry.objects.get(action="audit.anchor_mailed")
    assert entry.sequence == 4 and entry.payload["hash"] == head.hash
    assert entry.payload["to"] == ["oscar"] and entry.payload["outcome"] == "sent"


def test_the_anchor_schedule_runs_every_configured_hours(db, settings):
    from django_q.models import Schedule

    from campaigns.apps import ANCHOR, schedule_audit_anchor

    assert Schedule.objects.get(name=ANCHOR).minutes == 24 * 60
    settings.AUDIT_ANCHOR_HOURS = 6
    schedule_audit_anchor()
    schedule = Schedule.objects.get(name=ANCHOR)
    assert schedule.minutes == 360 and schedule.func == "campaigns.tasks.mail_audit_anchor"


def test_a_stop_mails_an_anchor_once_it_has_committed(released, oscar, monkeypatch,
                                                      django_capture_on_commit_callbacks):
    from campaigns import tasks

    queued = []
    monkeypatch.setattr(tasks, "queue_audit_anchor", queued.append)
    with django_capture_on_commit_callbacks(execute=True):
        workflow.stop(campaign=released, user=oscar)
    assert queued == [f"campaign {released.pk} stopped"]


@pytest.mark.django_db(transaction=True)
def test_a_tail_deleted_behind_dropped_triggers_is_caught_by_the_anchor(oscar, tmp_path):
    write_entries(5)
    (tmp_path / "anchors.txt").write_text(mailed_anchor(), encoding="utf-8")  # entry 5, kept
    write_entries(2)

    triggers.uninstall(connection)  # the attacker: drop, delete the tail, put the triggers back
    raw("DELETE FROM audit_auditentry WHERE sequence >= 4")
    triggers.install(connection)

    assert "3 entries verified" in verify()  # what is left is a valid chain ...
    with pytest.raises(CommandError, match="anchor of entry 5 .* the log was cut"):
        verify("--anchor", str(tmp_path / "anchors.txt"))  # ... but the anchor says otherwise


@pytest.mark.django_db(transaction=True)
def test_a_rewritten_tail_is_caught_and_the_newest_anchor_that_holds_is_named(oscar, tmp_path):
    write_entries(2)
    first = mailed_anchor()  # entry 2
    write_entries(2)
    second = mailed_anchor()  # entry 5
    kept = tmp_path / "anchors.txt"
    kept.write_text(first + "\n" + second, encoding="utf-8")
    assert "newest anchor that holds: entry 5" in verify("--anchor", str(kept))

    triggers.uninstall(connection)
    raw("DELETE FROM audit_auditentry WHERE sequence >= 4")
    triggers.install(connection)
    write_entries(3)  # entries 4-6 again, written anew: entry 5 has another hash now
    with pytest.raises(CommandError, match="anchor of entry 5 .* cut or rewritten"):
        verify("--anchor", str(kept))
    kept.write_text(first, encoding="utf-8")
    assert "newest anchor that holds: entry 2" in verify("--anchor", str(kept))


def test_anchors_are_read_from_a_saved_mail_or_a_bare_hash(db):
    head = write_entries(2)[-1]
    text = f"> countersign-anchor sequence=2 hash={head.hash} time=2026-11-26T10:00:00Z\nbye"
    (anchor,) = anchors.parse(text)
    assert (anchor.sequence, anchor.hash) == (2, head.hash)
    assert "is in the chain" in verify("--anchor", head.hash)
    with pytest.raises(CommandError, match="no anchor found"):
        verify("--anchor", "not a hash")
