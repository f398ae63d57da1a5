"""Translated labels for codes that are stored as plain text (in the audit log, the ledger,
reports): the data keeps the stable code, the page shows the label in the reader's language."""

from django.utils.translation import gettext_lazy as _

from countersign.models import Organisation
from countersign.roles import Role

VOID_REASONS = {
    "edited": _("the content was edited"),
    "rejected": _("rejected"),
    "cancelled": _("cancelled"),
    "refused at start": _("refused when sending was to start"),
    "signer_inactive": _("the signer's account is no longer active"),
    "signer_lost_role": _("the signer no longer holds the role they signed in"),
    "signer_moved_organisation": _("the signer moved to another organisation"),
    "password_set_by_other": _("someone else set the signer's password"),
    "approval_lapsed": _("the approval it was given on no longer counts"),
}
VERIFY_FAILURES = {
    "gap": _("an entry is missing or out of order"),
    "order": _("entries are out of order or repeated"),
    "link": _("the link to the entry before it is broken"),
    "altered": _("the content does not match its hash: the entry was altered"),
    "anchor": _("the kept chain head is not in the chain"),
}
CANARY = {
    "off": _("off"),
    "confirmed": _("confirmed"),
    "held, not confirmed": _("held, not confirmed"),
    "not reached": _("not reached"),
}
COMPLIANCE_FLAGS = {
    "never_started": _("never started"),
    "three_distinct_people": _("author, supervisor and observer are not three people"),
    "hashes_match": _("approved, released and sent hashes differ"),
    "supervisor_checklist_complete": _("supervisor's checklist incomplete"),
    "observer_checklist_complete": _("observer's checklist incomplete"),
    "test_send_of_sent_hash": _("no test message of the sent version"),
    "sent_past_canary_without_confirmation": _("sent past the first messages without "
                                                "confirmation"),
}
OUTCOMES = {
    "received": _("received"),
    "in doubt": _("in doubt"),
    "not received (failed)": _("not received (failed)"),
    "not received (skipped)": _("not received (skipped)"),
    "not sent": _("not sent"),
    "not sent (refused by the content guard)": _("not sent (refused by the content guard)"),
}


def label(table_name: str, code):
    """{{ code|label:"VOID_REASONS" }}; roles and organisations too."""
    if table_name == "ROLE":
        return Role(code).label if code in Role.values else code
    if table_name == "ORGANISATION":
        return Organisation(code).label if code in Organisation.values else code
    return globals()[table_name].get(code, code)
