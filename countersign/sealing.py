"""Sealing to the association's key: what only the association can open.

The association makes its key pair on its own machine (`python -m countersign.keytool new`)
and registers the public half here; the private half never reaches the contractor. What is
sealed to that key is HPKE (RFC 9180, base mode: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
AES-256-GCM) from pyca/cryptography, not a construction of our own.

A sealed file is three parts: a line that says what it is, a line of JSON that says to
which key, with which suite and what the file was (its name, when it was sealed), and the
HPKE output. Both lines are HPKE's `info`, so a file whose header was changed (another
name, another key's fingerprint) does not open.

This module imports no Django: the key tool runs on the association's machine with the
`cryptography` package alone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hpke, padding, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

MAGIC = b"COUNTERSIGN SEALED FILE 1\n"
SUITE_NAME = "DHKEM(X25519,HKDF-SHA256)/HKDF-SHA256/AES-256-GCM"
_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
SUFFIX = ".sealed"


class NotSealed(ValueError):
    """Not a sealed file, or not one this key can open (wrong key, changed bytes)."""


class BadPublicKey(ValueError):
    """Not the public half of an X25519 key in PEM; `code` says why (the app words it)."""

    PRIVATE, NOT_ONE_BLOCK, NOT_PEM, NOT_X25519 = "private", "not_one_block", "not_pem", "x25519"

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----[A-Za-z0-9+/=\s]*-----END \1-----")


def raw_public(public_key: X25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(public_key: X25519PublicKey | bytes) -> str:
    """SHA-256 of the key's 32 raw bytes, in hex: what people compare."""
    raw = public_key if isinstance(public_key, bytes) else raw_public(public_key)
    return hashlib.sha256(raw).hexdigest()


def grouped(fingerprint_hex: str) -> str:
    """A fingerprint as people read it aloud: groups of four."""
    return " ".join(fingerprint_hex[i:i + 4] for i in range(0, len(fingerprint_hex), 4))


def public_pem(public_key: X25519PublicKey) -> str:
    return public_key.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_public(text: str) -> X25519PublicKey:
    """The public key an association pasted: exactly one PEM block of an X25519 public key,
    nothing before or after it. A private key pasted by mistake is refused unread."""
    text = text.strip()
    if "PRIVATE KEY" in text:
        raise BadPublicKey(BadPublicKey.PRIVATE)
    blocks = _PEM_BLOCK.findall(text)
    if len(blocks) != 1 or not _PEM_BLOCK.fullmatch(text):
        raise BadPublicKey(BadPublicKey.NOT_ONE_BLOCK if blocks else BadPublicKey.NOT_PEM)
    try:
        key = serialization.load_pem_public_key(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as error:
        raise BadPublicKey(BadPublicKey.NOT_PEM) from error
    if not isinstance(key, X25519PublicKey):
        raise BadPublicKey(BadPublicKey.NOT_X25519)
    return key


def public_from_raw(raw: bytes) -> X25519PublicKey:
    return X25519PublicKey.from_public_bytes(bytes(raw))


@dataclass(frozen=True)
class Header:
    to: str  # the fingerprint of the key it is sealed to
    name: str  # the file's name before sealing
    made: str  # when it was sealed (ISO 8601, UTC)
    suite: str = SUITE_NAME

    def line(self) -> bytes:
        return json.dumps({"suite": self.suite, "to": self.to, "name": self.name,
                           "made": self.made}, sort_keys=True, ensure_ascii=True).encode() + b"\n"


def seal(data: bytes, public_key: X25519PublicKey, *, name: str, made: str) -> bytes:
    """`data` sealed to `public_key`: only its private half opens it."""
    header = Header(to=fingerprint(public_key), name=name, made=made).line()
    return MAGIC + header + _SUITE.encrypt(data, public_key, info=MAGIC + header)


def read_header(blob: bytes) -> Header:
    if not blob.startswith(MAGIC):
        raise NotSealed("not a sealed file")
    line, newline, _rest = blob[len(MAGIC):].partition(b"\n")
    try:
        fields = json.loads(line) if newline else None
        header = Header(**fields)
    except (ValueError, TypeError) as error:
        raise NotSealed("the sealed file's header is damaged") from error
    if not all(isinstance(value, str) and value.isprintable() for value in fields.values()):
        raise NotSealed("the sealed file's header is damaged")
    if header.suite != SUITE_NAME:
        raise NotSealed(f"sealed with {header.suite!r}, which this version cannot open")
    return header


def open_sealed(blob: bytes, private_key: X25519PrivateKey) -> tuple[Header, bytes]:
    """(header, data) of a sealed file; NotSealed if it is not one, is for another key, or
    any byte of it was changed."""
    header = read_header(blob)
    own = fingerprint(private_key.public_key())
    if header.to != own:
        raise NotSealed(f"sealed to key {grouped(header.to)[:19]}…, not to this key "
                        f"({grouped(own)[:19]}…)")
    head = MAGIC + header.line()
    if not blob.startswith(head):  # the header was re-written (spacing, order): not ours
        raise NotSealed("the sealed file's header was changed")
    try:
        return header, _SUITE.decrypt(blob[len(head):], private_key, info=head)
    except InvalidTag as error:
        raise NotSealed("the sealed file was changed or damaged") from error


def new_private_key() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


# The key file's passphrase: PBES2 (RFC 8018) with PBKDF2-HMAC-SHA256 at OWASP's 600,000
# iterations and AES-256-CBC, what the pages' script writes too. (cryptography's
# BestAvailableEncryption gives PKCS #8 files 2,048 iterations only, and has no setting.)
KEY_FILE_ITERATIONS = 600_000
_OID_PBES2, _OID_PBKDF2 = "2a864886f70d01050d", "2a864886f70d01050c"
_OID_HMAC_SHA256, _OID_AES256_CBC = "2a864886f70d0209", "60864801650304012a"


def _der(tag: int, body: bytes) -> bytes:
    size = len(body)
    length = bytes([size]) if size < 128 else bytes([0x80 | ((size.bit_length() + 7) // 8)]) \
        + size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag]) + length + body


def _sequence(*parts: bytes) -> bytes:
    return _der(0x30, b"".join(parts))


def _encrypted_pkcs8(pkcs8: bytes, passphrase: bytes) -> bytes:
    salt, iv = os.urandom(16), os.urandom(16)
    key = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt,
                     iterations=KEY_FILE_ITERATIONS).derive(passphrase)
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    data = encryptor.update(padder.update(pkcs8) + padder.finalize()) + encryptor.finalize()
    def oid(hex_text: str) -> bytes:
        return _der(0x06, bytes.fromhex(hex_text))

    iterations = _der(0x02, KEY_FILE_ITERATIONS.to_bytes(4, "big").lstrip(b"\0"))
    return _sequence(
        _sequence(oid(_OID_PBES2), _sequence(
            _sequence(oid(_OID_PBKDF2), _sequence(_der(0x04, salt), iterations,
                                                  _sequence(oid(_OID_HMAC_SHA256), b"\x05\x00"))),
            _sequence(oid(_OID_AES256_CBC), _der(0x04, iv)))),
        _der(0x04, data))


def private_pem(private_key: X25519PrivateKey, passphrase: bytes | None) -> bytes:
    pkcs8 = private_key.private_bytes(serialization.Encoding.DER,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
    if not passphrase:
        label, der = "PRIVATE KEY", pkcs8
    else:
        label, der = "ENCRYPTED PRIVATE KEY", _encrypted_pkcs8(pkcs8, passphrase)
    text = base64.encodebytes(der).decode("ascii").replace("\n", "")
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    return ("\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"]) + "\n"
            ).encode("ascii")


def load_private(pem: bytes, passphrase: bytes | None) -> X25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=passphrase or None)
    if not isinstance(key, X25519PrivateKey):
        raise TypeError("not an X25519 private key")
    return key


# --- the paper copy -----------------------------------------------------------------------------

RECOVERY_PREFIX = "CSRK"  # Countersign recovery key
_PAPER_MISREAD = str.maketrans("018", "OIB")  # base32 has no 0, 1 or 8: a misread letter


class BadRecoveryKey(ValueError):
    """Not a recovery key, or one with a character wrong (its check does not hold)."""


def recovery_text(private_key: X25519PrivateKey) -> str:
    """The private key written for paper: the 32 bytes and a 2-byte check in base32 (letters
    and 2-7 only), in groups of four after "CSRK"."""
    raw = private_key.private_bytes(serialization.Encoding.Raw,
                                    serialization.PrivateFormat.Raw,
                                    serialization.NoEncryption())
    letters = base64.b32encode(raw + hashlib.sha256(raw).digest()[:2]).decode().rstrip("=")
    return " ".join([RECOVERY_PREFIX] + [letters[i:i + 4] for i in range(0, len(letters), 4)])


def from_recovery_text(text: str) -> X25519PrivateKey:
    """The private key a recovery text holds, as typed back from paper: spaces, dashes, line
    breaks and case do not matter, nor 0/1/8 read for O/I/B; a wrong character is refused."""
    letters = re.sub(r"[\s\-]", "", text).upper().translate(_PAPER_MISREAD)
    if not letters.startswith(RECOVERY_PREFIX):
        raise BadRecoveryKey("a recovery key starts with CSRK")
    letters = letters[len(RECOVERY_PREFIX):]
    try:
        data = base64.b32decode(letters + "=" * (-len(letters) % 8))
    except ValueError as error:
        raise BadRecoveryKey("a character is not one a recovery key has") from error
    raw, check = data[:32], data[32:]
    if len(data) != 34 or hashlib.sha256(raw).digest()[:2] != check:
        raise BadRecoveryKey("a character is wrong or missing: check each group against the "
                             "paper")
    return X25519PrivateKey.from_private_bytes(raw)


# --- member rows ----------------------------------------------------------------------------------
# Each roster has a data key of its own (AES-256-GCM, 32 random bytes). A member's values are
# one AEAD ciphertext under it, bound (as associated data) to where the row belongs: a
# ciphertext moved to another row, another member or another roster does not open.

DATA_KEY_BYTES = 32
_NONCE_BYTES = 12  # random per row: far below GCM's 2**32 messages per key for any roster


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=8 * DATA_KEY_BYTES)


def member_binding(roster: int, row: int, member_number: str) -> bytes:
    """What a member's row ciphertext is bound to: the roster it was sealed in, its row and
    its member number. The key tool builds it itself, so a row opened for a member number is
    that member's, whatever a request claims."""
    return f"cs1|member|{roster}|{row}|{member_number}".encode()


def seal_row(key: AESGCM, data: bytes, bound_to: bytes) -> bytes:
    """`data` encrypted under a data key (an AESGCM), bound to `bound_to`: nonce, then
    ciphertext and tag."""
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + key.encrypt(nonce, data, bound_to)


def open_row(key: AESGCM, blob: bytes, bound_to: bytes) -> bytes:
    """What seal_row sealed; NotSealed if any byte changed or it is bound to something else."""
    blob = bytes(blob)
    try:
        return key.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], bound_to)
    except (InvalidTag, ValueError) as error:
        raise NotSealed("the row was changed, moved or is bound to another place") from error


# --- grants: a roster's data key, for one release, to the workers running it -------------------

GRANT_REQUEST = "countersign-grant-request-1"
GRANT = "countersign-grant-1"


def data_key_name(roster: int) -> str:
    """The name a roster's data key is sealed to the association under."""
    return f"roster-{roster}.data-key"


def grant_name(*, campaign: int, roster: int, content_hash: str, not_after: str) -> str:
    """What a grant's seal is bound to (its header's name, so HPKE's info): a worker opens
    it only for this campaign, roster and content, and checks the deadline."""
    return (f"grant|campaign={campaign}|roster={roster}|content={content_hash}"
            f"|not_after={not_after}")


def key_roster(request: dict) -> int:
    """Whose data key a request's seals may be named for besides its roster's own: for a
    part of a roster (the rest of a stopped campaign), the roster it was cut from, which
    shares its key (the tool prints both)."""
    return int(request.get("key_roster") or request.get("roster") or request["id"])


def _data_key(request: dict, seal_of_key: str, private_key: X25519PrivateKey) -> bytes:
    header, data_key = open_sealed(base64.b64decode(seal_of_key), private_key)
    if header.name not in (data_key_name(request["roster"]), data_key_name(key_roster(request))):
        raise NotSealed("the request's data key is another roster's")
    return data_key


def make_grant(request: dict, private_key: X25519PrivateKey, *, made: str) -> dict:
    """The grant for a grant request (made on the association's machine): the roster's data
    key, opened with the association's key, sealed to each worker the request lists."""
    if request.get("kind") != GRANT_REQUEST:
        raise NotSealed("not a grant request")
    own = fingerprint(private_key.public_key())
    seal_of_key = (request.get("data_key_seals") or {}).get(own)
    if not seal_of_key:
        raise NotSealed("the request holds no data key sealed to this key: the roster was "
                        "imported under another key of the association")
    data_key = _data_key(request, seal_of_key, private_key)
    name = grant_name(campaign=request["campaign"], roster=request["roster"],
                      content_hash=request["content_hash"], not_after=request["not_after"])
    workers = [public_from_raw(base64.b64decode(w["public_key"])) for w in request["workers"]]
    if [fingerprint(w) for w in workers] != [w["fingerprint"] for w in request["workers"]]:
        raise NotSealed("a worker's key in the request does not match its fingerprint")
    seals = {fingerprint(worker): base64.b64encode(seal(data_key, worker, name=name,
                                                        made=made)).decode("ascii")
             for worker in workers}
    return {"kind": GRANT, "campaign": request["campaign"], "roster": request["roster"],
            "content_hash": request["content_hash"], "not_after": request["not_after"],
            "seals": seals}


# --- a new key of the association: rosters sealed to the old key, sealed to the new one too -------

RESEAL_REQUEST = "countersign-reseal-request-1"
RESEAL = "countersign-reseal-1"


def make_reseal(request: dict, private_key: X25519PrivateKey, *, made: str) -> dict:
    """For each roster of a reseal request that is sealed to this (older) key, its data key
    sealed to the association's new key the request names. Made on the association's
    machine: the data keys never leave it unsealed."""
    if request.get("kind") != RESEAL_REQUEST:
        raise NotSealed("not a reseal request")
    own = fingerprint(private_key.public_key())
    new_key = public_from_raw(base64.b64decode(request["to"]["public_key"]))
    if fingerprint(new_key) != request["to"]["fingerprint"]:
        raise NotSealed("the request's new key does not match its fingerprint")
    seals = {}
    for roster in request["rosters"]:
        blob = (roster.get("seals") or {}).get(own)
        if not blob:
            continue  # sealed to another key of the association: reseal it with that one
        header, data_key = open_sealed(base64.b64decode(blob), private_key)
        if header.name not in (data_key_name(roster["id"]), data_key_name(key_roster(roster))):
            raise NotSealed(f"the data key given for roster {roster['id']} is another roster's")
        seals[str(roster["id"])] = base64.b64encode(seal(
            data_key, new_key, name=header.name, made=made)).decode("ascii")
    return {"kind": RESEAL, "to": request["to"]["fingerprint"], "seals": seals}


# --- previews: a few members' values, for previews and test messages, until a deadline --------

PREVIEW_REQUEST = "countersign-preview-request-1"
PREVIEW = "countersign-preview-1"
# The key tool's own limits, whatever a request asks (the server's are tighter, settings).
PREVIEW_MOST_MEMBERS = 10
PREVIEW_MOST_DAYS = 31


def preview_name(*, roster: int, member_number: str, not_after: str) -> str:
    """What one member's preview seal is bound to: the server opens it for this roster and
    member only, and shows it until the deadline."""
    return f"preview|roster={roster}|member={member_number}|not_after={not_after}"


def make_preview(request: dict, private_key: X25519PrivateKey, *, made: str) -> dict:
    """The answer to a preview request (made on the association's machine): each member's
    row, opened with the roster's data key, sealed to the server's preview key. Each row is
    opened bound to the member number the request names, so what is sealed for a number is
    that member's and nobody else's."""
    if request.get("kind") != PREVIEW_REQUEST:
        raise NotSealed("not a preview request")
    own = fingerprint(private_key.public_key())
    seal_of_key = (request.get("data_key_seals") or {}).get(own)
    if not seal_of_key:
        raise NotSealed("the request holds no data key sealed to this key: the roster was "
                        "imported under another key of the association")
    data_key = _data_key(request, seal_of_key, private_key)
    if len(request["members"]) > PREVIEW_MOST_MEMBERS:
        raise NotSealed(f"a preview shows at most {PREVIEW_MOST_MEMBERS} members")
    deadline = datetime.strptime(request["not_after"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    if deadline > datetime.now(UTC) + timedelta(days=PREVIEW_MOST_DAYS):
        raise NotSealed(f"a preview lasts at most {PREVIEW_MOST_DAYS} days")
    server = public_from_raw(base64.b64decode(request["to"]["public_key"]))
    if fingerprint(server) != request["to"]["fingerprint"]:
        raise NotSealed("the request's server key does not match its fingerprint")
    key, seals, tags = AESGCM(data_key), {}, {}
    for member in request["members"]:
        number = member["member_number"]
        row = open_row(key, base64.b64decode(member["ciphertext"]), member_binding(
            member["sealed_in"], member["row"], number))
        blob = seal(row, server, made=made, name=preview_name(
            roster=request["roster"], member_number=number, not_after=request["not_after"]))
        seals[number] = base64.b64encode(blob).decode("ascii")
        tags[number] = preview_tag(private_key.exchange(server), blob).hex()
    return {"kind": PREVIEW, "roster": request["roster"], "not_after": request["not_after"],
            "reason": request["reason"], "by": fingerprint(private_key.public_key()),
            "seals": seals, "tags": tags}


def preview_tag(shared: bytes, blob: bytes) -> bytes:
    """Who made a preview seal: anyone can seal to the server's preview key (its public
    half is in every request), so each seal also carries an HMAC under a key both ends derive
    from the X25519 exchange of the association's key with the preview key (the static-static
    exchange of HPKE's Auth mode and Noise's "ss"): only the association's private key, or
    the server's preview key, makes it."""
    mac_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"countersign-preview-auth-1").derive(shared)
    return hmac.new(mac_key, blob, hashlib.sha256).digest()


# --- the incident report of a roster only the association holds --------------------------------

INCIDENT = "countersign-incident-1"
DOES_NOT_OPEN = "(does not open)"


INCIDENT_LAYOUT = ["member_number", "name", "email"]  # the first columns, always
ERASED = "(erased)"


def open_incident(bundle: dict, private_key: X25519PrivateKey) -> list[list[str]]:
    """The rows of an incident bundle (campaigns.reports.incident_bundle) with each member's
    name and address filled in, by this tool alone: the row opened with the roster's data
    key, bound to the member number in the line's first column, so a name never lands on
    another member's line; DOES_NOT_OPEN for a row that does not open, ERASED for a line
    without one. Whatever the bundle carries in those two cells is never written."""
    if bundle.get("kind") != INCIDENT:
        raise NotSealed("not an incident report")
    if [list(row[:3]) for row in bundle["header"][:1]] != [INCIDENT_LAYOUT]:
        raise NotSealed("the report's columns are not member number, name, address")
    seal_of_key = (bundle.get("data_key_seals") or {}).get(fingerprint(private_key.public_key()))
    if not seal_of_key:
        raise NotSealed("the report holds no data key sealed to this key: the roster was "
                        "imported under another key of the association")
    key = AESGCM(_data_key(bundle, seal_of_key, private_key))
    rows = []
    for cells, sealed in zip(bundle["rows"], bundle["sealed"], strict=True):
        cells = [str(cell) for cell in cells]
        cells[1] = cells[2] = ERASED if not sealed else DOES_NOT_OPEN
        if sealed:
            try:
                personal = json.loads(open_row(key, base64.b64decode(sealed["ciphertext"]),
                                               member_binding(sealed["sealed_in"], sealed["row"],
                                                              cells[0])))
                cells[1], cells[2] = str(personal["name"]), str(personal["email"])
            except (NotSealed, ValueError, KeyError, TypeError):
                pass
        rows.append(cells)
    return rows
