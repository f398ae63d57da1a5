"""Shared fixtures: one named user per role, and clients logged in as them.

olivia  operator   (contractor)      sam    supervisor (contractor)
oscar   observer   (association)     audrey auditor    (association)
mallory an account with no role      otto   a second operator
orla    a second observer (association)
adam    the contractor's administrator: a superuser with no role

Only fixtures and hooks live here; the helpers they use are in tests/factories.py,
tests/sending_helpers.py and tests/returned_mail.py, which is what test modules import.
"""

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import override_settings
from django.utils import timezone, translation

from audit import triggers
from campaigns import workflow
from campaigns.models import Delivery
from campaigns.seen import Seen
from campaigns.states import State
from countersign import mailcatcher
from countersign.models import Organisation
from countersign.roles import Role
from tests import returned_mail
from tests.factories import (
    OBSERVER_TICKS,
    SUPERVISOR_TICKS,
    free_port,
    make_campaign,
    make_newsletter,
    make_roster,
    make_user,
    released_campaign,
    run_until_done,
    through_the_countersign,
    with_device,
)
from tests.sending_helpers import SinkServer, point_django_at


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
def orla(db):
    return make_user("orla", Organisation.ASSOCIATION, Role.OBSERVER)


@pytest.fixture
def association_private_key(oscar):
    """The association registered its key (oscar, with his phone set up): rosters imported
    from now on are held by the association alone. The private key, as its key tool has it."""
    from countersign import association_key, sealing

    with_device(oscar)
    private = sealing.new_private_key()
    association_key.register(user=oscar, pem=sealing.public_pem(private.public_key()))
    return private


@pytest.fixture
def adam(db):
    return make_user("adam", Organisation.CONTRACTOR, is_staff=True, is_superuser=True)


@pytest.fixture
def audrey(db):
    return make_user("audrey", Organisation.ASSOCIATION, Role.AUDITOR)


@pytest.fixture
def mallory(db):
    return make_user("mallory", Organisation.CONTRACTOR)


@pytest.fixture
def everyone(olivia, sam, oscar, audrey, mallory):
    return {"olivia": olivia, "sam": sam, "oscar": oscar, "audrey": audrey, "mallory": mallory}


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
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(autouse=True)
def _guard_reads_what_this_test_holds():
    """The guard keeps its list of rosters held (and of members who may be named) for a few
    seconds, and its indexes and tags per set of rows; each test's database starts from
    nothing (and, on SQLite, gives rolled-back ids out again), so each test starts with
    none of them read."""
    from campaigns import guard_index, guard_tags

    guard_index.forget_held_rosters()
    guard_index.forget_indexes()
    guard_tags.forget_kept()


@pytest.fixture(autouse=True)
def _english_outside_requests():
    """Code run outside a request (the worker, the workflow) speaks the site language, ja.
    Tests read their messages in English; each request still follows its Accept-Language."""
    with translation.override("en"):
        yield


def pytest_runtest_setup(item):
    on_postgres = "postgresql" in django_settings.DATABASES["default"]["ENGINE"]
    if item.get_closest_marker("postgres_only") and not on_postgres:
        pytest.skip("needs PostgreSQL (run with DATABASE_URL=postgres://...)")


# --- mail servers ------------------------------------------------------------------------------


@pytest.fixture
def smtp_sink(tmp_path):
    """A real loopback SMTP server that keeps each message as a file; yields (port, dir)."""
    port, directory = free_port(), tmp_path / "sink"
    controller = mailcatcher.start(directory, port=port)
    yield port, directory
    controller.stop()


@pytest.fixture
def sink(settings):
    """A real SMTP server on loopback, and Django's SMTP backend pointed at it."""
    server = SinkServer()
    server.start()
    point_django_at(settings, server.port)
    yield server
    server.stop()


# --- a campaign at each step -------------------------------------------------------------------


@pytest.fixture
def roster(olivia):
    return make_roster(olivia)


@pytest.fixture
def draft(olivia, roster):
    return make_campaign(olivia, roster)


@pytest.fixture
def submitted(draft, olivia):
    return workflow.submit(campaign=draft, user=olivia)


@pytest.fixture
def tested(submitted, olivia, sam, oscar):
    """Submitted, and a test message of this version went to sam and oscar."""
    workflow.test_send(campaign=submitted, user=olivia, member=submitted.roster.members.first(),
                       recipients=[sam, oscar])
    return submitted


@pytest.fixture
def approved(tested, sam):
    return workflow.approve(campaign=tested, seen=Seen.current(tested),
                            user=sam, checklist=SUPERVISOR_TICKS)


@pytest.fixture
def released(approved, oscar):
    return workflow.release(campaign=approved, seen=Seen.current(approved),
                            user=oscar, checklist=OBSERVER_TICKS)


@pytest.fixture
def held(olivia, sam, oscar, roster, sink):
    """The first 10 of 20 went out; the campaign is held after them."""
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=True,
                                 canary_size=10)
    run_until_done(campaign)
    assert campaign.state == State.HELD
    return campaign


@pytest.fixture
def newsletter(olivia, sam, oscar, roster):
    """A newsletter of 20, all accepted by the mail server."""
    campaign = make_newsletter(olivia, roster, canary_enabled=False)
    through_the_countersign(campaign, olivia, sam, oscar)
    run_until_done(campaign)
    assert campaign.state == State.COMPLETED
    return campaign


@pytest.fixture
def bounce_domain(settings):
    """VERP envelope senders at the tests' bounce domain."""
    settings.BOUNCE_DOMAIN = returned_mail.DOMAIN


@pytest.fixture
def sent(olivia, sam, oscar, roster, sink):
    """A campaign of 20, all accepted by the mail server."""
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    run_until_done(campaign)
    assert campaign.state == State.COMPLETED
    return campaign


@pytest.fixture
def three_in_doubt(held):
    """Three messages handed over when the worker died: their Message-IDs are known. Claimed
    a while ago (returned_mail.CLAIMED_AGO), so that a log can show the relay logging before
    the claim and after its hand-over deadline."""
    rows = list(held.deliveries.filter(state=Delivery.State.SENT)[:3])
    claimed = (timezone.now() - returned_mail.CLAIMED_AGO).replace(microsecond=0)
    Delivery.objects.filter(pk__in=[d.pk for d in rows]).update(
        state=Delivery.State.IN_DOUBT, claimed_at=claimed)
    return [Delivery.objects.get(pk=d.pk) for d in rows]
