"""The whole countersign story leaves exactly one audit entry per step, each with the hash."""

from audit.models import AuditEntry
from audit.verification import verify_database


def test_each_transition_writes_exactly_one_entry_with_the_content_hash(released):
    campaign_entries = AuditEntry.objects.about(released).exclude(action="campaign.notified")
    actions = list(campaign_entries.values_list("action", flat=True))
    assert actions == ["campaign.created", "campaign.submitted", "campaign.test_sent",
                       "campaign.approved", "campaign.released"]
    told = AuditEntry.objects.about(released).filter(action="campaign.notified")
    assert [(e.payload["event"], e.payload["to"]) for e in told][-1] == ("approve", ["oscar"])
    for entry in campaign_entries:
        assert len(entry.payload["content_hash"]) == 64, entry.action
    hashes = {e.payload["content_hash"] for e in campaign_entries}
    assert hashes == {released.content_hash}
    roles = list(campaign_entries.values_list("actor_name", "role"))
    assert roles == [("olivia", "operator"), ("olivia", "operator"), ("olivia", "operator"),
                     ("sam", "supervisor"), ("oscar", "observer")]
    assert verify_database().ok


def test_author_supervisor_and_observer_are_three_people(released):
    people = set(AuditEntry.objects.filter(
        action__in=["campaign.submitted", "campaign.approved", "campaign.released"]
    ).values_list("actor_name", flat=True))
    assert people == {"olivia", "sam", "oscar"}
