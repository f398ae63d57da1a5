"""Retention and erasure: member data is kept only while a campaign needs it.

`purge_rosters` (a daily django-q2 schedule) erases the names, addresses and extra columns
of every roster whose campaigns all ended ROSTER_RETENTION_DAYS ago (or that no campaign
used since its import that long ago): the member rows go, the ledger keeps each row with the
address's pseudonym instead of the address (countersign.pseudonyms), and pending uploads past
their time and the demo inbox's copies go too. `erase_member` does the same for one person
everywhere, on an erasure request (APPI), and keeps their pseudonym on the suppression list
so a re-imported roster does not bring the address back.

Each run writes a deletion certificate (counts and hashes, never the data), an audit entry
with the certificate's hash in the same transaction, and asks the association's observers to
countersign it; the countersigned certificate is mailed to them. The audit log itself never
held member data, so the chain verifies as before.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import ahocorasick
from django.conf import settings
from django.core.mail import get_connection
from django.db import transaction
from django.db.models import Max, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

import audit
from campaigns import guard_tags, suppression
from campaigns.actions import Action
from campaigns.mail import NoAttachmentMessage
from campaigns.models import Campaign, DeletionCertificate, Delivery
from campaigns.notices import association_observers
from campaigns.states import State
from countersign import association_key, clock, mailcatcher, sealing
from countersign.models import AssociationKey
from countersign.pseudonyms import normalise_address
from countersign.pseudonyms import pseudonym as pseudonym_of
from countersign.roles import Role, has_role
from roster import data_keys, member_data, previews
from roster.models import Member, PreviewGrant, Roster, RosterUpload, Suppression

log = logging.getLogger(__name__)

ENDED_STATES = (State.COMPLETED, State.STOPPED, State.CANCELLED)
ERASED_REPLY = "[erased]"
# What stays after a purge, and where, as the certificate says it (certificates written
# before keep the earlier wording, still translated).
KEPT = gettext_noop(
    "In the delivery ledger: member numbers, address pseudonyms (HMAC-SHA256 with the "
    "installation's key), delivery states, times, Message-IDs, message SHA-256s and the "
    "relays' replies with the member's own values masked. On the suppression list: address "
    "pseudonyms. In the audit log: member numbers, counts and hashes, never a name, address "
    "or column value. Not kept anywhere: names, addresses, extra columns, checked uploads and "
    "the demo inbox's copies (SQLite overwrites them in its file; PostgreSQL reclaims their "
    "space at its next VACUUM).")
KEPT_BEFORE_ISSUE_19 = gettext_noop(
    "member numbers; address pseudonyms (HMAC-SHA256 with the installation's key); "
    "delivery states, times, Message-IDs and message SHA-256s; counts and file hashes")


@dataclass
class _Found:
    """The member data one erasure covers, read before anything is deleted."""

    addresses: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    pseudonyms: set[str] = field(default_factory=set)


# --- which rosters are due ------------------------------------------------------------------------

def rosters_due(now=None):
    """Rosters not yet purged, used by no unfinished campaign, whose last campaign ended (or,
    unused, which were imported) more than ROSTER_RETENTION_DAYS ago."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.ROSTER_RETENTION_DAYS)
    in_use = Campaign.objects.exclude(state__in=ENDED_STATES).values("roster_id")
    return (Roster.objects.filter(purged_at=None).exclude(pk__in=in_use)
            .annotate(last_end=Max(Coalesce("campaigns__completed_at", "campaigns__stopped_at",
                                            "campaigns__updated_at")))
            .filter(Q(last_end__lt=cutoff) | Q(last_end=None, imported_at__lt=cutoff))
            .order_by("pk"))


def purge_rosters(now=None) -> list[DeletionCertificate]:
    """The schedule's task: purge every roster that is due, one certificate for the run
    (nothing due: no certificate). Expired uploads, and the seals of preview grants past
    their deadline, go in any case."""
    due = list(rosters_due(now).values_list("pk", flat=True))
    expired = _expired_uploads(now)
    guard_tags.forget_expired()
    previews.forget_expired(now)
    with transaction.atomic():
        # Locked, then checked again: a campaign created on a roster since it was found due
        # keeps it (on PostgreSQL, creating one waits for this lock, then sees the purge).
        rosters = [r for r in Roster.objects.select_for_update().filter(pk__in=due).order_by("pk")
                   if r.purged_at is None and not _in_use(r)]
        if not rosters and not expired.exists():
            return []
        certificate = _erase(
            kind=DeletionCertificate.Kind.RETENTION, actor=None,
            members=Member.objects.filter(roster__in=rosters),
            deliveries=Delivery.objects.filter(campaign__roster__in=rosters),
            uploads=expired, rosters=rosters, campaigns=list(
                Campaign.objects.filter(roster__in=rosters).values_list("pk", flat=True)))
    return [certificate]


def _in_use(roster) -> bool:
    return Campaign.objects.filter(roster=roster).exclude(state__in=ENDED_STATES).exists()


def _expired_uploads(now=None):
    cutoff = (now or timezone.now()) - timedelta(minutes=settings.ROSTER_UPLOAD_TTL_MINUTES)
    return RosterUpload.objects.filter(uploaded_at__lt=cutoff)


# --- one person -----------------------------------------------------------------------------------

def erase_member(*, address: str, actor=None, system: str = "") -> DeletionCertificate:
    """Erase one person's data everywhere (an erasure request): their member rows in every
    roster, the address in every ledger row, uploads and caught mail that hold it. Their
    pending messages are skipped and their pseudonym is suppressed (reason "erased"), so a
    later import does not bring the address back. Rosters under review lose the member, so
    the content hash changes and the sign-offs given for it no longer count."""
    key = pseudonym_of(address)  # however it was typed: case, width, IDN form
    members = Member.objects.filter(email_pseudonym=key)
    rosters = list(Roster.objects.filter(pk__in=members.values("roster_id")))
    deliveries = Delivery.objects.filter(address_pseudonym=key)
    campaigns = sorted(set(deliveries.values_list("campaign_id", flat=True)))
    uploads = member_data.uploads_holding(key)
    spellings = {address, normalise_address(address)}
    with transaction.atomic():
        suppression.suppress(reason=Suppression.Reason.ERASED, source="erase_member",
                             pseudonym=key, actor=actor, system=system)
        certificate = _erase(
            kind=DeletionCertificate.Kind.ERASURE, actor=actor, system=system,
            members=members, deliveries=deliveries,
            uploads=RosterUpload.objects.filter(pk__in=uploads), rosters=rosters,
            campaigns=campaigns, also=_Found(spellings, set(), {key}))
        for roster in rosters:  # the roster has fewer members now; the lengths its previews
            Roster.objects.filter(pk=roster.pk).update(  # take were measured with the person
                member_count=Member.objects.filter(roster=roster).count(), value_lengths={})
    return certificate


# --- the erasure itself ---------------------------------------------------------------------------

def _erase(*, kind, actor, members, deliveries, uploads, rosters, campaigns, system="purge",
           also: _Found | None = None) -> DeletionCertificate:
    found = also or _Found()
    addresses, names, keys = member_data.spellings_of(members)
    found.addresses |= addresses
    found.names |= names
    found.pseudonyms |= keys
    with transaction.atomic():
        counts = {"members": 0, "deliveries": 0, "uploads": 0, "caught_messages": 0}
        # Before the rows go: a preview the association granted of one of them sits in
        # backups, sealed to a key the installation derives.
        previewed = PreviewGrant.objects.filter(member__in=members).exists()
        counts["deliveries"] = _erase_ledger(deliveries, found)
        tags = (guard_tags.keep_tags_of(rosters) if kind == DeletionCertificate.Kind.RETENTION
                else None)  # an erasure request leaves nothing of the person, not even tags
        if kind == DeletionCertificate.Kind.ERASURE:  # nor those made at a held roster's import
            guard_tags.forget_members(rosters, members.values_list("member_number", flat=True))
        counts["members"] = member_data.erase(members)
        counts["uploads"] = member_data.forget_uploads(uploads)
        now = timezone.now()
        if kind == DeletionCertificate.Kind.RETENTION:
            Roster.objects.filter(pk__in=[r.pk for r in rosters]).update(purged_at=now)
            # Shredding: the rosters' data keys go too, so their rows' ciphertext, in
            # whatever copy of the database made from now on, opens with nothing.
            counts["data_keys"] = data_keys.shred(r.pk for r in rosters)
        counts["caught_messages"] = _erase_caught_mail(
            found, campaigns if kind == DeletionCertificate.Kind.RETENTION else [])
        document = {
            "kind": str(kind), "erased_at": now.isoformat(),
            "rosters": [{"id": r.pk, "name": r.name, "file_sha256": r.file_sha256,
                         "imported_at": r.imported_at.isoformat(), "members": r.member_count}
                        for r in rosters],
            "campaigns": sorted(campaigns), "counts": counts,
            "pseudonyms": len(found.pseudonyms),
            "pseudonyms_sha256": hashlib.sha256(
                "\n".join(sorted(found.pseudonyms)).encode()).hexdigest(),
            "kept": KEPT, "association_key": association_key.current_fingerprint(),
            "unreadable": _unreadable(rosters, now, previewed=previewed),
        }
        if kind == DeletionCertificate.Kind.RETENTION:
            document["retention_days"] = settings.ROSTER_RETENTION_DAYS
            document["guard_tags"] = tags
        canonical = json.dumps(document, sort_keys=True, separators=(",", ":"),
                               ensure_ascii=False)
        certificate = DeletionCertificate.objects.create(
            kind=kind, created_by=actor, document=document,
            sha256=hashlib.sha256(canonical.encode()).hexdigest())
        audit.record(Action.MEMBER_DATA_ERASED, actor=actor,
                     role=Role.OBSERVER if actor else "", system="" if actor else system,
                     target=certificate, payload={
                         "kind": str(kind), "certificate_sha256": certificate.sha256,
                         "rosters": [r.pk for r in rosters], "campaigns": sorted(campaigns),
                         "counts": counts})
    return certificate


def _erase_ledger(deliveries, found: _Found) -> int:
    """Addresses out of the ledger: the pseudonym stays; a server reply that quoted the
    address (in any case, or its domain in the other IDN form) keeps everything else."""
    automaton = _automaton(_spellings(found.addresses))
    quoting = deliveries.filter(smtp_reply__contains="@")
    for pk, reply in quoting.values_list("pk", "smtp_reply").iterator(chunk_size=2000):
        cleaned = _redact(reply, automaton)
        if cleaned != reply:
            Delivery.objects.filter(pk=pk).update(smtp_reply=cleaned)
    return deliveries.exclude(member=None).update(member=None)


def _spellings(addresses) -> set[str]:
    """Each address case-folded, with its domain in both IDN forms."""
    forms = set()
    for address in addresses:
        if not address:
            continue
        forms.add(address.casefold())
        ascii_form = normalise_address(address)
        forms.add(ascii_form)
        local, _at, domain = ascii_form.rpartition("@")
        try:
            forms.add(f"{local}@{domain.encode('ascii').decode('idna')}".casefold())
        except UnicodeError:
            pass
    return forms


def _automaton(needles):
    automaton = ahocorasick.Automaton()
    for needle in needles:
        automaton.add_word(needle, len(needle))
    if len(automaton):
        automaton.make_automaton()
    return automaton


def _redact(text: str, automaton) -> str:
    """`text` with every occurrence of the automaton's words (case-folded) replaced."""
    if not len(automaton):
        return text
    folded = text.casefold()
    if len(folded) != len(text):  # case-folding changed lengths (ß): positions need the fold
        text = folded
    spans = sorted((end - length + 1, end + 1) for end, length in automaton.iter(folded))
    out, position = [], 0
    for start, end in spans:
        if start < position:
            continue
        out += [text[position:start], ERASED_REPLY]
        position = end
    return "".join(out) + text[position:]


def _erase_caught_mail(found: _Found, campaigns) -> int:
    """The demo inbox keeps copies of what it caught: a message of a purged campaign (member
    mail and test messages), or one to or mentioning an erased address or name, goes."""
    files = mailcatcher.caught_files(settings.MAILCATCHER_DIR)
    if not files:
        return 0
    automaton = _automaton({*_spellings(found.addresses),
                            *(n.casefold() for n in found.names if len(n) >= 2)})
    ids = {str(pk) for pk in campaigns}
    removed = 0
    for path in files:
        message = mailcatcher.read(path)
        about = {message.get("X-Countersign-Campaign", ""), message.get("X-Countersign-Test", "")}
        text = _readable(message).casefold()
        if (about & ids) or (len(automaton) and next(automaton.iter(text), None) is not None):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _readable(message) -> str:
    parts = [str(message.get(h, "")) for h in ("To", "Subject")]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            try:
                parts.append(part.get_content())
            except (LookupError, UnicodeError):
                parts.append(part.get_payload(decode=True).decode("utf-8", "replace"))
    return "\n".join(parts)


def _unreadable(rosters, now, *, previewed: bool = False) -> dict:
    """When what was erased stops opening, backups included. A roster the contractor held a
    copy of the key of (wrapped under MEMBER_DATA_KEY) opens in its backups until they expire;
    one only the association held, for the contractor never again. Either opens, from the
    backups, with the association's keys it was sealed to until the association destroys
    them: their planned or recorded dates, as of now."""
    today = clock.local(now).date()
    copies = any(roster.data_key for roster in rosters) or previewed
    fingerprints = sorted({fp for roster in rosters for fp in roster.data_key_seals})
    keys = {key.fingerprint: key for key in AssociationKey.objects.filter(
        fingerprint__in=fingerprints)}
    return {
        "contractor_copy": copies, "previewed": previewed,
        "contractor_from": (today + timedelta(days=settings.BACKUP_RETENTION_DAYS)
                            if copies else today).isoformat(),
        "backup_retention_days": settings.BACKUP_RETENTION_DAYS,
        "association_keys": [{
            "fingerprint": fp, "current": keys[fp].current,
            "destroy_on": keys[fp].destroy_on.isoformat() if keys[fp].destroy_on else "",
            "destroyed_at": keys[fp].destroyed_at.isoformat() if keys[fp].destroyed_at else ""}
            for fp in fingerprints if fp in keys]}


def _key_line(key: dict, days: int) -> str:
    grouped = sealing.grouped(key["fingerprint"])[:19] + "…"
    if key["destroyed_at"]:
        when = _("destroyed at %(time)s") % {
            "time": clock.text(datetime.fromisoformat(key["destroyed_at"]))}
    elif key["destroy_on"]:
        when = _("to be destroyed on %(day)s") % {"day": key["destroy_on"]}
    else:
        when = _("the current key: to be destroyed %(days)s days after it is retired") % {
            "days": days}
    return f"{grouped} ({when})"


# --- the certificate ------------------------------------------------------------------------------

class CertificateError(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


def certificate_rows(certificate: DeletionCertificate) -> list[tuple[str, str]]:
    """The certificate as (label, value) lines in the reader's language: the page shows them
    as a table, the mail and the commands as text."""
    d = certificate.document
    rows = [
        (_("Certificate"), certificate.sha256),
        (_("Kind"), str(certificate.get_kind_display())),
        (_("Erased at"), clock.text(certificate.created_at)),
        (_("Rosters"), ", ".join(f"{r['name']} ({r['file_sha256'][:12]}…, {r['members']:,})"
                                 for r in d["rosters"]) or "—"),
        (_("Member rows erased"), f"{d['counts']['members']:,}"),
        (_("Ledger rows whose address was erased"), f"{d['counts']['deliveries']:,}"),
        (_("Pending uploads deleted"), f"{d['counts']['uploads']:,}"),
        (_("Demo inbox messages deleted"), f"{d['counts']['caught_messages']:,}"),
        (_("SHA-256 over the erased addresses' pseudonyms"), d["pseudonyms_sha256"]),
    ]
    if "association_key" in d:  # certificates written before the key was known have none
        rows.append((_("The association's key (fingerprint)"),
                     sealing.grouped(d["association_key"]) or _("none registered")))
    if "unreadable" in d:  # certificates written before backups were counted have none
        u = d["unreadable"]
        rows.append((_("Unreadable to the contractor, backups included, from"), (
            (_("%(day)s (until then its backups keep a preview the association granted)")
             if u.get("previewed") else
             _("%(day)s (until then its backups keep its copy of the key)")) % {
                "day": u["contractor_from"]}) if u["contractor_copy"] else _(
            "the erasure: only the association held the key")))
        if u["association_keys"]:
            rows.append((_("Backups still open with the association's keys until it destroys "
                           "them"), "; ".join(_key_line(key, u["backup_retention_days"])
                                             for key in u["association_keys"])))
    if certificate.countersigned_by_id:
        rows.append((_("Countersigned"), _("by %(person)s at %(time)s") % {
            "person": certificate.countersigned_by,
            "time": clock.text(certificate.countersigned_at)}))
    return rows


def kept_items(certificate: DeletionCertificate) -> list[str]:
    """What the erasure kept, one item a sentence (the certificate keeps it as one text)."""
    d = certificate.document
    text = _(d["kept"])
    items = [item.strip() for item in re.split(r"(?<=[.。])\s*", text) if item.strip()]
    if d.get("guard_tags"):
        items.append(_("The content guard keeps %(count)s keyed tags of the erased values "
                       "until %(day)s, to refuse a notice that carries them (not the values: "
                       "without the installation's key a tag says nothing).") % {
            "count": f"{d['guard_tags']['count']:,}", "day": d["guard_tags"]["keep_until"]})
    return items


def certificate_text(certificate: DeletionCertificate) -> str:
    lines = [_("%(label)s: %(value)s") % {"label": label, "value": value}
             for label, value in certificate_rows(certificate)]
    lines.append(_("Kept:"))
    lines += [f"- {item}" for item in kept_items(certificate)]
    return "\n".join(lines)


def countersign(*, certificate: DeletionCertificate, user,
                seen_sha256: str) -> DeletionCertificate:
    """The association's observer confirms the certificate whose SHA-256 their page showed
    (`seen_sha256`); it is then mailed to the association's observers. Both audited, and
    so is a refusal."""
    if not has_role(user, Role.OBSERVER):
        raise CertificateError(_("Only the association's observer countersigns a deletion "
                                 "certificate."))
    with transaction.atomic():
        locked = DeletionCertificate.objects.select_for_update().get(pk=certificate.pk)
        refusal = _countersign_refusal(locked, seen_sha256)
        if refusal:  # recorded, and committed: the refusal is raised after the block
            audit.record(Action.CERTIFICATE_COUNTERSIGN_REFUSED, actor=user,
                         role=Role.OBSERVER, target=locked, payload={
                             "certificate_sha256": locked.sha256,
                             "seen_sha256": seen_sha256[:64], "code": refusal[0]})
        else:
            _countersign_now(locked, user)
    if refusal:
        raise CertificateError(refusal[1])
    mail_certificate(locked)
    return locked


def _countersign_now(locked, user) -> None:
    locked.countersigned_by, locked.countersigned_at = user, timezone.now()
    locked.save(update_fields=["countersigned_by", "countersigned_at"])
    audit.record(Action.CERTIFICATE_COUNTERSIGNED, actor=user, role=Role.OBSERVER,
                 target=locked, payload={"certificate_sha256": locked.sha256})


def _countersign_refusal(certificate, seen_sha256: str) -> tuple[str, str] | None:
    if certificate.countersigned_at is not None:
        return "already", _("This certificate is already countersigned.")
    if seen_sha256 != certificate.sha256:
        return "seen_changed", _("Not countersigned: the certificate your page showed is not "
                                 "this one (SHA-256 %(sha)s). Read it again below.") % {
            "sha": certificate.sha256[:12]}
    return None


def mail_certificate(certificate: DeletionCertificate) -> str:
    recipients = association_observers()
    subject = _("[Countersign] Deletion certificate %(sha)s") % {"sha": certificate.sha256[:12]}
    body = certificate_text(certificate) + "\n\n" + _(
        "Keep this message: it records what Countersign erased and the hashes that identify "
        "it. It holds no member data.") + "\n" + settings.SITE_URL.rstrip("/") + \
        certificate.get_absolute_url() + "\n"
    messages = [NoAttachmentMessage(subject, body, to=[p.email]) for p in recipients]
    try:
        get_connection(fail_silently=False).send_messages(messages)
        outcome = "sent" if recipients else "no observer with an e-mail address"
    except Exception as error:  # noqa: BLE001 - recorded; the page offers to mail it again
        log.warning("deletion certificate %s not mailed: %s", certificate.pk, error)
        outcome = f"failed: {error}"[:300]
    with transaction.atomic():
        if outcome == "sent":
            DeletionCertificate.objects.filter(pk=certificate.pk).update(mailed_at=timezone.now())
        audit.record(Action.CERTIFICATE_MAILED, system="worker", target=certificate, payload={
            "certificate_sha256": certificate.sha256,
            "to": sorted(p.get_username() for p in recipients), "outcome": outcome})
    return outcome
