"""Links in mail (unsubscribe links, List-Unsubscribe, notifications) are built from SITE_URL:
the demo started on another port says so to every process it starts, and a production
set-up whose SITE_URL is missing or points at this machine fails `check --deploy`."""

import pytest
from django.core import checks
from django.core.management import call_command

from web.management.commands import demo

STARTED = []  # the FakeProcesses the demo started


class FakeProcess:
    def __init__(self, args, env=None, **kwargs):
        self.args, self.env, self.returncode = args, env, 0
        STARTED.append(self)

    def poll(self):
        return 0  # exits at once: the demo's loop ends

    def wait(self, timeout=None):
        return 0

    def send_signal(self, signum):
        pass


def test_the_demo_on_another_port_gives_that_site_url_to_every_process(db, monkeypatch,
                                                                     settings):
    settings.DEBUG = True  # the demo's users are refused otherwise
    monkeypatch.delenv("SITE_URL", raising=False)
    STARTED.clear()
    monkeypatch.setattr(demo.subprocess, "Popen", FakeProcess)
    monkeypatch.setattr(demo, "_wait_until_up", lambda url, processes: None)
    call_command("demo", "--port", "8350")
    assert [p.args[2] for p in STARTED] == ["mailcatcher", "qcluster", "runserver"]
    assert {p.env["SITE_URL"] for p in STARTED} == {"http://127.0.0.1:8350"}


def test_a_site_url_given_to_the_demo_is_kept(db, monkeypatch, settings):
    settings.DEBUG = True
    monkeypatch.setenv("SITE_URL", "https://demo.example.org")
    STARTED.clear()
    monkeypatch.setattr(demo.subprocess, "Popen", FakeProcess)
    monkeypatch.setattr(demo, "_wait_until_up", lambda url, processes: None)
    call_command("demo", "--port", "8350")
    assert {p.env["SITE_URL"] for p in STARTED} == {"https://demo.example.org"}


def deploy_problems():
    return {m.id for m in checks.run_checks(include_deployment_checks=True,
                                            tags=[checks.Tags.security])}


@pytest.mark.parametrize("site_url", ["", "http://127.0.0.1:8000", "http://localhost:8000",
                                      "http://[::1]/", "countersign.example.org"])
def test_check_deploy_refuses_a_missing_or_local_site_url(settings, site_url):
    settings.DEBUG = False
    settings.SITE_URL = site_url
    assert "countersign.E002" in deploy_problems()


def test_check_deploy_warns_of_a_site_url_without_https(settings):
    settings.DEBUG = False
    settings.SITE_URL = "http://countersign.example.org"
    problems = deploy_problems()
    assert "countersign.E002" not in problems and "countersign.W002" in problems


def test_check_deploy_accepts_the_sites_own_https_address(settings):
    settings.DEBUG = False
    settings.SITE_URL = "https://countersign.example.org"
    assert not {"countersign.E002", "countersign.W002"} & deploy_problems()
