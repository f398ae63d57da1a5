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
