"""A loopback SMTP sink in its own process (as a real mail server would be), for benchmarks.

    python bench/_sink.py PORT LOG [DATA_MS [RCPT_MS]]

Accepts everything; appends "<time_ns> <recipient>" to LOG for each message, flushed at once,
when it answers 250 to the message's data, so the benchmark can tell when each message was
accepted. DATA_MS delays each DATA reply, as a real relay does while it writes the message
to its queue before answering 250; RCPT_MS delays each RCPT reply (a slow relay checking
the recipient).
"""

import asyncio
import sys
import time

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, log, data_seconds=0.0, rcpt_seconds=0.0):
        self.log = log
        self.data_seconds = data_seconds
        self.rcpt_seconds = rcpt_seconds

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_seconds:
            await asyncio.sleep(self.rcpt_seconds)
        envelope.rcpt_tos.append(address)
        return "250 OK"

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
    rcpt_ms = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    with open(path, "a", encoding="utf-8") as log:
        controller = Controller(Sink(log, data_ms / 1000, rcpt_ms / 1000), hostname="127.0.0.1",
                                port=port)
        controller.start()
        print("ready", flush=True)
        try:
            sys.stdin.read()  # runs until the benchmark closes our stdin
        finally:
            controller.stop()


if __name__ == "__main__":
    main()
