"""Labels of the codes campaigns store as plain text (sign-offs, reports, the ledger's
outcomes), registered with countersign.labels for the `label` template filter. Imported by
CampaignsConfig.ready, so the tables are known before any page renders."""

from django.utils.translation import gettext_lazy as _

from countersign import labels

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
})
