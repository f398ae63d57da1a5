"""The association's key tool: run on the association's own machine, never on the server.

    python -m countersign.keytool new association.key   # the key pair; prints the public key
    python -m countersign.keytool public association.key # the public key again
    python -m countersign.keytool open association.key incident-campaign-3.csv.sealed
    python -m countersign.keytool grant association.key grant-request-campaign-3.json
    python -m countersign.keytool reseal old-association.key reseal-request.json
    python -m countersign.keytool preview association.key preview-request-roster-3.json
    python -m countersign.keytool recovery association.key # the key on paper, for the safe
    python -m countersign.keytool restore restored.key     # a key file again, from the paper

`new` writes the private key to a file of its own (mode 600, under a passphrase unless
--no-passphrase) and prints the public key, which an observer pastes into Countersign
(Association key page), and its fingerprint, which the association keeps on paper to
compare with the one Countersign shows. `open` turns a file Countersign sealed to the
association (an incident report with member data) back into the file, beside it without
".sealed" (or --out), readable by its owner only.

`grant` answers a release's grant request (downloaded from the release page): it opens the
roster's data key with the association's key and seals it to each send worker the request
lists, for that campaign, its content and until the deadline, into a grant file to hand in
with the release. It prints what it grants, and to which workers, first.

`reseal` answers the reseal request of a new key (from the roster pages): with an older key
of the association it opens each roster sealed to that key only and seals it to the new one,
into a file to hand in; then the older key can be destroyed.

`preview` answers a roster's preview request (from the roster's page): it opens the rows of
the few members the request names, each bound to the member number it prints, and seals
them to the server's preview key until the deadline, for previews and test messages.

`recovery` prints the private key for paper (letters and digits in groups of four, with a
check that catches a mistyped group); `restore` makes a new key file from it when every key
file is lost, and prints the fingerprint, which must be the registered one.

It needs the `cryptography` package only (`pip install cryptography`), not Django.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from audit import chain
from countersign import sealing


def _passphrase(args, *, new: bool) -> bytes | None:
    if args.passphrase_file:
        return Path(args.passphrase_file).read_bytes().rstrip(b"\r\n") or None
    if getattr(args, "no_passphrase", False):
        return None
    first = getpass.getpass("Passphrase for the key file: ")
    if new and first != getpass.getpass("The same passphrase again: "):
        sys.exit("The two passphrases differ; nothing was written.")
    return first.encode() or None


def _private(args):
    pem = Path(args.key).read_bytes()
    encrypted = b"ENCRYPTED" in pem
    try:
        return sealing.load_private(pem, _passphrase(args, new=False) if encrypted else None)
    except (ValueError, TypeError) as error:
        sys.exit(f"Cannot read the key file {args.key}: {error}")


def _write_key_file(args, key) -> Path:
    path = Path(args.key)
    if path.exists() or path.is_symlink():
        sys.exit(f"{path} exists; a key file is never overwritten (choose another name).")
    pem = sealing.private_pem(key, _passphrase(args, new=True))  # asked before any file is made
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        sys.exit(f"{path} exists; a key file is never overwritten (choose another name).")
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return path


def new(args) -> None:
    key = sealing.new_private_key()
    path = _write_key_file(args, key)
    print(f"The private key is in {path}: keep it (and a copy) where only the association can "
          "reach it; Countersign never needs it. Print its recovery key for the safe: "
          f"python -m countersign.keytool recovery {path}")
    _print_public(key.public_key())


def recovery(args) -> None:
    key = _private(args)
    print("Print this and keep the paper in the association's safe; do not save it in a file "
          "or send it. Whoever reads it can open everything sealed to the association.\n")
    print(sealing.recovery_text(key))
    print(f"\nFingerprint: {sealing.grouped(sealing.fingerprint(key.public_key()))}")


def restore(args) -> None:
    text = Path(args.from_file).read_text() if args.from_file else getpass.getpass(
        "Type the recovery key (groups of four, spaces do not matter): ")
    try:
        key = sealing.from_recovery_text(text)
    except sealing.BadRecoveryKey as error:
        sys.exit(f"Not restored: {error}.")
    path = _write_key_file(args, key)
    print(f"The key is restored in {path}. Check that this fingerprint is the one Countersign "
          "shows on its Association key page:")
    print(sealing.grouped(sealing.fingerprint(key.public_key())))


def _print_public(public) -> None:
    print("Paste this public key into Countersign (Association key page):\n")
    print(sealing.public_pem(public))
    print(f"Fingerprint (compare it with the one Countersign shows):\n"
          f"{sealing.grouped(sealing.fingerprint(public))}")


def public(args) -> None:
    _print_public(_private(args).public_key())


def _out_path(args, sealed: Path) -> Path:
    """--out, or the sealed file's own name without ".sealed", beside it: never a name the
    file's header chooses (anyone with the public key can seal a file)."""
    if args.out:
        return Path(args.out)
    name = sealed.name.removesuffix(sealing.SUFFIX)
    return sealed.with_name(name if name != sealed.name else name + ".opened")


def open_file(args) -> None:
    sealed = Path(args.file)
    try:
        header, data = sealing.open_sealed(sealed.read_bytes(), _private(args))
    except sealing.NotSealed as error:
        sys.exit(f"{sealed}: {error}")
    out = _out_path(args, sealed)
    if header.name.endswith(".json") and data.startswith(b"{"):
        data, out = _incident(data, out, args)
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_TRUNC if args.force else os.O_EXCL)
    try:  # member data: readable by its owner only, and never through a link
        fd = os.open(out, flags, 0o600)
    except FileExistsError:
        sys.exit(f"{out} exists; use --out, or --force to overwrite it.")
    except OSError as error:
        sys.exit(f"Cannot write {out}: {error.strerror}")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    print(f"{out}: {len(data):,} bytes (sealed as {header.name} at {header.made} UTC)")


def _incident(data: bytes, out: Path, args) -> tuple[bytes, Path]:
    """An incident report of a roster only the association holds: its lines with each
    member's name and address filled in, as CSV for Excel (cells that would run as formulas
    neutralised, as every export of Countersign does)."""
    try:
        bundle = json.loads(data)
    except ValueError:
        return data, out
    if not isinstance(bundle, dict) or bundle.get("kind") != sealing.INCIDENT:
        return data, out
    try:
        rows = sealing.open_incident(bundle, _private(args))
    except (sealing.NotSealed, ValueError, KeyError, TypeError) as error:
        sys.exit(f"{out.name}: {error}")
    lines = chain.csv_lines([[chain.csv_cell(cell) for cell in row] for row in bundle["header"]],
                            ([chain.csv_cell(cell) for cell in row] for row in rows))
    unopened = sum(1 for row in rows if sealing.DOES_NOT_OPEN in row)
    if unopened:
        print(f"{unopened} line(s) did not open: the row was changed or moved in the database.")
    return "".join(lines).encode("utf-8"), (out if args.out else out.with_suffix(".csv"))


def _shown(value) -> str:
    """A request's text as printed: without control characters, so a request (written by
    the server) cannot move the cursor and print over what the tool says it grants."""
    return "".join(c for c in str(value) if c.isprintable())[:200]


def _roster(request: dict) -> str:
    roster, key_roster = _shown(request["roster"]), _shown(sealing.key_roster(request))
    return roster if roster == key_roster else f"{roster} (a part of roster {key_roster})"


def _write_answer(out: Path, answer: dict) -> Path:
    """A grant or reseal answer, readable by its owner only (it is sealed, but it is theirs)."""
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    except OSError as error:
        sys.exit(f"Cannot write {out}: {error.strerror}")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(answer, handle, indent=1)
    return out


def _answer(args, *, what: str, make, name, hand_in: str, before=None, after=None) -> None:
    """A `what` request file (args.file) answered with the association's key: `before`
    prints what it asks, `make` answers it, `after` prints what was made; the answer is
    written beside the request (`name(request)`) or to --out."""
    path = Path(args.file)
    try:
        request = json.loads(path.read_text(encoding="utf-8"))
        if before:
            before(request)
        made = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        answer = make(request, _private(args), made=made)
        if after:
            after(request, answer)
    except (ValueError, KeyError, TypeError) as error:
        sys.exit(f"{path}: not a {what} request ({error})")
    except sealing.NotSealed as error:
        sys.exit(f"{path}: {error}")
    out = _write_answer(Path(args.out) if args.out else path.with_name(name(request)), answer)
    print(f"{out}: {hand_in}")


def _grant_asks(request: dict) -> None:
    workers = request["workers"]
    print(f"Campaign {_shown(request['campaign'])} ({_shown(request.get('name', ''))}), "
          f"roster {_roster(request)}, content {_shown(request['content_hash'])[:16]}…")
    print(f"The key stays with these {len(workers)} worker(s) until "
          f"{_shown(request['not_after'])} UTC at the latest:")
    for worker in workers:
        print(f"  {_shown(worker['name'])}  {sealing.grouped(_shown(worker['fingerprint']))[:39]}…")


def grant(args) -> None:
    _answer(args, what="grant", make=sealing.make_grant, before=_grant_asks,
            name=lambda request: f"grant-campaign-{request['campaign']}.json",
            hand_in="hand this file in with the release.")


def _resealed(request: dict, answer: dict) -> None:
    print(f"{len(answer['seals'])} of {len(request['rosters'])} roster(s) sealed to the new key "
          f"{sealing.grouped(answer['to'])[:39]}…")


def reseal(args) -> None:
    _answer(args, what="reseal", make=sealing.make_reseal, after=_resealed,
            name=lambda request: "reseal.json",
            hand_in="hand this file in on the roster page (Reseal).")


def _preview_asks(request: dict) -> None:
    numbers = [_shown(member["member_number"]) for member in request["members"]]
    print(f"Roster {_roster(request)} ({_shown(request.get('name', ''))}): the real values "
          f"of {len(numbers)} member(s) for previews and test messages, until "
          f"{_shown(request['not_after'])} UTC:")
    print(f"  {', '.join(numbers)}")
    print(f"  because: {_shown(request['reason'])}")


def preview(args) -> None:
    _answer(args, what="preview", make=sealing.make_preview, before=_preview_asks,
            name=lambda request: f"preview-roster-{request['roster']}.json",
            hand_in="hand this file in on the roster's page (Members shown in previews).")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m countersign.keytool",
                                     description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, run, help_text in (("new", new, "make the association's key pair"),
                                 ("public", public, "print the public key of a key file"),
                                 ("open", open_file, "open a file sealed to the key"),
                                 ("grant", grant, "answer a release's grant request"),
                                 ("reseal", reseal, "seal rosters to a new key"),
                                 ("preview", preview, "answer a roster's preview request"),
                                 ("recovery", recovery, "print the key for paper"),
                                 ("restore", restore, "a key file again, from the paper")):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("key", help="the private key file")
        command.add_argument("--passphrase-file", help="read the passphrase from this file")
        command.set_defaults(run=run)
        if name in ("new", "restore"):
            command.add_argument("--no-passphrase", action="store_true",
                                 help="no passphrase (only for a key on an encrypted disk)")
        if name == "restore":
            command.add_argument("--from-file", help="read the recovery key from this file")
        if name in ("grant", "reseal", "preview"):
            command.add_argument("file", help="the request (.json)")
            command.add_argument("--out", help="where to write the answer")
        if name == "open":
            command.add_argument("file", help="the .sealed file")
            command.add_argument("--out", help="where to write the opened file")
            command.add_argument("--force", action="store_true",
                                 help="overwrite the opened file if it exists")
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
