"""The whole countersign story leaves exactly one audit entry per step, each with the hash."""

from audit.models import AuditEntry
from audit.verification import verify_database


def test_each_transition_writes_exactly_one_entry_with_the_content_hash(released):
    campaign_entries = AuditEntry.objects.filter(object_type="campaigns.campaign",
                                                 object_id=str(released.pk))
    actions = list(campaign_entries.values_list("action", flat=True))
    assert actions == ["campaign.created", "campaign.submitted", "campaign.test_sent",
                       "campaign.approved", "campaign.released"]
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
