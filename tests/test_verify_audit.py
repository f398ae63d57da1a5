"""verify_audit walks the chain and names the first entry that does not verify."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from audit import triggers
from tests.audit_helpers import raw, write_entries


def verify(*args):
    from io import StringIO

    out = StringIO()
    call_command("verify_audit", *args, stdout=out)
    return out.getvalue()


def test_an_intact_chain_verifies_with_its_count(db):
    write_entries(5)
    assert "5 entries verified" in verify()


def test_an_empty_log_verifies(db):
    assert "0 entries verified" in verify()


def test_an_altered_entry_is_named(db):
    write_entries(5)
    triggers.uninstall(connection)  # what an attacker with database rights would do first
    raw("UPDATE audit_auditentry SET payload = %s WHERE sequence = 3", ['{"i": 99}'])
    with pytest.raises(CommandError, match=r"FAILED at entry 3: content does not match"):
        verify()


def test_an_altered_actor_is_named(olivia, sam):
    write_entries(3, actor=olivia)
    triggers.uninstall(connection)
    raw("UPDATE audit_auditentry SET actor_name = 'sam' WHERE sequence = 2")
    with pytest.raises(CommandError, match="entry 2"):
        verify()


def test_a_deleted_entry_in_the_middle_is_found(db):
    write_entries(5)
    triggers.uninstall(connection)
    raw("DELETE FROM audit_auditentry WHERE sequence = 3")
    with pytest.raises(CommandError, match=r"FAILED at entry 4: expected sequence 3"):
        verify()


def test_reordered_entries_are_found(db):
    write_entries(5)
    triggers.uninstall(connection)
    raw("UPDATE audit_auditentry SET sequence = 1000 WHERE sequence = 2")
    raw("UPDATE audit_auditentry SET sequence = 2 WHERE sequence = 3")
    raw("UPDATE audit_auditentry SET sequence = 3 WHERE sequence = 1000")
    with pytest.raises(CommandError, match="FAILED at entry 2"):
        verify()


def test_a_rewritten_chain_is_caught_by_the_anchor_kept_elsewhere(db):
    entries = write_entries(3)
    anchor = entries[1].hash  # the association kept this head after the second entry
    assert "anchor" in verify("--anchor", anchor)
    with pytest.raises(CommandError, match="anchor hash is not in the chain"):
        verify("--anchor", "f" * 64)


def test_missing_triggers_fail_verification_even_when_the_chain_is_intact(db):
    write_entries(2)
    triggers.uninstall(connection)
    missing = r"triggers are not as defined: .*\(missing\)"
    with pytest.raises(CommandError, match=missing) as failure:
        verify()
    assert failure.value.returncode == 3
    assert "3 entries verified" in verify("--reinstall-triggers")  # 2 + the failed check
