"""Bounces: what comes back after the mail server accepted a message.

Each campaign message leaves with its own signed envelope sender (VERP, campaigns.dsn), so a
bounce names the delivery it is about: a bounce to an address that does not verify, or that
names no delivery, changes nothing (it is counted and logged). What a bounce may do:

* a permanent failure (status 5.x.x, action failed) of a message that was accepted: the
  delivery becomes `bounced` and its address is suppressed (reason hard_bounce);
* a temporary one (4.x.x, or action delayed): `soft_bounces` + 1, nothing else;
* a refusal by policy (status 5.7.x: reputation, authentication, content): the delivery
  becomes `bounced` and counts toward the pause, but the address is not suppressed (it is
  fine; the receiving side refused the sender);
* a spam complaint (an ESP's event, or a provider's feedback loop report in ARF, RFC 5965):
  `complained_at`, the address suppressed (complaint).

The same mailbox takes the mail readers' unsubscribe mails (the List-Unsubscribe mailto:,
`unsubscribe@BOUNCE_DOMAIN` by default): a subject carrying one signed token unsubscribes
that recipient, as the one-click link does.

Only the delivery the verified address names is touched, and only with its own address (a
DSN's recipient lines are checked against it, never used to suppress someone else). Each
recorded bounce is an audit entry in its transaction (delivery, campaign, status: never the
address). A campaign whose bounce rate passes BOUNCE_PAUSE_RATE is paused through the
workflow (refusals by policy count only when many came back from several domains).
Returned mail comes from process_bounces (Maildir, IMAP, stdin) through `process_mail`; ESP
events from django-anymail's tracking signal (campaigns.esp_events); both record through
the same `record_bounce`.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import re
from email.message import Message

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

import audit
from audit.models import AuditEntry
from campaigns import (
    dkim_probe,
    dsn,
    headers,
    suppression,
    unsubscribe,
    workflow,
)
from campaigns.actions import Action
from campaigns.dsn import (
    ORIGINAL_PARTS,
    BounceKind,
    Report,
    delivery_id_of,
    fields_of,
    is_verp,
    kind_of,
    original_of,
    parse,
    read_dsn,
    status_text,
)
from campaigns.models import Campaign, Delivery
from countersign.pseudonyms import domain_tag, pseudonym
from roster import member_data
from roster.models import Suppression

log = logging.getLogger(__name__)

class Result(enum.StrEnum):
    """What became of one report (process_bounces counts these)."""

    HARD = "hard bounce"
    BLOCKED = "refused by policy"
    SOFT = "soft bounce"
    COMPLAINT = "complaint"
    UNSUBSCRIBED = "unsubscribed"
    DUPLICATE = "already recorded"
    FORGED = "ignored: forged or unknown address"
    MISMATCH = "ignored: does not match the delivery"
    NEVER_SENT = "ignored: that message was never handed over"
    NOT_A_BOUNCE = "ignored: not a bounce, complaint or unsubscribe mail"
    UNREADABLE = "ignored: unreadable"
    NOT_YET = "deferred: the message is still being recorded as sent"
    PROBE = "DKIM probe checked"



_PROBE_RESULTS = {dkim_probe.CHECKED: Result.PROBE, dkim_probe.DUPLICATE: Result.DUPLICATE,
                  dkim_probe.LATER: Result.NOT_YET}


def process_mail(raw: bytes, *, envelope_recipient: str = "", source: str = "dsn") -> Result:
    """One mail from the returned-mail mailbox: a bounce (DSN), a complaint (ARF) or a mail
    reader's unsubscribe mail. Anything else is counted and changes nothing. Whatever its
    sender put in it, one mail never stops the run: a mail that cannot be read is counted
    `unreadable` (and logged) like any other ignored mail. A database error is not the
    mail's fault and goes up (the pipe's caller retries)."""
    try:
        return _process_mail(raw, envelope_recipient=envelope_recipient, source=source)
    except DatabaseError:
        raise
    except Exception:  # anyone can write this mail; the next one must still be read
        log.warning("returned mail unreadable (%d bytes)", len(raw), exc_info=True)
        return Result.UNREADABLE


def _process_mail(raw: bytes, *, envelope_recipient: str, source: str) -> Result:
    message = parse(raw)
    if message is None:
        return Result.NOT_A_BOUNCE
    probed = dkim_probe.named_by(envelope_recipient or str(message.get("To", "")))
    if probed is not None:  # a test send's probe: what the relay signed (campaigns.dkim_probe)
        campaign = Campaign.objects.filter(pk=probed[0]).first()
        if campaign is None:
            return Result.FORGED
        return _PROBE_RESULTS[dkim_probe.record(campaign, probed[1], raw)]
    if message.get_content_type() != "multipart/report":
        return process_unsubscribe_mail(message)
    if (message.get_param("report-type") or "").lower() == "feedback-report":
        return process_complaint(message, raw, source=source.replace("dsn", "arf", 1))
    return process_dsn(raw, envelope_recipient=envelope_recipient, source=source)


def process_dsn(raw: bytes, *, envelope_recipient: str = "", source: str = "dsn") -> Result:
    """One bounce: find the delivery, check, record."""
    report = read_dsn(raw, envelope_recipient=envelope_recipient)
    if report is None:
        return Result.NOT_A_BOUNCE
    candidates = [a for a in report.addressed_to if dsn.is_verp(a)]
    if not candidates:
        return Result.FORGED
    # The first VERP address is the envelope's (or the MTA's Delivered-To): it must verify.
    delivery_id = delivery_id_of(candidates[0])
    if delivery_id is None:
        return Result.FORGED
    delivery = Delivery.objects.filter(pk=delivery_id).first()
    if delivery is None:
        return Result.FORGED
    if not _matches(delivery, report):
        return Result.MISMATCH
    # Only the blocks about this delivery's own address say what happened to it.
    own = _own_blocks(delivery, report)
    kinds = [(kind_of(r["action"], r["status"]), r["status"]) for r in own]
    kinds = [(k, s) for k, s in kinds if k is not None]
    if not kinds:
        return Result.NOT_A_BOUNCE
    kind, status = min(kinds, key=lambda found: list(BounceKind).index(found[0]))  # hard first
    named = next((block[key] for block in own for key in ("final", "original")
                  if block[key] and (not delivery.address_pseudonym
                                     or pseudonym(block[key]) == delivery.address_pseudonym)),
                 "")
    return record_bounce(delivery_id=delivery.pk, kind=kind, status=status, source=source,
                         report_id="dsn:" + hashlib.sha256(raw).hexdigest(), recipient=named)


def _named(block: dict) -> set[str]:
    """The pseudonyms of the addresses a DSN block reports on (the ledger keeps the
    delivery's address as its pseudonym only: compared without reading any address)."""
    return {pseudonym(block[key]) for key in ("final", "original") if block[key]}


def _own_blocks(delivery: Delivery, report: Report) -> list[dict]:
    if not delivery.address_pseudonym:  # no pseudonym kept: the DSN is all of it
        return report.recipients
    return [r for r in report.recipients if delivery.address_pseudonym in _named(r)]


def _matches(delivery: Delivery, report: Report) -> bool:
    """The DSN is about this delivery: a recipient it reports on is the delivery's address,
    and the original headers, when returned, carry its Message-ID and campaign. A VERP
    address taken from one message and pasted on another's bounce fails here."""
    named = set().union(*(_named(r) for r in report.recipients))
    if delivery.address_pseudonym and delivery.address_pseudonym not in named:
        return False
    return report.original is None or _original_matches(delivery, report.original)


def _original_matches(delivery: Delivery, original: Message) -> bool:
    """The returned headers, where they say, name this delivery's message and campaign."""
    message_id = headers.raw_value(original, "Message-ID")
    campaign = headers.raw_value(original, "X-Countersign-Campaign")
    if message_id and delivery.message_id and message_id != delivery.message_id:
        return False
    return not campaign or campaign == str(delivery.campaign_id)


# --- complaints (ARF, RFC 5965) and unsubscribe mails (RFC 2369 mailto:) ---------------------

# "unsubscribe TOKEN", as the mailto: URL sets it (a reader may leave its %20 encoded); a
# token elsewhere in a subject (an auto-reply quoting a newsletter's subject) is no request.
_TOKEN = re.compile(r"\bunsubscribe(?:\s+|%20)([g-y]+z[g-y]{32})(?![a-z])")
_LISTED_TOKEN = re.compile(r"/u/([a-z]+)/|\bunsubscribe(?:\s+|%20)([a-z]+)", re.IGNORECASE)
# RFC 5965 feedback types; "not-spam" is a report in our favour.
_COMPLAINTS = {"abuse", "fraud", "virus", "other"}


def process_complaint(message: Message, raw: bytes, *, source: str = "arf") -> Result:
    """A provider's feedback loop report. It is a complaint about one delivery when a VERP
    address names it (the returned headers' Return-Path, or the report's Original-Mail-From;
    also rewritten by a forwarder's SRS) and the returned headers, where they say, carry its
    Message-ID and campaign. Named only by a newsletter's unsubscribe token, it is taken as
    what that token can do anyway, an unsubscribe from newsletters: the token travels in
    the body of every forwarded newsletter, so it is no proof of a complaint, and a complaint
    stops dues notices too. The Message-ID alone proves nothing either.
    Only the report's own parts are read, not a report quoted inside the returned message;
    a report with two returned messages or two feedback parts is about nobody."""
    feedback, originals = [], []
    for part in message.get_payload() if message.is_multipart() else []:
        kind = part.get_content_type()
        if kind == "message/feedback-report":
            feedback.append(fields_of(status_text(part)))
        elif kind in ORIGINAL_PARTS:
            originals.append(original_of(part))
    if len(feedback) != 1 or len(originals) != 1:
        return Result.NOT_A_BOUNCE if not feedback or not originals else Result.MISMATCH
    fields, original = (feedback[0] or [{}])[0], originals[0]
    if fields.get("feedback-type", "").lower() not in _COMPLAINTS:
        return Result.NOT_A_BOUNCE
    by_verp = _named_by_verp(original, fields)
    by_token = _named_by_token(original)
    if by_verp is None or by_token is None:
        return Result.FORGED
    if len(by_verp | by_token) > 1:
        return Result.MISMATCH
    if not by_verp and not by_token:
        return Result.FORGED
    delivery = Delivery.objects.filter(pk=next(iter(by_verp | by_token))).first()
    if delivery is None:
        return Result.FORGED
    if not _original_matches(delivery, original):
        return Result.MISMATCH
    if not by_verp:
        return unsubscribed(delivery, source)
    return record_bounce(delivery_id=delivery.pk, kind=BounceKind.COMPLAINT, source=source,
                         report_id="arf:" + hashlib.sha256(raw).hexdigest())


def _named_by_verp(original: Message, fields: dict) -> set[int] | None:
    """Deliveries the VERP addresses name (Return-Path, Original-Mail-From); None if one of
    them does not verify."""
    addresses = [headers.without_srs(address)
                 for value in [*headers.raw_values(original, "Return-Path"),
                               fields.get("original-mail-from", "")]
                 for address in headers.angle_addresses(value)]
    named = {delivery_id_of(address) for address in addresses if is_verp(address)}
    return None if None in named else named


def _named_by_token(original: Message) -> set[int] | None:
    listed = " ".join(headers.raw_values(original, "List-Unsubscribe"))
    named = {unsubscribe.delivery_id_of(link or word)
             for link, word in _LISTED_TOKEN.findall(listed)}
    return None if None in named else named


def process_unsubscribe_mail(message: Message) -> Result:
    """A mail reader's unsubscribe mail: the subject the mailto: URL set carries one signed
    token ("unsubscribe TOKEN"), however the reader dressed it (Re:, upper case, encoded
    words in any charset, raw UTF-8, full-width letters, %20 left encoded). A token in the
    body is not a request: a forwarded newsletter carries its reader's link there."""
    subject = headers.decoded(headers.raw_value(message, "Subject")).lower()
    if "unsubscribe" not in subject:
        return Result.NOT_A_BOUNCE
    tokens = set(_TOKEN.findall(subject))
    if len(tokens) > 1:
        return Result.MISMATCH
    done = unsubscribe.unsubscribe(tokens.pop(), via="mail") if tokens else None
    if done is None:
        return Result.FORGED
    return Result.UNSUBSCRIBED if done else Result.DUPLICATE


# --- recording -------------------------------------------------------------------------------

# States in which the message was handed over: a bounce about it can be true. In doubt: the
# bounce proves the relay took it (kept as evidence; a person still decides).
_HANDED_OVER = (Delivery.State.SENT, Delivery.State.BOUNCED, Delivery.State.IN_DOUBT)


def record_bounce(*, delivery_id: int, kind: BounceKind, status: str = "", source: str,
                  report_id: str = "", recipient: str = "") -> Result:
    """Record one bounce or complaint for a verified delivery. The one way in, for DSNs and
    ESP events alike. Audited in the same transaction; then the pause rule is checked.
    `report_id` (a DSN's SHA-256, an ESP event's id): the same report twice counts once.
    `recipient`: the address the report named, if it is the delivery's (its domain's tag is
    kept for a refusal by policy)."""
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None:
            return Result.FORGED
        if delivery.state == Delivery.State.SENDING and delivery.message_id:
            return Result.NOT_YET
        if delivery.state not in _HANDED_OVER:
            return Result.NEVER_SENT
        if report_id and AuditEntry.objects.about(delivery.campaign).filter(
                action=Action.BOUNCE_RECORDED, payload__report=report_id).exists():
            return Result.DUPLICATE
        result, payload = _apply(delivery, kind, status, source, recipient)
        if result == Result.DUPLICATE:
            return result
        audit.record(Action.BOUNCE_RECORDED, system=source, target=delivery.campaign,
                     payload={"delivery": delivery.pk, "member": delivery.member_number,
                              "bounce": str(kind), "status": status, "source": source,
                              **({"report": report_id} if report_id else {}), **payload})
    if result in (Result.HARD, Result.BLOCKED):
        pause_if_bouncing(delivery.campaign_id)
    return result


def _apply(delivery: Delivery, kind: BounceKind, status: str, source: str,
           recipient: str = "") -> tuple[Result, dict]:
    now = timezone.now()
    if kind == BounceKind.BLOCKED and not status.startswith(Delivery.POLICY_STATUS):
        status = Delivery.POLICY_STATUS + "0"  # RFC 3463 X.7.0: a policy refusal, no detail
    rows = Delivery.objects.filter(pk=delivery.pk)
    # Whatever came back about a message in doubt proves the relay took it: evidence for the
    # person who decides (a resend would reach someone who bounced or complained twice).
    # Never the state: that stays theirs to settle.
    taken = {}
    if delivery.state == Delivery.State.IN_DOUBT:
        what = "complaint" if kind == BounceKind.COMPLAINT else "bounce"
        taken["relay_evidence"] = {"accepted": True, "at": now.isoformat(),
                                   "source": f"{what} ({source})"}
    if kind == BounceKind.SOFT:
        rows.update(soft_bounces=delivery.soft_bounces + 1, bounce_status=status[:20]
                    if delivery.state != Delivery.State.BOUNCED else delivery.bounce_status,
                    **taken)
        return Result.SOFT, {}
    if kind == BounceKind.COMPLAINT:
        if delivery.complained_at is not None:
            return Result.DUPLICATE, {}
        rows.update(complained_at=now, **taken)
        _suppress(delivery, Suppression.Reason.COMPLAINT, source)
        return Result.COMPLAINT, {}
    if delivery.bounced_at is not None:
        if kind == BounceKind.HARD and delivery.refused_by_policy:
            # refused by policy first, now the mailbox is gone: that is news about the address
            rows.update(bounce_status=status[:20])
            _suppress(delivery, Suppression.Reason.HARD_BOUNCE, source)
            return Result.HARD, {"delivery_state": delivery.state}
        return Result.DUPLICATE, {}
    changes = {"bounced_at": now, "bounce_status": status[:20], **taken}
    if kind == BounceKind.BLOCKED and recipient and (
            not delivery.address_pseudonym or pseudonym(recipient) == delivery.address_pseudonym):
        changes["refused_domain"] = domain_tag(recipient)
    if delivery.state == Delivery.State.SENT:
        changes["state"] = Delivery.State.BOUNCED
    rows.update(**changes)
    if kind == BounceKind.BLOCKED:
        return Result.BLOCKED, {"delivery_state": changes.get("state", delivery.state)}
    _suppress(delivery, Suppression.Reason.HARD_BOUNCE, source)
    return Result.HARD, {"delivery_state": changes.get("state", delivery.state)}


def _suppress(delivery: Delivery, reason: str, source: str) -> bool:
    return suppression.suppress(
        reason=reason, source=source, campaign_id=delivery.campaign_id, system=source,
        pseudonym=delivery.address_pseudonym)


# --- rates and the pause ---------------------------------------------------------------------

def rates(campaign) -> dict:
    """Accepted by the mail server (sent, and sent then bounced), bounced, complained, as
    counts and shares of the accepted."""
    numbers = campaign.deliveries.aggregate(
        sent=Count("id", filter=Q(state=Delivery.State.SENT)),
        bounced=Count("id", filter=Q(state=Delivery.State.BOUNCED)),
        complained=Count("id", filter=Q(complained_at__isnull=False)),
        soft=Count("id", filter=Q(soft_bounces__gt=0)))
    accepted = numbers["sent"] + numbers["bounced"]
    share = (lambda n: round(n / accepted, 4) if accepted else 0.0)
    return {"accepted": accepted, "bounced": numbers["bounced"],
            "complained": numbers["complained"], "soft_bounced": numbers["soft"],
            "bounce_rate": share(numbers["bounced"]),
            "complaint_rate": share(numbers["complained"])}


def bounces_toward_the_pause(campaign) -> int:
    """The bounces that count toward the pause: every hard bounce; refusals by policy (5.7.x)
    only once at least BOUNCE_PAUSE_POLICY_MIN of them came back from at least
    BOUNCE_PAUSE_POLICY_DOMAINS recipient domains. Any member can write a 5.7.1 DSN for
    their own message (their copy's Return-Path is its VERP address), so a few of them, or
    many from one provider's members, say nothing about the sender; a block of the relay
    itself is refused everywhere."""
    bounced = campaign.deliveries.filter(state=Delivery.State.BOUNCED)
    hard = bounced.exclude(bounce_status__startswith=Delivery.POLICY_STATUS).count()
    refused = list(bounced.filter(bounce_status__startswith=Delivery.POLICY_STATUS)
                   .values_list("member_id", "refused_domain"))
    # The recipient domains: the tag the report's address left, else the member's address
    # through the door (an erased member's refusal counts, its domain not).
    domains = {tag for _member, tag in refused if tag} | {
        domain_tag(member.email) for member in member_data.values_of(
            m for m, tag in refused if m and not tag).values() if member.email}
    if (len(refused) >= settings.BOUNCE_PAUSE_POLICY_MIN
            and len(domains) >= settings.BOUNCE_PAUSE_POLICY_DOMAINS):
        return hard + len(refused)
    return hard


def pause_if_bouncing(campaign_id: int) -> bool:
    """Pause a sending campaign whose bounce rate (bounces_toward_the_pause) passed
    BOUNCE_PAUSE_RATE (once it has BOUNCE_PAUSE_MIN_SENT accepted messages): carriers block
    senders that keep hitting unknown addresses. Through the workflow, like every state
    change."""
    campaign = Campaign.objects.get(pk=campaign_id)
    if campaign.state not in workflow.TRANSITIONS["pause"].sources:
        return False
    accepted = rates(campaign)["accepted"]
    if accepted < settings.BOUNCE_PAUSE_MIN_SENT:
        return False
    bounced = bounces_toward_the_pause(campaign)
    if bounced / accepted <= settings.BOUNCE_PAUSE_RATE:
        return False
    try:
        workflow.pause(campaign_id=campaign_id, reason=_(
            "%(bounced)s of %(accepted)s accepted messages bounced (%(rate)s%%), more than "
            "the %(limit)s%% allowed: check the roster's addresses before resuming.") % {
                "bounced": bounced, "accepted": accepted,
                "rate": f"{100 * bounced / accepted:.1f}",
                "limit": f"{100 * settings.BOUNCE_PAUSE_RATE:g}"})
    except workflow.WrongState:
        return False
    return True


def unsubscribed(delivery: Delivery, source: str) -> Result:
    """Suppress a delivery's address for newsletters (a provider's unsubscribe, or a report
    that names the delivery only by its unsubscribe token)."""
    if not delivery.was_handed_over:
        return Result.NEVER_SENT
    if _suppress(delivery, Suppression.Reason.UNSUBSCRIBED, source):
        return Result.UNSUBSCRIBED
    return Result.DUPLICATE
