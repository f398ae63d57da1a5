"""Accounts, headers, health checks, escaping, and the production configuration."""

import os
import secrets
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit import triggers
from tests.factories import (
    client_for,
    free_port,
    make_campaign,
    make_roster,
    stop_group,
    test_database_url,
    wait_until,
)

PRODUCTION_ENV = {"DEBUG": "false", "SECRET_KEY": secrets.token_urlsafe(50),
                  "MEMBER_PSEUDONYM_KEY": secrets.token_hex(32),
                  "MEMBER_DATA_KEY": secrets.token_hex(32),
                  "ALLOWED_HOSTS": "countersign.example.org",
                  "SITE_URL": "https://countersign.example.org"}


def login(client, password, username="olivia"):
    return client.post(reverse("login"), {"username": username, "password": password},
                       HTTP_ACCEPT_LANGUAGE="en", REMOTE_ADDR="203.0.113.7")


def test_logins_are_throttled_after_repeated_wrong_passwords(olivia, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(client, "wrong").status_code == 200  # the form again, with an error
    assert login(client, "wrong").status_code == 429  # the limit: locked out
    locked = login(client, "olivia-test-pass")  # even the right password now
    assert locked.status_code == 429 and "Too many attempts" in locked.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_good_login_resets_the_count(olivia, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        login(client, "wrong")
    assert login(client, "olivia-test-pass").status_code == 302
    assert login(Client(), "wrong").status_code == 200  # counting starts again


def test_passwords_are_stored_with_a_slow_salted_hash():
    from django.conf import global_settings
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    # The suite swaps in a fast hasher; the app keeps Django's default, PBKDF2-SHA256 with
    # a million iterations and a random salt per password.
    source = (settings.BASE_DIR / "countersign" / "settings.py").read_text()
    assert "PASSWORD_HASHERS" not in source
    assert global_settings.PASSWORD_HASHERS[0].endswith("PBKDF2PasswordHasher")
    assert PBKDF2PasswordHasher.iterations >= 1_000_000


def test_sessions_expire(client):
    assert settings.SESSION_COOKIE_AGE <= 8 * 3600 and settings.SESSION_EXPIRE_AT_BROWSER_CLOSE


def test_security_headers_are_sent(olivia):
    response = client_for(olivia).get(reverse("home"))
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_no_page_carries_inline_script(olivia):
    page = client_for(olivia).get(reverse("home")).content.decode()
    assert "<script>" not in page and "onclick=" not in page and "onchange=" not in page


def test_check_deploy_is_clean_with_production_settings(db):
    result = subprocess.run(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), "check", "--deploy"],
        env={**os.environ, **PRODUCTION_ENV}, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {**os.environ, **PRODUCTION_ENV, "SECRET_KEY": ""}
    result = subprocess.run([sys.executable, str(settings.BASE_DIR / "manage.py"), "check"],
                            env=env, capture_output=True, text=True, check=False)
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


def test_the_web_health_check(db, client):
    assert client.get("/health/").json() == {"database": "ok", "audit_triggers": "ok",
                                             "audit_anchor": "ok"}
    triggers.uninstall(connection)
    response = client.get("/health/")
    assert response.status_code == 503
    assert "audit_refuse_update (missing)" in response.json()["audit_triggers"]


def test_the_worker_health_check_follows_the_watchdog_schedule(db, client):
    from django_q.models import Schedule

    schedule = Schedule.objects.get(name="countersign-watchdog")
    schedule.next_run = timezone.now() + timedelta(seconds=30)
    schedule.save()
    assert client.get("/health/worker/").status_code == 200
    schedule.next_run = timezone.now() - timedelta(minutes=10)  # no scheduler has run it
    schedule.save()
    assert client.get("/health/worker/").json()["worker"] == "not running"


XSS = "<script>alert('x')</script><img src=x onerror=alert(1)>"
# For a roster's or campaign's name: markup too, but not the member's name (a name that is a
# member's data is refused: campaigns.guard.member_data_in).
XSS_NAME = "<script>alert('n')</script><img src=y onerror=alert(2)>"


def test_html_in_member_names_and_campaign_text_is_escaped_everywhere(olivia, sam, oscar):
    from campaigns import workflow

    roster = make_roster(olivia, rows=[["W1", XSS, "a@example.jp", XSS]], name=XSS_NAME)
    # In the campaign's own text spaced out: one unbroken run of markup is an opaque payload
    # the content guard refuses (campaigns.opaque); a member's own value is theirs.
    spaced = XSS.replace("<", " <").replace(">", "> ")
    campaign = make_campaign(olivia, roster, name=XSS_NAME, subject="{name} " + spaced[:30],
                             body_text="{name}\n" + spaced)
    workflow.submit(campaign=campaign, user=olivia)
    pages = [(olivia, reverse("roster:list")), (olivia, reverse("roster:detail", args=[roster.pk])),
             (olivia, reverse("campaigns:list")),
             (olivia, reverse("campaigns:detail", args=[campaign.pk])),
             (olivia, reverse("campaigns:preview", args=[campaign.pk])),
             (sam, reverse("campaigns:review", args=[campaign.pk]))]
    for user, url in pages:
        page = client_for(user).get(url).content.decode()
        assert "<script>alert" not in page and "<img src=x" not in page, url
        assert "&lt;script&gt;alert" in page, url


@pytest.mark.django_db(transaction=True)
def test_gunicorn_serves_the_app_and_its_static_files_in_production_mode(tmp_path):
    """docs/deployment.md, for real: collectstatic, gunicorn, DEBUG off."""
    env = {**os.environ, **PRODUCTION_ENV, "ALLOWED_HOSTS": "127.0.0.1",
           "STATIC_ROOT": str(tmp_path / "static"), "DATABASE_URL": test_database_url(),
           "SECURE_SSL_REDIRECT": "true"}
    manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
    subprocess.run([*manage, "collectstatic", "--no-input", "-v0"], env=env, check=True)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "countersign.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--chdir", str(settings.BASE_DIR)], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        import http.client

        def get(path, https=True):
            """One request, redirects not followed; the proxy says whether it was https."""
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path, headers={"X-Forwarded-Proto": "https"} if https else {})
            response = conn.getresponse()
            response.read()
            conn.close()
            return response

        wait_until(lambda: _up(get), timeout=30, what="gunicorn")
        assert get("/health/").status == 200
        css = get("/static/vendor/bootstrap/bootstrap.min.css")
        assert css.status == 200 and "max-age" in css.headers.get("Cache-Control", "")
        insecure = get(reverse("login"), https=False)
        assert insecure.status == 301 and insecure.headers["Location"].startswith("https://")
        login = get(reverse("login"))
        assert login.status == 200 and "Strict-Transport-Security" in login.headers
    finally:
        stop_group(server, timeout=15)  # its workers too, which hold database connections


def _up(get):
    try:
        return get("/health/").status == 200
    except OSError:
        return False
