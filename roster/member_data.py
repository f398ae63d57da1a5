"""The one door to member data: names, e-mail addresses and extra columns.

A member's values live in one place, `Member.personal` ({"name", "email", "extra"}), and
a checked upload's rows in `RosterUpload.checked_rows`; this module is the only code that
reads or writes either (tests/test_member_data_door.py fails, naming file and line, if any
other module does). Everything else works on member ids, member numbers and keyed
pseudonyms (countersign.pseudonyms), which say nothing without the key: the ledger, the
audit log, campaign versions, guard reports, notifications, sessions and task arguments.

The values are stored encrypted: each member's as one AES-256-GCM ciphertext under its
roster's data key (roster.data_keys), bound to the roster, the row and the member number,
so that a ciphertext moved to another row or pasted in from another roster does not open:
it reads as `unreadable`, and the guard refuses to send to or for it. The door opens them
for exactly what callers ask, in batches (one query per page or per message, never one per
member), and they say why:

    values(member) / values_of(ids)      rendering: a preview, a test message, a delivery
    rows(roster)                         the content guard's index and scan
    page_of(roster, user=..., q=...)     rows shown to a person (the access policy applied)
    matching_ids(roster, q)              search by number, name or address
    recipients_digest(roster)            the content hash's recipient part, without values
    SQL_VALUES                           the claim's columns (one statement per message)
    hold_upload / held_upload / held_preview  a checked upload until it is confirmed
    erase(members) / upload_holds(...)   erasure and purge
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection, transaction
from django.utils import timezone

from countersign import access, carriers, sealing
from countersign.pseudonyms import pseudonym
from countersign.text import normalised
from roster import data_keys, synthetic
from roster.models import Member, PreviewGrant, Roster, RosterUpload
from roster.values import Values

_MEMBER, _ROSTER = Member._meta.db_table, Roster._meta.db_table
# The claim's columns: the member's sealed values, where they belong and their roster's key,
# read in the claim's own statement (one round trip per message). `{member_id}` is the SQL
# expression of the member's id.
SQL_VALUES = ", ".join(
    f"(SELECT {column} FROM {_MEMBER} m{join} WHERE m.id = {{member_id}}) AS {name}"
    for column, join, name in (
        ("m.personal", "", "personal"), ("m.row_number", "", "member_row"),
        ("m.roster_id", "", "member_roster"), ("m.sealed_in", "", "sealed_in"),
        ("m.email_pseudonym", "", "stored_pseudonym"),
        ("r.data_key", f" JOIN {_ROSTER} r ON r.id = m.roster_id", "roster_key")))
# What every read of members takes: the row, where it belongs, and its roster's key.
_READ = ("pk", "member_number", "personal", "roster_id", "row_number", "roster__data_key",
         "sealed_in", "email_pseudonym")
# Beside _READ where a sealed member's synthetic values need its roster's columns and lengths.
_SYNTHETIC = ("roster__extra_columns", "roster__value_lengths")


def bound_member(roster_id: int, row_number: int, member_number: str) -> bytes:
    """What a member's ciphertext is bound to: its roster, its row and its member number."""
    return sealing.member_binding(roster_id, row_number, member_number)


def seal_values(key: AESGCM, roster_id: int, row_number: int, member_number: str,
                personal: dict) -> bytes:
    """A member's values ({"name", "email", "extra"}) as stored: encrypted and bound."""
    data = json.dumps(personal, ensure_ascii=False, sort_keys=True).encode()
    return sealing.seal_row(key, data, bound_member(roster_id, row_number, member_number))


def _opened_row(key: AESGCM | None, sealed, sealed_in: int, row_number: int,
                member_number: str) -> dict | None:
    """A member's stored ciphertext opened ({"name", "email", "extra"}), or None: no key, no
    ciphertext, or it was changed, moved or bound to another member."""
    if key is None or sealed is None:
        return None
    try:
        return json.loads(sealing.open_row(
            key, bytes(sealed), bound_member(sealed_in, row_number, member_number)))
    except (sealing.NotSealed, ValueError):
        return None


def _values(member_id, member_number, sealed, roster_id, row_number, wrapped, sealed_in,
            stored_pseudonym, columns=(), lengths=None, *, granted=None) -> Values:
    """A member's values as read (the columns of _READ), opened with their roster's key
    (the ciphertext is bound to the roster it was sealed in: for a part, the whole). The
    address must be the one whose pseudonym the row stores (the suppression list, erasure
    and uniqueness work on it): a row whose pseudonym was changed does not open either."""
    key = data_keys.key_of(roster_id, wrapped)
    if key is None and sealed is not None and not wrapped:  # with the association
        shown = (granted or {}).get(member_id)
        if shown is not None and pseudonym(shown.get("email", "")) == stored_pseudonym:
            return Values(member_id, member_number, shown.get("name", ""), shown["email"],
                          shown.get("extra") or {}, previewed=True)
        return Values(member_id, member_number, sealed=True, extra_columns=tuple(columns or ()),
                      lengths=lengths or {})
    personal = _opened_row(key, sealed, sealed_in, row_number, member_number)
    if personal is None:
        return Values(member_id, member_number, unreadable=True)
    email = personal.get("email", "")
    if pseudonym(email) != stored_pseudonym:
        return Values(member_id, member_number, unreadable=True)
    return Values(member_id, member_number, personal.get("name", ""), email,
                  personal.get("extra") or {})


# --- writing --------------------------------------------------------------------------------------

def store(roster: Roster, members) -> AESGCM:
    """The members of a new roster (a ParsedRoster's members: row, member_number, name,
    email, extra), encrypted under a fresh data key of the roster's, with each address's
    pseudonym and carrier group beside. Returns the key, for the import's own use: if only
    the association will hold it, the caller forgets it when the import is done."""
    key = data_keys.give_key(roster)
    roster.value_lengths = synthetic.lengths(members)
    roster.save(update_fields=["value_lengths"])
    Member.objects.bulk_create((
        Member(roster=roster, row_number=m.row, member_number=m.member_number,
               personal=seal_values(key, roster.pk, m.row, m.member_number, {
                   "name": m.name, "email": m.email, "extra": dict(m.extra)}),
               sealed_in=roster.pk,
               email_pseudonym=pseudonym(m.email), carrier=carriers.group_of(m.email))
        for m in members), batch_size=2000)
    return key


def store_copies(member_ids, *, source: Roster, roster: Roster) -> int:
    """Copies of some members of `source` in `roster` (a roster's part): their ciphertext
    as it is, still bound to where it was sealed, and the part given the same data key
    (data_keys.share_key). No row is opened: this works while only the association holds
    the key."""
    data_keys.share_key(source, roster)
    roster.value_lengths = source.value_lengths
    roster.save(update_fields=["value_lengths"])
    rows = Member.objects.filter(roster=source, pk__in=list(member_ids)).order_by(
        "row_number").values_list("row_number", "member_number", "personal", "sealed_in",
                                  "email_pseudonym", "carrier")
    created = Member.objects.bulk_create((
        Member(roster=roster, row_number=row_number, member_number=number,
               personal=bytes(sealed), sealed_in=sealed_in, email_pseudonym=key,
               carrier=carrier)
        for row_number, number, sealed, sealed_in, key, carrier in rows.iterator(
            chunk_size=2000)), batch_size=2000)
    return len(created)


def _seal_upload(key: AESGCM, part: bytes, file_sha256: str, data: dict) -> bytes:
    return sealing.seal_row(key, json.dumps(data, ensure_ascii=False).encode(),
                            b"cs1|upload|" + part + b"|" + file_sha256.encode())


# A held roster's upload keeps no key of its own in the database: the uploader's browser
# holds it (a cookie) until they confirm, so the database and the settings do not open it.
WITH_THE_UPLOADER = b"cs1|upload-key|with-the-uploader"


def _open_upload(upload: RosterUpload, part: bytes, sealed, uploader_key: bytes | None) -> dict:
    try:
        if bytes(upload.data_key) == WITH_THE_UPLOADER:
            if not uploader_key:
                return {}
            key = AESGCM(uploader_key)
        else:
            key = AESGCM(data_keys.unwrap(bytes(upload.data_key), data_keys.UPLOAD))
        return json.loads(sealing.open_row(
            key, bytes(sealed), b"cs1|upload|" + part + b"|" + upload.file_sha256.encode()))
    except (sealing.NotSealed, ValueError):
        return {}  # gone, changed, or kept before uploads were sealed: upload again


def hold_upload(*, parsed, file_sha256: str, with_uploader: bool = False,
                **fields) -> RosterUpload:
    """A checked upload waiting for confirmation, holding the rows `parsed` (a ParsedRoster)
    checked and the preview the uploader confirms, encrypted under a key of its own: wrapped
    under the installation's key, or `with_uploader` (a roster only the association will
    hold) given back as `upload.uploader_key` and kept nowhere here."""
    data_key = sealing.new_data_key()
    key = AESGCM(data_key)
    upload = RosterUpload.objects.create(
        checked_rows=_seal_upload(key, b"checked", file_sha256, parsed.checked()),
        preview_rows=_seal_upload(key, b"preview", file_sha256, parsed.preview()),
        data_key=WITH_THE_UPLOADER if with_uploader else data_keys.wrap(
            data_key, data_keys.UPLOAD), file_sha256=file_sha256, **fields)
    upload.uploader_key = data_key if with_uploader else None
    return upload


def held_upload(upload: RosterUpload, uploader_key: bytes | None = None) -> dict:
    """The checked rows an upload holds (ParsedRoster.checked()), {} once they are gone (or,
    for one whose key is with its uploader, without that key)."""
    return _open_upload(upload, b"checked", upload.checked_rows, uploader_key)


def held_preview(upload: RosterUpload, uploader_key: bytes | None = None) -> dict:
    """What the uploader sees before confirming (ParsedRoster.preview())."""
    return _open_upload(upload, b"preview", upload.preview_rows, uploader_key)


def upload_holds(upload: RosterUpload, key: str) -> bool:
    """Whether a pending upload's checked rows hold the address with this pseudonym. One
    whose key is with its uploader cannot be looked into: it counts as holding it (an
    erasure drops it; the observer uploads again)."""
    if bytes(upload.data_key) == WITH_THE_UPLOADER:
        return True
    return any(pseudonym(row[3]) == key for row in held_upload(upload).get("members", [])
               if len(row) > 3 and isinstance(row[3], str))


def uploads_holding(key: str) -> list[int]:
    return [u.pk for u in RosterUpload.objects.only("pk", "checked_rows", "data_key",
                                                    "file_sha256")
            if upload_holds(u, key)]


# --- reading --------------------------------------------------------------------------------------

def values(member: Member, *, shown: bool = False) -> Values:
    return values_of([member.pk], shown=shown).get(member.pk) or Values(
        member.pk, member.member_number, unreadable=True)


def values_of(member_ids, *, shown: bool = False) -> dict[int, Values]:
    """The values of these members, by id, in one query (a report's chunk, a page). A
    member whose data was erased is missing. `shown`: for a person to look at (a page, a
    preview, a test message), where a member of a roster only the association holds comes
    with their real values if it granted a preview of them (roster.previews); everything
    else (reports' hashes, bounces, unsubscribe pages, sending) never reads a grant."""
    rows = Member.objects.filter(pk__in=list(member_ids)).values_list(*_READ, *_SYNTHETIC)
    return {values.member_id: values for values in _opened(rows, shown=shown)}


def _opened(rows, *, shown: bool) -> list[Values]:
    """Rows read with _READ and _SYNTHETIC, opened; `shown`: see values_of."""
    rows = list(rows)
    held = [row[0] for row in rows if row[5] is None and row[2] is not None] if shown else []
    granted = live_previews(held) if held else None
    return [_values(*row, granted=granted) for row in rows]


# --- previews the association granted (roster.previews) --------------------------------------

def opened_preview(blob: bytes, roster_id: int, number: str, not_after: str) -> dict | None:
    """A preview seal's values, if it opens with the preview key and is bound to this
    roster, member and deadline: {"name": str, "email": str, "extra": {str: str}}."""
    try:
        header, row = sealing.open_sealed(blob, data_keys.preview_key())
        personal = json.loads(row)
    except (sealing.NotSealed, ValueError, RecursionError):
        return None
    if header.name != sealing.preview_name(roster=roster_id, member_number=number,
                                           not_after=not_after):
        return None
    if not (isinstance(personal, dict) and isinstance(personal.get("name"), str)
            and isinstance(personal.get("email"), str)
            and isinstance(personal.get("extra", {}), dict)
            and all(isinstance(v, str) for v in personal.get("extra", {}).values())):
        return None
    return personal


def live_previews(member_ids) -> dict[int, dict]:
    """{member id: values} of these members' live grants, opened ({"name", "email",
    "extra"}). The seal, not the row, says whose values they are and until when: a grant
    whose row was moved to another member or roster, or given a later deadline in the
    database, shows nothing."""
    shown, now = {}, timezone.now()
    for member_id, blob, roster_id, member_roster, number, not_after in \
            PreviewGrant.objects.filter(member_id__in=list(member_ids), ended_at=None,
                                        not_after__gt=now).values_list(
                "member_id", "sealed", "roster_id", "member__roster_id",
                "member__member_number", "not_after"):
        text = not_after.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        personal = opened_preview(bytes(blob), roster_id, number, text) \
            if roster_id == member_roster else None
        if personal is not None and datetime.strptime(
                text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) > now:
            shown[member_id] = personal
    return shown


def sealed_rows(member_ids) -> dict[int, dict]:
    """The ciphertext of these members' rows where only the association holds the key (and
    where it belongs), for a file the association opens with its key tool: {member id:
    {"row", "sealed_in", "ciphertext" (base64)}}. Nothing here opens them."""
    rows = Member.objects.filter(pk__in=list(member_ids), roster__data_key=None).exclude(
        personal=None).values_list("pk", "row_number", "sealed_in", "personal")
    return {pk: {"row": row, "sealed_in": sealed_in,
                 "ciphertext": base64.b64encode(bytes(personal)).decode("ascii")}
            for pk, row, sealed_in, personal in rows}


def values_from_sql(row: dict, *, roster_id: int) -> Values:
    """The values in a row read by a statement that used SQL_VALUES (with the row's
    member_id and member_number), for a campaign on `roster_id`. An erased member (no row
    any more) has none; a member of another roster does not open."""
    if row["member_roster"] is None:
        return Values(row["member_id"], row["member_number"])
    if row["member_roster"] != roster_id:  # a delivery pointed at another roster's member
        return Values(row["member_id"], row["member_number"], unreadable=True)
    return _values(row["member_id"], row["member_number"], row["personal"],
                   row["member_roster"], row["member_row"], row["roster_key"], row["sealed_in"],
                   row["stored_pseudonym"])


def rows(roster, *, chunk_size: int = 5000):
    """Every member of `roster`, in row order, for the content guard (its index and its scan
    of the placeholder columns). A row that does not open comes as `unreadable`."""
    members = Member.objects.filter(roster=roster).order_by("row_number").values_list(*_READ)
    # Every member is `roster`'s: its columns and lengths are read once, not joined per row.
    synthetic = (roster.extra_columns, roster.value_lengths)
    for row in members.iterator(chunk_size=chunk_size):
        yield _values(*row, *synthetic)


def index_rows(roster_id: int, *, chunk_size: int = 5000):
    """(member number, name, address, extra columns) of every member whose values open, for
    the guard's index."""
    members = Member.objects.filter(roster_id=roster_id).values_list(
        "member_number", "personal", "row_number", "roster__data_key", "sealed_in")
    for member_number, sealed, row_number, wrapped, sealed_in in members.iterator(
            chunk_size=chunk_size):
        personal = _opened_row(data_keys.key_of(roster_id, wrapped), sealed, sealed_in,
                               row_number, member_number)
        if personal is None:
            continue
        # Unlike _values, the address is not compared with the row's pseudonym: a row whose
        # pseudonym was changed is not sent to, but its values still belong in the index
        # (they opened under this member's binding: they are this member's), and 100,000
        # HMACs are saved when a window opens.
        yield member_number, personal.get("name", ""), personal.get("email", ""), \
            personal.get("extra") or {}


def held_rosters() -> list[tuple]:
    """(id, file SHA-256, member count, extra columns) of every roster whose member data is
    still held (not purged): what the association has handed over, as of now."""
    return list(Roster.objects.filter(purged_at=None).order_by("pk").values_list(
        "pk", "file_sha256", "member_count", "extra_columns"))


def page_of(roster, *, user, q: str = "", page=None, per_page: int = 50,
            count: int | None = None):
    """A page of `roster`'s members for a person allowed to see member rows (the access
    policy: countersign.access), searched by number, name or address. Its object_list
    holds Values, with `row_number` beside each. `count`: the number of members when it
    is known (no COUNT(*) on a big roster). Without a search only the page is opened; a
    search opens the roster's rows one by one (the database cannot search ciphertext)."""
    if not access.may_see(user, access.Data.MEMBER_ROWS):
        raise PermissionDenied
    if q:
        paginator = Paginator([_Row(row_number, values)
                               for row_number, values in _matching(roster.pk, q)], per_page)
        return paginator.get_page(page)
    members = Member.objects.filter(roster=roster).order_by("row_number")
    paginator = Paginator(members.values_list(*_READ, *_SYNTHETIC), per_page)
    if count is not None:
        paginator.__dict__["count"] = count  # fills Paginator.count (a cached_property)
    paginated = paginator.get_page(page)
    paginated.object_list = [_Row(values_row[4], values) for values_row, values in zip(
        paginated.object_list, _opened(paginated.object_list, shown=True), strict=True)]
    return paginated


@dataclass(frozen=True)
class _Row:
    row_number: int
    values: Values

    def __getattr__(self, name):
        return getattr(self.values, name)


def _finds(member: Values, q: str, key: str, stored_key: str, *,
           addresses: bool = True) -> bool:
    """Whether a search for `q` (normalised, case-folded) finds the member: its number or
    name contains it, or, typed without its space ("鈴木陽菜" for "鈴木 陽菜"), the name
    without spaces does; or the address contains it, or is it (by its pseudonym: an address
    is found whole however it is typed: case, width, IDN form). A sealed member is found by
    its number, or by its whole address (its pseudonym), only."""
    if member.sealed:
        return q in member.member_number.casefold() or addresses and bool(key) and (
            key == stored_key)
    name = member.name.casefold()
    return (q in member.member_number.casefold() or q in name
            or (" " not in q and 2 <= len(q) <= 20 and q in name.replace(" ", ""))
            or addresses and (q in member.email.casefold()
                              or bool(key) and key == pseudonym(member.email)))


def _matching(roster_id: int, q: str, *, limit: int | None = None, addresses: bool = True):
    """(row number, values) of the members a search for `q` finds, in row order. `q` is
    normalised as the import normalised the rows (Ｗ０００００５ is W000005)."""
    q = normalised(q).casefold()
    key = pseudonym(q) if "@" in q else ""
    found = 0
    rows_ = Member.objects.filter(roster_id=roster_id).order_by("row_number").values_list(
        *_READ, *_SYNTHETIC)
    for row in rows_.iterator(chunk_size=5000):
        member = _values(*row)
        if member.unreadable:  # found by its number only, flagged: someone is looking for it
            found_it = q in member.member_number.casefold()
        else:
            found_it = _finds(member, q, key, row[7], addresses=addresses)
        if found_it:
            yield row[4], member
            found += 1
            if limit is not None and found >= limit:
                return


def matching_ids(roster_id: int, q: str, *, limit: int = 1000) -> list[int]:
    """Ids of the first `limit` members of a roster that a search for `q` finds (a ledger's
    or a report's search: a list of ids the database is asked for)."""
    return [member.member_id for _row, member in _matching(roster_id, q, limit=limit)]


def search(roster, q: str, *, limit: int = 20) -> list[Values]:
    """Up to `limit` members whose number or name contains `q` (the test send's picker)."""
    if not q:
        members = Member.objects.filter(roster=roster).order_by("row_number")
        return _opened(members.values_list(*_READ, *_SYNTHETIC)[:limit], shown=True)
    return [member for _row, member in _matching(roster.pk, q, limit=limit, addresses=False)]


def recipients_digest(roster) -> tuple[int, str]:
    """(count, SHA-256) over the sorted (member number, address pseudonym, SHA-256 of the
    member's stored ciphertext): any change to any row changes it, and computing it opens
    no value."""
    rows_ = sorted((number, key, hashlib.sha256(bytes(sealed)).hexdigest())
                   for number, key, sealed in Member.objects.filter(roster=roster).values_list(
                       "member_number", "email_pseudonym", "personal").iterator(chunk_size=5000))
    digest = hashlib.sha256()
    for row in rows_:
        digest.update(json.dumps(row, ensure_ascii=False).encode() + b"\n")
    return len(rows_), digest.hexdigest()


def spellings_of(members) -> tuple[set[str], set[str], set[str]]:
    """(addresses, names, pseudonyms) of `members`, read before they are erased: what the
    erasure looks for elsewhere (replies that quoted them, the demo inbox)."""
    addresses, names, keys = set(), set(), set()
    for row in members.values_list(*_READ).iterator(chunk_size=5000):
        member, key = _values(*row), row[7]
        addresses.add(member.email)
        names.add(member.name)
        keys.add(key)
    addresses.discard("")
    names.discard("")
    return addresses, names, keys


def erase(members) -> int:
    """Member rows go (their values with them), in one statement per 5,000: the ledger keeps
    the member number and the address's pseudonym, and no longer points at them. On SQLite
    the file does not keep them either: secure_delete (settings) overwrites the freed
    pages, and once this commits the write-ahead log, which still holds the pages as they
    were, is checkpointed and truncated."""
    total = 0
    for roster_id in set(members.values_list("roster_id", flat=True)):
        ids = list(members.filter(roster_id=roster_id).values_list("pk", flat=True))
        for start in range(0, len(ids), 5000):
            chunk = ids[start:start + 5000]
            PreviewGrant.objects.filter(member_id__in=chunk).delete()  # a grant of their values
            total += Member.objects.filter(pk__in=chunk)._raw_delete(Member.objects.db)
    transaction.on_commit(_truncate_the_log)
    return total


def forget_upload(upload: RosterUpload) -> None:
    """A checked upload goes (confirmed or cancelled), its rows with it."""
    forget_uploads(RosterUpload.objects.filter(pk=upload.pk))


def forget_uploads(uploads) -> int:
    """Checked uploads go (expired, or holding an erased address), their rows with them."""
    count, _by_model = uploads.delete()
    transaction.on_commit(_truncate_the_log)
    return count


def _truncate_the_log() -> None:
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
