"""Issue 22, "Guard equivalence": with the rosters' keys held by the association, the check
at submit runs on keyed tags (no window is open), the worker's on the values its window opens.
Over the attacker's corpus, each disguise gets the same findings both ways (the kind and
whose data), and each ordinary notice none."""

import base64

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from campaigns import guard, guard_index
from countersign import association_key, sealing
from roster import data_keys
from tests import guard_corpus as corpus


@pytest.fixture
def held(olivia, oscar):
    private = sealing.new_private_key()
    association_key.register(user=oscar, pem=sealing.public_pem(private.public_key()))
    roster = corpus.setting_up(olivia, oscar)
    (seal,) = roster.data_key_seals.values()
    _header, data_key = sealing.open_sealed(base64.b64decode(seal), private)
    return roster, AESGCM(data_key)


def _found(roster, case, window=None):
    guard_index.forget_windowed_values()
    if window is not None:
        data_keys.open_window(roster.pk, window)
    try:
        report = guard.check_campaign_content(roster=roster, subject=case.subject,
                                              body_text=case.body_text,
                                              body_html=case.body_html)
    finally:
        data_keys.close_window(roster.pk)
        guard_index.forget_windowed_values()
    return {(f.kind, f.member) for f in report.findings}


def test_the_corpus_gets_the_same_findings_on_keyed_tags_as_in_the_window(held):
    """(Two disguises differed before the check on tags read the seam between subject and
    body, and their lists side by side, as the index's check does.)"""
    roster, window = held
    differ, cases = {}, corpus.DISGUISES + corpus.NOTICES
    for case in cases:
        on_tags, in_window = _found(roster, case), _found(roster, case, window)
        if on_tags != in_window:  # (only on tags, only in the window)
            differ[case.key] = (sorted(on_tags - in_window), sorted(in_window - on_tags))
    assert len(cases) >= 215
    assert differ == {}
    assert all(_found(roster, case) == set() for case in corpus.NOTICES[:5])
