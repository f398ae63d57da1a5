"""The one door to member data: names, e-mail addresses and extra columns.

A member's values live in one place, `Member.personal` ({"name", "email", "extra"}), and
a checked upload's rows in `RosterUpload.checked_rows`; this module is the only code that
reads or writes either (tests/test_member_data_door.py fails, naming file and line, if any
other module does). Everything else works on member ids, member numbers and keyed
pseudonyms (countersign.pseudonyms), which say nothing without the key: the ledger, the
audit log, campaign versions, guard reports, notifications, sessions and task arguments.

Like GOV.UK Notify's `Notification.personalisation`, the door is where the values will be
encrypted (the association-held key): callers already ask it for exactly what they need,
in batches (one query per page or per message, never one per member), and say why:

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

import hashlib
import json
import re
from dataclasses import dataclass, field
from urllib.parse import quote

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection, transaction
from django.db.models import Q

from countersign import access, carriers
from countersign.pseudonyms import mask_addresses, normalise_address, pseudonym
from countersign.text import normalised
from roster.models import Member, Roster, RosterUpload

# The claim's columns: the member's values, read in the claim's own statement (one round
# trip per message). `{member_id}` is the SQL expression of the member's id.
SQL_VALUES = (f"(SELECT personal FROM {Member._meta.db_table} m WHERE m.id = {{member_id}}) "
              "AS personal")


@dataclass(frozen=True)
class Values:
    """One member's values, as read through the door."""

    member_id: int | None
    member_number: str
    name: str = ""
    email: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def erased(self) -> bool:
        return not self.email

    def placeholders(self) -> dict[str, str]:
        """The values a message is rendered with ({name}, {member_number}, {email} and the
        extra columns)."""
        return {"name": self.name, "member_number": self.member_number, "email": self.email,
                **self.extra}


def _personal(*, name: str, email: str, extra: dict) -> dict:
    return {"name": name, "email": email, "extra": dict(extra)}


def _values(member_id, member_number, personal) -> Values:
    if isinstance(personal, str):  # raw SQL on SQLite returns the JSON text
        personal = json.loads(personal)
    personal = personal or {}
    return Values(member_id, member_number, personal.get("name", ""),
                  personal.get("email", ""), personal.get("extra") or {})


# --- writing --------------------------------------------------------------------------------------

def new_member(*, roster, row_number: int, member_number: str, name: str, email: str,
               extra: dict) -> Member:
    """An unsaved member row (for bulk_create): the values and the address's pseudonym."""
    return Member(roster=roster, row_number=row_number, member_number=member_number,
                  personal=_personal(name=name, email=email, extra=extra),
                  email_pseudonym=pseudonym(email), carrier=carriers.group_of(email))


def copies(members, *, roster) -> list[Member]:
    """Unsaved copies of `members` in another roster (a roster's subset)."""
    return [Member(roster=roster, row_number=m.row_number, member_number=m.member_number,
                   personal=m.personal, email_pseudonym=m.email_pseudonym, carrier=m.carrier)
            for m in members]


def hold_upload(*, parsed, **fields) -> RosterUpload:
    """A checked upload waiting for confirmation, holding the rows `parsed` (a ParsedRoster)
    checked and the preview the operator confirms."""
    return RosterUpload.objects.create(checked_rows=parsed.checked(),
                                       preview_rows=parsed.preview(), **fields)


def held_upload(upload: RosterUpload) -> dict:
    """The checked rows an upload holds (ParsedRoster.checked()), {} once they are gone."""
    return upload.checked_rows or {}


def held_preview(upload: RosterUpload) -> dict:
    """What the operator sees before confirming (ParsedRoster.preview())."""
    return upload.preview_rows or {}


def upload_holds(upload: RosterUpload, key: str) -> bool:
    """Whether a pending upload's checked rows hold the address with this pseudonym."""
    return any(pseudonym(row[3]) == key for row in held_upload(upload).get("members", [])
               if len(row) > 3 and isinstance(row[3], str))


def uploads_holding(key: str) -> list[int]:
    return [u.pk for u in RosterUpload.objects.only("pk", "checked_rows")
            if upload_holds(u, key)]


# --- reading --------------------------------------------------------------------------------------

def values(member: Member) -> Values:
    return _values(member.pk, member.member_number, member.personal)


def values_of(member_ids) -> dict[int, Values]:
    """The values of these members, by id, in one query (a page, a report's chunk). A
    member whose data was erased is missing."""
    rows = Member.objects.filter(pk__in=list(member_ids)).values_list(
        "pk", "member_number", "personal")
    return {pk: _values(pk, number, personal) for pk, number, personal in rows}


def values_from_sql(row: dict) -> Values:
    """The values in a row read by a statement that used SQL_VALUES (with the row's
    member_id and member_number)."""
    return _values(row["member_id"], row["member_number"], row["personal"])


def rows(roster, *, chunk_size: int = 5000):
    """Every member of `roster`, in row order, for the content guard (its index and its scan
    of the placeholder columns)."""
    members = Member.objects.filter(roster=roster).order_by("row_number").values_list(
        "pk", "member_number", "personal")
    for pk, number, personal in members.iterator(chunk_size=chunk_size):
        yield _values(pk, number, personal)


def index_rows(roster_id: int, *, chunk_size: int = 5000):
    """(member number, name, address, extra columns) of every member, for the guard's index."""
    members = Member.objects.filter(roster_id=roster_id).values_list("member_number",
                                                                     "personal")
    for number, personal in members.iterator(chunk_size=chunk_size):
        personal = personal or {}
        yield (number, personal.get("name", ""), personal.get("email", ""),
               personal.get("extra") or {})


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
    is known (no COUNT(*) on a big roster)."""
    if not access.may_see(user, access.Data.MEMBER_ROWS):
        raise PermissionDenied
    members = Member.objects.filter(roster=roster).order_by("row_number")
    if q:
        members = members.filter(_search(q))
    paginator = Paginator(members.values_list("pk", "member_number", "personal", "row_number"),
                          per_page)
    if count is not None and not q:
        paginator.__dict__["count"] = count  # fills Paginator.count (a cached_property)
    paginated = paginator.get_page(page)
    paginated.object_list = [
        _Row(row_number, _values(pk, number, personal))
        for pk, number, personal, row_number in paginated.object_list]
    return paginated


@dataclass(frozen=True)
class _Row:
    row_number: int
    values: Values

    def __getattr__(self, name):
        return getattr(self.values, name)


def _name_contains(q: str) -> Q:
    """The name contains `q` as stored (NFKC, like the import), or, typed without its space
    ("鈴木陽菜" for "鈴木 陽菜"), with one space put back at any place."""
    found = Q(personal__name__icontains=q)
    if " " not in q and 2 <= len(q) <= 20:
        for cut in range(1, len(q)):
            found |= Q(personal__name__icontains=f"{q[:cut]} {q[cut:]}")
    return found


def _search(q: str) -> Q:
    """Number or name contains `q`, or the address contains it, or is it (by its pseudonym:
    an address is found whole however it is typed: case, width, IDN form). `q` is
    normalised as the import normalised the rows (Ｗ０００００５ is W000005)."""
    q = normalised(q)
    found = (Q(member_number__icontains=q) | _name_contains(q)
             | Q(personal__email__icontains=q))
    return found | Q(email_pseudonym=pseudonym(q)) if "@" in q else found


def matching_ids(roster_id: int, q: str):
    """Ids of the members of a roster that a search for `q` finds (a subquery)."""
    return Member.objects.filter(_search(q), roster_id=roster_id).values("pk")


def search(roster, q: str, *, limit: int = 20) -> list[Values]:
    """Up to `limit` members whose number or name contains `q` (the test send's picker)."""
    members = Member.objects.filter(roster=roster).order_by("row_number")
    if q:
        q = normalised(q)
        members = members.filter(Q(member_number__icontains=q) | _name_contains(q))
    return [_values(pk, number, personal) for pk, number, personal in
            members.values_list("pk", "member_number", "personal")[:limit]]


def recipients_digest(roster) -> tuple[int, str]:
    """(count, SHA-256) over the sorted (member number, address pseudonym, digest of the
    member's stored values): any change to any row changes it, and computing it reads no
    value (the row's digest is over what is stored, as stored)."""
    rows_ = sorted((number, key, hashlib.sha256(
        json.dumps(personal, sort_keys=True, ensure_ascii=False).encode()).hexdigest())
        for number, key, personal in Member.objects.filter(roster=roster).values_list(
            "member_number", "email_pseudonym", "personal").iterator(chunk_size=5000))
    digest = hashlib.sha256()
    for row in rows_:
        digest.update(json.dumps(row, ensure_ascii=False).encode() + b"\n")
    return len(rows_), digest.hexdigest()


def spellings_of(members) -> tuple[set[str], set[str], set[str]]:
    """(addresses, names, pseudonyms) of `members`, read before they are erased: what the
    erasure looks for elsewhere (replies that quoted them, the demo inbox)."""
    addresses, names, keys = set(), set(), set()
    for personal, key in members.values_list("personal", "email_pseudonym").iterator(
            chunk_size=5000):
        personal = personal or {}
        addresses.add(personal.get("email", ""))
        names.add(personal.get("name", ""))
        keys.add(key)
    addresses.discard("")
    names.discard("")
    return addresses, names, keys


# Values shorter than this are not masked on their own (a two-letter column would blank
# every reply); an address, a name and the local part are masked whatever their length.
MASK_MIN_LENGTH = 3
MASKED = "[member data]"


def spellings(member: Values) -> set[str]:
    """Every way a text from outside (a relay's reply) may quote this member's values: the
    address in both IDN forms and percent-encoded, its local part, the name in both orders
    and without spaces, and each extra column."""
    found = set()
    if member.email:
        for address in {member.email, normalise_address(member.email), _unicode_domain(
                normalise_address(member.email))}:
            local, _at, domain = address.rpartition("@")
            found |= {address, f"{local}%40{domain}", local, quote(address, safe="")}
    parts = member.name.split()
    if member.name:
        found |= {member.name, "".join(parts), " ".join(reversed(parts)),
                  "".join(reversed(parts))}
        found |= {part for part in parts if len(part) >= 2}  # a surname or a given name alone
    found |= {v for v in member.extra.values() if isinstance(v, str)
              and len(v.strip()) >= MASK_MIN_LENGTH}
    return {s.strip().casefold() for s in found if s and s.strip()}


def _unicode_domain(address: str) -> str:
    local, _at, domain = address.rpartition("@")
    try:
        return f"{local}@{domain.encode('ascii').decode('idna')}"
    except UnicodeError:
        return address


def mask(text: str, member: Values | None) -> str:
    """`text` (a relay's reply, an error) with every spelling of the member's own values
    replaced, longest first, case-insensitively; then anything address-shaped. For what is
    stored where member data may not be: the ledger's reply column, audit payloads."""
    if member is not None and text:
        folded = text.casefold()
        for needle in sorted(spellings(member), key=len, reverse=True):
            if needle in folded:  # most replies quote nothing: no pattern built
                text = _pattern(needle).sub(MASKED, text)
                folded = text.casefold()
    return mask_addresses(text)


def _pattern(needle: str) -> re.Pattern:
    """`needle` anywhere, case-insensitively; a word in Latin letters or digits only as a
    whole word (a short given name must not blank the middle of "mailbox")."""
    escaped = re.escape(needle)
    if needle.isascii() and re.fullmatch(r"[\w.'-]+", needle):
        escaped = rf"(?<![\w]){escaped}(?![\w])"
    return re.compile(escaped, re.IGNORECASE)


def same_address(a: str, b: str) -> bool:
    return bool(a) and normalise_address(a) == normalise_address(b)


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
            total += Member.objects.filter(pk__in=ids[start:start + 5000])._raw_delete(
                Member.objects.db)
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
