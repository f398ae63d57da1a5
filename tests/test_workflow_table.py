"""The state machine is one table: the checks, the buttons and the diagram come from it."""

import pytest
from django.urls import reverse

from campaigns import workflow
from campaigns.states import LIVE_STATES, TRANSITIONS, Rule, State
from tests.factories import client_for


def test_every_transition_names_its_audit_action_and_moves_only_between_known_states():
    for name, t in TRANSITIONS.items():
        assert t.audit is not None and str(t.audit).startswith(("campaign.", "audit.")), name
        assert set(t.applies_in) <= set(State) and set(t.targets) <= set(State), name
        assert t.roles or t.worker, f"{name}: nobody may take it"


@pytest.mark.parametrize("action", [a for a, t in TRANSITIONS.items() if t.roles])
def test_a_role_the_table_does_not_name_is_refused_by_the_check(action, everyone, draft):
    for who in ("audrey", "mallory"):
        verdict = workflow.can(action, draft, everyone[who])
        assert not verdict and verdict.error.code == "role", (action, who)


def test_the_worker_may_take_only_the_moves_the_table_gives_it(draft):
    worker_moves = {name for name, t in TRANSITIONS.items() if t.worker}
    assert worker_moves == {"lapse", "start", "refuse_start", "hold", "pause",
                            "refuse_message", "complete", "recount", "expire"}
    for name in TRANSITIONS:
        if name not in worker_moves:
            assert workflow.can(name, draft, None).error.code == "role", name


def test_the_rules_of_separation_of_duties_are_in_the_table():
    assert TRANSITIONS["approve"].rule == Rule.NOT_AUTHOR
    assert TRANSITIONS["release"].rule == Rule.NOT_AUTHOR_OR_APPROVER
    assert TRANSITIONS["submit"].rule == Rule.AUTHOR
    assert LIVE_STATES == TRANSITIONS["stop"].applies_in


def test_the_page_shows_exactly_the_buttons_the_table_allows(approved, olivia, sam, oscar):
    for user in (olivia, sam, oscar):
        can = workflow.checks_for(approved, user)
        page = client_for(user).get(reverse("campaigns:detail", args=[approved.pk]),
                                    HTTP_ACCEPT_LANGUAGE="en").content.decode()
        for action in ("cancel", "edit"):
            button = reverse(f"campaigns:{action}", args=[approved.pk])
            assert (button in page) == bool(can[action]), (user, action)
        assert (reverse("campaigns:release", args=[approved.pk]) in page) == bool(
            can["release"] or can["reject"] and user == oscar), user
