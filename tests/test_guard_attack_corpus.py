"""The attacker's corpus (tests/guard_corpus.py), each case through the real workflow to a
real SMTP sink on loopback, in two modes:

* `submit_on`: as the app runs: the guard at submit and at start, and before each hand-over;
* `hand_over_only`: the submit-time check switched off (it also runs at start), so that only
  the check of each rendered message before its hand-over protects the members.

A disguise reaches a member when any message of its campaign arrives at the sink; it must
reach none (refused at submit, at start or before a hand-over, all the same). An ordinary
notice must be submitted without refusal and reach every member.

Cases today's guard gets wrong are marked xfail(strict=True) per mode, from a run on main
(`TODAY` below): once the guard catches one, its xfail fails and the mark must go. Counts by
class and mode: `python bench/guard_corpus.py`.
"""

import pytest

from campaigns import guard
from campaigns.findings import GuardReport
from tests import guard_corpus as corpus

MODES = ("submit_on", "hand_over_only")

BOTH = frozenset(MODES)
# What today's guard gets wrong, by case and mode: a disguise that reaches members, a notice
# that is refused. From `python bench/guard_corpus.py --failing` on main after issue 20 and
# this corpus were merged (issue 21, items 1 to 4 and the corpus's finds: romaji in one
# spelling, +81), then narrowed by each class the guard learnt since (tags before each
# hand-over, encodings, look-alikes, member numbers, addresses, furigana, puzzles, local
# parts, dates, then a prefix written once, lists read side by side and one other member
# named alone): none left, and no notice is refused.
TODAY: dict[str, frozenset] = {}


def _reason(case) -> str:
    return "issue 21: " + ("false refusal" if case.cls == "notice" else case.cls)


def _params(cases) -> list:
    return [pytest.param(case, mode, id=f"{case.key}-{mode}", marks=[
        pytest.mark.xfail(strict=True, reason=_reason(case))]
        if mode in TODAY.get(case.key, ()) else []) for case in cases for mode in MODES]


@pytest.fixture
def campaign_roster(olivia, oscar):
    return corpus.setting_up(olivia, oscar)


@pytest.fixture
def drive(campaign_roster, olivia, sam, oscar, sink, monkeypatch):
    def drive(case, mode):
        if mode == "hand_over_only":
            monkeypatch.setattr(guard, "check_campaign_content", lambda **kw: GuardReport())
        return corpus.drive(case, campaign_roster, (olivia, sam, oscar), sink.handler)
    return drive


@pytest.mark.parametrize(("case", "mode"), _params(corpus.DISGUISES))
def test_a_disguised_leak_reaches_no_member(drive, case, mode):
    outcome = drive(case, mode)
    assert outcome.reached == 0, (
        f"{outcome.reached} of {outcome.members} members got {case.key}")


@pytest.mark.parametrize(("case", "mode"), _params(corpus.NOTICES))
def test_an_ordinary_notice_is_not_refused_and_reaches_every_member(drive, case, mode):
    outcome = drive(case, mode)
    assert (outcome.refused_at, outcome.reached) == ("", outcome.members)


# --- the same corpus once only the association holds the rosters' keys (issue 22) -------------
# The check at submit then runs on the rosters' keyed tags and synthetic previews; the check
# before each hand-over on what the observer's grant opens in the worker, and on the tags of
# the rosters it does not open: the same outcome is required of both. Every third disguise
# and every notice here, as the app runs; `python bench/guard_corpus.py --held` runs them
# all in both modes (bench/RESULTS.md).
HELD_DISGUISES = corpus.DISGUISES[::3]

@pytest.fixture
def held_drive(olivia, sam, oscar, sink, monkeypatch):
    import functools

    from countersign import association_key, sealing
    from tests import factories

    private = sealing.new_private_key()
    association_key.register(user=oscar, pem=sealing.public_pem(private.public_key()))
    monkeypatch.setattr(factories, "through_the_countersign", functools.partial(
        factories.through_the_countersign, association_key=private))
    roster = corpus.setting_up(olivia, oscar)

    def drive(case, mode):
        if mode == "hand_over_only":
            monkeypatch.setattr(guard, "check_campaign_content", lambda **kw: GuardReport())
        return corpus.drive(case, roster, (olivia, sam, oscar), sink.handler)
    return drive


@pytest.mark.parametrize("case", HELD_DISGUISES, ids=[c.key for c in HELD_DISGUISES])
def test_with_the_keys_held_by_the_association_a_disguised_leak_reaches_no_member(
        held_drive, case):
    outcome = held_drive(case, "submit_on")
    assert outcome.reached == 0, (
        f"{outcome.reached} of {outcome.members} members got {case.key}")


@pytest.mark.parametrize("case", corpus.NOTICES, ids=[c.key for c in corpus.NOTICES])
def test_with_the_keys_held_by_the_association_a_notice_reaches_every_member(
        held_drive, case):
    outcome = held_drive(case, "submit_on")
    assert (outcome.refused_at, outcome.reached) == ("", outcome.members)


def test_every_case_marked_as_wrong_today_is_in_the_corpus_in_a_known_mode():
    keys = {case.key for case in (*corpus.DISGUISES, *corpus.NOTICES)}
    assert set(TODAY) <= keys, sorted(set(TODAY) - keys)
    assert all(modes <= BOTH for modes in TODAY.values())


def test_the_corpus_is_as_large_as_issue_21_asks():
    assert len(corpus.DISGUISES) >= 100 and len(corpus.NOTICES) >= 30
    assert {case.cls for case in corpus.DISGUISES} == set(corpus.CLASSES)
