import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from countersign import mailcatcher


class Command(BaseCommand):
    help = "Run a local SMTP server that keeps every message in MAILCATCHER_DIR (demo only)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.EMAIL_HOST)
        parser.add_argument("--port", type=int, default=settings.EMAIL_PORT)

    def handle(self, *args, host, port, **options):
        # Ctrl-C and a service manager's stop both end it, also when it was started from a
        # background job (which starts with SIGINT ignored, and Python then never raises
        # KeyboardInterrupt): the demo and the test drills stop it this way.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        controller = mailcatcher.start(settings.MAILCATCHER_DIR, host=host, port=port)
        self.stdout.write(f"mail catcher on smtp://{host}:{port}, "
                          f"saving to {settings.MAILCATCHER_DIR}")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            controller.stop()
