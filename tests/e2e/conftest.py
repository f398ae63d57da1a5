"""End-to-end fixtures: headless Chromium (Debian's package, driven by Playwright), the live
server, a real django-q2 worker process and the loopback mail catcher."""

import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from tests.factories import free_port, start_cluster, stop_group, test_database_url

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(django_settings.BASE_DIR) / "var" / "e2e-screenshots"


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium is not installed (apt-get install -y chromium); .ci/run installs it")
    # Playwright's sync API keeps an event loop in this thread; Django would take every
    # database call in the test for async code. Allowed while the browser runs, then undone.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        yield from _launch(playwright_api)
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def _launch(playwright_api):
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync",
        ])
        yield chromium
        chromium.close()


@pytest.fixture
def screenshots(request):
    """Screenshots of this test, in var/e2e-screenshots/<test>/ (kept from the last run)."""
    directory = SCREENSHOTS / request.node.name.removeprefix("test_")[:60]
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    taken = []

    def shoot(page, name):
        path = directory / f"{len(taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)
        return path

    shoot.taken = taken
    return shoot


@pytest.fixture
def catcher(tmp_path, settings):
    """The demo mail catcher on a free loopback port; the live server sends to it."""
    from countersign import mailcatcher

    port, directory = free_port(), tmp_path / "mail"
    controller = mailcatcher.start(directory, port=port)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.MAILCATCHER_DIR, settings.MAILCATCHER_INBOX = directory, True
    yield port, directory
    controller.stop()


@pytest.fixture
def worker(live_server, catcher, tmp_path):
    """A real `manage.py qcluster` on the test database, sending to the catcher."""
    port, directory = catcher
    env = {**os.environ, "DATABASE_URL": test_database_url(), "EMAIL_HOST": "127.0.0.1",
           "EMAIL_PORT": str(port), "EMAIL_TIMEOUT": "10", "Q_WORKERS": "1", "DEBUG": "true",
           "MAILCATCHER_DIR": str(directory), "SEND_SLICE_SECONDS": "10"}
    log = open(tmp_path / "qcluster.log", "w")  # noqa: SIM115 - closed below
    process = start_cluster(env, output=log)
    yield process
    stop_group(process, timeout=30)  # a slice may run SEND_SLICE_SECONDS + EMAIL_TIMEOUT
    log.close()
