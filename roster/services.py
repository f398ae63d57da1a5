"""Writes for rosters. Every check, import and refusal leaves an audit entry."""

import hashlib
import os
import unicodedata
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

import audit
from countersign.roles import Role, has_role
from roster import data_keys, free_text, member_data
from roster.actions import Action
from roster.importer import ParsedRoster, parse_roster
from roster.models import NamedMember, Roster, RosterUpload

AUDITED_PROBLEMS = 20


class UploadExpired(Exception):
    pass


# --- who imports ------------------------------------------------------------------------------

def importer_role() -> str:
    """Who imports a roster now. Once only the association may hold new rosters' keys, the
    association's observer (the data owner) imports its file itself, and the contractor
    never receives it; until then, the contractor's operator imports what it was given."""
    return Role.OBSERVER if data_keys.may_not_hold() else Role.OPERATOR


def may_import(user) -> bool:
    return has_role(user, importer_role())


class NotTheImporter(PermissionDenied):
    """A roster import by someone the rule above does not name: nothing is read or kept."""


def who_imports() -> str:
    if importer_role() == Role.OBSERVER:
        return _("The association holds the key of new rosters, so its observer imports the "
                 "member file and the contractor never receives it. Ask the association's "
                 "observer to import the roster; you draft the campaign on it afterwards.")
    return _("Rosters are imported by the contractor's operator until the association "
             "registers its key; from then on, the association's observer imports them.")


def require_importer(actor=None) -> None:
    """NotTheImporter unless `actor` may import now. Without a person (the server's command
    line, a shell, a task) only while the contractor may hold rosters: a file on the
    contractor's server is the very file the association no longer hands over."""
    if actor is not None and not may_import(actor):
        raise NotTheImporter(who_imports())
    if actor is None and importer_role() == Role.OBSERVER:  # the command line, a shell, a task
        raise NotTheImporter(_(
            "Not imported: the association holds the key of new rosters, so the member file "
            "does not belong on the contractor's server. The association's observer imports "
            "it on the roster page."))


def check_roster_file(data: bytes, filename: str) -> ParsedRoster:
    return parse_roster(
        data, filename, max_bytes=settings.ROSTER_MAX_BYTES, max_rows=settings.ROSTER_MAX_ROWS,
        max_columns=settings.ROSTER_MAX_COLUMNS,
    )


def _file_name_kept(filename: str) -> str:
    """The file's name as the roster and the audit log keep it: a name that carries a
    member's data (鈴木陽菜_090-1234-5678.csv) is kept as its extension alone."""
    if free_text.problem(filename):
        return "(withheld)" + os.path.splitext(filename)[1].lower()[:8]
    return filename


def _normalised(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


def check_roster_name(name: str, parsed: ParsedRoster | None = None) -> None:
    """A roster's name is kept in the audit log and shown on every campaign of it: no
    member's data, of the rosters held (roster.free_text) or of the file being imported
    (its members' names and addresses: the file is not held yet). ValidationError if any."""
    problem = free_text.problem(name)
    if not problem and parsed is not None:
        folded = _normalised(name)
        if any(len(value) >= 2 and value in folded for member in parsed.members
               for value in (_normalised(member.name), _normalised(member.email))):
            problem = _("The roster's name carries the name or address of a member of the "
                        "file. Name a roster by what it is (the month, the purpose): its name "
                        "is kept in the audit log.")
    if problem:
        raise ValidationError(problem, code="member_data")


def _import_payload(parsed: ParsedRoster, name: str, outcome: str) -> dict:
    # Row, column and error code only: the values themselves are member data, which the
    # audit log (read by auditors) must not carry.
    return {
        "roster_name": name,
        "file_name": _file_name_kept(parsed.filename),
        "sha256": parsed.sha256,
        "size": parsed.size,
        "format": parsed.file_format,
        "rows": parsed.rows_read,
        "members": len(parsed.members),
        "outcome": outcome,
        "error_count": parsed.error_count,
        "errors": [
            {"row": p.row, "column": p.column, "code": p.code}
            for p in parsed.errors[:AUDITED_PROBLEMS]
        ],
    }


def _actor(actor, system):
    return {"actor": actor, "role": importer_role() if actor else "", "system": system}


@transaction.atomic
def roster_import(*, parsed: ParsedRoster, name: str, actor=None, system: str = "") -> Roster:
    """Store a checked file as a roster: all members or none."""
    if not parsed.ok:
        raise ValueError("only a roster without errors can be imported")
    require_importer(actor)
    check_roster_name(name, parsed)
    roster = Roster.objects.create(
        name=name,
        imported_by=actor,
        source_filename=_file_name_kept(parsed.filename),
        file_sha256=parsed.sha256,
        file_format=parsed.file_format,
        member_count=len(parsed.members),
        extra_columns=parsed.extra_columns,
    )
    key = member_data.store(roster, parsed.members)
    if data_keys.with_association(roster):
        data_keys.open_window(roster.pk, key)
        try:
            data_keys.imported_with_association.send(sender=Roster, roster=roster)
        finally:
            data_keys.close_window(roster.pk)  # from here on, only the association opens it
    _refresh_planner_statistics()
    audit.record(Action.IMPORTED, target=roster, payload=_import_payload(parsed, name, "imported"),
                 **_actor(actor, system))
    return roster


@transaction.atomic
def roster_subset(*, roster: Roster, member_ids, name: str, reason: str, actor) -> Roster:
    """A new roster holding exactly some members of `roster` (the rest of a stopped
    campaign, say): the same rows and columns, recorded as derived from it. Its "file" hash
    is over the source roster's hash and the member numbers kept, so two identical subsets
    hash the same."""
    members = list(roster.members.filter(pk__in=member_ids).order_by("row_number").values_list(
        "pk", "member_number"))
    digest = hashlib.sha256(roster.file_sha256.encode())
    for _pk, number in members:
        digest.update(b"\n" + number.encode())
    subset = Roster.objects.create(
        name=name, imported_by=actor, source_filename=roster.source_filename,
        file_sha256=digest.hexdigest(), file_format="subset", member_count=len(members),
        extra_columns=roster.extra_columns, derived_from=roster)
    member_data.store_copies([pk for pk, _number in members], source=roster, roster=subset)
    audit.record(Action.DERIVED, target=subset, actor=actor, payload={
        "from_roster": roster.pk, "from_sha256": roster.file_sha256, "reason": reason,
        "members": len(members), "sha256": subset.file_sha256})
    return subset


@transaction.atomic
def roster_import_refused(*, parsed: ParsedRoster, name: str, actor=None, system: str = "",
                          outcome: str = "refused") -> None:
    if free_text.problem(name):  # recorded all the same, without the name
        name = "(withheld)"
    audit.record(Action.IMPORT_REFUSED, payload=_import_payload(parsed, name, outcome),
                 **_actor(actor, system))


def check_roster_name_or_refuse(name: str, parsed: ParsedRoster, *, actor=None,
                                system: str = "") -> None:
    """check_roster_name before an import goes on; a name refused is an import refused,
    recorded like a refused file (the name withheld: it is what carries the member data)."""
    try:
        check_roster_name(name, parsed)
    except ValidationError:
        roster_import_refused(parsed=parsed, name="(withheld)", actor=actor, system=system,
                              outcome="refused: the name carries member data")
        raise


def roster_upload_check(*, data: bytes, filename: str, name: str, actor):
    """Step 1 of the web import: check the file; keep the checked rows for confirmation only
    if it is clean. This is the only parse of an upload: step 2 stores the rows kept here.

    Returns (upload or None, parsed). Parsing runs outside any transaction, so a big file
    does not hold the database's write lock. For a roster only the association will hold,
    the upload's key is `upload.uploader_key`, for the uploader's browser only.
    """
    require_importer(actor)  # before the file is read: it is not theirs to hand in
    filename = _file_name_kept(filename)
    parsed = check_roster_file(data, filename)
    if not parsed.ok:
        roster_import_refused(parsed=parsed, name=name, actor=actor)
        return None, parsed
    check_roster_name_or_refuse(name, parsed, actor=actor)
    with transaction.atomic():
        _purge_expired_uploads()
        upload = member_data.hold_upload(parsed=parsed, uploaded_by=actor, name=name,
                                         source_filename=filename, file_sha256=parsed.sha256,
                                         with_uploader=data_keys.may_not_hold())
        audit.record(Action.CHECK_PASSED, target=upload,
                     payload=_import_payload(parsed, name, "awaiting confirmation"),
                     **_actor(actor, ""))
    return upload, parsed


def roster_upload_confirm(*, upload: RosterUpload, actor,
                          uploader_key: bytes | None = None) -> Roster:
    """Step 2: store exactly the rows that were checked and previewed, then forget the upload.
    The file is not parsed again: one upload costs one parse, however it is built."""
    checked = member_data.held_upload(upload, uploader_key)
    if upload.uploaded_at < _expiry_cutoff() or not checked:
        raise UploadExpired  # (an upload kept before checked rows were, too: upload again)
    require_importer(actor)  # the association registered its key since: the observer imports
    data_keys.check_before_import(actor=actor)
    parsed = ParsedRoster.from_checked(checked, filename=upload.source_filename,
                                       sha256=upload.file_sha256)
    with transaction.atomic():
        roster = roster_import(parsed=parsed, name=upload.name, actor=actor)
        member_data.forget_upload(upload)
    return roster


@transaction.atomic
def roster_upload_cancel(*, upload: RosterUpload, actor) -> None:
    audit.record(Action.UPLOAD_CANCELLED, target=upload,
                 payload={"file_name": upload.source_filename, "sha256": upload.file_sha256},
                 **_actor(actor, ""))
    member_data.forget_upload(upload)


def _refresh_planner_statistics() -> None:
    """After a bulk load PostgreSQL's planner still believes the table is small and picks
    sequential scans until autovacuum gets round to it; analyse now (PostgreSQL's own advice
    for bulk loads). SQLite plans by index without statistics."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE roster_member")


def _expiry_cutoff():
    return timezone.now() - timedelta(minutes=settings.ROSTER_UPLOAD_TTL_MINUTES)


def _purge_expired_uploads() -> None:
    member_data.forget_uploads(RosterUpload.objects.filter(uploaded_at__lt=_expiry_cutoff()))


def add_named_member(*, member_number: str, reason: str, last_day, actor) -> NamedMember:
    """The association's observer allows a member to be named in notices (an officer
    signing them) until `last_day`. Audited; the guard reads it within seconds."""
    if not has_role(actor, Role.OBSERVER):
        raise PermissionDenied
    problem = free_text.problem(member_number) or free_text.problem(reason)
    if problem:
        raise ValidationError(problem, code="member_data")
    with transaction.atomic():
        named = NamedMember.objects.create(member_number=member_number.strip(),
                                           reason=reason.strip(), last_day=last_day,
                                           added_by=actor)
        audit.record(Action.NAMED_ADDED, actor=actor, role=Role.OBSERVER, target=named,
                     payload={"member": named.member_number, "named_because": named.reason,
                              "last_day": named.last_day.isoformat()})
    return named


def revoke_named_member(*, named: NamedMember, actor) -> None:
    if not has_role(actor, Role.OBSERVER):
        raise PermissionDenied
    with transaction.atomic():
        locked = NamedMember.objects.select_for_update().get(pk=named.pk)
        if locked.revoked_at is not None:
            return
        locked.revoked_at, locked.revoked_by = timezone.now(), actor
        locked.save(update_fields=["revoked_at", "revoked_by"])
        audit.record(Action.NAMED_REVOKED, actor=actor, role=Role.OBSERVER, target=locked,
                     payload={"member": locked.member_number, "named_because": locked.reason})
