"""Attack on 744a199's keyfile.js under Node.js (as tests/test_keyfile_js.py runs it).

1. Held: garbled and truncated key files (bad DER lengths, huge length fields, cut anywhere)
   are refused at once, with a message; a worker key that is not a key (low order, wrong
   length) is refused as the key tool refuses it.
2. A key file whose PBKDF2 iteration count is huge (2**31 - 1) is not refused: the page
   derives for tens of minutes, says nothing ("errors are shown, never swallowed"), while the
   key tool's own files use 2048. A cap (and a "working" status) is missing.
"""

import base64
import json
import shutil
import subprocess

import pytest
from django.conf import settings

from countersign import sealing

SCRIPT = settings.BASE_DIR / "countersign" / "static" / "countersign" / "keyfile.js"
pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")


def _in_node(tmp_path, source: str, timeout=20) -> str:
    program = tmp_path / "run.mjs"
    program.write_text(f'import {{ loadKey, makeGrant }} from "{SCRIPT}";\n' + source)
    done = subprocess.run(["node", str(program)], check=False, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _pem(der: bytes) -> str:
    body = base64.b64encode(der).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "\n".join(["-----BEGIN ENCRYPTED PRIVATE KEY-----", *lines,
                      "-----END ENCRYPTED PRIVATE KEY-----", ""])


def _der(private) -> bytes:
    pem = sealing.private_pem(private, b"pass").decode()
    return base64.b64decode("".join(pem.splitlines()[1:-1]))


def test_garbled_key_files_are_refused_at_once(tmp_path):
    der = _der(sealing.new_private_key())
    files = [der[:n] for n in range(0, len(der), 7)]
    files += [der[:1] + b"\x84\xff\xff\xff\xff" + der[2:],     # a huge length
              der[:1] + b"\xff" + der[2:],                      # 127 length bytes
              bytes([0x30, 0x80]) + der[2:],                    # indefinite length
              der[:20] + b"\x30\x00" * 40 + der[20:]]
    (tmp_path / "files.json").write_text(json.dumps([_pem(f) for f in files]))
    out = _in_node(tmp_path, f"""
import {{ readFileSync }} from "fs";
for (const pem of JSON.parse(readFileSync("{tmp_path / 'files.json'}", "utf8"))) {{
  try {{ await loadKey(pem, "pass"); console.log("LOADED"); }}
  catch (error) {{ console.log(error.message ? "refused" : "SILENT"); }}
}}
""")
    assert set(out.split()) == {"refused"}


def test_a_key_file_with_a_huge_iteration_count_is_refused_at_once(tmp_path):
    """A key file (the key tool's layout) asking 2**31-1 PBKDF2 iterations."""
    def oid(hex_text):
        return sealing._der(0x06, bytes.fromhex(hex_text))

    changed = sealing._sequence(
        sealing._sequence(oid(sealing._OID_PBES2), sealing._sequence(
            sealing._sequence(oid(sealing._OID_PBKDF2), sealing._sequence(
                sealing._der(0x04, b"s" * 16), sealing._der(0x02, b"\x7f\xff\xff\xff"),
                sealing._sequence(oid(sealing._OID_HMAC_SHA256), b"\x05\x00"))),
            sealing._sequence(oid(sealing._OID_AES256_CBC), sealing._der(0x04, b"i" * 16)))),
        sealing._der(0x04, b"d" * 64))
    (tmp_path / "key.pem").write_text(_pem(changed))
    try:
        out = _in_node(tmp_path, f"""
import {{ readFileSync }} from "fs";
try {{ await loadKey(readFileSync("{tmp_path / 'key.pem'}", "utf8"), "pass");
      console.log("loaded"); }}
catch (error) {{ console.log("refused: " + error.message); }}
""", timeout=15)
    except subprocess.TimeoutExpired:
        pytest.fail("loadKey ran PBKDF2 with 2**31-1 iterations (still deriving after 15 s)")
    assert out.startswith("refused")
