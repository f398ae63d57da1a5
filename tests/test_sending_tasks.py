"""The queue is a doorbell: release rings it on commit, slices re-ring, the watchdog re-rings."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns import doorbells, sender, tasks, workflow
from campaigns.models import State
from campaigns.seen import Seen
from tests.factories import OBSERVER_TICKS


@pytest.fixture
def rung(monkeypatch):
    calls = []
    monkeypatch.setattr(doorbells, "async_task",
                        lambda func, *args, **kw: calls.append((func, args)))
    return calls


def test_release_queues_one_chain_and_the_start_queues_the_others_once_committed(
        approved, oscar, rung, settings, django_capture_on_commit_callbacks):
    """One worker runs the start's content guard over every member; the others join once
    it started, instead of each running the same guard and all but one throwing it away."""
    settings.SEND_PARALLEL = 3
    send = ("campaigns.tasks.send_campaign", (approved.pk,))
    with django_capture_on_commit_callbacks(execute=True):
        workflow.release(campaign=approved, seen=Seen.current(approved),
                         user=oscar, checklist=OBSERVER_TICKS)
    assert rung == [send]
    with django_capture_on_commit_callbacks(execute=True):
        workflow.start(campaign_id=approved.pk)
    assert rung == [send] * 3


def test_a_refused_start_queues_no_other_chain(approved, oscar, rung, settings,
                                                django_capture_on_commit_callbacks):
    settings.SEND_PARALLEL = 3
    with django_capture_on_commit_callbacks(execute=True):
        workflow.release(campaign=approved, seen=Seen.current(approved),
                         user=oscar, checklist=OBSERVER_TICKS)
    type(approved).objects.filter(pk=approved.pk).update(body_text="changed after release")
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(workflow.WorkflowError):
        workflow.start(campaign_id=approved.pk)
    assert [func for func, _args in rung if func.endswith("send_campaign")] == [
        "campaigns.tasks.send_campaign"]  # the starter's own; people were told (a mail task)


def test_a_refused_release_rings_nothing(approved, sam, rung, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(workflow.NotAllowed):
        workflow.release(campaign=approved, seen=Seen.current(approved),
                         user=sam, checklist=OBSERVER_TICKS)
    assert rung == []


def test_a_slice_with_more_to_do_queues_its_continuation(released, rung, monkeypatch):
    monkeypatch.setattr(sender, "run", lambda campaign_id: sender.Outcome.CONTINUE)
    tasks.send_campaign(released.pk)
    assert rung == [("campaigns.tasks.send_campaign", (released.pk,))]
    monkeypatch.setattr(sender, "run", lambda campaign_id: sender.Outcome.FINISHED)
    tasks.send_campaign(released.pk)
    assert len(rung) == 1


def test_the_watchdog_rings_for_quiet_sending_and_unstarted_released_campaigns(released, rung):
    assert tasks.watchdog() == [released.pk]  # released, window open, nobody started it
    released.state, released.last_worker_at = State.SENDING, timezone.now()
    released.save()
    assert tasks.watchdog() == []  # a worker is on it
    released.last_worker_at = timezone.now() - timedelta(minutes=10)
    released.save()
    assert tasks.watchdog() == [released.pk]  # its worker went quiet


def test_the_watchdog_schedule_exists_after_migrate(db):
    from django_q.models import Schedule

    schedule = Schedule.objects.get(name="countersign-watchdog")
    assert schedule.func == "campaigns.tasks.watchdog" and schedule.minutes == 1
