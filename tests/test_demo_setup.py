import smtplib
from email.message import EmailMessage
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import RequestFactory
from django.urls import reverse

from countersign import mailcatcher
from countersign.roles import roles_of
from tests.factories import free_port, group_alive, stop_group, wait_until


def test_demo_users_get_one_role_each_and_can_log_in(db, settings):
    settings.DEBUG = True
    out = StringIO()
    call_command("create_demo_users", stdout=out)
    call_command("create_demo_users", stdout=out)  # running it twice is harmless
    for username, role in [("olivia", "operator"), ("sam", "supervisor"), ("oscar", "observer"),
                           ("audrey", "auditor")]:
        user = authenticate(RequestFactory().post(reverse("login")), username=username,
                            password=f"{username}-demo-pass")
        assert user is not None and roles_of(user) == {role}
        assert f"{username}-demo-pass" in out.getvalue()


def test_demo_users_are_refused_on_a_production_setup(db, settings):
    from django.core.management.base import CommandError

    settings.DEBUG = False
    with pytest.raises(CommandError):
        call_command("create_demo_users", stdout=StringIO())


def test_the_mail_catcher_keeps_what_it_receives(smtp_sink):
    port, directory = smtp_sink
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@x.example", "b@y.example", "件名"
    message.set_content("本文です")
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        smtp.send_message(message)
    (caught,) = mailcatcher.caught(directory)
    assert caught["Subject"] == "件名" and "本文です" in caught.get_content()


def test_the_readme_run_command_starts_web_worker_and_catcher_and_stops_them(tmp_path):
    """`manage.py demo` (the README's run command) on a fresh SQLite file: a newcomer can log
    in with the printed login, the worker answers its health check, mail sent to the catcher
    shows in the app's inbox, and one SIGTERM stops all three processes."""
    import http.cookiejar
    import os
    import re
    import signal
    import subprocess
    import sys
    import threading
    import urllib.parse
    import urllib.request

    from django.conf import settings

    web_port, smtp_port = free_port(), free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
           "DEBUG": "true", "EMAIL_PORT": str(smtp_port), "MAILCATCHER_DIR": str(tmp_path / "mail")}
    demo = subprocess.Popen(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), "demo", "--port", str(web_port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    printed = []
    threading.Thread(target=lambda: printed.extend(demo.stdout), daemon=True).start()
    url = f"http://127.0.0.1:{web_port}"
    try:
        # The last line it prints: the logins come after "running", read by another thread.
        wait_until(lambda: any("Press Ctrl-C to stop everything." in line for line in printed),
                   timeout=120, what="the demo to start")
        output = "".join(printed)
        assert re.search(r"operator\s+olivia\s+password olivia-demo-pass", output)
        assert output.count("olivia-demo-pass") == 1  # the logins, once, after the start-up noise

        browser = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        login = f"{url}{reverse('login')}"
        login_page = browser.open(login).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page).group(1)
        home = browser.open(login, urllib.parse.urlencode({
            "csrfmiddlewaretoken": token, "username": "olivia",
            "password": "olivia-demo-pass"}).encode())
        assert home.url == f"{url}{reverse('home')}"
        assert f'action="{reverse("logout")}"' in home.read().decode()

        wait_until(lambda: b'"ok"' in urllib.request.urlopen(f"{url}/health/worker/").read(),
                   timeout=60, what="the worker's health check")

        message = EmailMessage()
        message["From"], message["To"] = "a@x.example", "b@y.example"
        message["Subject"] = "届いた件名"
        message.set_content("本文")
        with smtplib.SMTP("127.0.0.1", smtp_port) as smtp:
            smtp.send_message(message)
        assert "届いた件名" in browser.open(f"{url}{reverse('mailbox')}").read().decode()
    finally:
        demo.send_signal(signal.SIGTERM)
        try:
            demo.wait(timeout=30)
        finally:
            left = group_alive(demo.pid)
            stop_group(demo, timeout=0)  # whatever is left does not run beside the suite
    assert not left  # on SIGTERM the demo ends its web server, worker and mail catcher
