"""Shared fixtures: one named user per role, and clients logged in as them.

olivia  operator   (contractor)      sam    supervisor (contractor)
oscar   observer   (association)     audrey auditor    (association)
mallory an account with no role      otto   a second operator
"""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client

from audit import triggers
from countersign.models import Organisation, User
from countersign.roles import Role


def make_user(username, organisation, *roles):
    user = User.objects.create_user(
        username=username,
        password=f"{username}-test-pass",
        email=f"{username}@{organisation}.example",
        organisation=organisation,
    )
    for role in roles:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


@pytest.fixture
def olivia(db):
    return make_user("olivia", Organisation.CONTRACTOR, Role.OPERATOR)


@pytest.fixture
def otto(db):
    return make_user("otto", Organisation.CONTRACTOR, Role.OPERATOR)


@pytest.fixture
def sam(db):
    return make_user("sam", Organisation.CONTRACTOR, Role.SUPERVISOR)


@pytest.fixture
def oscar(db):
    return make_user("oscar", Organisation.ASSOCIATION, Role.OBSERVER)


@pytest.fixture
def audrey(db):
    return make_user("audrey", Organisation.ASSOCIATION, Role.AUDITOR)


@pytest.fixture
def mallory(db):
    return make_user("mallory", Organisation.CONTRACTOR)


@pytest.fixture
def everyone(olivia, sam, oscar, audrey, mallory):
    return {"olivia": olivia, "sam": sam, "oscar": oscar, "audrey": audrey, "mallory": mallory}


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def _audit_triggers_survive_flush(request):
    """A transactional test ends with a flush (DELETE/TRUNCATE of every table), which the
    append-only triggers rightly refuse. Drop them just before that flush; the flush's
    post_migrate signal installs them again (audit.apps.ensure_triggers)."""
    if "transactional_db" not in request.fixturenames and "live_server" not in request.fixturenames:
        marker = request.node.get_closest_marker("django_db")
        if not (marker and marker.kwargs.get("transaction")):
            yield
            return
    request.getfixturevalue("transactional_db")
    triggers.install(connection)
    yield
    triggers.uninstall(connection)


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing():
    # Real hashing is deliberately slow; the tests create many users.
    from django.test import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


def pytest_runtest_setup(item):
    if item.get_closest_marker("postgres_only"):
        from django.conf import settings

        if "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
            pytest.skip("needs PostgreSQL (run with DATABASE_URL=postgres://...)")


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_sink(tmp_path):
    """A real loopback SMTP server that keeps each message as a file; yields (port, dir)."""
    from countersign import mailcatcher

    port, directory = free_port(), tmp_path / "sink"
    controller = mailcatcher.start(directory, port=port)
    yield port, directory
    controller.stop()


# --- campaigns ---------------------------------------------------------------------------------

BODY = ("{name} 様\n\n会員番号 {member_number} の皆様へ、感染症見舞金の変更をお知らせします。\n"
        "所属支部: {支部}\n\n共済会 事務局\n")


def make_roster(actor, count=20, *, rows=None, header=None, name="会員名簿"):
    from roster.samples import HEADER, csv_bytes, sample_rows
    from roster.services import check_roster_file, roster_import

    data = csv_bytes(rows if rows is not None else sample_rows(count), header=header or HEADER)
    parsed = check_roster_file(data, "members.csv")
    assert parsed.ok, parsed.errors
    return roster_import(parsed=parsed, name=name, actor=actor)


def make_campaign(author, roster, **changes):
    from django.conf import settings

    from campaigns import workflow

    fields = {"name": "見舞金変更のお知らせ", "sender": settings.CAMPAIGN_SENDERS[0],
              "subject": "【重要】{name} 様: 見舞金のお知らせ", "body_text": BODY, **changes}
    return workflow.create(user=author, roster=roster, **fields)


SUPERVISOR_TICKS = ["recipients", "no_roster_data", "content", "test_read"]
OBSERVER_TICKS = ["recipients", "content", "witness"]


@pytest.fixture
def roster(olivia):
    return make_roster(olivia)


@pytest.fixture
def draft(olivia, roster):
    return make_campaign(olivia, roster)


@pytest.fixture
def submitted(draft, olivia):
    from campaigns import workflow

    return workflow.submit(campaign=draft, user=olivia)


@pytest.fixture
def tested(submitted, olivia, sam, oscar):
    """Submitted, and a test message of this version went to sam and oscar."""
    from campaigns import workflow

    workflow.test_send(campaign=submitted, user=olivia, member=submitted.roster.members.first(),
                       recipients=[sam, oscar])
    return submitted


@pytest.fixture
def approved(tested, sam):
    from campaigns import workflow

    return workflow.approve(campaign=tested, user=sam, checklist=SUPERVISOR_TICKS)


@pytest.fixture
def released(approved, oscar):
    from campaigns import workflow

    return workflow.release(campaign=approved, user=oscar, checklist=OBSERVER_TICKS)


def audit_actions(**filters):
    from audit.models import AuditEntry

    return list(AuditEntry.objects.filter(**filters).values_list("action", flat=True))


@pytest.fixture
def sink(settings):
    """A real SMTP server on loopback, and Django's SMTP backend pointed at it."""
    from tests.sending_helpers import SinkServer

    server = SinkServer()
    server.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", server.port, 5
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield server
    server.stop()


def run_until_done(campaign, *, rounds=5):
    """Run send slices the way the task chain would, until the campaign leaves `sending`."""
    from campaigns import sender

    for _ in range(rounds):
        outcome = sender.run(campaign.pk, worker="test", budget=3, sleep=lambda s: None)
        if outcome is not sender.Outcome.CONTINUE:
            campaign.refresh_from_db()
            return outcome
    raise AssertionError(f"campaign {campaign.pk} still sending after {rounds} slices")


@pytest.fixture(autouse=True)
def _english_outside_requests():
    """Code run outside a request (the worker, the workflow) speaks the site language, ja.
    Tests read their messages in English; each request still follows its Accept-Language."""
    from django.utils import translation

    with translation.override("en"):
        yield


def test_database_url() -> str:
    """DATABASE_URL of the test database, for the worker or server processes a test starts."""
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return (f"postgres://{db['USER']}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}"
            f"/{db['NAME']}")


test_database_url.__test__ = False


def wait_until(condition, *, timeout=60.0, what="condition"):
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
