"""Attack on fc63098 (the incident report of a held roster, opened by keytool open).

1. The bundle says itself which column the row is bound to ("fill"): the server points
   "member_number" at another column (Message-ID, say) that holds member A's number while the
   line's Member number column reads B. The key tool opens A's row, bound to A, correctly,
   and writes A's name and address on B's line.
2. The incident report of a campaign on a part of a held roster (the rest of a stopped
   campaign) never opens: the part's data key seal is named for the roster it was cut from,
   and the bundle carries no key_roster, so open_incident refuses it as "another roster's".
"""


import pytest

from campaigns import key_window, reports
from countersign import sealing
from roster import member_data, services
from roster.models import Member
from roster.samples import sample_rows
from tests.factories import make_roster, run_until_done
from tests.test_release_window import _approved, _grant, _release

ROWS = sample_rows(6)


@pytest.fixture(autouse=True)
def _a_fresh_worker_key():
    key_window.forget_process_key()
    yield
    key_window.forget_process_key()


def test_a_name_never_lands_on_another_members_line_whatever_fill_says(
        oscar, association_private_key):
    roster = make_roster(oscar, rows=ROWS)
    a = Member.objects.get(roster=roster, member_number="W000001")
    sealed = member_data.sealed_rows([a.pk])[a.pk]
    held = str(reports.HELD_BY_ASSOCIATION)
    # The server's bundle: the line reads member W000002; the Message-ID column holds A's
    # number, and "fill" binds the row to that column.
    bundle = {
        "kind": sealing.INCIDENT, "campaign": 1, "roster": roster.pk,
        "header": [["member_number", "name", "email", "outcome", "message_id"],
                   ["Member number", "Name", "E-mail address", "Outcome", "Message-ID"]],
        "fill": {"member_number": 4, "name": 1, "email": 2},
        "data_key_seals": roster.data_key_seals,
        "rows": [["W000002", held, held, "sent", "W000001"]],
        "sealed": [sealed]}
    (line,) = sealing.open_incident(bundle, association_private_key)
    # The line is member W000002's: W000001's name and address must not be written on it.
    assert ROWS[0][1] not in line and ROWS[0][2] not in line, line


def test_the_incident_report_of_a_part_of_a_held_roster_opens_at_the_association(
        olivia, sam, oscar, sink, association_private_key):
    whole = make_roster(oscar, rows=ROWS)
    part = services.roster_subset(roster=whole, member_ids=list(
        whole.members.order_by("row_number").values_list("pk", flat=True)[:3]),
        name="残り", reason="the rest of a stopped campaign", actor=olivia)
    campaign = _approved(olivia, sam, part)
    _release(campaign, oscar, _grant(campaign, association_private_key))
    run_until_done(campaign)
    bundle = reports.incident_bundle(campaign)
    assert len(bundle["rows"]) == 3
    rows = sealing.open_incident(bundle, association_private_key)  # NotSealed today
    assert {row[2] for row in rows} == {r[2] for r in ROWS[:3]}  # the third column, always


def test_the_name_and_address_cells_are_only_what_the_key_tool_opened(
        oscar, association_private_key):
    """A line without ciphertext keeps whatever the server wrote in its name and address
    cells: the association's CSV then lists an address nobody sealed, as if it were the
    member's (the association writes to members from this file)."""
    roster = make_roster(oscar, rows=ROWS)
    bundle = {
        "kind": sealing.INCIDENT, "campaign": 1, "roster": roster.pk,
        "header": [["member_number", "name", "email"], ["Member number", "Name", "E-mail"]],
        "fill": {"member_number": 0, "name": 1, "email": 2},
        "data_key_seals": roster.data_key_seals,
        "rows": [["W000001", "山田 太郎", "reply-here@attacker.example"]],
        "sealed": [None]}
    (line,) = sealing.open_incident(bundle, association_private_key)
    assert "reply-here@attacker.example" not in line, line
