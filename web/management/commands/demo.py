import io
import os
import signal
import subprocess
import sys
import time
import urllib.request

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from countersign.management.commands.create_demo_users import (
    DEMO_ADMIN,
    DEMO_USERS,
    demo_password,
)
from roster.samples import write_demo_files
from web import demo_story


def _stop_like_ctrl_c(signum, frame):
    raise KeyboardInterrupt


def _wait_until_up(url, processes, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and all(p.poll() is None for p in processes):
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)


def site_environment(port: int) -> dict[str, str]:
    """The environment of the processes the demo starts: links in mail (unsubscribe links,
    List-Unsubscribe, notifications) are built from SITE_URL, so it names the port the web
    server listens on, unless SITE_URL was given."""
    return {**os.environ, "SITE_URL": os.environ.get("SITE_URL") or f"http://127.0.0.1:{port}"}


class Command(BaseCommand):
    help = ("Set up and run the whole demo on this machine: migrate, demo users, demo roster "
            "files, then the mail catcher, the worker and the web server until Ctrl-C.")

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--setup-only", action="store_true", help="prepare, but start nothing")

    def handle(self, *args, port, setup_only, **options):
        call_command("migrate", interactive=False, verbosity=0)
        call_command("create_demo_users", stdout=io.StringIO())  # listed once, below
        demo_dir = settings.BASE_DIR / "var" / "demo"
        files = write_demo_files(demo_dir)
        self.stdout.write("Demo rosters to import: " + ", ".join(str(f) for f in files))
        key_file = demo_story.association_key_file(demo_dir)
        self.stdout.write(f"The association's key file (demo only; it opens sealed incident "
                          f"reports and makes a release's grant: python -m countersign.keytool "
                          f"grant {key_file} grant-request-campaign-N.json): {key_file}")
        if demo_story.seed(files[0], key_file):
            self.stdout.write("Demo campaigns: one sent with a bounce, one paused with a "
                              "message in doubt")
        if setup_only:
            return

        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        env = site_environment(port)
        processes = [
            subprocess.Popen(manage + ["mailcatcher"], env=env),
            subprocess.Popen(manage + ["qcluster"], env=env),
            subprocess.Popen(manage + ["runserver", "--noreload", f"127.0.0.1:{port}"], env=env),
        ]
        url = f"http://127.0.0.1:{port}/"
        _wait_until_up(url + "health/", processes)  # so the logins come after the start-up noise
        self.stdout.write(self.style.SUCCESS(f"\nCountersign is running: {url}"))
        self.stdout.write(f"Caught mail: {url}mailbox/ (kept in {settings.MAILCATCHER_DIR})")
        self.stdout.write(f"Links in mail point at {env['SITE_URL']} (SITE_URL)")
        self.stdout.write("Demo logins:")
        for username, role, *_rest in DEMO_USERS:
            self.stdout.write(f"  {role:<11} {username:<8} password {demo_password(username)}")
        admin = DEMO_ADMIN[0]
        self.stdout.write(f"  {'admin':<11} {admin:<8} password {demo_password(admin)} "
                          f"(the Django admin: {url}admin/)")
        self.stdout.write("Press Ctrl-C to stop everything.")
        signal.signal(signal.SIGTERM, _stop_like_ctrl_c)  # a service manager's stop, too
        try:
            while all(p.poll() is None for p in processes):
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        finally:
            for p in processes:  # SIGTERM: a background start leaves SIGINT ignored in them
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in processes:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        failed = [p.args[2] for p in processes
                  if p.returncode not in (0, -signal.SIGINT, -signal.SIGTERM, None)]
        if failed:
            self.stderr.write(f"stopped because {', '.join(failed)} exited")
