"""An outsider verifies the log with Python alone: the verify page offers chain.py with its
SHA-256, and the completion notice says what to run."""

import hashlib
import subprocess
import sys

from django.conf import settings
from django.urls import reverse

from campaigns.seen import Seen
from tests.audit_helpers import write_entries
from tests.factories import client_for, run_until_done


def test_the_verify_page_offers_the_script_and_its_hash(audrey, oscar, tmp_path):
    shipped = (settings.BASE_DIR / "audit" / "chain.py").read_bytes()
    page = client_for(audrey).get(reverse("audit:verify")).content.decode()
    assert hashlib.sha256(shipped).hexdigest() in page and reverse("audit:chain_script") in page
    response = client_for(oscar).get(reverse("audit:chain_script"))
    assert response.status_code == 200 and response.content == shipped
    assert 'filename="chain.py"' in response["Content-Disposition"]


def test_the_downloaded_script_verifies_an_export_on_its_own(audrey, tmp_path):
    write_entries(3)
    client = client_for(audrey)
    (tmp_path / "chain.py").write_bytes(client.get(reverse("audit:chain_script")).content)
    export = client.get(reverse("audit:export"))
    (tmp_path / "audit.csv").write_bytes(b"".join(export.streaming_content))
    result = subprocess.run([sys.executable, "-I", "chain.py", "audit.csv"], cwd=tmp_path,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout.startswith("OK"), result.stdout


def test_the_completion_notice_tells_an_outsider_what_to_run(released, sink):
    from campaigns import workflow

    run_until_done(released)
    workflow.confirm_canary(campaign=released, seen=Seen.current(released),
                            user=released.signoffs.first().user)
    sink.handler.received.clear()
    run_until_done(released)
    (notice,) = [n for n in sink.handler.notices() if "Complete" in str(n["Subject"])]
    body = notice.get_content()
    shipped = (settings.BASE_DIR / "audit" / "chain.py").read_bytes()
    assert reverse("audit:chain_script") in body and hashlib.sha256(shipped).hexdigest() in body
    assert "python chain.py audit-export.csv --anchor" in body
