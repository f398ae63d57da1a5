"""Behind the reverse proxy, a lockout keys on the signer and the real client address: an
outsider cannot lock the supervisor or the observer out of every machine."""

import pytest
from axes.models import AccessLog
from django.test import Client
from django.urls import reverse

from audit.models import AuditEntry
from countersign.security import client_address
from tests.factories import with_device, wrong_code

PROXY = "10.0.0.5"  # what REMOTE_ADDR says for every request that came through the proxy


def login_via_proxy(client, username, password, forwarded_for):
    """As nginx forwards it: the client's own X-Forwarded-For (if any) with the address nginx
    saw appended, and the proxy as REMOTE_ADDR."""
    return client.post(reverse("login"), {"username": username, "password": password},
                       HTTP_ACCEPT_LANGUAGE="en", REMOTE_ADDR=PROXY,
                       HTTP_X_FORWARDED_FOR=forwarded_for)


@pytest.fixture
def one_proxy(settings):
    settings.TRUSTED_PROXIES = [PROXY]


@pytest.mark.usefixtures("one_proxy")
def test_an_attacker_locks_out_only_their_own_address_not_the_supervisor(sam, settings):
    attacker = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login_via_proxy(attacker, "sam", "guess", "198.51.100.66")
    assert login_via_proxy(attacker, "sam", "sam-test-pass", "198.51.100.66").status_code == 429
    # sam, at the office, through the same proxy: signs in
    response = login_via_proxy(Client(), "sam", "sam-test-pass", "203.0.113.10")
    assert response.status_code == 302


@pytest.mark.usefixtures("one_proxy")
def test_a_client_that_bypasses_the_proxy_cannot_lock_the_observer_out_of_his_office(oscar,
                                                                                    settings):
    """Issue 24: the app's port reached directly (not through the proxy), with the observer's
    office address written into X-Forwarded-For."""
    office = "203.0.113.10"
    for _ in range(settings.AXES_FAILURE_LIMIT):
        Client().post(reverse("login"), {"username": "oscar", "password": "guess"},
                      REMOTE_ADDR="198.51.100.66", HTTP_X_FORWARDED_FOR=office)
    response = login_via_proxy(Client(), "oscar", "oscar-test-pass", office)
    assert response.status_code == 302


@pytest.mark.usefixtures("one_proxy")
def test_a_forged_forwarded_for_header_does_not_escape_the_lockout(sam, settings):
    attacker = Client()
    for n in range(settings.AXES_FAILURE_LIMIT):  # a new made-up address in front each time
        login_via_proxy(attacker, "sam", "guess", f"192.0.2.{n}, 198.51.100.66")
    locked = login_via_proxy(attacker, "sam", "sam-test-pass", "192.0.2.99, 198.51.100.66")
    assert locked.status_code == 429


@pytest.mark.usefixtures("one_proxy")
def test_the_lockout_and_the_audit_log_name_the_same_client(olivia):
    """One function finds the client for both: a wrong code in the audit log is from the
    address the lockout would count."""
    device = with_device(olivia)
    client = Client()
    login_via_proxy(client, "olivia", "olivia-test-pass", "6.6.6.6, 203.0.113.9")
    client.post(reverse("two_factor_verify"), {"code": wrong_code(device)}, REMOTE_ADDR=PROXY,
                HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9")
    (login,) = AccessLog.objects.all()
    entry = AuditEntry.objects.get(action="account.second_factor")
    assert login.ip_address == entry.payload["address"] == "203.0.113.9"


def test_without_trusted_proxies_the_connection_address_counts(rf, settings):
    settings.TRUSTED_PROXIES = []
    request = rf.get("/", REMOTE_ADDR="203.0.113.1", HTTP_X_FORWARDED_FOR="6.6.6.6")
    assert client_address(request) == "203.0.113.1"


@pytest.mark.parametrize("remote, forwarded, expected", [
    (PROXY, "203.0.113.9", "203.0.113.9"),
    (PROXY, "6.6.6.6, 203.0.113.9", "203.0.113.9"),  # the client's own entry is ignored
    (PROXY, "6.6.6.6, 203.0.113.9, 10.0.0.7", "203.0.113.9"),  # two proxies, both trusted
    (PROXY, "10.0.0.7", "10.0.0.7"),  # nothing but proxies: the farthest one
    (PROXY, "", PROXY),  # the proxy's own request
    (PROXY, "203.0.113.9, not-an-address", PROXY),  # garbage stops at the proxy that sent it
    ("::ffff:10.0.0.5", "203.0.113.9", "203.0.113.9"),  # the proxy over IPv6
    ("198.51.100.66", "203.0.113.9", "198.51.100.66"),  # not through the proxy: no header
    ("10.0.1.5", "203.0.113.9", "10.0.1.5")])  # outside the trusted network
def test_the_client_is_the_first_address_from_the_right_that_is_not_a_trusted_proxy(
        rf, settings, remote, forwarded, expected):
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]
    request = rf.get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected


def test_proxy_count_is_refused_at_start_with_what_to_set_instead():
    """An installation that still sets PROXY_COUNT would otherwise key every lockout on the
    proxy's address: five wrong passwords from anywhere would lock a user out everywhere."""
    import subprocess
    import sys

    from django.conf import settings as django_settings

    for variable, value, said in [("PROXY_COUNT", "1", "replaced by TRUSTED_PROXIES"),
                                  ("TRUSTED_PROXIES", "10.0.0.0/33", "not an IP address")]:
        result = subprocess.run([sys.executable, "manage.py", "check"], check=False, text=True,
                                env={"PATH": "/usr/bin:/bin", variable: value},
                                capture_output=True, cwd=django_settings.BASE_DIR)
        assert result.returncode != 0 and said in result.stderr, variable
