"""Labels of the codes campaigns store as plain text (sign-offs, reports, the ledger's
outcomes), registered with countersign.labels for the `label` template filter. Imported by
CampaignsConfig.ready, so the tables are known before any page renders."""

from django.utils.translation import gettext_lazy as _

from campaigns.actions import Action
from campaigns.models import Notification, SignOff
from campaigns.states import State
from countersign import labels
from roster.models import Suppression

VOID_REASONS = labels.register("VOID_REASONS", {
    "edited": _("the content was edited"),
    "rejected": _("rejected"),
    "cancelled": _("cancelled"),
    "refused at start": _("refused when sending was to start"),
    "signer_inactive": _("the signer's account is no longer active"),
    "signer_lost_role": _("the signer no longer holds the role they signed in"),
    "signer_moved_organisation": _("the signer moved to another organisation"),
    "password_set_by_other": _("someone else set the signer's password"),
    "approval_lapsed": _("the approval it was given on no longer counts"),
    "recipients_changed": _("a member left the recipients after the sign-off (unsubscribed, "
                            "bounced or erased)"),
})
CANARY = labels.register("CANARY", {
    "off": _("off"),
    "confirmed": _("confirmed"),
    "held, not confirmed": _("held, not confirmed"),
    "not reached": _("not reached"),
})
COMPLIANCE_FLAGS = labels.register("COMPLIANCE_FLAGS", {
    "never_started": _("never started"),
    "three_distinct_people": _("author, supervisor and observer are not three people"),
    "hashes_match": _("approved, released and sent hashes differ"),
    "supervisor_checklist_complete": _("supervisor's checklist incomplete"),
    "observer_checklist_complete": _("observer's checklist incomplete"),
    "test_send_of_sent_hash": _("no test message of the sent version"),
    "sent_past_canary_without_confirmation": _("sent past the first messages without "
                                                "confirmation"),
})
# The incident report's outcomes. The app knows that the mail server accepted a message,
# never that the member received it: "accepted" says exactly that.
OUTCOMES = labels.register("OUTCOMES", {
    "accepted": _("sent (accepted by the mail server)"),
    "in_doubt": _("in doubt"),
    "failed": _("not sent (failed)"),
    "skipped": _("not sent (skipped)"),
    "not_sent": _("not sent"),
    "refused": _("not sent (refused by the content guard)"),
    "bounced": _("accepted by the mail server, then bounced"),
})

# The audit log: campaigns' entries and the payload keys they write. The campaign states
# and sign-off kinds stored in payloads are shown by their labels.
labels.contribute("ACTIONS", {
    Action.CREATED: _("campaign created"),
    Action.EDITED: _("campaign edited"),
    Action.SUBMITTED: _("submitted for review"),
    Action.TEST_SENT: _("test message sent"),
    Action.TEST_SEND_FAILED: _("test message not accepted by the mail server"),
    Action.APPROVED: _("campaign approved"),
    Action.REJECTED: _("sent back with a comment"),
    Action.RELEASED: _("released for sending"),
    Action.CANCELLED: _("campaign cancelled"),
    Action.SIGNOFF_LAPSED: _("sign-off no longer counts"),
    Action.RECIPIENTS_CHANGED: _("recipients changed after the sign-off: back to review"),
    Action.STARTED: _("sending started"),
    Action.START_REFUSED: _("sending not started"),
    Action.HELD: _("held after the first messages"),
    Action.CANARY_CONFIRMED: _("first messages confirmed"),
    Action.PAUSED: _("sending paused"),
    Action.MESSAGE_REFUSED: _("message refused by the content guard"),
    Action.STOPPED: _("sending stopped"),
    Action.DEADLINE_PASSED: _("stopped: the “do not send after” moment passed"),
    Action.COMPLETED: _("sending completed"),
    Action.DELIVERY_DECIDED: _("decision on a message in doubt"),
    Action.IN_DOUBT_FLAGGED: _("messages found in doubt"),
    Action.REFUSED: _("attempt refused"),
    Action.COMPLETION_NOTICE: _("completion notice mailed"),
    Action.INCIDENT_REPORT_EXPORTED: _("incident report downloaded"),
    Action.COMPLIANCE_EXPORTED: _("compliance report downloaded"),
    Action.SCHEDULE_RESTORED: _("worker's schedules put back as the code defines them"),
    Action.ANCHOR_MAILED: _("audit anchor mailed"),
    Action.NOTIFIED: _("people notified"),
    Action.NOTICE_MAILED: _("notification mailed"),
    Action.DUPLICATED: _("campaign duplicated"),
    Action.ADDRESS_SUPPRESSED: _("address put on the suppression list"),
    Action.ADDRESS_RESUBSCRIBED: _("a member undid their unsubscribe"),
    Action.MEMBER_DATA_ERASED: _("member data erased"),
    Action.CERTIFICATE_COUNTERSIGNED: _("deletion certificate countersigned"),
    Action.CERTIFICATE_COUNTERSIGN_REFUSED: _("countersign of a deletion certificate refused"),
    Action.CERTIFICATE_MAILED: _("deletion certificate mailed"),
    Action.BOUNCE_RECORDED: _("bounce or complaint recorded"),
    Action.SIGNATURE_CHECKED: _("the relay's DKIM signature on a probe checked"),
    Action.IN_DOUBT_RECONCILED: _("messages in doubt checked against the relay's records"),
    Action.IN_DOUBT_EVIDENCE_CORRECTED: _("relay's evidence for a message in doubt corrected"),
    Action.CARRIER_OUTCOMES_READ: _("what became of messages at the carriers, read"),
})
labels.contribute("PAYLOAD_KEYS", {
    "attempted": _("attempted"), "code": _("code"), "reason": _("reason"),
    "state": _("state"), "from_state": _("previous state"), "content_hash": _("content hash"),
    "old_content_hash": _("previous content hash"), "roster": _("roster"),
    "recipient_count": _("recipients"), "version": _("version"),
    "sending": _("how it is sent"), "links": _("links"), "guard": _("content guard"),
    "member": _("member number"), "to": _("sent to"), "error": _("error"),
    "comment": _("comment"), "voided_signoffs": _("sign-offs voided"),
    "checklist": _("checklist"), "signoff": _("sign-off"), "approval": _("approval"),
    "approved_by": _("approved by"), "release_expires_at": _("release valid until"),
    "resumed": _("resumed after a pause"), "lapsed": _("sign-offs that lapsed"),
    "kind": _("kind"), "approved_hash": _("approved hash"), "sent_so_far": _("sent so far"),
    "canary": _("first messages before the hold"), "delivery": _("delivery"),
    "findings": _("findings"), "ledger_sha256": _("ledger SHA-256"), "counts": _("counts"),
    "decision": _("decision"), "previous_reply": _("previous server reply"),
    "in_flight": _("being handed over"), "count": _("count"), "members": _("members"),
    "fields": _("fields"), "outcome": _("outcome"), "chain_head": _("chain head"),
    "chain_head_sequence": _("chain head entry"), "format": _("format"),
    "rows": _("rows"), "member_data": _("with member data"), "campaigns": _("campaigns"),
    "sequence": _("entry"), "hash": _("hash"), "time": _("time"),
    "release_to_start_seconds": _("release to start (seconds)"),
    "ok": _("passed"), "finding_count": _("findings found"), "truncated": _("list cut short"),
    "members_scanned": _("members checked"), "sent": _("sent"), "failed": _("failed"),
    "skipped": _("skipped"), "in_doubt": _("in doubt"), "refused": _("refused"),
    "pending": _("not sent yet"), "event": _("event"), "from_campaign": _("copied from campaign"),
    "rest_only": _("only the members not reached"), "not_sent": _("not sent"),
    "source": _("source"), "pending_skipped": _("pending messages skipped"),
    "suppressed": _("suppressed"), "certificate_sha256": _("certificate SHA-256"),
    "rosters": _("rosters"),
    "bounce": _("bounce"), "status": _("status"), "delivery_state": _("delivery state"),
    "relay_evidence": _("relay's evidence"), "accepted": _("accepted by the relay"),
    "no_trace": _("no trace at the relay"), "checked": _("checked"),
    "not_covered": _("not covered by the relay's log"),
    "corrected": _("earlier evidence corrected"), "earlier": _("earlier evidence"),
    "now": _("evidence now"),
    "suppressed_count": _("members suppressed"),
    # past the relay (campaigns.carrier_outcomes)
    "carrier_delivered": _("delivered at the carrier"),
    "carrier_deferred": _("deferred by the carrier (the relay retries)"),
    "carrier_bounced": _("refused by the carrier"),
    "carrier_expired": _("given up by the relay"),
    # the sender checks of a release (campaigns.sender_auth)
    "sender_check": _("sender checks (SPF, DKIM, DMARC)"),
    "sender_check_overridden": _("released despite failed sender checks, because"),
    "from_domain": _("From domain"), "bounce_domain": _("bounce domain"),
    "results": _("results"), "failed_checks": _("failed checks"), "check": _("check"),
    "domain": _("domain"), "name": _("name"), "ip": _("address"),
    "signed": _("signed"), "signing_domain": _("signing domain (d=)"),
    "selector": _("selector (s=)"), "signature_probe": _("DKIM probe sent along"),
    # a deletion certificate's counts
    "deliveries": _("ledger rows"), "uploads": _("uploads"),
    "caught_messages": _("demo inbox messages"),
    "data_keys": _("roster data keys destroyed"),
})
# reconcile_in_doubt: why the relay's log settles a message in doubt the way it does, and what
# the relay did with a message it took.
RELAY_EVIDENCE_REASONS = labels.register("RELAY_EVIDENCE_REASONS", {
    "not_queued": _("It reached the relay, but the connection broke before the relay queued "
                    "it."),
    "never_handed_over": _("No Message-ID was noted: the worker stopped before the hand-over "
                           "began."),
    "gap": _("The relay's log falls silent around this message's time for longer than "
             "RECONCILE_MAX_LOG_GAP_SECONDS."),
    "lines_dropped": _("The system log says it dropped lines around this message's time."),
    "unreadable": _("The log has lines around this message's time that cannot be read or "
                    "dated (cut short, run together, an impossible date)."),
    "incomplete": _("Messages the relay accepted around this time are missing from the log: "
                    "another relay took part, or lines were lost."),
    "conflict": _("The log names this message at a time it cannot have been handed over: a "
                  "clock far off, or a forged line."),
    "unclear": _("The relay's lines about this message do not say whether it was queued."),
    "other_sender": _("The relay queued a message with this Message-ID from another envelope "
                      "sender: someone else's message, a forged line, or a relay that "
                      "rewrites senders."),
})
RELAY_AFTER = labels.register("RELAY_AFTER", {
    "sent": _("then passed on by the relay (status=sent)"),
    "bounced": _("then returned by the relay (status=bounced)"),
    "deferred": _("then held back by the relay for another try (status=deferred)"),
    "expired": _("then given up by the relay (status=expired)"),
    "deleted": _("then deleted from the relay's queue"),
})
SKIP_REASONS = labels.register("SKIP_REASONS", {
    f"suppressed:{reason}": label for reason, label in Suppression.Reason.choices})
CAMPAIGN_STATES = labels.register("CAMPAIGN_STATES", dict(State.choices))
SIGNOFF_KINDS = labels.register("SIGNOFF_KINDS", dict(SignOff.Kind.choices))
NOTIFICATION_EVENTS = labels.register("NOTIFICATION_EVENTS", dict(Notification.Event.choices))
labels.contribute("PAYLOAD_VALUES", {"state": "CAMPAIGN_STATES", "from_state": "CAMPAIGN_STATES",
                                     "kind": "SIGNOFF_KINDS", "reason": "VOID_REASONS",
                                     "event": "NOTIFICATION_EVENTS"})
# Outcomes of the mails campaigns send (the completion notice, the audit anchor).
labels.contribute("PAYLOAD_OUTCOMES", {
    "sent": _("sent"), "no observer with an e-mail address": _(
        "not sent: no observer has an e-mail address"), "empty log": _("the log is empty"),
})
labels.contribute("PAYLOAD_VALUES", {"outcome": "PAYLOAD_OUTCOMES"})

# What a bounce's enhanced status code (RFC 3463, "5.1.1") means, in words a member's office
# can act on: the exact codes first, then by class and subject (status_meaning).
BOUNCE_STATUSES = labels.register("BOUNCE_STATUSES", {
    "5.1.1": _("the address does not exist (no such mailbox at the member's provider)"),
    "5.1.2": _("the address's domain does not exist"),
    "5.1.3": _("the address is not written correctly"),
    "5.1.6": _("the mailbox has moved and no longer receives mail"),
    "5.1.10": _("the address's domain accepts no mail"),
    "5.2.1": _("the mailbox is disabled and does not accept mail"),
    "5.2.2": _("the mailbox is full"),
    "5.2.3": _("the message was too large for the mailbox"),
    "5.4.1": _("the member's provider refused to take it (no answer for this address)"),
    "5.4.4": _("the member's mail server could not be found"),
    "5.7.1": _("refused by the receiving side's policy (the address itself may be fine)"),
    "5.7.26": _("refused: the sender's authentication (SPF, DKIM, DMARC) did not pass"),
    "4.2.2": _("the mailbox is full for now; the provider may accept it later"),
    "5": _("returned as undeliverable"),
    "4": _("delayed; the provider may still deliver it"),
    "5.1": _("the address was refused as undeliverable"),
    "5.2": _("the member's mailbox did not take it"),
    "5.3": _("the member's mail system did not take it"),
    "5.4": _("the message could not be routed to the member's provider"),
    "5.5": _("the member's mail server refused the conversation"),
    "5.6": _("the member's mail server refused the message's content"),
    "5.7": _("refused by the receiving side's security or policy rules"),
})


def status_meaning(status: str) -> str:
    """What a DSN status like 5.1.1 means: the code itself if known, else its class and
    subject (5.1), else its class (5); "" for anything else."""
    parts = (status or "").strip().split(".")
    for key in (".".join(parts[:3]), ".".join(parts[:2]), parts[0]):
        if key in BOUNCE_STATUSES:
            return str(BOUNCE_STATUSES[key])
    return ""

# Where a suppression or a bounce came from (its "source", and the audit entry's
# "system:<source>").
labels.contribute("SOURCES", {
    "unsubscribe": _("a member's unsubscribe link"),
    "unsubscribe:one-click": _("the member's mail reader (one-click unsubscribe)"),
    "unsubscribe:page": _("the member, on the unsubscribe page"),
    "unsubscribe:mail": _("the member, by mail to the unsubscribe address"),
    "page": _("by hand, on the suppression page"),
    "erase_member": _("an erasure request"),
    "purge": _("the retention schedule"),
    "dsn": _("returned mail (delivery status notification)"),
    "arf": _("a spam report (feedback loop)"),
    "esp": _("the e-mail provider's report"),
})

# The sign-off checklists' items as the audit log shows them (campaigns.workflow.signing
# holds the full sentences the signers tick).
labels.register("CHECKLIST_ITEMS", {
    "recipients": _("the recipients checked"),
    "no_roster_data": _("no attachment and no other members' data"),
    "content": _("the subject and body reviewed"),
    "test_read": _("a test message of this version read"),
    "witness": _("the release witnessed in person"),
})
labels.contribute("PAYLOAD_VALUES", {"checklist": "CHECKLIST_ITEMS", "missing": "CHECKLIST_ITEMS"})
