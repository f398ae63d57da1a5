"""Labels of the codes rosters write to the audit log (actions and payload keys),
registered with countersign.labels. Imported by RosterConfig.ready."""

from django.utils.translation import gettext_lazy as _

from countersign import labels
from roster.actions import Action

labels.contribute("ACTIONS", {
    Action.CHECK_PASSED: _("roster file checked, awaiting confirmation"),
    Action.IMPORTED: _("roster imported"),
    Action.IMPORT_REFUSED: _("roster file refused"),
    Action.UPLOAD_CANCELLED: _("roster upload discarded"),
    Action.DERIVED: _("roster made from part of another"),
    Action.NAMED_ADDED: _("member allowed to be named in notices"),
    Action.NAMED_REVOKED: _("member no longer allowed to be named"),
    Action.RESEALED: _("rosters' keys sealed to the association's new key"),
    Action.PREVIEW_GRANTED: _("members shown in previews by the association's grant"),
    Action.PREVIEW_ENDED: _("members no longer shown in previews"),
})
labels.contribute("PAYLOAD_KEYS", {
    "roster_name": _("roster name"), "file_name": _("file name"),
    "sha256": _("file SHA-256"), "size": _("size (bytes)"), "format": _("format"),
    "rows": _("rows"), "members": _("members"), "outcome": _("outcome"),
    "error_count": _("problems"), "errors": _("problems found"), "row": _("row"),
    "column": _("column"), "code": _("code"), "from_roster": _("made from roster"),
    "from_sha256": _("SHA-256 of that roster's file"),
    "member": _("member number"), "named_because": _("why they may be named"),
    "last_day": _("until (inclusive)"),
    "preview_because": _("why they may be shown"), "until": _("until"),
})
# Outcomes of an import as the payload's "outcome" stores them.
labels.contribute("PAYLOAD_OUTCOMES", {
    "imported": _("imported"), "refused": _("refused"),
    "awaiting confirmation": _("awaiting confirmation"),
    "revoked": _("revoked"), "expired": _("past its deadline"),
    "replaced": _("replaced by a new grant"),
})
labels.contribute("PAYLOAD_VALUES", {"outcome": "PAYLOAD_OUTCOMES"})

# The formats a roster file was read in (Roster.file_format), as people name them.
labels.register("FILE_FORMATS", {
    "xlsx": _("Excel (.xlsx)"), "csv-utf8": _("CSV (UTF-8)"),
    "csv-utf8-bom": _("CSV (UTF-8 with BOM)"), "csv-utf16": _("CSV (UTF-16)"),
    "csv-cp932": _("CSV (Shift_JIS)"), "subset": _("part of another roster"),
})
