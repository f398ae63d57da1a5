"""Real previews of a few members of a roster only the association holds (issue 22, item 3).

The contractor sees a held roster's members as numbers, and its previews and test messages
use synthetic values. A supervisor who approves what they saw may want one real message: the
association's observer chooses a few members (officers who agreed, say), up to
PREVIEW_MAX_MEMBERS, for at most PREVIEW_MAX_DAYS, with a reason:

1. The roster page gives a preview request: those members' row ciphertexts, the roster's data
   key as sealed to the association, and the installation's preview key (below).
2. On the association's machine, `python -m countersign.keytool preview association.key
   preview-request-roster-N.json` opens each row, bound to the member number it prints, and
   seals it to the preview key, for this roster, member and deadline.
3. The observer hands the answer in on the roster page. Each member's address must hash to
   the pseudonym the roster stores (a row is not taken for another member's). Audited, with
   member numbers, the reason and the deadline.

Until the deadline the door (roster.member_data) shows those members' real values wherever a
page, a preview or a test message reads them; sending never does (messages leave only inside
a release's window). Revoked, or past the deadline, the seal is wiped (audited) and the
member is synthetic again. An erasure or a purge deletes the grant with the member.

The preview key is derived from MEMBER_DATA_KEY: whoever holds the database and the settings
can open a live grant, as the pages do. That is the association's choice for those few
members, for that long; every other member stays ciphertext.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

import audit
from countersign import association_key, sealing
from countersign.pseudonyms import pseudonym
from countersign.roles import Role, has_role
from roster import data_keys, free_text, member_data
from roster.actions import Action
from roster.models import Member, PreviewGrant, Roster


class PreviewRefused(ValueError):
    """A preview request or answer that cannot be taken; its message says why."""


def public():
    """The public half of the installation's preview key (roster.data_keys.preview_key)."""
    return data_keys.preview_key().public_key()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _require_observer(actor) -> None:
    if not has_role(actor, Role.OBSERVER):
        raise PermissionDenied


# --- the request and the answer ---------------------------------------------------------------

def member_numbers(text: str) -> list[str]:
    """Member numbers as an observer types them: separated by commas, spaces or lines."""
    numbers = []
    for number in text.replace("、", ",").replace(",", " ").split():
        if number not in numbers:
            numbers.append(number)
    return numbers


def request_for(roster: Roster, numbers: list[str], *, days: int, reason: str,
                actor) -> dict:
    """What the key tool needs to open these members' rows and seal them to this server."""
    _require_observer(actor)
    if not data_keys.with_association(roster) or roster.purged_at is not None:
        raise PreviewRefused(_("Only a roster the association alone holds the key of needs "
                               "a preview grant: the others show their members already."))
    if not 1 <= len(numbers) <= settings.PREVIEW_MAX_MEMBERS:
        raise PreviewRefused(_("Choose between 1 and %(most)s members.")
                             % {"most": settings.PREVIEW_MAX_MEMBERS})
    if not 1 <= days <= settings.PREVIEW_MAX_DAYS:
        raise PreviewRefused(_("A preview grant lasts between 1 and %(most)s days.")
                             % {"most": settings.PREVIEW_MAX_DAYS})
    if not reason.strip():
        raise PreviewRefused(_("Say why these members may be shown."))
    if problem := free_text.problem(reason):
        raise PreviewRefused(problem)
    members = {m.member_number: m for m in Member.objects.filter(
        roster=roster, member_number__in=numbers).only("pk", "member_number")}
    missing = [number for number in numbers if number not in members]
    if missing:
        raise PreviewRefused(_("Not in this roster: %(numbers)s.") % {
            "numbers": ", ".join(missing)})
    key = public()
    rows = member_data.sealed_rows(member.pk for _n, member in members.items())  # ciphertext
    return {
        "kind": sealing.PREVIEW_REQUEST, "roster": roster.pk, "name": roster.name,
        "key_roster": roster.original().pk,
        "not_after": _iso(timezone.now() + timedelta(days=days)), "reason": reason.strip()[:200],
        "to": {"fingerprint": sealing.fingerprint(key),
               "public_key": base64.b64encode(sealing.raw_public(key)).decode("ascii")},
        "data_key_seals": roster.data_key_seals,
        "members": [{"member_number": number, **rows[members[number].pk]} for number in numbers]}


def _refused() -> PreviewRefused:
    return PreviewRefused(_("This is not a preview answer for this roster: download the "
                            "preview request again and answer it with the key tool."))


def _parsed(data: bytes, roster: Roster) -> tuple[datetime, str, str, dict[str, bytes],
                                                   dict[str, bytes]]:
    """(deadline, its text, reason, seals, tags) of an answer; PreviewRefused for anything
    else (no exception of the parser's reaches the page)."""
    try:
        answer = json.loads(data)
        if not (isinstance(answer, dict) and answer.get("kind") == sealing.PREVIEW
                and answer.get("roster") == roster.pk and isinstance(answer.get("seals"), dict)
                and isinstance(answer.get("tags"), dict) and isinstance(answer.get("reason"), str)
                and isinstance(answer.get("not_after"), str)):
            raise _refused()
        text = answer["not_after"]
        not_after = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        seals = {str(n): base64.b64decode(blob, validate=True)
                 for n, blob in answer["seals"].items()}
        tags = {str(n): bytes.fromhex(tag) for n, tag in answer["tags"].items()}
    except (ValueError, TypeError, AttributeError, RecursionError) as error:
        raise _refused() from error
    reason = answer["reason"].strip()[:200]
    if not seals or len(seals) > settings.PREVIEW_MAX_MEMBERS or not reason or \
            set(tags) != set(seals):
        raise _refused()
    return not_after, text, reason, seals, tags


def accept(data: bytes, *, roster: Roster, actor) -> list[str]:
    """The members a preview answer shows, granted until its deadline; returns their numbers.
    Each seal must be the association's (its tag, made with the association's current key:
    sealing.preview_tag), for this roster, member and deadline, with the address the roster
    stores for that member, and never handed in before (a revoked answer stays revoked). A
    member granted before gets the new grant instead."""
    _require_observer(actor)
    not_after, text, reason, seals, tags = _parsed(data, roster)
    if problem := free_text.problem(reason):  # the reason the request carried, read again
        raise PreviewRefused(problem)
    now = timezone.now()
    if not now < not_after <= now + timedelta(days=settings.PREVIEW_MAX_DAYS, minutes=5):
        raise PreviewRefused(_("The preview answer's deadline has passed (or is further off "
                               "than a preview may last): download a new request."))
    association = association_key.verified_public_key()
    if association is None:
        raise _refused()
    shared = data_keys.preview_key().exchange(association)
    members = {m.member_number: m for m in Member.objects.filter(
        roster=roster, member_number__in=list(seals))}
    digests = {number: hashlib.sha256(blob).hexdigest() for number, blob in seals.items()}
    if PreviewGrant.objects.filter(seal_sha256__in=digests.values()).exists():
        raise PreviewRefused(_("This preview answer was handed in before: ask the key tool "
                               "for a new one."))
    for number, blob in seals.items():
        if not hmac.compare_digest(sealing.preview_tag(shared, blob), tags[number]):
            raise _refused()  # not made with the association's key
        member, personal = members.get(number), member_data.opened_preview(
            blob, roster.pk, number, text)
        if member is None or personal is None:
            raise _refused()
        if pseudonym(personal["email"]) != member.email_pseudonym:
            raise PreviewRefused(_("Member %(number)s's values in the answer are not the "
                                   "roster's: nothing was granted.") % {"number": number})
    with transaction.atomic():
        for number, blob in seals.items():
            replaced = _end(PreviewGrant.objects.filter(member=members[number], ended_at=None),
                            now)
            if replaced:
                audit.record(Action.PREVIEW_ENDED, actor=actor, role=Role.OBSERVER,
                             target=roster, payload={"members": replaced,
                                                     "outcome": "replaced"})
            PreviewGrant.objects.create(roster=roster, member=members[number], sealed=blob,
                                        seal_sha256=digests[number], reason=reason,
                                        not_after=not_after, granted_by=actor)
        audit.record(Action.PREVIEW_GRANTED, actor=actor, role=Role.OBSERVER, target=roster,
                     payload={"members": sorted(seals), "preview_because": reason,
                              "until": text})
    return sorted(seals)


def current(roster: Roster):
    return PreviewGrant.objects.filter(roster=roster, ended_at=None,
                                       not_after__gt=timezone.now()).select_related(
        "member", "granted_by")


# --- the end of a grant -----------------------------------------------------------------------

def _end(grants, now) -> list[str]:
    numbers = sorted(grants.values_list("member__member_number", flat=True))
    grants.update(sealed=b"", ended_at=now)
    return numbers


def revoke(grant: PreviewGrant, *, actor) -> None:
    _require_observer(actor)
    with transaction.atomic():
        ended = _end(PreviewGrant.objects.select_for_update().filter(pk=grant.pk,
                                                                     ended_at=None),
                     timezone.now())
        if ended:
            audit.record(Action.PREVIEW_ENDED, actor=actor, role=Role.OBSERVER,
                         target=grant.roster, payload={"members": ended, "outcome": "revoked"})


def forget_expired(now=None) -> int:
    """Wipe the seals of grants past their deadline (the daily retention run); audited."""
    now = now or timezone.now()
    with transaction.atomic():
        ended = PreviewGrant.objects.select_for_update().filter(ended_at=None, not_after__lte=now)
        numbers = _end(ended, now)
        if numbers:
            audit.record(Action.PREVIEW_ENDED, system="retention",
                         payload={"members": numbers, "outcome": "expired"})
    return len(numbers)
