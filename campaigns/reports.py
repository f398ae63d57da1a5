"""Reports an auditor (and the association) needs: two-person compliance, and who got what.

The compliance report is read from the audit log itself, not from the campaign tables: it
is the tamper-evident record of who did what that countermeasure 3 asks to be audited.
"""

from django.utils.translation import gettext_lazy as _

from audit.models import AuditEntry
from campaigns.actions import Action
from campaigns.labels import OUTCOMES as OUTCOMES_LABELS
from campaigns.models import Campaign, Delivery
from campaigns.workflow import OBSERVER_CHECKLIST, SUPERVISOR_CHECKLIST

COMPLIANCE_HEADER = [
    "campaign", "name", "state", "author", "supervisor", "observer", "three_distinct_people",
    "approved_hash", "released_hash", "sent_hash", "hashes_match", "supervisor_checklist_complete",
    "observer_checklist_complete", "test_send_of_sent_hash", "canary", "release_to_start_seconds",
    "flags",
]


def _entries(campaign):
    return list(AuditEntry.objects.about(campaign).order_by("sequence"))


def compliance_row(campaign) -> dict:
    """One line for a campaign that started sending, with a flag for each missing step."""
    entries = _entries(campaign)
    started = next((e for e in entries if e.action == Action.STARTED), None)
    before_start = [e for e in entries if started is None or e.sequence < started.sequence]
    sent_hash = started.payload.get("content_hash", "") if started else ""

    def last(action):
        matching = [e for e in before_start if e.action == action
                    and e.payload.get("content_hash") == sent_hash]
        return matching[-1] if matching else None

    created = next((e for e in entries if e.action == Action.CREATED), None)
    approved, released = last(Action.APPROVED), last(Action.RELEASED)
    tested = [e for e in before_start if e.action == Action.TEST_SENT
              and e.payload.get("content_hash") == sent_hash]
    held = any(e.action == Action.HELD for e in entries)
    confirmed = any(e.action == Action.CANARY_CONFIRMED for e in entries)
    author = created.actor_name if created else ""
    supervisor = approved.actor_name if approved else ""
    observer = released.actor_name if released else ""
    people = [p for p in (author, supervisor, observer) if p]

    row = {
        "campaign": campaign.pk, "name": campaign.name, "state": campaign.state,
        "state_label": campaign.get_state_display(),
        "author": author, "supervisor": supervisor, "observer": observer,
        "three_distinct_people": len(people) == 3 and len(set(people)) == 3,
        "approved_hash": approved.payload["content_hash"] if approved else "",
        "released_hash": released.payload["content_hash"] if released else "",
        "sent_hash": sent_hash,
        "supervisor_checklist_complete": bool(approved) and set(SUPERVISOR_CHECKLIST) <= set(
            approved.payload.get("checklist", [])),
        "observer_checklist_complete": bool(released) and set(OBSERVER_CHECKLIST) <= set(
            released.payload.get("checklist", [])),
        "test_send_of_sent_hash": bool(tested),
        "canary": ("off" if started and not started.payload.get("canary") else
                   "confirmed" if confirmed else "held, not confirmed" if held else "not reached"),
        "release_to_start_seconds": started.payload.get("release_to_start_seconds")
        if started else None,
    }
    row["hashes_match"] = (bool(sent_hash)
                           and row["approved_hash"] == row["released_hash"] == sent_hash)
    flags = [name for name in ("three_distinct_people", "hashes_match",
                               "supervisor_checklist_complete", "observer_checklist_complete",
                               "test_send_of_sent_hash") if not row[name]]
    if not started:
        flags.insert(0, "never_started")
    canary = started.payload.get("canary") if started else None
    if canary and not confirmed and campaign.deliveries.filter(
            state=Delivery.State.SENT).count() > canary:
        flags.append("sent_past_canary_without_confirmation")
    row["flags"] = flags
    return row


def compliance_rows():
    for campaign in Campaign.objects.filter(started_at__isnull=False).order_by("started_at"):
        yield compliance_row(campaign)


def compliance_csv_rows(rows):
    for row in rows:
        yield [row[name] if name != "flags" else " ".join(row["flags"]) or "OK"
               for name in COMPLIANCE_HEADER]


def incident_header(*, member_data: bool) -> list[str]:
    """Column titles for people (the association writes to members from this file); without
    member data (for auditors) there are no name and address columns."""
    people = (_("Name"), _("E-mail address")) if member_data else ()
    return [str(t) for t in (_("Member number"), *people, _("Outcome"), _("Sent at"),
                             "Message-ID", _("SHA-256 of the message"), _("Content hash"),
                             _("Attempts"), _("Server reply"), _("Decision"))]


def incident_export_rows(campaign, *, member_data: bool):
    """incident_rows with the outcome in the reader's language."""
    outcome = 3 if member_data else 1
    for row in incident_rows(campaign, member_data=member_data):
        yield [*row[:outcome], str(OUTCOMES_LABELS.get(row[outcome], row[outcome])),
               *row[outcome + 1:]]


OUTCOME = {
    Delivery.State.SENT: "received",
    Delivery.State.IN_DOUBT: "in doubt",
    Delivery.State.FAILED: "not received (failed)",
    Delivery.State.SKIPPED: "not received (skipped)",
    Delivery.State.PENDING: "not sent",
    Delivery.State.SENDING: "in doubt",
    Delivery.State.REFUSED: "not sent (refused by the content guard)",
}


def incident_rows(campaign, *, member_data: bool, members=None):
    """Who received exactly which content (content hash + message hash) and when, who did
    not, who is in doubt: one row per recipient of the roster (or of `members`, a page of
    them), from the delivery ledger. Without member data: the member number stands for the
    person (no name, no address)."""
    if members is None:
        members = campaign.roster.members.order_by("row_number").iterator(chunk_size=2000)
        ledger = campaign.deliveries.all()
    else:
        members = list(members)
        ledger = campaign.deliveries.filter(member_id__in=[m.pk for m in members])
    deliveries = {d.member_id: d for d in ledger.iterator(chunk_size=2000)}
    for member in members:
        d = deliveries.get(member.pk)
        person = [member.name, d.email if d else member.email] if member_data else []
        if d is None:
            yield [member.member_number, *person, "not sent", "", "", "",
                   campaign.content_hash, 0, "", ""]
            continue
        yield [member.member_number, *person, OUTCOME[d.state],
               d.sent_at.isoformat() if d.sent_at else "", d.message_id, d.message_sha256,
               campaign.content_hash if d.state == Delivery.State.SENT else "",
               d.attempts, d.smtp_reply, d.decision]
