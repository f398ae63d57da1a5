"""A loopback SMTP sink in its own process (as a real mail server would be), for benchmarks.

    python bench/_sink.py PORT LOG [DATA_MS]

Accepts everything; appends "<time_ns> <recipient>" to LOG for each message, flushed at once,
so the benchmark can tell when each message arrived. DATA_MS delays each DATA reply, as a
real relay does while it writes the message to its queue before answering 250.
"""

import asyncio
import sys
import time

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, log, data_seconds=0.0):
        self.log = log
        self.data_seconds = data_seconds

    async def handle_DATA(self, server, session, envelope):
        if self.data_seconds:
            await asyncio.sleep(self.data_seconds)
        now = time.time_ns()
        for recipient in envelope.rcpt_tos:
            self.log.write(f"{now} {recipient}\n")
        self.log.flush()
        return "250 2.0.0 Ok: queued"


def main():
    port, path = int(sys.argv[1]), sys.argv[2]
    data_ms = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    with open(path, "a", encoding="utf-8") as log:
        controller = Controller(Sink(log, data_ms / 1000), hostname="127.0.0.1", port=port)
        controller.start()
        print("ready", flush=True)
        try:
            sys.stdin.read()  # runs until the benchmark closes our stdin
        finally:
            controller.stop()


if __name__ == "__main__":
    main()
