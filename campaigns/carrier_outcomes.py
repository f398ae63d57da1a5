"""What became of the messages the relay took: delivered at the carrier, deferred and being
retried, refused, or given up, counted per carrier group on the campaign page.

Pacing per carrier is the relay's job (docs/relay-carriers.md); Countersign hands each
message over and learns the rest from two sources, neither of them on the send path:
* the relay's log (`manage.py track_carriers`, or the worker's schedule with RELAY_MAILLOG):
  each message the ledger says the relay took is followed, by its Message-ID, through one
  life of its queue id (campaigns.relay_log) queued from its own envelope sender, and only
  the outcome lines for its own recipient (the address's pseudonym) count;
* an e-mail provider's events through django-anymail (delivered, deferred, bounced).

What is recorded is the latest word per message (`Delivery.at_carrier`, since when, the
enhanced status code, how many deferrals): a deferral is never final, a delivery, a refusal
or the relay giving up is and stays. None of it changes the delivery's state: a carrier
that defers does not pause the campaign (the relay retries), and a refusal's consequences
(the bounce, the suppression) come with the relay's DSN (campaigns.bounces). Each reading
that changes something is one audit entry per campaign, in the same transaction, with counts.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core import checks
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

import audit
from audit.models import AuditEntry
from campaigns.actions import Action
from campaigns.labels import status_meaning
from campaigns.log_stamps import machine_zone
from campaigns.mail import bare_message_id
from campaigns.models import AtCarrier, Campaign, Delivery
from campaigns.reconcile import sent_by_us, window
from campaigns.relay_log import read_logs
from countersign import carriers
from countersign.pseudonyms import pseudonym

_FROM_LOG = {"sent": AtCarrier.DELIVERED, "deferred": AtCarrier.DEFERRED,
             "bounced": AtCarrier.BOUNCED, "expired": AtCarrier.EXPIRED}
_FROM_PROVIDER = {"delivered": AtCarrier.DELIVERED, "deferred": AtCarrier.DEFERRED,
                  "bounced": AtCarrier.BOUNCED}


@dataclass(frozen=True)
class Word:
    """The latest word on one message past the relay."""

    status: str  # an AtCarrier value
    at: datetime
    dsn: str = ""
    deferrals: int = 0


def from_steps(steps) -> Word | None:
    """The word a message's logged steps (campaigns.relay_log.Step, in time order) add up
    to: the first final one (sent, bounced, expired) and the deferrals before it; else the
    last deferral. Nothing after a final word counts: a message leaves the queue with it, so
    a later line is another life's or a forged one."""
    deferred = []
    for step in steps:
        if step.status != "deferred":
            return Word(_FROM_LOG[step.status], step.at, step.dsn, len(deferred))
        deferred.append(step)
    if not deferred:
        return None
    return Word(AtCarrier.DEFERRED, deferred[-1].at, deferred[-1].dsn, len(deferred))


def _apply(delivery_id: int, word: Word) -> bool:
    """Store `word` unless the delivery already has a final one or the same; True if stored."""
    changes = {"at_carrier": word.status, "at_carrier_since": word.at,
               "carrier_dsn": word.dsn[:12]}
    rows = Delivery.objects.filter(pk=delivery_id).exclude(at_carrier__in=AtCarrier.final())
    if word.status == AtCarrier.DEFERRED:
        rows = rows.exclude(at_carrier=AtCarrier.DEFERRED, carrier_deferrals__gte=word.deferrals,
                            at_carrier_since__gte=word.at)
    return bool(rows.update(**changes, carrier_deferrals=word.deferrals))


# --- the relay's log -------------------------------------------------------------------------

def track(paths, *, zone, syslog_name: str = "postfix", source: str = "postfix log",
          now=None, system: str = "cli") -> Counter:
    """Read the relay's log for every message handed over in the last CARRIER_TRACK_DAYS
    whose outcome is not final; store what it says. Counts per AtCarrier value changed."""
    now = now or timezone.now()
    open_rows = list(Delivery.objects.filter(
        state__in=(Delivery.State.SENT, Delivery.State.BOUNCED), esp_message_id="",
        sent_at__gte=now - timedelta(days=settings.CARRIER_TRACK_DAYS),
    ).exclude(message_id="").exclude(at_carrier__in=AtCarrier.final()).select_related(
        "campaign").only("pk", "message_id", "claimed_at", "sent_at", "address_pseudonym",
                         "campaign__sender", "campaign_id"))
    if not open_rows:
        return Counter()
    log = read_logs(paths, zone=zone, syslog_name=syslog_name, now=now,
                    wanted={bare_message_id(d.message_id) for d in open_rows},
                    windows=[window(d.claimed_at or d.sent_at) for d in open_rows],
                    until=now + timedelta(seconds=settings.RECONCILE_CLOCK_MARGIN_SECONDS),
                    only_wanted=True)
    words = {}
    for delivery in open_rows:
        if word := from_steps(_steps_of(delivery, log)):
            words[delivery.pk] = (delivery.campaign_id, word)
    return _store(words, source=source, system=system)


def _steps_of(delivery, log) -> list:
    """The logged steps that are this message's: in a life of its queue id that began within
    its hand-over's window, queued from its own envelope sender; after that life's queueing;
    for its own recipient (or the queue manager giving the whole message up). A "sent" to a
    content filter that re-injected the message into this relay ("queued as" another life
    of the same Message-ID) is a hand-off inside the relay, not a delivery: that later
    life says what became of it."""
    start, end = window(delivery.claimed_at or delivery.sent_at)
    lives = log.accepted.get(bare_message_id(delivery.message_id), [])
    inside = {acceptance.queue_id for acceptance in lives}
    steps = []
    for acceptance in lives:
        if not (start <= acceptance.at <= end + _REINJECTED
                and sent_by_us(acceptance.sender, delivery)):
            continue
        steps += [step for step in acceptance.steps if step.at >= acceptance.at
                  and not (step.status == "sent" and step.queued_as in inside) and (
                      pseudonym(step.to) == delivery.address_pseudonym if step.to
                      else step.status == "expired")]
    return sorted(steps, key=lambda step: step.at)


# A content filter (amavis, a milter-less rspamd) may hold a message for minutes before it
# re-injects it: that later life still belongs to the hand-over.
_REINJECTED = timedelta(minutes=10)


def check_settings(app_configs=None, **kwargs) -> list:
    """`manage.py check`: a RELAY_MAILLOG nobody can read would look like a quiet relay
    forever, and a zone that does not exist would fail only in the worker."""
    problems = []
    if settings.RELAY_MAILLOG_ZONE:
        try:
            ZoneInfo(settings.RELAY_MAILLOG_ZONE)
        except (ValueError, KeyError, OSError):
            problems.append(checks.Error(
                f"RELAY_MAILLOG_ZONE {settings.RELAY_MAILLOG_ZONE!r} is not a time zone",
                hint="An IANA name such as Asia/Tokyo or UTC.", id="campaigns.E101"))
    unreadable = [p for p in settings.RELAY_MAILLOG
                  if not (Path(p).is_file() and os.access(p, os.R_OK))]
    if settings.RELAY_MAILLOG and len(unreadable) == len(settings.RELAY_MAILLOG):
        problems.append(checks.Warning(
            f"none of RELAY_MAILLOG's files can be read: {', '.join(unreadable)}",
            hint="The worker reads the relay's log from this machine (docs/relay-carriers.md, "
                 "section 5): a path on the relay's own host, or a copy shipped here.",
            id="campaigns.W101"))
    return problems


def track_configured(*, now=None) -> Counter:
    """track() over the settings' RELAY_MAILLOG files (those that exist: a rotated file may
    be missing for a moment), in RELAY_MAILLOG_ZONE or this machine's zone."""
    paths = [Path(p) for p in settings.RELAY_MAILLOG if Path(p).is_file()]
    if not paths:
        return Counter()
    zone = (ZoneInfo(settings.RELAY_MAILLOG_ZONE) if settings.RELAY_MAILLOG_ZONE
            else machine_zone())
    return track(paths, zone=zone, syslog_name=settings.RELAY_SYSLOG_NAME, now=now,
                 system="worker")


def _store(words: dict, *, source: str, system: str) -> Counter:
    counts, per_campaign = Counter(), {}
    with transaction.atomic():
        for delivery_id, (campaign_id, word) in sorted(words.items()):
            if _apply(delivery_id, word):
                per_campaign.setdefault(campaign_id, Counter())[word.status] += 1
        for campaign in Campaign.objects.filter(pk__in=per_campaign).order_by("pk"):
            numbers = per_campaign[campaign.pk]
            counts.update(numbers)
            audit.record(Action.CARRIER_OUTCOMES_READ, system=system, target=campaign, payload={
                "source": source, **{f"carrier_{status}": numbers[status]
                                     for status in AtCarrier.values}})
    return counts


# --- an e-mail provider's events ---------------------------------------------------------------

def provider_event(delivery: Delivery, event_type: str, *, at=None, status: str = "",
                   recipient: str = "", source: str) -> bool:
    """An event of the provider that took the message (django-anymail's tracking signal):
    delivered, deferred or bounced at the receiving side, for this delivery's own recipient
    (when the event names one). Its time is the provider's, never later than now. Audited
    when it changes the ledger; a replayed deferral (not later than the last) changes
    nothing."""
    kind = _FROM_PROVIDER.get(event_type)
    if kind is None or not delivery.was_handed_over:
        return False
    if recipient and pseudonym(recipient) != delivery.address_pseudonym:
        return False
    if kind == AtCarrier.BOUNCED and delivery.state == Delivery.State.BOUNCED:
        return False  # its DSN, or this very event before, said so already
    now = timezone.now()
    if at is None and kind == AtCarrier.DEFERRED and delivery.at_carrier == AtCarrier.DEFERRED:
        return False  # undated: a replay cannot be told from a new one, and says nothing new
    at = min(at, now) if at else now
    with transaction.atomic():
        current = Delivery.objects.select_for_update().only(
            "pk", "at_carrier", "at_carrier_since", "carrier_deferrals").get(pk=delivery.pk)
        if kind == AtCarrier.DEFERRED and current.at_carrier == AtCarrier.DEFERRED and (
                at <= current.at_carrier_since):
            return False  # a replay, or an older deferral arriving late
        # A provider's deferrals are counted once each by the bounce handling (soft_bounces,
        # by the event's id); here only the latest word is kept.
        if not _apply(delivery.pk, Word(kind, at, status, current.carrier_deferrals)):
            return False
        audit.record(Action.CARRIER_OUTCOMES_READ, system=source, target=delivery.campaign,
                     payload={"source": source, "delivery": delivery.pk,
                              f"carrier_{kind}": 1})
    return True


# --- the campaign page -----------------------------------------------------------------------

@dataclass
class Row:
    group: str
    label: str
    counts: dict = field(default_factory=dict)
    # the carriers' status codes of the messages deferred, refused or given up now, most
    # frequent first: (code, how many, what it means)
    codes: list = field(default_factory=list)

    @property
    def delivered_percent(self) -> int | None:
        taken = self.counts.get("handed_over", 0)
        return round(100 * self.counts["delivered"] / taken) if taken else None


SHOWN_CODES = 3


COLUMNS = ("handed_over", "delivered", "retrying", "deferred_once", "bounced", "expired",
           "no_word")


def by_carrier(campaign, *, now=None) -> list[Row]:
    """Per carrier group: handed to the relay, then each in one column only: delivered,
    deferred and still retrying, refused (the carrier's word, or a DSN that came back
    later), given up by the relay, no word (none yet, or a deferral no longer followed);
    and deferred at least once. Counts only."""
    handed = Q(state__in=(Delivery.State.SENT, Delivery.State.BOUNCED))
    returned = Q(state=Delivery.State.BOUNCED)
    followed = Q(sent_at__gte=(now or timezone.now())
                 - timedelta(days=settings.CARRIER_TRACK_DAYS))
    deferred = Q(at_carrier=AtCarrier.DEFERRED) & ~returned
    found = {row["carrier"]: row for row in campaign.deliveries.filter(handed).values(
        "carrier").annotate(
        handed_over=Count("pk"),
        delivered=Count("pk", filter=Q(at_carrier=AtCarrier.DELIVERED) & ~returned),
        retrying=Count("pk", filter=deferred & followed),
        deferred_once=Count("pk", filter=Q(carrier_deferrals__gt=0) | Q(soft_bounces__gt=0)),
        bounced=Count("pk", filter=Q(at_carrier=AtCarrier.BOUNCED) | returned),
        expired=Count("pk", filter=Q(at_carrier=AtCarrier.EXPIRED) & ~returned),
        no_word=Count("pk", filter=(Q(at_carrier="") & ~returned) | (deferred & ~followed)))}
    codes = {}
    for row in campaign.deliveries.filter(handed, at_carrier__in=(
            AtCarrier.DEFERRED, AtCarrier.BOUNCED, AtCarrier.EXPIRED)).exclude(
            carrier_dsn="").values("carrier", "carrier_dsn").annotate(n=Count("pk")):
        group = row["carrier"] or carriers.OTHER
        codes.setdefault(group, Counter())[row["carrier_dsn"]] += row["n"]
    rows = []
    for group, label in carriers.GROUPS:
        row = found.get(group, {})
        if group == carriers.OTHER and "" in found:  # erased before the groups were kept
            row = {key: row.get(key, 0) + found[""][key] for key in COLUMNS}
        common = sorted(codes.get(group, Counter()).items(), key=lambda c: (-c[1], c[0]))
        rows.append(Row(group, label, {key: row.get(key, 0) for key in COLUMNS},
                        [(code, n, status_meaning(code)) for code, n in common[:SHOWN_CODES]]))
    return rows


def in_group(deliveries, group: str):
    """The deliveries a row of the table counts: "other" includes those with no group (a
    member erased before the groups were kept)."""
    return deliveries.filter(carrier__in=[group, ""] if group == carriers.OTHER else [group])


def page(campaign) -> dict | None:
    """The campaign page's table (None before anything was handed to the relay) and when a
    reading last changed something for this campaign."""
    rows = by_carrier(campaign)
    if not any(row.counts["handed_over"] for row in rows):
        return None
    last = AuditEntry.objects.about(campaign).filter(
        action=Action.CARRIER_OUTCOMES_READ).order_by("-sequence").first()
    return {"rows": rows, "read_at": last.created_at if last else None}
