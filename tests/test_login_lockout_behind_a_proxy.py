"""Behind the reverse proxy, a lockout keys on the signer and the real client address: an
outsider cannot lock the supervisor or the observer out of every machine."""

import pytest
from django.test import Client
from django.urls import reverse

from countersign.security import client_address

PROXY = "10.0.0.5"  # what REMOTE_ADDR says for every request that came through the proxy


def login_via_proxy(client, username, password, forwarded_for):
    """As nginx forwards it: the client's own X-Forwarded-For (if any) with the address nginx
    saw appended, and the proxy as REMOTE_ADDR."""
    return client.post(reverse("login"), {"username": username, "password": password},
                       HTTP_ACCEPT_LANGUAGE="en", REMOTE_ADDR=PROXY,
                       HTTP_X_FORWARDED_FOR=forwarded_for)


@pytest.fixture
def one_proxy(settings):
    settings.PROXY_COUNT = 1


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


def test_without_proxies_the_connection_address_counts(rf, settings):
    settings.PROXY_COUNT = 0
    request = rf.get("/", REMOTE_ADDR="203.0.113.1", HTTP_X_FORWARDED_FOR="6.6.6.6")
    assert client_address(request) == "203.0.113.1"


@pytest.mark.parametrize("count, forwarded, expected", [
    (1, "203.0.113.9", "203.0.113.9"),
    (1, "6.6.6.6, 203.0.113.9", "203.0.113.9"),
    (2, "6.6.6.6, 203.0.113.9, 10.0.0.7", "203.0.113.9"),
    (2, "203.0.113.9", "10.0.0.5")])  # fewer entries than proxies: not through them
def test_the_client_is_the_address_the_outermost_proxy_saw(rf, settings, count, forwarded,
                                                           expected):
    settings.PROXY_COUNT = count
    request = rf.get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected
