"""A raw SMTP relay on loopback for the hand-over's tests: it answers each command with what
a test scripts, also what a well-behaved server never says (a reply too long to read, an
unreadable code, a stray 354, a reply in pieces). What it got is kept: each connection's
commands, and each message's recipients and data."""

import socket
import threading


class RawRelay:
    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.script = {}  # verb or "FINAL" -> bytes, or callable(connection) -> bytes;
        # "DATA_READS": True when a scripted DATA answer sent its 354 in pieces itself
        self.log = []  # (verb, the command line, or what a DATA left unfinished held)
        self.messages = []  # (recipients, the data as received, dots still doubled)
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self):
        self.sock.close()

    def _answer(self, key, default, connection):
        answer = self.script.get(key, default)
        return answer(connection) if callable(answer) else answer

    def _serve(self):
        while True:
            try:
                connection, _address = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._talk, args=(connection,), daemon=True).start()

    def _talk(self, connection):
        lines, recipients = connection.makefile("rb"), []
        try:
            connection.sendall(b"220 raw relay\r\n")
            for line in lines:
                command = line.decode("latin-1").rstrip("\r\n")
                verb = command.split(" ")[0].split(":")[0].upper()
                self.log.append((verb, command))
                if verb in ("EHLO", "HELO"):
                    connection.sendall(b"250-raw\r\n250 8BITMIME\r\n")
                elif verb == "QUIT":
                    connection.sendall(b"221 bye\r\n")
                    return
                elif verb == "DATA":
                    answer = self._answer("DATA", b"354 go\r\n", connection)
                    connection.sendall(answer)
                    if self.script.get("DATA_READS", answer.startswith(b"354")):
                        self._data(lines, connection, recipients)
                else:
                    recipients = [] if verb in ("MAIL", "RSET") else recipients
                    recipients += [command] if verb == "RCPT" else []
                    connection.sendall(self._answer(verb, b"250 ok\r\n", connection))
            self.log.append(("EOF", ""))
        except OSError:
            return
        finally:
            connection.close()

    def _data(self, lines, connection, recipients):
        received = b""
        for line in lines:
            if line == b".\r\n":
                self.messages.append((list(recipients), received))
                connection.sendall(self._answer("FINAL", b"250 queued\r\n", connection))
                return
            received += line
        self.log.append(("EOF-IN-DATA", received))
