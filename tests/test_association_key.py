"""The association's key (issue 22, first step): the association makes its key pair on its own
machine, an observer registers the public half, and the incident report with member data
leaves Countersign only sealed to it. Tried as an attacker would: another key, changed
bytes, a changed header, a private key pasted by mistake, a forged form from the contractor,
a key swapped in the database; and what the downloaded file holds, byte for byte."""

import contextlib
import csv
import io
import json
import os
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

import audit
from audit.models import AuditEntry
from countersign import association_key, keytool, sealing
from countersign.models import AssociationKey, User
from roster import member_data
from tests.factories import client_for, next_code, signed_in_with_code, wrong_code


def _key_pair():
    private = sealing.new_private_key()
    return private, sealing.public_pem(private.public_key())


def _register(observer, pem, *, client=None):
    """The observer signs in (password and code) and registers `pem` with the next code from
    their phone (`client`: already signed in)."""
    client = client or signed_in_with_code(observer)
    device = observer.totpdevice_set.get(confirmed=True)
    return client, client.post(reverse("association_key"), {
        "public_key": pem, "code": next_code(device)}, follow=True)


def _download(user, campaign, fmt="csv", *, client=None):
    response = (client or client_for(user)).get(reverse("audit:incident", args=[campaign.pk]),
                                    {"format": fmt}, HTTP_ACCEPT_LANGUAGE="en")
    body = (b"".join(response.streaming_content) if response.streaming
            else response.content)
    return response, body


# --- the file -----------------------------------------------------------------------------------

def test_a_sealed_file_opens_with_the_association_key_and_with_no_other():
    private, pem = _key_pair()
    blob = sealing.seal("会員番号,氏名\nW1,鈴木 花子\n".encode(), sealing.load_public(pem),
                        name="report.csv", made="2026-12-06T00:00:00Z")
    header, data = sealing.open_sealed(blob, private)
    assert data.decode() == "会員番号,氏名\nW1,鈴木 花子\n" and header.name == "report.csv"
    assert "鈴木".encode() not in blob and b"W1" not in blob
    with pytest.raises(sealing.NotSealed, match="not to this key"):
        sealing.open_sealed(blob, sealing.new_private_key())


@pytest.mark.parametrize("tamper", [
    lambda b: b[:-1] + bytes([b[-1] ^ 1]),  # the ciphertext
    lambda b: b.replace(b"report.csv", b"report.txt"),  # the header's name
    lambda b: b.replace(b'"made": "2026', b'"made": "2025'),  # the header's time
    lambda b: b.replace(b'{"made"', b'{ "made"'),  # the header re-written, same meaning
    lambda b: b[:len(sealing.MAGIC) + 10],  # cut short
    lambda b: b"PK" + b[2:],  # not a sealed file at all
    lambda b: b.replace(b'"suite": "DHKEM', b'"suite": "\\u001b]0;x\\u0007DHKEM'),  # control chars
    lambda b: b.replace(b'"to": "', b'"to": 5, "x": "'),  # not a string
])
def test_a_sealed_file_with_any_byte_changed_does_not_open(tamper):
    private, pem = _key_pair()
    blob = sealing.seal(b"data", sealing.load_public(pem), name="report.csv",
                        made="2026-12-06T00:00:00Z")
    with pytest.raises(sealing.NotSealed):
        sealing.open_sealed(tamper(blob), private)


def test_the_key_tool_makes_a_key_file_only_its_owner_reads_and_opens_what_was_sealed(
        tmp_path, capsys):
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("correct horse battery staple\n")
    key_file = tmp_path / "association.key"
    keytool.main(["new", str(key_file), "--passphrase-file", str(passphrase)])
    printed = capsys.readouterr().out
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in key_file.read_bytes()
    pem = printed[printed.index("-----BEGIN PUBLIC KEY"):printed.index("END PUBLIC KEY-----") + 19]
    public = sealing.load_public(pem)
    assert sealing.grouped(sealing.fingerprint(public)) in printed
    sealed = tmp_path / "incident-campaign-7.csv.sealed"
    sealed.write_bytes(sealing.seal(b"W1,a@example.jp\n", public, name="../../.bash_profile",
                                    made="2026-12-06T00:00:00Z"))
    keytool.main(["open", str(key_file), str(sealed), "--passphrase-file", str(passphrase)])
    opened = tmp_path / "incident-campaign-7.csv"  # its own name: anyone can seal a header
    assert opened.read_bytes() == b"W1,a@example.jp\n"
    assert stat.S_IMODE(os.stat(opened).st_mode) == 0o600  # member data: the owner's only
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "association.key", "incident-campaign-7.csv", "incident-campaign-7.csv.sealed",
        "passphrase"]
    with pytest.raises(SystemExit, match="exists"):
        keytool.main(["open", str(key_file), str(sealed), "--passphrase-file", str(passphrase)])
    opened.unlink()
    opened.symlink_to(tmp_path / "elsewhere")  # a dangling link where the file would go
    with pytest.raises(SystemExit, match="exists"):
        keytool.main(["open", str(key_file), str(sealed), "--passphrase-file", str(passphrase)])
    with pytest.raises(SystemExit, match="Cannot write"):
        keytool.main(["open", str(key_file), str(sealed), "--passphrase-file", str(passphrase),
                      "--force"])
    assert not (tmp_path / "elsewhere").exists()
    with pytest.raises(SystemExit, match="never overwritten"):
        keytool.main(["new", str(key_file), "--no-passphrase"])
    wrong = tmp_path / "wrong"
    wrong.write_text("not it")
    with pytest.raises(SystemExit, match="Cannot read the key file"):
        keytool.main(["open", str(key_file), str(sealed), "--passphrase-file", str(wrong),
                      "--out", str(tmp_path / "other.csv")])


# --- registering it -----------------------------------------------------------------------------

def test_an_observer_registers_the_key_with_a_code_and_only_its_fingerprint_is_audited(oscar):
    _private, pem = _key_pair()
    _client, page = _register(oscar, pem)
    key = association_key.current()
    assert key is not None and key.registered_by == oscar
    assert sealing.grouped(key.fingerprint) in page.content.decode()
    entry = AuditEntry.objects.get(action="association_key.registered")
    assert entry.payload == {"fingerprint": key.fingerprint, "retired_key": ""}
    assert "PUBLIC KEY" not in str(AuditEntry.objects.values_list("payload", flat=True)[::1])


def test_a_wrong_code_registers_nothing(oscar):
    _private, pem = _key_pair()
    client = signed_in_with_code(oscar)
    device = oscar.totpdevice_set.get(confirmed=True)
    page = client.post(reverse("association_key"), {"public_key": pem,
                                                    "code": wrong_code(device)})
    assert "That code is not valid now" in page.content.decode()
    assert not AssociationKey.objects.exists()


def test_a_private_key_pasted_by_mistake_is_refused_and_kept_nowhere(oscar):
    private, _pem = _key_pair()
    secret = sealing.private_pem(private, None).decode()
    _client, page = _register(oscar, secret)
    assert "This is a private key: it was not kept" in page.content.decode()
    assert secret.splitlines()[1] not in page.content.decode()  # not even sent back
    assert "no-store" in page.headers["Cache-Control"]
    assert not AssociationKey.objects.exists()
    kept = str(list(AuditEntry.objects.values_list("payload", flat=True)))
    assert secret.splitlines()[1] not in kept


NOT_A_KEY = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"


def _other_kind_of_key():
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        sealing.serialization.Encoding.PEM,
        sealing.serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.mark.parametrize("pasted", [
    "", "   ", NOT_A_KEY, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA", "ＡＢＣ",
    "Our key:\n" + _key_pair()[1],  # something before the block
    _key_pair()[1] + "\n" + _key_pair()[1],  # two blocks: which one?
    _other_kind_of_key(),
])
def test_what_is_not_a_public_key_is_refused_with_a_clear_message(oscar, pasted):
    _client, page = _register(oscar, pasted)
    assert page.status_code == 200 and not AssociationKey.objects.exists()
    assert "is-invalid" in page.content.decode() and "(not " not in page.content.decode()


@pytest.mark.parametrize("who", ["olivia", "sam", "audrey", "adam"])
def test_nobody_but_an_observer_of_the_association_registers_a_key(request, who):
    person = request.getfixturevalue(who)
    _private, pem = _key_pair()
    response = client_for(person).post(reverse("association_key"), {"public_key": pem,
                                                                    "code": "123456"})
    assert response.status_code == 403 and not AssociationKey.objects.exists()
    assert AuditEntry.objects.filter(action="access.denied").exists()


def test_a_new_key_retires_the_old_one_and_a_retired_key_never_comes_back(oscar):
    _p1, first = _key_pair()
    _p2, second = _key_pair()
    client, _page = _register(oscar, first)
    old = association_key.current()
    _register(oscar, second, client=client)
    assert association_key.current().fingerprint != old.fingerprint
    old.refresh_from_db()
    assert not old.current and old.retired_at is not None
    assert AuditEntry.objects.filter(action="association_key.registered").last().payload[
        "retired_key"] == old.fingerprint
    _client, page = _register(oscar, first, client=client)
    assert "registered before" in page.content.decode()
    assert association_key.current().fingerprint != old.fingerprint


# --- what leaves: the incident report --------------------------------------------------------

def _values(roster):
    return [value for m in member_data.rows(roster) for value in (m.name, m.email)]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_incident_report_with_member_data_leaves_only_sealed_to_the_association(
        sent, roster, oscar, sam, fmt):
    _response, plain = _download(oscar, sent, fmt)  # before the key: as it was
    private, pem = _key_pair()
    signed_in, _page = _register(oscar, pem)  # oscar now signs in with a code
    for user, client in ((sam, None), (oscar, signed_in)):
        response, blob = _download(user, sent, fmt, client=client)
        assert response["Content-Disposition"].endswith(f'.{fmt}.sealed"')
        assert not any(value.encode() in blob or value.encode("utf-16-le") in blob
                       for value in _values(roster))
        header, opened = sealing.open_sealed(blob, private)
        assert header.name == f"incident-campaign-{sent.pk}.{fmt}"
        if fmt == "csv":
            assert opened == plain  # the same report, only the association can read it
            rows = list(csv.reader(io.StringIO(opened.decode("utf-8-sig"))))
            assert len(rows) == 2 + sent.deliveries.count()
    entries = AuditEntry.objects.filter(action="campaign.incident_report_exported")
    assert [e.payload.get("sealed_to") for e in entries] == [
        None, association_key.current().fingerprint, association_key.current().fingerprint]


def test_the_report_without_member_data_is_not_sealed(sent, oscar, audrey):
    _register(oscar, _key_pair()[1])
    response, body = _download(audrey, sent)
    assert response["Content-Disposition"].endswith('.csv"') and b"W" in body


def _swap_in(public):
    AssociationKey.objects.filter(current=True).update(
        public_key=sealing.raw_public(public), fingerprint=sealing.fingerprint(public))


def _forged_entry(public, actor, *, well_hashed):
    """An `association_key.registered` entry naming `public`, appended by whoever can write
    to the database: with a made-up hash, or hashed as the chain does (audit.record)."""
    payload = {"fingerprint": sealing.fingerprint(public), "retired_key": ""}
    if well_hashed:
        with transaction.atomic():
            audit.record("association_key.registered", actor=actor, role="observer",
                         payload=payload)
        return
    head = AuditEntry.objects.order_by("-sequence").first()
    with contextlib.suppress(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(  # PostgreSQL's trigger refuses it already; SQLite's table takes it
            "INSERT INTO audit_auditentry (sequence, created_at, actor_id, actor_name, role, "
            "organisation, action, object_type, object_id, payload, prev_hash, hash) VALUES "
            "(%s, %s, %s, %s, 'observer', 'association', 'association_key.registered', '', '', "
            "%s, %s, %s)", [head.sequence + 1, head.created_at, actor.pk, actor.username,
                            json.dumps(payload), head.hash, "f" * 64])


@pytest.mark.parametrize("move", [
    "swap the key row", "mark no key current", "delete the key rows",
    "swap the row and forge an entry with a made-up hash",
    "swap the row and append a well-hashed entry in a contractor's name",
])
def test_a_key_changed_in_the_database_is_refused_never_used_nor_skipped(
        sent, oscar, sam, olivia, move):
    _register(oscar, _key_pair()[1])
    theirs = sealing.new_private_key().public_key()  # the contractor's own key
    if move == "swap the key row":
        _swap_in(theirs)
    elif move == "mark no key current":
        AssociationKey.objects.update(current=False)
    elif move == "delete the key rows":
        AssociationKey.objects.all().delete()
    else:
        _swap_in(theirs)
        _forged_entry(theirs, olivia, well_hashed="well-hashed" in move)
    response = client_for(sam).get(reverse("audit:incident", args=[sent.pk]),
                                   {"format": "csv"}, HTTP_ACCEPT_LANGUAGE="en", follow=True)
    page = response.content.decode()
    assert "Not downloaded" in page and "Nothing was sealed or handed out" in page
    assert response["Content-Type"].startswith("text/html")  # the page, no file at all
    assert not AuditEntry.objects.filter(action="campaign.incident_report_exported").exists()
    refusal = AuditEntry.objects.get(action="association_key.refused")
    assert refusal.actor_name == "sam" and refusal.payload["file"].endswith(".csv")
    key_page = client_for(sam).get(reverse("association_key"),
                                   HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "cannot be downloaded now" in key_page


def test_every_observer_is_told_of_a_new_key_by_mail(oscar, orla, mailoutbox):
    _register(oscar, _key_pair()[1])
    grouped = sealing.grouped(association_key.current().fingerprint)
    told = [m for m in mailoutbox if grouped in m.body]  # in the office's language
    assert sorted(m.to[0] for m in told) == sorted([oscar.email, orla.email])
    assert all("協会の鍵" in m.subject for m in told)
    assert AuditEntry.objects.get(action="association_key.notice_mailed").payload[
        "outcome"] == "sent"


def test_the_demo_writes_the_association_key_file_and_registers_its_public_key(oscar, tmp_path):
    from web import demo_story

    key_file = demo_story.association_key_file(tmp_path)
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    private = sealing.load_private(key_file.read_bytes(), None)
    assert association_key.current().fingerprint == sealing.fingerprint(private.public_key())
    assert demo_story.association_key_file(tmp_path) == key_file  # the next start: the same
    assert AssociationKey.objects.count() == 1


def test_anchors_and_deletion_certificates_name_the_key_so_a_swap_is_noticed(
        roster, oscar, mailoutbox):
    from campaigns import notices, retention

    notices.send_anchor("schedule")
    assert "registered no key yet" in mailoutbox[-1].body
    _register(oscar, _key_pair()[1])
    grouped = sealing.grouped(association_key.current().fingerprint)
    notices.send_anchor("schedule")
    assert grouped in mailoutbox[-1].body
    assert AuditEntry.objects.filter(action="audit.anchor_mailed").last().payload[
        "association_key"] == association_key.current().fingerprint
    member = next(member_data.rows(roster))
    certificate = retention.erase_member(address=member.email, actor=oscar)
    assert certificate.document["association_key"] == association_key.current().fingerprint
    assert grouped in retention.certificate_text(certificate)  # what is mailed and shown


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("before", [False, True], ids=["first key", "replacing a key"])
def test_two_observers_registering_at_once_leave_one_current_key_and_a_message(
        oscar, orla, before):
    import threading

    if before:
        association_key.register(user=oscar, pem=_key_pair()[1])
    outcomes, start = [], threading.Barrier(2)

    def register(observer):
        start.wait()
        try:
            association_key.register(user=observer, pem=_key_pair()[1])
            outcomes.append("registered")
        except ValidationError as refusal:
            outcomes.append(refusal.messages[0][:20])
        finally:
            connection.close()

    threads = [threading.Thread(target=register, args=(who,)) for who in (oscar, orla)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert "registered" in outcomes and len(outcomes) == 2
    assert AssociationKey.objects.filter(current=True).count() == 1
    assert association_key.problem() == ("", "")  # the current key is the one the log names


def test_an_observer_who_left_does_not_void_the_key_they_registered(sent, oscar, sam):
    _register(oscar, _key_pair()[1])
    User.objects.filter(pk=oscar.pk).update(is_active=False)  # deactivated since
    response, blob = _download(sam, sent)
    assert response["Content-Disposition"].endswith('.csv.sealed"')
    assert blob.startswith(sealing.MAGIC)


def test_the_recovery_key_on_paper_restores_the_key_and_a_typo_is_caught(tmp_path, capsys):
    key_file, restored = tmp_path / "association.key", tmp_path / "restored.key"
    fixed = X25519PrivateKey.from_private_bytes(bytes(range(32)))  # the same paper every run
    key_file.write_bytes(sealing.private_pem(fixed, None))
    keytool.main(["recovery", str(key_file)])
    printed = capsys.readouterr().out
    paper = next(line for line in printed.splitlines() if line.startswith("CSRK "))
    original = sealing.load_private(key_file.read_bytes(), None)
    blob = sealing.seal(b"W1,a@example.jp\n", original.public_key(), name="r.csv",
                        made="2026-12-06T00:00:00Z")
    typed = tmp_path / "typed"
    # typed back from paper: lower case, other breaks, 0 and 1 read for O and I (not in base32)
    assert "O" in paper and "I" in paper
    typed.write_text(paper.lower().replace(" ", "-", 3).replace("o", "0").replace("i", "1") + "\n")
    keytool.main(["restore", str(restored), "--from-file", str(typed), "--no-passphrase"])
    assert sealing.grouped(sealing.fingerprint(original.public_key())) in capsys.readouterr().out
    again = sealing.load_private(restored.read_bytes(), None)
    assert sealing.open_sealed(blob, again)[1] == b"W1,a@example.jp\n"
    groups = paper.split()
    at = next(i for i, group in enumerate(groups) if i and group != group[::-1])
    for wrong in (groups[:at] + [groups[at][::-1]] + groups[at + 1:],  # letters swapped
                  groups[:-1],  # a group left out
                  ["CSRX", *groups[1:]]):
        typed.write_text(" ".join(wrong))
        with pytest.raises(SystemExit, match="Not restored"):
            keytool.main(["restore", str(tmp_path / "other.key"), "--from-file", str(typed),
                          "--no-passphrase"])
    assert not (tmp_path / "other.key").exists()


def test_the_key_file_s_passphrase_costs_600000_rounds_of_pbkdf2():
    """cryptography's BestAvailableEncryption gives PKCS #8 files 2,048 iterations: a stolen
    key file's passphrase would be cheap to guess. The key tool writes PBES2 at OWASP's
    figure, in the format the pages' script writes and reads."""
    import base64

    private = sealing.new_private_key()
    pem = sealing.private_pem(private, b"correct horse")
    der = base64.b64decode("".join(pem.decode().splitlines()[1:-1]))
    assert b"\x02\x03\x09\x27\xc0" in der  # INTEGER 600000
    assert sealing.fingerprint(sealing.load_private(pem, b"correct horse").public_key()) == \
        sealing.fingerprint(private.public_key())
    with pytest.raises(ValueError):
        sealing.load_private(pem, b"wrong")
