"""The completion notice to the association: what was sent, sealed with hashes it keeps.

A hash chain proves nothing if the contractor's database operator could rewrite all of it;
the association keeps the chain head it receives here, and `verify_audit --anchor HASH`
later proves the chain still contains it.
"""

import hashlib
import logging
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.mail import get_connection
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

import audit
from audit import chain
from audit.anchors import Anchor, current, next_numbering
from audit.models import AuditEntry, time_text
from campaigns.actions import Action
from campaigns.ledger import progress
from campaigns.mail import NoAttachmentMessage
from countersign import association_key, clock, sealing
from countersign.people import association_observers

log = logging.getLogger(__name__)


def anchor_text(anchor: Anchor) -> str:
    """The anchor line as verify_audit reads it (the hashed UTC time), and below it the same
    moment in the site's time zone for the people who keep the mail."""
    moment = datetime.fromisoformat(anchor.time)
    return anchor.line() + "\n" + _("(entry written %(time)s)") % {"time": clock.text(moment)}


def send_completion_notice(campaign) -> None:
    completed = AuditEntry.objects.about(campaign).filter(action=Action.COMPLETED).order_by(
        "-sequence").first()
    if completed is None:
        return
    numbers = progress(campaign)
    body = _(
        "Campaign “%(name)s” is complete.\n\n"
        "Sent (accepted by the mail server): %(sent)s  Failed: %(failed)s  "
        "Skipped: %(skipped)s\n"
        "Content hash: %(content)s\n"
        "Delivery ledger SHA-256: %(ledger)s\n\n"
        "Audit chain head at completion: entry %(sequence)s\n%(head)s\n%(anchor)s\n\n"
        "Keep this message. With the chain head above, anyone can later prove that the audit "
        "log still contains this record:\n    python manage.py verify_audit --anchor %(head)s\n"
        "\nWithout access to the server, with Python 3 alone:\n"
        "1. Download chain.py from %(chain_url)s (or ask the auditor for it) and check that "
        "its SHA-256 is %(chain_sha256)s.\n"
        "2. Ask the auditor for an unfiltered export of the audit log (CSV).\n"
        "3. Run: python chain.py audit-export.csv --anchor %(head)s\n"
        "   It prints OK and the number of entries, or names the first entry that does not "
        "verify.\n"
    ) % {"name": campaign.name, "sent": numbers["accepted"], "failed": numbers["failed"],
         "skipped": numbers["skipped"], "content": campaign.content_hash,
         "ledger": campaign.ledger_sha256, "sequence": completed.sequence,
         "head": completed.hash, "anchor": anchor_text(Anchor(
             completed.sequence, completed.hash, time_text(completed.created_at))),
         "chain_url": settings.SITE_URL.rstrip("/") + reverse("audit:chain_script"),
         "chain_sha256": hashlib.sha256(Path(chain.__file__).read_bytes()).hexdigest()}
    recipients = association_observers()
    messages = [NoAttachmentMessage(_("[Countersign] Complete: %(name)s") % {
        "name": campaign.name}, body, to=[person.email]) for person in recipients]
    try:
        get_connection(fail_silently=False).send_messages(messages)
        outcome = "sent"
    except Exception as error:  # noqa: BLE001 - the notice must not undo the completion
        log.warning("completion notice for campaign %s not sent: %s", campaign.pk, error)
        outcome = f"failed: {error}"[:300]
    with transaction.atomic():
        audit.record(Action.COMPLETION_NOTICE, system="worker", target=campaign, payload={
            "to": sorted(p.get_username() for p in recipients), "outcome": outcome,
            "chain_head_sequence": completed.sequence, "chain_head": completed.hash,
            "ledger_sha256": campaign.ledger_sha256})


def send_anchor(reason: str) -> dict:
    """Mail the audit chain's head (an anchor) to the association's observers, so that a
    tail deleted later is caught by `verify_audit --anchor`. `reason`: "schedule", or the
    event ("campaign 12 stopped"). Audited (the entry comes after the anchor it mails)."""
    head = current()
    if head is None:
        return {"outcome": "empty log"}
    number, previous = next_numbering()
    anchor = Anchor(head.sequence, head.hash, head.time, number=number, previous=previous)
    body = _(
        "Audit chain anchor (%(reason)s)\n\n%(line)s\n\n"
        "Keep this message in the association's mail archive; do not edit it. It records "
        "the newest entry of Countersign's audit log at this moment. If entries were deleted "
        "or rewritten later, verification against the anchors you kept fails:\n"
        "    python manage.py verify_audit --anchor saved-anchor-mails.txt\n"
        "(every line starting with countersign-anchor in that file is checked).\n\n"
        "This is anchor no. %(number)s. Anchors are numbered without gaps, and each names the "
        "previous one's head (previous=...). If a number is missing from your archive, an "
        "anchor did not reach you: verification names where the log says it went.\n"
    ) % {"reason": reason, "line": anchor_text(anchor), "number": number}
    fingerprint = association_key.current_fingerprint()
    body += "\n" + (_(
        "The association's key that Countersign seals member data to has the fingerprint\n"
        "    %(fingerprint)s\nCompare it with the one your key tool printed; if they differ, "
        "files are being sealed to a key the association does not hold.") % {
            "fingerprint": sealing.grouped(fingerprint)} if fingerprint else _(
        "The association has registered no key yet: files with member data are not sealed."
    )) + "\n"
    recipients = association_observers()
    messages = [NoAttachmentMessage(_("[Countersign] Audit anchor no. %(number)s: entry "
                                      "%(sequence)s") % {"number": number,
                                                         "sequence": anchor.sequence},
                                    body, to=[person.email]) for person in recipients]
    try:
        get_connection(fail_silently=False).send_messages(messages)
        outcome = "sent" if recipients else "no observer with an e-mail address"
    except Exception as error:  # noqa: BLE001 - a failed anchor mail is recorded, then retried
        log.warning("audit anchor not mailed: %s", error)
        outcome = f"failed: {error}"[:300]
    payload = {"reason": reason, "sequence": anchor.sequence, "hash": anchor.hash,
               "time": anchor.time, "to": sorted(p.get_username() for p in recipients),
               "addresses": sorted(p.email for p in recipients), "outcome": outcome,
               "association_key": fingerprint,
               **({"number": number, "previous": previous} if outcome == "sent" else {})}
    with transaction.atomic():
        audit.record(Action.ANCHOR_MAILED, system="worker", payload=payload)
    return payload
