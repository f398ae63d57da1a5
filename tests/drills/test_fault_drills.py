"""Fault drills with real processes: a worker killed at random points, the mail server
restarted, the database connection cut, the disk full, two workers at once. Every
recipient gets at most one message; every message is sent or in doubt; ledger and server
agree. Marked `drill` (about two minutes): `-m "not drill"` skips them."""

import json
import os
import random
import signal
import subprocess
import time
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from django.db import OperationalError, connection
from django.db.backends.utils import CursorWrapper
from django.db.models import Count

from campaigns import sender, tasks, workflow
from campaigns.models import Campaign, Delivery, State
from campaigns.seen import Seen
from countersign.models import Organisation
from countersign.roles import Role
from tests.factories import (
    MANAGE_PY,
    OBSERVER_TICKS,
    SUPERVISOR_TICKS,
    email_of,
    free_port,
    group_alive,
    make_campaign,
    make_roster,
    make_user,
    start_cluster,
    stop_group,
    test_database_url,
    wait_until,
)

pytestmark = [pytest.mark.drill, pytest.mark.django_db(transaction=True)]
MANAGE = MANAGE_PY


class MailServer:
    """`manage.py mailcatcher` in its own process: a real SMTP server that can be killed."""

    def __init__(self, directory):
        self.directory, self.port, self.process = directory, free_port(), None

    def start(self):
        env = {**os.environ, "MAILCATCHER_DIR": str(self.directory)}
        self.process = subprocess.Popen([*MANAGE, "mailcatcher", "--port", str(self.port)],
                                        env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        try:  # a loaded machine starts Django slowly; a server that never listened is killed
            wait_until(self._listening, timeout=60, what="the mail server")
        except AssertionError:
            self.process.kill()
            raise

    def _listening(self):
        import socket

        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self):
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def count(self) -> int:
        """Messages received so far (cheap: no parsing), the staff test message included."""
        return len(list(self.directory.glob("*.eml"))) if self.directory.exists() else 0

    def recipients(self) -> list[str]:
        files = sorted(self.directory.glob("*.eml")) if self.directory.exists() else []
        messages = [message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]
        return [m["To"].addresses[0].addr_spec for m in messages if m["X-Countersign-Campaign"]]


@pytest.fixture
def mail_server(tmp_path):
    server = MailServer(tmp_path / "mail")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def people(db):
    return {"olivia": make_user("olivia", Organisation.CONTRACTOR, Role.OPERATOR),
            "sam": make_user("sam", Organisation.CONTRACTOR, Role.SUPERVISOR),
            "oscar": make_user("oscar", Organisation.ASSOCIATION, Role.OBSERVER)}


def released(people, count, **options):
    roster = make_roster(people["olivia"], count=count)
    campaign = make_campaign(people["olivia"], roster, canary_enabled=False, **options)
    workflow.submit(campaign=campaign, user=people["olivia"])
    workflow.test_send(campaign=campaign, user=people["olivia"], member=roster.members.first(),
                       recipients=[people["sam"]])
    workflow.approve(campaign=campaign, seen=Seen.current(campaign),
                     user=people["sam"], checklist=SUPERVISOR_TICKS)
    return workflow.release(campaign=campaign, seen=Seen.current(campaign),
                            user=people["oscar"], checklist=OBSERVER_TICKS)


def worker_env(mail_server, **extra):
    return {**os.environ, "DATABASE_URL": test_database_url(), "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(mail_server.port), "EMAIL_TIMEOUT": "2",
            "SEND_STALE_MARGIN_SECONDS": "0", "SEND_RETRY_SECONDS": "0", "Q_WORKERS": "1",
            **extra}


_started: list[subprocess.Popen] = []  # send workers, killed after their test if still there


@pytest.fixture(autouse=True)
def _no_worker_left(transactional_db):  # torn down before the database is emptied
    """A drill that fails or times out waiting leaves no `send_campaign` process sending
    beside the next test (or holding the database while the next test empties it)."""
    yield
    while _started:
        process = _started.pop()
        if process.poll() is None:
            process.kill()
        process.wait()


def start_worker(campaign, mail_server, **extra):
    process = subprocess.Popen([*MANAGE, "send_campaign", str(campaign.pk)],
                               env=worker_env(mail_server, **extra), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    _started.append(process)
    return process


def _where(campaign):
    campaign.refresh_from_db()
    counts = campaign.deliveries.values("state").annotate(n=Count("pk")).order_by("state")
    return (f"{campaign.state} ({campaign.paused_reason or 'no reason'}), deliveries "
            f"{ {row['state']: row['n'] for row in counts} }")


def ledger(campaign):
    return {email_of(d): d.state for d in campaign.deliveries.all()}


def assert_no_duplicates_and_agreement(campaign, mail_server):
    received = mail_server.recipients()
    assert len(received) == len(set(received)), "a recipient got two messages"
    states = ledger(campaign)
    sent = {email for email, state in states.items() if state == Delivery.State.SENT}
    doubtful = {email for email, state in states.items() if state == Delivery.State.IN_DOUBT}
    assert sent <= set(received), "the ledger says sent, the server never got it"
    assert set(received) <= sent | doubtful, "the server got a message the ledger cannot explain"
    return sent, doubtful


def test_a_worker_killed_ten_times_at_random_points_never_sends_twice(people, mail_server):
    campaign = released(people, 1000)
    rng, kills = random.Random(2022), []
    for _ in range(10):
        worker = start_worker(campaign, mail_server)
        target = mail_server.count() + rng.randint(5, 80)
        deadline = time.monotonic() + 30
        while mail_server.count() < target and worker.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(rng.uniform(0.001, 0.01))
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        kills.append(mail_server.count())
        time.sleep(2.1)  # longer than EMAIL_TIMEOUT + margin: its claim is stale now
    finisher = start_worker(campaign, mail_server)
    assert finisher.wait(120) == 0
    campaign.refresh_from_db()
    sent, doubtful = assert_no_duplicates_and_agreement(campaign, mail_server)
    assert len(sent) + len(doubtful) == 1000, "every message is sent or in doubt"
    assert len(doubtful) <= len(kills)
    assert campaign.state in (State.COMPLETED, State.PAUSED)  # paused: doubts to decide
    print(f"\nkill drill: 10 SIGKILLs after {kills} messages; sent {len(sent)}, in doubt "
          f"{len(doubtful)}, duplicates 0")


def test_the_mail_server_restarted_mid_send_pauses_and_resumes_without_duplicates(
        people, mail_server):
    campaign = released(people, 300)
    worker = start_worker(campaign, mail_server)
    wait_until(lambda: mail_server.count() >= 60, timeout=60, what="sending")
    mail_server.stop()
    assert worker.wait(60) == 0
    campaign.refresh_from_db()
    # The worker writes in the site language (Japanese): "could not be reached".
    assert campaign.state == State.PAUSED and "接続できませんでした" in campaign.paused_reason
    mail_server.start()
    workflow.release(campaign=campaign, seen=Seen.current(campaign),
                     user=people["oscar"], checklist=OBSERVER_TICKS)
    assert start_worker(campaign, mail_server).wait(120) == 0
    campaign.refresh_from_db()
    for delivery in campaign.deliveries.filter(state=Delivery.State.IN_DOUBT):
        workflow.decide(delivery=delivery, seen=Seen.current(delivery),
                        user=people["sam"], decision="skip")
    sent, doubtful = assert_no_duplicates_and_agreement(campaign, mail_server)
    assert not doubtful  # each was decided
    assert len(sent) + campaign.deliveries.filter(state=Delivery.State.SKIPPED).count() == 300
    print(f"\nmail server restart: sent {len(sent)}, in doubt then skipped "
          f"{300 - len(sent)}, duplicates 0")


@pytest.mark.postgres_only
def test_the_database_connection_cut_mid_send_pauses_and_resumes_without_duplicates(
        people, mail_server):
    campaign = released(people, 400)
    worker = start_worker(campaign, mail_server, DATABASE_URL=test_database_url()
                          + "?application_name=countersign-drill-worker")
    wait_until(lambda: mail_server.count() >= 80, timeout=60, what="sending")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE application_name = 'countersign-drill-worker'")
    assert worker.wait(60) == 0
    campaign.refresh_from_db()
    assert campaign.state == State.PAUSED and "データベース" in campaign.paused_reason
    time.sleep(2.1)  # the claim that was in flight is stale now
    workflow.release(campaign=campaign, seen=Seen.current(campaign),
                     user=people["oscar"], checklist=OBSERVER_TICKS)
    assert start_worker(campaign, mail_server).wait(120) == 0
    campaign.refresh_from_db()
    sent, doubtful = assert_no_duplicates_and_agreement(campaign, mail_server)
    assert len(sent) + len(doubtful) == 400 and len(doubtful) <= 1
    print(f"\ndatabase cut: sent {len(sent)}, in doubt {len(doubtful)}, duplicates 0")


def test_a_full_disk_while_writing_the_ledger_pauses_with_the_reason(people, mail_server,
                                                                     settings, monkeypatch):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", mail_server.port
    campaign = released(people, 100)
    real_execute = CursorWrapper.execute
    written = {"n": 0}

    def disk_fills_up(cursor, sql, params=None):
        if "sent_at =" in sql:  # a statement that records a success, on either claim path
            written["n"] += 1
            if written["n"] >= 30:  # from the 30th on, the ledger cannot be written
                raise OperationalError("database or disk is full")
        return real_execute(cursor, sql, params)

    monkeypatch.setattr(CursorWrapper, "execute", disk_fills_up)
    assert sender.run(campaign.pk, worker="drill", budget=60) is sender.Outcome.FINISHED
    monkeypatch.setattr(CursorWrapper, "execute", real_execute)
    campaign.refresh_from_db()
    assert campaign.state == State.PAUSED and "disk is full" in campaign.paused_reason
    Delivery.objects.filter(campaign=campaign, state=Delivery.State.SENDING).update(
        claimed_at=campaign.started_at)  # the stuck claim is old by the time space is freed
    workflow.release(campaign=campaign, seen=Seen.current(campaign),
                     user=people["oscar"], checklist=OBSERVER_TICKS)
    while sender.run(campaign.pk, worker="drill", budget=60) is sender.Outcome.CONTINUE:
        pass
    campaign.refresh_from_db()
    sent, doubtful = assert_no_duplicates_and_agreement(campaign, mail_server)
    assert len(sent) + len(doubtful) == 100 and len(doubtful) == 1


def _stop_midway_and_check(campaign, people, mail_server, processes, stop_processes):
    wait_until(lambda: mail_server.count() >= 250, timeout=90, what="sending")
    workers = set(campaign.deliveries.exclude(worker="").values_list("worker", flat=True))
    workflow.stop(campaign=campaign, user=people["oscar"])
    time.sleep(3)
    after_stop = mail_server.count()
    time.sleep(2)
    assert mail_server.count() == after_stop, "a worker went on after the stop"
    stop_processes()
    campaign.refresh_from_db()
    assert campaign.state == State.STOPPED
    sent, _doubtful = assert_no_duplicates_and_agreement(campaign, mail_server)
    times = sorted(campaign.deliveries.filter(state=Delivery.State.SENT).values_list(
        "claimed_at", flat=True))
    window = max(sum(1 for t in times if start <= t < start + _second) for start in times)
    span = (times[-1] - times[0]).total_seconds()
    assert window <= 41 and span >= (len(times) - 1) / 40 - 0.5, (window, span)
    assert not campaign.deliveries.filter(claimed_at__gt=campaign.stopped_at).exists()
    return workers, sent, window


def test_two_worker_processes_share_the_rate_and_both_stop(people, mail_server):
    campaign = released(people, 400, rate_limit=40, rate_unit="second")
    workers = [start_worker(campaign, mail_server) for _ in range(2)]

    def stop_processes():
        for worker in workers:
            assert worker.wait(30) == 0  # each one saw the stop and finished by itself

    names, sent, window = _stop_midway_and_check(campaign, people, mail_server, workers,
                                                 stop_processes)
    assert len(names) == 2, names
    print(f"\ntwo worker processes {sorted(names)}: {len(sent)} sent, at most {window} in any "
          f"second (limit 40), both stopped, duplicates 0")


def cluster_with_a_key(env):
    """A cluster, once its worker has published the key it made (campaigns.key_window)."""
    from campaigns import key_window

    known = {w.fingerprint for w in key_window.live_workers()}
    cluster = start_cluster(env)
    wait_until(lambda: {w.fingerprint for w in key_window.live_workers()} - known,
               timeout=60, what="the worker's key")
    return cluster


def test_a_cluster_the_drills_stop_leaves_no_process_taking_the_next_drills_tasks(
        mail_server):
    """Killing only `qcluster`'s main process leaves its sentinel, pusher and workers running
    (CI once saw the next drill's campaign paused by such a leftover worker, which held no
    grant): the drills stop a cluster by its whole process group, also when SIGTERM is not
    honoured in time."""
    env = worker_env(mail_server)
    cluster = cluster_with_a_key(env)
    stop_group(cluster, timeout=0)  # no time for SIGTERM: the group is killed
    wait_until(lambda: not group_alive(cluster.pid), timeout=5, what="the group's end")

    leftover = cluster_with_a_key(env)  # the check can fail: the old way leaves the group
    try:
        leftover.kill()  # the main process only, as the drills did before
        leftover.wait()
        time.sleep(1)
        assert group_alive(leftover.pid)
    finally:
        stop_group(leftover)
    wait_until(lambda: not group_alive(leftover.pid), timeout=5, what="the group's end")


def test_two_qcluster_processes_on_one_campaign(people, mail_server):
    """The real deployment shape: two `manage.py qcluster` on the same queue and campaign."""
    campaign = released(people, 400, rate_limit=40, rate_unit="second")
    env = worker_env(mail_server)
    clusters = [start_cluster(env) for _ in range(2)]
    tasks.queue_send(campaign.pk)  # a second task chain beside the one the release queued

    def stop_processes():
        for cluster in clusters:
            stop_group(cluster)

    try:
        names, sent, window = _stop_midway_and_check(campaign, people, mail_server, clusters,
                                                     stop_processes)
    finally:
        stop_processes()
    print(f"\ntwo qclusters (workers seen: {len(names)}): {len(sent)} sent, at most {window} "
          f"in any second (limit 40), stopped, duplicates 0")


_second = timedelta(seconds=1)


def test_a_killed_qcluster_cannot_read_the_old_grant_and_the_re_release_finishes(
        people, mail_server):
    """The association holds the roster's key (issue 22): a real `manage.py qcluster` gets it
    only by the observer's grant, sealed to the key its worker made in memory at start.
    SIGKILL mid-send: the new cluster's worker has a new key, cannot open the old grant, and
    the campaign pauses with "Key needed"; the observer's new grant finishes it; nobody gets
    two messages."""
    from campaigns import doorbells, key_window
    from countersign import association_key, sealing
    from roster.samples import sample_rows
    from tests.factories import with_device

    oscar = people["oscar"]
    with_device(oscar)
    private = sealing.new_private_key()
    association_key.register(user=oscar, pem=sealing.public_pem(private.public_key()))
    roster = make_roster(oscar, count=300)  # the association imports what only it holds
    campaign = make_campaign(people["olivia"], roster, canary_enabled=False, rate_limit=20,
                             rate_unit="second")
    workflow.submit(campaign=campaign, user=people["olivia"])
    workflow.test_send(campaign=campaign, user=people["olivia"], member=roster.members.first(),
                       recipients=[people["sam"]])
    workflow.approve(campaign=campaign, seen=Seen.current(campaign), user=people["sam"],
                     checklist=SUPERVISOR_TICKS)
    env = worker_env(mail_server)

    def release_with_a_grant():
        request = key_window.request_for(Campaign.objects.get(pk=campaign.pk))
        grant = sealing.make_grant(request, private, made="2026-12-06T00:00:00Z")
        workflow.release(campaign=campaign, seen=Seen.current(campaign), user=oscar,
                         checklist=OBSERVER_TICKS, grant=json.dumps(grant).encode())

    first = cluster_with_a_key(env)
    second = None
    try:
        release_with_a_grant()
        wait_until(lambda: mail_server.count() >= 40, timeout=60, what="sending")
        os.killpg(first.pid, signal.SIGKILL)  # the cluster and its worker: the machine died
        first.wait()
        killed_at = mail_server.count()
        time.sleep(2.1)  # longer than EMAIL_TIMEOUT + margin: its claim is stale now
        second = cluster_with_a_key(env)
        doorbells.queue_send(campaign.pk)
        wait_until(lambda: Campaign.objects.get(pk=campaign.pk).state == State.PAUSED,
                   timeout=60, what="the pause")
        campaign.refresh_from_db()
        assert campaign.paused_reason.startswith(("Key needed", "鍵が必要です"))  # its language
        assert mail_server.count() == killed_at  # nothing sent without a key
        release_with_a_grant()
        wait_until(lambda: Campaign.objects.get(pk=campaign.pk).state in (
            State.COMPLETED, State.PAUSED) and not campaign.deliveries.filter(
            state__in=[Delivery.State.PENDING, Delivery.State.SENDING]).exists(),
            timeout=120, what="the end of sending", seen=lambda: _where(campaign))
    finally:
        for cluster in (first, second):
            if cluster is not None:
                stop_group(cluster)
    # The test process cannot open the roster either: the ledger is compared by member number.
    number_of = {row[2]: row[0] for row in sample_rows(300)}
    received = [number_of[address] for address in mail_server.recipients()]
    assert len(received) == len(set(received)), "a recipient got two messages"
    states = dict(campaign.deliveries.values_list("member_number", "state"))
    sent = {n for n, state in states.items() if state == Delivery.State.SENT}
    doubtful = {n for n, state in states.items() if state == Delivery.State.IN_DOUBT}
    assert sent <= set(received) <= sent | doubtful
    assert len(sent) + len(doubtful) == 300 and len(doubtful) <= 1
    print(f"\nkey drill: SIGKILL after {killed_at} messages; key needed; re-released; sent "
          f"{len(sent)}, in doubt {len(doubtful)}, duplicates 0")
