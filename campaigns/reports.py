"""Reports an auditor (and the association) needs: two-person compliance, and who got what.

The compliance report is read from the audit log itself, not from the campaign tables: it
is the tamper-evident record of who did what that countermeasure 3 asks to be audited.

Both exports carry two header rows: the column keys (stable, for programs) and the column
names in the reader's language. Cells hold what a person reads (states, outcomes and
findings in the reader's language, yes/no as 1/0, times in TIME_ZONE with the offset);
where a value is a code a program would match on, a `*_code` column beside it keeps the
stable code (docs/using.md, "Exports").
"""

from django.utils.translation import gettext_lazy as _

from audit.models import AuditEntry
from campaigns.actions import Action
from campaigns.labels import CANARY, COMPLIANCE_FLAGS, OUTCOMES
from campaigns.models import Campaign, Delivery
from campaigns.workflow import OBSERVER_CHECKLIST, SUPERVISOR_CHECKLIST
from countersign import clock, sealing
from countersign.pseudonyms import mask_addresses
from roster import member_data as door


def _entries(campaign):
    return list(AuditEntry.objects.about(campaign).order_by("sequence"))


def _same_message(entries, content_hash: str) -> set[str]:
    """`content_hash` and the hashes it replaced by a recount (the recipients changed, the
    message did not): a test message of any of them is a test message of this message."""
    same = {content_hash}
    for entry in reversed(entries):
        if entry.action == Action.RECIPIENTS_CHANGED and entry.payload.get("content_hash") in same:
            same.add(entry.payload.get("old_content_hash", ""))
    return same


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
              and e.payload.get("content_hash") in _same_message(before_start, sent_hash)]
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


# (key, name for people) of the compliance export's columns.
COMPLIANCE_COLUMNS = [
    ("campaign", _("Campaign number")), ("name", _("Campaign")), ("state", _("State")),
    ("state_code", _("State (code)")), ("author", _("Author")),
    ("supervisor", _("Supervisor")), ("observer", _("Observer")),
    ("three_distinct_people", _("Three different people (1/0)")),
    ("approved_hash", _("Approved hash")), ("released_hash", _("Released hash")),
    ("sent_hash", _("Sent hash")), ("hashes_match", _("Hashes match (1/0)")),
    ("supervisor_checklist_complete", _("Supervisor's checklist complete (1/0)")),
    ("observer_checklist_complete", _("Observer's checklist complete (1/0)")),
    ("test_send_of_sent_hash", _("Test message of the sent version (1/0)")),
    ("canary", _("First messages")), ("canary_code", _("First messages (code)")),
    ("release_to_start_seconds", _("Release to start (seconds)")),
    ("result", _("Result")), ("flags", _("Findings (codes)")),
]
COMPLIANCE_HEADER = [key for key, _name in COMPLIANCE_COLUMNS]


def header_rows(columns) -> list[list[str]]:
    """The two header rows of an export: keys, then names in the active language."""
    return [[key for key, _name in columns], [str(name) for _key, name in columns]]


def compliance_csv_rows(rows):
    """The compliance rows as cells: labels in the reader's language, yes/no as 1/0."""
    for row in rows:
        cells = {**row, "state": row["state_label"], "state_code": row["state"],
                 "canary": CANARY.get(row["canary"], row["canary"]),
                 "canary_code": row["canary"], "flags": " ".join(row["flags"]),
                 "result": "、".join(str(COMPLIANCE_FLAGS.get(flag, flag))
                                    for flag in row["flags"]) or "OK"}
        yield [int(value) if isinstance(value, bool) else value
               for value in (cells[key] for key in COMPLIANCE_HEADER)]


def incident_columns(*, member_data: bool) -> list[tuple[str, str]]:
    """The incident export's columns (key, name for people): the association writes to
    members from this file. Without member data (for auditors) no name and address."""
    people = [("name", _("Name")), ("email", _("E-mail address"))] if member_data else []
    return [("member_number", _("Member number")), *people, ("outcome", _("Outcome")),
            ("outcome_code", _("Outcome (code)")),
            ("sent_at", _("Sent at, %(zone)s") % {"zone": clock.zone_name()}),
            ("message_id", "Message-ID"), ("message_sha256", _("SHA-256 of the message")),
            ("content_hash", _("Content hash")), ("attempts", _("Attempts")),
            ("server_reply", _("Server reply")), ("decision", _("Decision")),
            ("bounce_status", _("Bounce status")),
            ("bounced_at", _("Bounced at, %(zone)s") % {"zone": clock.zone_name()}),
            ("complained_at", _("Reported as spam at, %(zone)s") % {"zone": clock.zone_name()}),
            # past the relay (campaigns.carrier_outcomes), as codes; the carrier group is
            # derived from the address: member data
            *([("carrier", _("Carrier (code)"))] if member_data else []),
            ("at_carrier", _("At the carrier (code)")), ("carrier_dsn", _("Carrier's status code")),
            ("at_carrier_since", _("At the carrier since, %(zone)s")
             % {"zone": clock.zone_name()})]


_TIMES = ("sent_at", "bounced_at", "complained_at", "at_carrier_since")


def incident_export_rows(campaign, *, member_data: bool, spreadsheet: bool = False):
    """incident_rows as cells: the outcome in the reader's language beside its code, the
    times as ISO 8601 with the offset (CSV) or as date cells in local time (xlsx)."""
    moment = clock.spreadsheet if spreadsheet else clock.iso
    keys = [key for key, _name in incident_columns(member_data=member_data)]
    for row in incident_rows(campaign, member_data=member_data, keyed=True):
        yield _cells(row, keys, moment)


def _cells(row: dict, keys: list[str], moment) -> list:
    row["outcome_code"] = row["outcome"]
    row["outcome"] = str(OUTCOMES.get(row["outcome"], row["outcome"]))
    return [moment(row[key]) if key in _TIMES else row[key] for key in keys]


def incident_bundle(campaign) -> dict:
    """The incident report with member data of a campaign on a roster only the association
    holds: the report's lines (names and addresses read "(held by the association)"), each
    beside its member's row ciphertext, and the roster's data key as sealed to the
    association. Its key tool fills the names in (countersign.sealing.open_incident); here
    nothing opens."""
    columns = incident_columns(member_data=True)
    keys = [key for key, _name in columns]
    rows, sealed = [], []
    for chunk in _chunks(campaign.deliveries.order_by("id").iterator(chunk_size=2000), 2000):
        ids = [d.member_id for d in chunk if d.member_id]
        people, ciphertexts = door.values_of(ids), door.sealed_rows(ids)
        for d in chunk:
            row = _incident_row(campaign, d, people.get(d.member_id), member_data=True)
            rows.append(["" if cell is None else str(cell)
                         for cell in _cells(row, keys, clock.iso)])
            sealed.append(ciphertexts.get(d.member_id))
    return {"kind": sealing.INCIDENT, "campaign": campaign.pk, "roster": campaign.roster_id,
            "key_roster": campaign.roster.original().pk, "header": header_rows(columns),
            "data_key_seals": campaign.roster.data_key_seals, "rows": rows, "sealed": sealed}


# What the app knows of each recipient: the relay accepted the message (not that the member
# received it), it may or may not have (in doubt), or it was not sent and why.
OUTCOME = {
    Delivery.State.SENT: "accepted",
    Delivery.State.IN_DOUBT: "in_doubt",
    Delivery.State.FAILED: "failed",
    Delivery.State.SKIPPED: "skipped",
    Delivery.State.PENDING: "not_sent",
    Delivery.State.SENDING: "in_doubt",
    Delivery.State.REFUSED: "refused",
    Delivery.State.BOUNCED: "bounced",  # accepted, then a bounce came back
}
_ACCEPTED = (Delivery.State.SENT, Delivery.State.BOUNCED)


def incident_rows(campaign, *, member_data: bool, deliveries=None, keyed: bool = False):
    """Who received exactly which content (content hash + message hash) and when, who did
    not, who is in doubt: one row per row of the delivery ledger (one per recipient, in
    roster order; or `deliveries`, a page of them), also after the member data was erased
    or purged (the name and address are then blank). Without member data: the member
    number stands for the person (no name, no address), read from the door never."""
    if deliveries is None:
        deliveries = campaign.deliveries.order_by("id").iterator(chunk_size=2000)
    for chunk in _chunks(deliveries, 2000):
        people = door.values_of(d.member_id for d in chunk if d.member_id) if member_data \
            else {}
        for d in chunk:
            row = _incident_row(campaign, d, people.get(d.member_id), member_data=member_data)
            yield row if keyed else list(row.values())


def _chunks(items, size):
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# What the name and address cells of a member whose data was erased (an erasure request,
# the retention purge) read: the row stays, their values are gone.
ERASED = _("(erased)")
# ... of a member of a roster whose key only the association holds (its key tool opens the
# roster; the member number joins the two), and of a row changed in the database.
HELD_BY_ASSOCIATION = _("(held by the association)")
DOES_NOT_OPEN = _("(does not open)")


def _person(values) -> dict:
    if values is None:
        return {"name": str(ERASED), "email": str(ERASED)}
    if values.sealed or values.unreadable:
        word = str(HELD_BY_ASSOCIATION if values.sealed else DOES_NOT_OPEN)
        return {"name": word, "email": word}
    return {"name": values.name, "email": values.email}


def _incident_row(campaign, d, values, *, member_data: bool) -> dict:
    """One delivery's cells by column key (incident_columns, without outcome_code)."""
    person = _person(values) if member_data else {}
    return {"member_number": d.member_number, **person, "outcome": OUTCOME[d.state],
            "sent_at": d.sent_at, "message_id": d.message_id,
            "message_sha256": d.message_sha256,
            "content_hash": campaign.content_hash if d.state in _ACCEPTED else "",
            "attempts": d.attempts,
            "server_reply": d.smtp_reply if member_data else mask_addresses(d.smtp_reply),
            "decision": d.decision, "bounce_status": d.bounce_status,
            "bounced_at": d.bounced_at, "complained_at": d.complained_at,
            **({"carrier": d.carrier} if member_data else {}),
            "at_carrier": d.at_carrier, "carrier_dsn": d.carrier_dsn,
            "at_carrier_since": d.at_carrier_since}
