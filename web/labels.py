"""Labels of the chain verification's failure codes (audit.chain.Verdict.code), shown on
the auditor's pages. The audit app stores the codes and imports no app of ours, so the
pages that show them register their labels."""

from django.utils.translation import gettext_lazy as _

from audit.actions import Action as AuditAction
from countersign import labels

VERIFY_FAILURES = labels.register("VERIFY_FAILURES", {
    "gap": _("an entry is missing or out of order"),
    "order": _("entries are out of order or repeated"),
    "link": _("the link to the entry before it is broken"),
    "altered": _("the content does not match its hash: the entry was altered"),
    "anchor": _("the kept chain head is not in the chain"),
})

# The audit log's entries about itself: audit imports no app of ours, so the pages that
# show its entries label them.
labels.contribute("ACTIONS", {
    AuditAction.VERIFIED: _("chain verified"),
    AuditAction.EXPORTED: _("audit log exported"),
})
labels.contribute("PAYLOAD_KEYS", {
    "ok": _("passed"), "verified": _("entries verified"), "head": _("chain head"),
    "bad_sequence": _("first bad entry"), "reason": _("reason"), "code": _("code"),
    "anchor": _("anchor"), "anchor_found": _("anchor found"), "anchors": _("anchors"),
    "holds": _("holds"), "filters": _("filters"), "format": _("format"),
    "entries": _("entries"), "file": _("file"), "date_from": _("from date"),
    "date_to": _("to date"), "actor": _("actor"), "role": _("role"), "action": _("action"),
    "object_type": _("object type"), "object_id": _("object id"), "campaign": _("campaign"),
    "sequence": _("entry"), "hash": _("hash"),
})
labels.contribute("PAYLOAD_VALUES", {"code": "VERIFY_FAILURES", "action": "ACTIONS"})
