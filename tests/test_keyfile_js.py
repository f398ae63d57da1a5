"""The pages' key script (issue 22, item 1: the key made in the observer's browser, the key
file loaded into the page and never uploaded) makes what the key tool makes, byte for byte:
the grant in the sealed format, the key file under its passphrase and the paper copy. Run
under Node.js here (its Web Cryptography API is the browser's), checked by
countersign.sealing. The browser itself is tests/e2e/test_association_key.py."""

import base64
import json
import shutil
import subprocess

import pytest
from django.conf import settings

from countersign import sealing

SCRIPT = settings.BASE_DIR / "countersign" / "static" / "countersign" / "keyfile.js"
pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")


def _in_node(tmp_path, source: str) -> str:
    program = tmp_path / "run.mjs"
    program.write_text(f'import {{ loadKey, makeGrant }} from "{SCRIPT}";\n' + source)
    done = subprocess.run(["node", str(program)], check=False, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("passphrase", [b"correct horse battery staple", None])
def test_the_pages_grant_opens_in_the_worker_as_the_key_tools_does(tmp_path, passphrase):
    association, worker = sealing.new_private_key(), sealing.new_private_key()
    data_key = bytes(range(32))
    request = {
        "kind": sealing.GRANT_REQUEST, "campaign": 7, "name": "見舞金", "roster": 12,
        "key_roster": 5, "content_hash": "ab" * 32, "not_after": "2026-12-07T00:00:00Z",
        "data_key_seals": {sealing.fingerprint(association.public_key()): base64.b64encode(
            sealing.seal(data_key, association.public_key(), name=sealing.data_key_name(5),
                         made="2026-12-06T00:00:00Z")).decode()},
        "workers": [{"name": "host:1", "fingerprint": sealing.fingerprint(worker.public_key()),
                     "public_key": base64.b64encode(sealing.raw_public(worker.public_key()))
                     .decode()}]}
    (tmp_path / "key.pem").write_bytes(sealing.private_pem(association, passphrase))
    (tmp_path / "request.json").write_text(json.dumps(request))
    out = _in_node(tmp_path, f"""
import {{ readFileSync }} from "fs";
const key = await loadKey(readFileSync("{tmp_path / 'key.pem'}", "utf8"),
                          {json.dumps((passphrase or b"").decode())});
const request = JSON.parse(readFileSync("{tmp_path / 'request.json'}", "utf8"));
console.log(JSON.stringify(await makeGrant(request, key, "2026-12-06T01:00:00Z")));
""")
    grant = json.loads(out)
    expected = sealing.make_grant(request, association, made="2026-12-06T01:00:00Z")
    assert {k: v for k, v in grant.items() if k != "seals"} == {
        k: v for k, v in expected.items() if k != "seals"}
    header, opened = sealing.open_sealed(base64.b64decode(grant["seals"][
        sealing.fingerprint(worker.public_key())]), worker)
    assert opened == data_key and header.name == sealing.grant_name(
        campaign=7, roster=12, content_hash="ab" * 32, not_after="2026-12-07T00:00:00Z")


def test_the_page_refuses_a_wrong_passphrase_and_another_rosters_key(tmp_path):
    association = sealing.new_private_key()
    (tmp_path / "key.pem").write_bytes(sealing.private_pem(association, b"right"))
    seal = base64.b64encode(sealing.seal(b"k" * 32, association.public_key(),
                                         name=sealing.data_key_name(99), made="x")).decode()
    request = {"kind": sealing.GRANT_REQUEST, "campaign": 1, "roster": 12, "content_hash": "c",
               "not_after": "n", "workers": [],
               "data_key_seals": {sealing.fingerprint(association.public_key()): seal}}
    (tmp_path / "request.json").write_text(json.dumps(request))
    out = _in_node(tmp_path, f"""
import {{ readFileSync }} from "fs";
const pem = readFileSync("{tmp_path / 'key.pem'}", "utf8");
for (const passphrase of ["wrong", "right"]) {{
  try {{
    const key = await loadKey(pem, passphrase);
    await makeGrant(JSON.parse(readFileSync("{tmp_path / 'request.json'}", "utf8")), key, "m");
    console.log("made");
  }} catch (error) {{ console.log(error.message); }}
}}
""")
    assert out.splitlines() == ["wrong passphrase", "the request's data key is another roster's"]


def test_a_key_made_by_the_page_opens_with_the_key_tool_and_its_paper_copy(tmp_path):
    out = _in_node(tmp_path, f"""
import {{ newKey }} from "{SCRIPT}";
console.log(JSON.stringify(await newKey("correct horse battery")));
""")
    made = json.loads(out)
    private = sealing.load_private(made["keyFile"].encode(), b"correct horse battery")
    assert made["keyFile"].startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert sealing.fingerprint(private.public_key()) == made["fingerprint"] == \
        sealing.fingerprint(sealing.load_public(made["publicPem"]))
    assert made["recovery"] == sealing.recovery_text(private)
    with pytest.raises(ValueError):
        sealing.load_private(made["keyFile"].encode(), b"another passphrase")
