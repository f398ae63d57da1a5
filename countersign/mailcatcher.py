"""A loopback SMTP server that keeps every message as an .eml file instead of delivering it.

Used by `manage.py mailcatcher` (the demo's inbox) and by tests that need a real SMTP peer.
"""

import itertools
import threading
import time
from email import message_from_bytes, policy
from pathlib import Path

from aiosmtpd.controller import Controller


class SaveToDirectory:
    """aiosmtpd handler: one file per message, named so that ls sorts them by arrival."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._counter = itertools.count()
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            name = f"{time.time_ns()}-{next(self._counter):06d}.eml"
        (self.directory / name).write_bytes(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


def start(directory: Path, host: str = "127.0.0.1", port: int = 1025) -> Controller:
    controller = Controller(SaveToDirectory(directory), hostname=host, port=port)
    controller.start()
    return controller


def caught(directory: Path) -> list:
    """The caught messages, oldest first, as email.message.EmailMessage objects."""
    return [read(path) for path in reversed(caught_files(directory))]


def caught_files(directory: Path) -> list[Path]:
    """Newest first."""
    if not Path(directory).exists():
        return []
    return sorted(Path(directory).glob("*.eml"), reverse=True)


def read(path: Path):
    return message_from_bytes(path.read_bytes(), policy=policy.default)
