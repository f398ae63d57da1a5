"""A real DNS server on loopback for the sender checks: Debian's dnsmasq (package
dnsmasq-base; `.ci/run` installs it), answering for the test zone only (`.test`, RFC 6761)
and nothing else, started per test module on a free port.

The zone: one correct association domain and one broken in each way the preflight must name.
Every domain has MX and SPF for the relay's address (RELAY) unless its name says otherwise,
and a bounce domain `bounces.<domain>` unless BOUNCE_ELSEWHERE applies.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

RELAY = "192.0.2.25"  # TEST-NET-1: the relay's public address as receivers see it
SELECTOR = "cs2026"
BOUNCE_ELSEWHERE = "bounces.elsewhere.test"
DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"


def available() -> bool:
    return Path(DNSMASQ).exists()


def make_key(path: Path, bits: int = 2048) -> str:
    """An RSA key pair for DKIM: the private key at `path`; returns the public key (DER,
    base64) as a DKIM record's p= carries it."""
    subprocess.run(["openssl", "genrsa", "-out", str(path), str(bits)], check=True,
                   capture_output=True)
    return public_of(path)


def key_sha256(public: str) -> str:
    return hashlib.sha256(base64.b64decode(public)).hexdigest()


def _txt(name: str, text: str) -> str:
    """dnsmasq's TXT record: strings of at most 255 characters (a 2048-bit key is longer),
    separated by commas (no quotes: there is no shell to remove them)."""
    assert "," not in text
    return f"--txt-record={name}," + ",".join(text[i:i + 250] for i in range(0, len(text), 250))


def _mail_domain(domain: str, spf: str | None = f"v=spf1 ip4:{RELAY} -all") -> list[str]:
    records = [f"--mx-host={domain},mx.{domain},10", f"--host-record=mx.{domain},{RELAY}"]
    return records + ([_txt(domain, spf)] if spf else [])


def _dkim(domain: str, public: str) -> str:
    return _txt(f"{SELECTOR}._domainkey.{domain}", f"v=DKIM1; k=rsa; p={public}")


def _dmarc(domain: str, policy: str = "reject") -> str:
    return _txt(f"_dmarc.{domain}", f"v=DMARC1; p={policy}; rua=mailto:dmarc@{domain}")


@dataclass
class Zone:
    port: int
    relay_key: Path  # the private key the relay signs with
    relay_public: str
    process: subprocess.Popen

    @property
    def relay_key_sha256(self) -> str:
        return key_sha256(self.relay_public)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def records(relay_public: str, other_public: str) -> list[str]:
    good = ["good.test", "bounces.good.test"]
    found = [arg for d in good for arg in _mail_domain(d)]
    found += [_dkim("good.test", relay_public), _dmarc("good.test")]
    # no SPF at all, for the From domain nor its bounce domain
    found += _mail_domain("nospf.test", spf=None) + _mail_domain("bounces.nospf.test", spf=None)
    found += [_dkim("nospf.test", relay_public), _dmarc("nospf.test", "none")]
    # a DKIM key that is not the relay's (rotated at the relay, not in DNS)
    found += _mail_domain("wrongkey.test") + _mail_domain("bounces.wrongkey.test")
    found += [_dkim("wrongkey.test", other_public), _dmarc("wrongkey.test")]
    # p=reject, no DKIM key, and the bounce domain elsewhere: nothing aligns
    found += _mail_domain("unaligned.test") + [_dmarc("unaligned.test")]
    # DKIM aligns, but the bounce domain lies in another organisation
    found += _mail_domain("outside.test") + [_dkim("outside.test", relay_public),
                                             _dmarc("outside.test")]
    found += _mail_domain(BOUNCE_ELSEWHERE)
    # SPF that does not list the relay
    found += _mail_domain("otherrelay.test", spf="v=spf1 ip4:198.51.100.7 -all")
    found += _mail_domain("bounces.otherrelay.test", spf="v=spf1 ip4:198.51.100.7 -all")
    found += [_dkim("otherrelay.test", relay_public), _dmarc("otherrelay.test")]
    return found


def public_of(key: Path) -> str:
    der = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return base64.b64encode(der).decode()


def start(directory: Path, relay_key: Path | None = None) -> Zone:
    """The zone, with the relay's key (a fresh one, or the one a real relay signs with)."""
    other_key = directory / "other.private"
    if relay_key is None:
        relay_key = directory / "relay.private"
        make_key(relay_key)
    relay_public, other_public = public_of(relay_key), make_key(other_key)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [DNSMASQ, "--keep-in-foreground", f"--port={port}", "--listen-address=127.0.0.1",
         "--bind-interfaces", "--no-resolv", "--no-hosts", "--local=/test/", "--user=root",
         f"--pid-file={directory / 'dnsmasq.pid'}", f"--log-facility={directory / 'dns.log'}",
         *records(relay_public, other_public)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_until_it_answers(port, process)
    except BaseException:
        process.kill()  # no Zone is returned, so nobody else would stop it
        process.wait()
        raise
    return Zone(port, relay_key, relay_public, process)


def _wait_until_it_answers(port: int, process) -> None:
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port, resolver.lifetime = ["127.0.0.1"], port, 1
    for _ in range(50):
        if process.poll() is not None:
            raise RuntimeError("dnsmasq exited: " + process.stderr.read().decode())
        try:
            resolver.resolve("good.test", "MX")
            return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.1)
    raise RuntimeError("dnsmasq did not answer")
