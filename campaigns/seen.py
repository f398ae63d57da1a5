"""What a signing page showed, so that a sign-off means what its signer saw.

Every signing form (approve, release, confirm the first messages, decide a message in
doubt) carries the content hash, the recipient count and the sending terms the page showed,
as hidden fields. The workflow signs only if they are still what would be signed; otherwise
it refuses (audited) and the page shows what changed since it was loaded (`changes_since`).
A sign-off given through the API names them the same way (`Seen.of(campaign)` is "what the
page would show now", for scripts that have just read the campaign).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign, Delivery
from campaigns.selectors import content_diff, word_diff

# The hidden fields of a signing form.
FIELDS = ("seen_hash", "seen_recipients", "seen_terms", "seen_evidence")


def terms_code(obj) -> str:
    """The sending terms as a short code (a campaign or a version): the hold and the rate,
    language-free, so that the page's terms and the server's compare exactly."""
    hold = f"{obj.canary_size or 'auto'}" if obj.canary_enabled else "off"
    rate = f"{obj.rate_limit}/{obj.rate_unit}" if obj.rate_limit else "none"
    return f"hold:{hold};rate:{rate}"


def evidence_digest(delivery) -> str:
    """What the page showed about one message in doubt (state, the relay's evidence, the
    server's reply): a decision on it is taken on this, or not at all."""
    document = {"state": delivery.state, "evidence": delivery.relay_evidence or {},
                "reply": delivery.smtp_reply, "attempts": delivery.attempts}
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Seen:
    content_hash: str
    recipient_count: int
    terms: str
    evidence: str = ""  # for a decision on a message in doubt: evidence_digest()

    @classmethod
    def of(cls, campaign, *, delivery=None) -> Seen:
        """What a signing page shows for `campaign` now (and for one `delivery` in doubt)."""
        return cls(content_hash=campaign.content_hash,
                   recipient_count=campaign.roster.member_count,
                   terms=terms_code(campaign),
                   evidence=evidence_digest(delivery) if delivery is not None else "")

    @classmethod
    def current(cls, obj) -> Seen:
        """What a page would show now for a campaign (or a delivery in doubt), read afresh
        from the database: for a script that signs what it has just read."""
        if isinstance(obj, Delivery):
            delivery = Delivery.objects.get(pk=obj.pk)
            return cls.of(Campaign.objects.get(pk=delivery.campaign_id), delivery=delivery)
        return cls.of(Campaign.objects.select_related("roster").get(pk=obj.pk))

    @classmethod
    def from_post(cls, data) -> Seen | None:
        """The hidden fields of a posted form; None when any is missing or malformed (an
        older page, a forged post)."""
        content_hash = data.get("seen_hash", "")
        terms = data.get("seen_terms", "")
        try:
            count = int(data.get("seen_recipients", ""))
        except ValueError:
            return None
        if len(content_hash) != 64 or not terms or count < 0:
            return None
        return cls(content_hash=content_hash, recipient_count=count, terms=terms,
                   evidence=data.get("seen_evidence", ""))

    def as_fields(self) -> dict:
        return dict(zip(FIELDS, (self.content_hash, self.recipient_count, self.terms,
                                 self.evidence), strict=True))

    def as_payload(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value != ""}

    def differences(self, current: Seen) -> list[str]:
        """The names of what differs ("content_hash", "recipient_count", ...)."""
        return [key for key, value in asdict(self).items()
                if value != getattr(current, key)]


def changes_since(campaign, seen: Seen) -> dict:
    """What changed between what the page showed and what would be signed now: the word
    diff of the content (from the version the page showed, when it is known), the
    recipients and the sending terms."""
    now = Seen.of(campaign)
    shown = (campaign.versions.filter(content_hash=seen.content_hash).order_by("-number")
             .select_related("roster").first() if seen.content_hash else None)
    current = campaign.current_version() if campaign.content_hash else None
    current = current if current is not None and current.content_hash == now.content_hash \
        else campaign
    diff = content_diff(shown, current) if shown is not None else []
    if shown is not None and getattr(shown, "roster_id", None) and \
            shown.roster_id != campaign.roster_id:
        diff.insert(0, {"field": "roster", "label": _("Roster"), "lines": word_diff(
            str(shown.roster), str(campaign.roster))})
    if seen.recipient_count != now.recipient_count:
        diff.insert(0, {"field": "recipients", "label": _("Recipients"), "lines": word_diff(
            f"{seen.recipient_count:,}", f"{now.recipient_count:,}")})
    return {"seen": seen, "now": now, "diff": diff, "version_known": shown is not None,
            "state": campaign.get_state_display()}
