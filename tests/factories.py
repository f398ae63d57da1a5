"""Plain helpers for the tests: objects built through the same services the app uses, a
logged-in client, the sending loop run by hand, and the small utilities the process tests need.

Fixtures live in tests/conftest.py and are built from these; tests import from here, never
from conftest (pytest loads conftest itself, and importing it twice is a trap).
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import hotp, totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEntry
from campaigns import key_window, sender, workflow
from campaigns.models import Delivery
from campaigns.seen import Seen
from countersign import accounts, people
from countersign.models import PersonChange, User
from countersign.pseudonyms import pseudonym
from roster import member_data
from roster.models import Member
from roster.samples import HEADER, csv_bytes, sample_rows
from roster.services import add_named_member, check_roster_file, roster_import

# --- member data, read through the door (roster.member_data) -----------------------------------


def values_of(obj) -> member_data.Values:
    """A member's values (a Member, or a Delivery by its member); empty once erased."""
    member_id = obj.member_id if isinstance(obj, Delivery) else obj.pk
    number = obj.member_number
    return member_data.values_of([member_id]).get(member_id) or member_data.Values(None, number)


def email_of(obj) -> str:
    return values_of(obj).email


def name_of(obj) -> str:
    return values_of(obj).name


def extra_of(obj) -> dict:
    return values_of(obj).extra


def addresses_of(roster) -> list[str]:
    """Every member's address, in row order."""
    return [m.email for m in member_data.rows(roster)]


def all_addresses() -> set[str]:
    """Every address any member row still holds."""
    from roster.models import Roster

    return {a for roster in Roster.objects.all() for a in addresses_of(roster)}


def people_of(roster) -> list[tuple[str, str]]:
    """(address, name) of every member, in row order."""
    return [(m.email, m.name) for m in member_data.rows(roster)]


def delivery_to(campaign, address: str):
    """The campaign's delivery to this address (found by its pseudonym, as the app does)."""
    return campaign.deliveries.get(address_pseudonym=pseudonym(str(address)))


# --- accounts ----------------------------------------------------------------------------------


def named_officer(observer, member_number: str, office: str = "会長", days: int = 30):
    """The association's observer lists a member who may be named in notices (an officer
    signing them): since issue 21, any other member named alone is refused."""
    return add_named_member(member_number=member_number, reason=office, actor=observer,
                            last_day=timezone.localdate() + timedelta(days=days))


def make_user(username, organisation, *roles, **fields):
    """A person with the password `<username>-test-pass`; `fields` such as is_superuser.
    Made as an installation's set-up is, at once (people.setting_up): an association
    person's roles would otherwise wait for another observer's countersign."""
    with people.setting_up():
        user = User.objects.create_user(
            username=username,
            password=f"{username}-test-pass",
            email=f"{username}@{organisation}.example",
            organisation=organisation,
            **fields,
        )
        for role in roles:
            user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


_SEEN_INPUT = re.compile(r'<input type="hidden" name="(seen_\w+)" value="([^"]*)">')


def shown_on(client, url, *, form: str = "") -> dict:
    """What a signing page shows and its form posts (the hidden seen_* fields): read from
    the page itself, as a browser would post it. `form`: the action URL of the form to
    read, on a page with several (a decision per message in doubt)."""
    page = client.get(url).content.decode()
    start = page.index(f'action="{form}"' if form else '<input type="hidden" name="seen_hash"')
    return dict(_SEEN_INPUT.findall(page[start:page.index("</form>", start)]))


def countersign_waiting(observer) -> list:
    """Another observer countersigns every change to the association's people that waits,
    as on the page of changes (after giving a code there)."""
    changes = list(PersonChange.objects.filter(state=PersonChange.State.WAITING))
    return [people.countersign(change.pk, observer=observer) for change in changes]


def admin_change_form(user, *roles, **extra):
    """What the admin's change form of `user` posts: the stored fields, the roles given, and
    `extra` ("is_superuser": "on", another "email"...)."""
    return {"username": user.username, "organisation": user.organisation, "email": user.email,
            "first_name": user.first_name, "last_name": user.last_name,
            "groups": [Group.objects.get(name=r).pk for r in roles], "is_active": "on",
            "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00", **extra}


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def sign_in(user, password=None) -> Client:
    """The login form, as a person uses it (django-axes in the path), in English."""
    client = Client(headers={"accept-language": "en"})
    response = client.post(reverse("login"), {
        "username": user.username, "password": password or f"{user.username}-test-pass"})
    assert response.status_code == 302
    return client


# --- two-step sign-in --------------------------------------------------------------------------


def with_device(user) -> TOTPDevice:
    """The person set up their authenticator app (their own doing, as on the set-up page)."""
    with accounts.acting_as(user):
        return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)


def totp_code(device, steps_ahead=0) -> str:
    """The code the person's app shows now (or `steps_ahead` 30-second steps later: a code
    already used is refused, so a second sign-in in the same test uses the next one)."""
    device.refresh_from_db()
    t0 = device.t0 - steps_ahead * device.step
    return f"{totp(device.bin_key, device.step, t0, device.digits):06d}"


def next_code(device) -> str:
    """The code of the step after the last one the server accepted: what the phone shows next
    whatever the server's drift (a sign-in across a 30-second boundary moves the server's
    window, so "now plus one step" can fall outside it)."""
    device.refresh_from_db()
    return f"{hotp(device.bin_key, device.last_t + 1, device.digits):06d}"


def signed_in_with_code(user) -> Client:
    """The person signed in as people do when they have a phone set up: the password, then a
    code (the phone is set up first if they had none). Their next code is totp_code(device, 1).
    """
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or with_device(user)
    client = sign_in(user)
    response = client.post(reverse("two_factor_verify"), {"code": totp_code(device)})
    assert response.status_code == 302
    return client


def wrong_code(device) -> str:
    """A six-digit code the device does not show now, nor one step either side."""
    shown = {totp_code(device, n) for n in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in shown)


# --- rosters and campaigns ---------------------------------------------------------------------

BODY = ("{name} 様\n\n会員番号 {member_number} の皆様へ、感染症見舞金の変更をお知らせします。\n"
        "所属支部: {支部}\n\n共済会 事務局\n")

SUPERVISOR_TICKS = ["recipients", "no_roster_data", "content", "test_read"]
OBSERVER_TICKS = ["recipients", "content", "witness"]


def make_roster(actor, count=20, *, rows=None, header=None, name="会員名簿"):
    data = csv_bytes(rows if rows is not None else sample_rows(count), header=header or HEADER)
    parsed = check_roster_file(data, "members.csv")
    assert parsed.ok, parsed.errors
    return roster_import(parsed=parsed, name=name, actor=actor)


def make_campaign(author, roster, **changes):
    fields = {"name": "見舞金変更のお知らせ", "sender": settings.CAMPAIGN_SENDERS[0],
              "subject": "【重要】{name} 様: 見舞金のお知らせ", "body_text": BODY, **changes}
    return workflow.create(user=author, roster=roster, **fields)


# The footer a newsletter must end with (campaigns.unsubscribe.footer_problems).
NEWSLETTER_FOOTER = (f"\n--\n{settings.ASSOCIATION_NAME}\n{settings.ASSOCIATION_POSTAL_ADDRESS}\n"
                     f"{settings.ASSOCIATION_CONTACT}\n配信停止: {{unsubscribe_url}}\n")


def make_newsletter(author, roster, **changes):
    fields = {"kind": "newsletter", "body_text": BODY + NEWSLETTER_FOOTER, **changes}
    return make_campaign(author, roster, **fields)


def through_the_countersign(campaign, author, supervisor, observer, association_key=None):
    """Submit, test-send to the supervisor, approve and release: the draft becomes `sending`.
    `association_key`: the association's private key, for the grant a roster only it holds
    needs (made here, as its key tool would)."""
    workflow.submit(campaign=campaign, user=author)
    workflow.test_send(campaign=campaign, user=author, member=campaign.roster.members.first(),
                       recipients=[supervisor])
    workflow.approve(campaign=campaign, seen=Seen.current(campaign),
                     user=supervisor, checklist=SUPERVISOR_TICKS)
    grant = key_window.grant_made_here(campaign, association_key) if association_key else None
    return workflow.release(campaign=campaign, seen=Seen.current(campaign),
                            user=observer, checklist=OBSERVER_TICKS, grant=grant)


def released_campaign(author, supervisor, observer, roster, **changes):
    campaign = make_campaign(author, roster, **changes)
    return through_the_countersign(campaign, author, supervisor, observer)


def run_until_done(campaign, *, rounds=5):
    """Run send slices the way the task chain would, until the campaign leaves `sending`."""
    for _ in range(rounds):
        outcome = sender.run(campaign.pk, worker="test", budget=3, sleep=lambda s: None)
        if outcome is not sender.Outcome.CONTINUE:
            campaign.refresh_from_db()
            return outcome
    raise AssertionError(f"campaign {campaign.pk} still sending after {rounds} slices")


def run_queued_tasks(*, rounds=5) -> int:
    """Run the tasks waiting in django-q2's database queue, oldest first, as the cluster
    runs one (its worker and monitor, in this process: each result lands in the task
    table), until the queue is empty; how many ran. A send task of a campaign that is no
    longer sending just returns."""
    from django_q.models import OrmQ
    from django_q.tasks import _sync  # django-q2's own path of one package through a cluster

    ran = 0
    for _ in range(rounds):
        queued = list(OrmQ.objects.order_by("id"))
        if not queued:
            return ran
        for package in queued:
            _sync(package.payload)
            package.delete()
            ran += 1
    raise AssertionError(f"tasks still queued after {rounds} rounds")


# --- the audit log -----------------------------------------------------------------------------


def audit_actions(**filters):
    return list(AuditEntry.objects.filter(**filters).values_list("action", flat=True))


def swap_stored_values(first, second) -> None:
    """What the database's administrator can do without any key: two members' stored
    (encrypted) values swapped."""
    stored = dict(Member.objects.filter(pk__in=[first.pk, second.pk]).values_list(
        "pk", "personal"))
    Member.objects.filter(pk=first.pk).update(personal=bytes(stored[second.pk]))
    Member.objects.filter(pk=second.pk).update(personal=bytes(stored[first.pk]))


def database_dump() -> str:
    """Every row of every table, as the engine's own dump tool writes it (the data must be
    committed: a transactional test)."""
    if connection.vendor == "sqlite":
        return "\n".join(connection.connection.iterdump())
    db = connection.settings_dict
    command = ["pg_dump", "--no-owner", "-h", db["HOST"] or "127.0.0.1", "-p",
               str(db["PORT"] or 5432), "-U", db["USER"] or "postgres", db["NAME"]]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


# --- processes and ports -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_database_url() -> str:
    """DATABASE_URL of the test database, for the worker or server processes a test starts."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return (f"postgres://{db['USER']}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}"
            f"/{db['NAME']}")


# Imported into test modules, its name would make pytest collect it as a test.
test_database_url.__test__ = False


def wait_until(condition, *, timeout=60.0, what="condition", seen=None):
    """`seen`: what to report if it times out (the state the wait found, for a CI log)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            found = f"; found {seen()}" if seen else ""
            raise AssertionError(f"timed out waiting for {what}{found}")
        time.sleep(0.1)


# --- processes a test starts ---------------------------------------------------------------------

MANAGE_PY = [sys.executable, str(settings.BASE_DIR / "manage.py")]


def start_cluster(env, *, output=subprocess.DEVNULL):
    """`manage.py qcluster` in a process group of its own: its sentinel, pusher and workers
    are the main process's children and outlive it if only the main process is killed."""
    return subprocess.Popen([*MANAGE_PY, "qcluster"], env=env, stdout=output,
                            stderr=subprocess.STDOUT if output is not subprocess.DEVNULL
                            else subprocess.DEVNULL, start_new_session=True)


def stop_group(process, timeout=20):
    """Ask a process started in its own group (start_new_session) to stop (SIGTERM), give it
    `timeout` seconds, then SIGKILL the whole group: a qcluster left over, its pusher still
    taking tasks from the queue the next test uses and its workers holding no grant of that
    test, once paused the next drill's campaign (a web server or a mail catcher left over
    holds a port, a database connection)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # the group is gone: every process of it ended
    process.wait()


def group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs (a zombie, killed and not yet reaped, does
    not: it takes no task)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended while we looked
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False
