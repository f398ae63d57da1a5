"""Labels of the chain verification's failure codes (audit.chain.Verdict.code), shown on
the auditor's pages. The audit app stores the codes and imports no app of ours, so the
pages that show them register their labels."""

from django.utils.translation import gettext_lazy as _

from countersign import labels

VERIFY_FAILURES = labels.register("VERIFY_FAILURES", {
    "gap": _("an entry is missing or out of order"),
    "order": _("entries are out of order or repeated"),
    "link": _("the link to the entry before it is broken"),
    "altered": _("the content does not match its hash: the entry was altered"),
    "anchor": _("the kept chain head is not in the chain"),
})
