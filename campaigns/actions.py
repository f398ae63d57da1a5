"""The audit log's actions about campaigns: every writer and every reader uses these names."""

from enum import StrEnum


class Action(StrEnum):
    CREATED = "campaign.created"
    EDITED = "campaign.edited"
    SUBMITTED = "campaign.submitted"
    TEST_SENT = "campaign.test_sent"
    TEST_SEND_FAILED = "campaign.test_send_failed"
    APPROVED = "campaign.approved"
    REJECTED = "campaign.rejected"
    RELEASED = "campaign.released"
    CANCELLED = "campaign.cancelled"
    SIGNOFF_LAPSED = "campaign.signoff_lapsed"
    # the recipients changed under a frozen version (an address suppressed): back to review
    RECIPIENTS_CHANGED = "campaign.recipients_changed"
    STARTED = "campaign.started"
    START_REFUSED = "campaign.start_refused"
    HELD = "campaign.held"
    CANARY_CONFIRMED = "campaign.canary_confirmed"
    PAUSED = "campaign.paused"
    MESSAGE_REFUSED = "campaign.message_refused"
    STOPPED = "campaign.stopped"
    DEADLINE_PASSED = "campaign.deadline_passed"  # "do not send after": stopped by the worker
    COMPLETED = "campaign.completed"
    DELIVERY_DECIDED = "campaign.delivery_decided"
    IN_DOUBT_FLAGGED = "campaign.in_doubt_flagged"
    REFUSED = "campaign.refused"  # an attempt the workflow refused: who tried what, and why
    COMPLETION_NOTICE = "campaign.completion_notice"
    INCIDENT_REPORT_EXPORTED = "campaign.incident_report_exported"
    COMPLIANCE_EXPORTED = "audit.compliance_exported"
    ANCHOR_MAILED = "audit.anchor_mailed"
    SCHEDULE_RESTORED = "audit.schedule_restored"  # the worker's schedules put back to the plan
    NOTIFIED = "campaign.notified"  # people told of a step (in the app and by mail)
    NOTICE_MAILED = "campaign.notice_mailed"  # the mail of a notification went out (or not)
    DUPLICATED = "campaign.duplicated"
    ADDRESS_SUPPRESSED = "member.suppressed"  # put on the suppression list (never the address)
    ADDRESS_RESUBSCRIBED = "member.resubscribed"  # a member undid their own unsubscribe
    MEMBER_DATA_ERASED = "member_data.erased"  # a purge or an erasure: the certificate's hash
    CERTIFICATE_COUNTERSIGNED = "member_data.certificate_countersigned"
    CERTIFICATE_COUNTERSIGN_REFUSED = "member_data.certificate_countersign_refused"
    CERTIFICATE_MAILED = "member_data.certificate_mailed"
    BOUNCE_RECORDED = "campaign.bounce_recorded"  # a DSN or an ESP event about one delivery
    SIGNATURE_CHECKED = "campaign.signature_checked"  # the relay's DKIM on a probe, verified
    IN_DOUBT_RECONCILED = "campaign.in_doubt_reconciled"  # relay evidence for messages in doubt
    # a later reading of the relay's log changed what an earlier one showed (both kept)
    IN_DOUBT_EVIDENCE_CORRECTED = "campaign.in_doubt_evidence_corrected"
    # what the relay's log or the e-mail provider said of messages past the relay (counts)
    CARRIER_OUTCOMES_READ = "campaign.carrier_outcomes_read"
