from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns import charsets, sending_hours, suppression_rules
from campaigns.findings import GuardReport
from campaigns.states import Kind, State
from campaigns.terms import (
    RATE_UNITS,
    SENDING_FIELDS,
    canary_limit,
    content_hash,
    send_interval,
    sending_terms,
)
from countersign.roles import has_role


class Campaign(models.Model):
    name = models.CharField(_("internal name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.NOTICE)
    roster = models.ForeignKey("roster.Roster", verbose_name=_("roster"), on_delete=models.PROTECT,
                               related_name="campaigns")
    sender = models.CharField(_("sender"), max_length=254)
    subject = models.CharField(_("subject"), max_length=255)
    body_text = models.TextField(_("body (plain text)"))
    body_html = models.TextField(_("body (HTML, optional)"), blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("author"),
                               on_delete=models.PROTECT, related_name="+")
    state = models.CharField(_("state"), max_length=20, choices=State.choices,
                             default=State.DRAFT, db_index=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # The hash of the version under review; empty while a draft.
    content_hash = models.CharField(_("content hash"), max_length=64, blank=True)
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    release_expires_at = models.DateTimeField(_("release valid until"), null=True, blank=True)

    # How it is sent (set with the content; any edit voids the sign-offs anyway).
    canary_enabled = models.BooleanField(
        _("hold after the first messages"), default=True,
        help_text=_("Send the first messages, then wait until a supervisor or observer "
                    "confirms a received copy looked right."))
    canary_size = models.PositiveIntegerField(
        _("first messages to hold after"), null=True, blank=True,
        help_text=_("Empty: 10, or one per cent of the recipients if that is more."))
    rate_limit = models.PositiveIntegerField(_("at most"), null=True, blank=True,
                                             help_text=_("Empty: as fast as the server takes."))
    rate_unit = models.CharField(_("messages per"), max_length=10, default="minute",
                                 choices=RATE_UNITS)
    charset = models.CharField(
        _("charset"), max_length=20, default=charsets.UTF8, choices=charsets.CHOICES,
        help_text=_("ISO-2022-JP only for members whose phones or mail programs cannot read "
                    "UTF-8: it has no machine-dependent characters (①, ㈱, 髙)."))
    window_start = models.TimeField(
        _("sending hours start"), null=True, blank=True,
        help_text=_("Sending hours in the association's time zone, for example 08:00-20:00. "
                    "Empty: any time. Outside them the worker waits."))
    window_end = models.TimeField(_("sending hours end"), null=True, blank=True)
    window_days = models.CharField(_("sending days"), max_length=10,
                                   default=sending_hours.EVERY_DAY, choices=sending_hours.DAYS)
    send_before = models.DateTimeField(
        _("do not send after"), null=True, blank=True,
        help_text=_("At this moment the campaign stops; the members not reached by then need "
                    "a new countersign (Send to the rest)."))

    # Sending (written by the workflow and the sender only).
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    held_at = models.DateTimeField(null=True, blank=True)
    canary_confirmed_at = models.DateTimeField(null=True, blank=True)
    paused_reason = models.CharField(max_length=500, blank=True)
    stopped_at = models.DateTimeField(_("stopped at"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    ledger_sha256 = models.CharField(_("ledger SHA-256"), max_length=64, blank=True)
    # Shared by every worker on this campaign, updated with each claim under the row lock.
    claimed_total = models.PositiveIntegerField(default=0)
    next_send_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_worker_at = models.DateTimeField(null=True, blank=True)
    # The draft made for the members this campaign did not reach ("send to the rest"): one
    # per campaign, set under the campaign's row lock.
    rest_campaign = models.OneToOneField("self", verbose_name=_("sent to the rest as"),
                                         null=True, blank=True, on_delete=models.PROTECT,
                                         related_name="rest_of")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("campaigns:detail", args=[self.pk])

    def texts(self) -> dict[str, str]:
        """What the operator wrote, placeholders and all: subject, plain body, HTML body."""
        return {"subject": self.subject, "body_text": self.body_text,
                "body_html": self.body_html}

    def compute_content_hash(self) -> str:
        return content_hash(sender=self.sender, subject=self.subject, body_text=self.body_text,
                            body_html=self.body_html, roster=self.roster,
                            sending={f: getattr(self, f) for f in SENDING_FIELDS},
                            kind=self.kind, suppressed=self.suppressed_numbers())

    def older_phone_problems(self) -> list:
        """Characters of the campaign's own text that older phones cannot show as written
        (campaigns.charsets): advice with UTF-8, refused at submit with ISO-2022-JP."""
        return charsets.template_problems(sender=self.sender, **self.texts())

    def suppressed_numbers(self) -> list[str]:
        """Member numbers of the roster that the suppression list keeps this campaign from:
        as the signers saw them, so once sending started, those suppressed before the start
        (later ones only skip messages, which the ledger does; they do not void the
        sign-offs a paused campaign needs to resume)."""
        return suppression_rules.suppressed_numbers(self.roster, self.kind,
                                                    before=self.started_at)

    def sending_terms(self) -> str:
        return sending_terms(self)

    def current_version(self):
        return self.versions.order_by("-number").first()

    def valid_approvals(self):
        """Approvals not voided and given for the hash now under review."""
        return self.signoffs.filter(kind=SignOff.Kind.APPROVAL, voided_at=None,
                                    content_hash=self.content_hash)

    def last_rejection(self):
        """The latest sign-off that sent this campaign back, with its comment (or None):
        the author's page and the next reviewer's show it first."""
        return (self.signoffs.filter(kind=SignOff.Kind.REJECTION).select_related("user")
                .order_by("-created_at", "-id").first())

    def canary_limit(self) -> int | None:
        """How many messages go before the hold; None when there is no hold."""
        return canary_limit(enabled=self.canary_enabled, size=self.canary_size,
                            confirmed=self.canary_confirmed_at is not None,
                            recipients=self.roster.member_count)

    def send_interval(self) -> float:
        """Seconds between two messages of this campaign (0: no limit)."""
        return send_interval(rate_limit=self.rate_limit, rate_unit=self.rate_unit)

    def release_is_live(self, now=None) -> bool:
        now = now or timezone.now()
        return (self.state == State.RELEASED and self.release_expires_at is not None
                and now < self.release_expires_at)


class CampaignVersion(models.Model):
    """A snapshot of the content at each submit: what the reviewers saw, for the diff."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    # The roster the version was submitted with: a page shows it when the roster changed.
    roster = models.ForeignKey("roster.Roster", null=True, on_delete=models.SET_NULL,
                               related_name="+")
    content_hash = models.CharField(max_length=64)
    sender = models.CharField(max_length=254)
    subject = models.CharField(max_length=255)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    recipient_count = models.PositiveIntegerField()
    canary_enabled = models.BooleanField(default=True)
    canary_size = models.PositiveIntegerField(null=True, blank=True)
    rate_limit = models.PositiveIntegerField(null=True, blank=True)
    rate_unit = models.CharField(max_length=10, default="minute")
    charset = models.CharField(max_length=20, default=charsets.UTF8)
    window_start = models.TimeField(null=True, blank=True)
    window_end = models.TimeField(null=True, blank=True)
    window_days = models.CharField(max_length=10, default=sending_hours.EVERY_DAY)
    send_before = models.DateTimeField(null=True, blank=True)
    guard_report = models.JSONField(default=dict)
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                     related_name="+")
    submitted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["campaign", "number"]
        constraints = [models.UniqueConstraint(fields=["campaign", "number"],
                                               name="one_version_number_per_campaign")]

    def __str__(self):
        return f"{self.campaign} v{self.number}"

    @property
    def guard(self) -> GuardReport | None:
        return GuardReport.from_json(self.guard_report)

    def sending_terms(self) -> str:
        return sending_terms(self)


class SignOff(models.Model):
    """One reviewer's decision on one exact content hash."""

    class Kind(models.TextChoices):
        APPROVAL = "approval", _("Approval")
        REJECTION = "rejection", _("Rejection")
        RELEASE = "release", _("Release")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="signoffs")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=20)
    # The signer's organisation when they signed: a sign-off lapses if they move.
    organisation = models.CharField(max_length=20, blank=True)
    content_hash = models.CharField(max_length=64)
    recipient_count = models.PositiveIntegerField()
    checklist = models.JSONField(default=list, blank=True)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"{self.get_kind_display()} by {self.user} ({self.content_hash[:12]})"

    def expires_at(self):
        return self.created_at + timedelta(hours=settings.APPROVAL_TTL_HOURS)

    def is_expired(self, now=None) -> bool:
        return (now or timezone.now()) >= self.expires_at()

    def standing_problem(self) -> str:
        """Why the signer no longer stands behind this sign-off ("" if they do): no longer
        active, no longer holding the role they signed in, or moved organisation."""
        signer = type(self.user).objects.get(pk=self.user_id)  # as stored now
        if not signer.is_active:
            return "signer_inactive"
        if self.organisation and signer.organisation != self.organisation:
            return "signer_moved_organisation"
        if not has_role(signer, self.role):
            return "signer_lost_role"
        return ""


class TestSend(models.Model):
    """A rendered message sent to staff (never members) before approval."""

    __test__ = False  # not a pytest test class, despite the name

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="test_sends")
    content_hash = models.CharField(max_length=64)
    member_number = models.CharField(max_length=64)
    sent_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                related_name="+")
    recipients = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="+")
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-sent_at", "-id"]

    def __str__(self):
        return f"test of {self.campaign} for {self.member_number}"


class AtCarrier(models.TextChoices):
    """What became of a message the relay took, at the carrier (its log or the provider)."""

    DEFERRED = "deferred", _("Deferred, the relay retries")
    DELIVERED = "delivered", _("Delivered")
    BOUNCED = "bounced", _("Refused by the carrier")
    EXPIRED = "expired", _("Given up by the relay")

    @classmethod
    def final(cls) -> tuple:
        return cls.DELIVERED, cls.BOUNCED, cls.EXPIRED


class Delivery(models.Model):
    """The ledger: one row per recipient, the truth about who got what and when."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Being handed to the mail server")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        IN_DOUBT = "in_doubt", _("In doubt: a person must decide")
        SKIPPED = "skipped", _("Skipped")
        REFUSED = "refused", _("Refused by the content guard (not sent)")
        BOUNCED = "bounced", _("Accepted, then returned as undeliverable")

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="deliveries")
    # None once the roster's member data is erased; the row stays, with the pseudonym.
    member = models.ForeignKey("roster.Member", null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    member_number = models.CharField(_("member number"), max_length=64)
    # countersign.pseudonyms.pseudonym(email): the ledger keeps no address (pages and
    # reports that show one ask roster.member_data by member id), only this.
    address_pseudonym = models.CharField(max_length=64, blank=True, db_index=True)
    state = models.CharField(_("state"), max_length=20, choices=State.choices,
                             default=State.PENDING)
    # state == skipped: why ("suppressed:<reason>", "erased", "decided").
    skip_reason = models.CharField(max_length=40, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=100, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    message_id = models.CharField(_("Message-ID"), max_length=255, blank=True)
    message_sha256 = models.CharField(_("SHA-256 of the message"), max_length=64, blank=True)
    # The id an e-mail provider (django-anymail) gave the message: what its webhooks report.
    esp_message_id = models.CharField(max_length=255, blank=True, db_index=True)
    smtp_reply = models.TextField(_("server reply or error"), blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision = models.CharField(max_length=20, blank=True)
    # state == refused: what the content guard found in the rendered message (kind, where,
    # whose data; never the data itself).
    findings = models.JSONField(default=list, blank=True)
    # After the hand-over: what came back later (a DSN to the VERP address, an ESP event).
    bounced_at = models.DateTimeField(_("bounced at"), null=True, blank=True)
    bounce_status = models.CharField(_("bounce status"), max_length=20, blank=True)  # 5.1.1
    # A refusal by policy: the keyed tag of the recipient's domain, from the report that named
    # the address (countersign.pseudonyms.domain_tag), so domains are counted toward the pause
    # also where only the association can open the member's address.
    refused_domain = models.CharField(max_length=32, blank=True, db_default="", editable=False)
    soft_bounces = models.PositiveSmallIntegerField(default=0)
    complained_at = models.DateTimeField(_("reported as spam at"), null=True, blank=True)
    # In doubt: what the relay's own records say of this message (reconcile_in_doubt).
    relay_evidence = models.JSONField(default=dict, blank=True)
    # Past the relay (campaigns.carrier_outcomes): the carrier group the relay paces this
    # address in, copied from the member row, and what the relay's log or the e-mail
    # provider last said of the message at the carrier.
    carrier = models.CharField(_("carrier"), max_length=10, blank=True)
    at_carrier = models.CharField(_("at the carrier"), max_length=10, blank=True,
                                  choices=AtCarrier.choices)
    at_carrier_since = models.DateTimeField(_("at the carrier since"), null=True, blank=True)
    carrier_dsn = models.CharField(_("carrier's status code"), max_length=12,
                                   blank=True)  # 2.0.0, 4.7.0, 5.1.1
    carrier_deferrals = models.PositiveSmallIntegerField(_("deferrals in the relay's log"),
                                                         default=0)

    class Meta:
        ordering = ["id"]
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [models.UniqueConstraint(fields=["campaign", "member"],
                                               name="one_delivery_per_member")]
        indexes = [models.Index(fields=["campaign", "state", "id"], name="delivery_claim")]

    def __str__(self):
        return f"{self.member_number} ({self.get_state_display()})"

    # Enhanced status 5.7.x: refused by the receiving side's policy (reputation, sender
    # authentication, content), which says nothing about the address (RFC 3463 "security or
    # policy status"): the message bounced, the address is not suppressed.
    POLICY_STATUS = "5.7."

    @property
    def was_handed_over(self) -> bool:
        """The relay may have this message: sent, bounced later, in doubt, or being handed
        over right now (its Message-ID is noted before the hand-over)."""
        return self.state in (self.State.SENT, self.State.BOUNCED, self.State.IN_DOUBT) or (
            self.state == self.State.SENDING and bool(self.message_id))

    @property
    def refused_by_policy(self) -> bool:
        return self.bounce_status.startswith(self.POLICY_STATUS)

    @property
    def relay_accepted_at(self):
        """When the relay's records say it accepted this message (relay_evidence), or None."""

        at = (self.relay_evidence or {}).get("at")
        return datetime.fromisoformat(at) if at else None

    @property
    def earlier_relay_evidence(self) -> list[dict]:
        """What earlier readings of the relay's records showed before a later one corrected
        them (reconcile_in_doubt keeps them under "earlier"), newest first, their times as
        datetimes."""

        return [{**record, **{key: datetime.fromisoformat(record[key]) if record.get(key) else None
                              for key in ("at", "checked_at")}}
                for record in reversed((self.relay_evidence or {}).get("earlier", []))]


class Notification(models.Model):
    """A step someone should know about: shown in the app and mailed (never member data)."""

    class Event(models.TextChoices):
        SUBMIT = "submit", _("Submitted for your review")
        APPROVE = "approve", _("Approved: waiting for the association's release")
        REJECT = "reject", _("Sent back to the author")
        LAPSE = "lapse", _("A sign-off no longer counts")
        RECOUNT = "recount", _("The recipients changed after the sign-off: review it again")
        REFUSE_START = "refuse_start", _("Sending did not start")
        HOLD = "hold", _("Held after the first messages: confirm a received copy")
        PAUSE = "pause", _("Paused")
        REFUSE_MESSAGE = "refuse_message", _("A message was refused by the content guard")
        STOP = "stop", _("Stopped")
        EXPIRE = "expire", _("Stopped: the “do not send after” moment passed")
        COMPLETE = "complete", _("Completed")
        APPROVAL_EXPIRING = "approval_expiring", _("The approval expires within a day")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="notifications")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    event = models.CharField(_("event"), max_length=30, choices=Event.choices)
    # What the person needs to act: a rejection's reason, counts at a stop. No member data.
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    mailed_at = models.DateTimeField(null=True, blank=True)
    mail_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_unread")]

    def __str__(self):
        return f"{self.get_event_display()}: {self.campaign} → {self.user}"

    @property
    def expires_at(self):
        """When the approval an "approval expiring" notice is about expires (or None)."""

        value = self.detail.get("expires_at")
        return datetime.fromisoformat(value) if value else None


class DeletionCertificate(models.Model):
    """What a purge or an erasure removed: counts and hashes, never the data. The document
    is fixed when the data is erased (its SHA-256 is in the audit log); the association's
    observer countersigns it in the app, and it is mailed to the association's observers."""

    class Kind(models.TextChoices):
        RETENTION = "retention", _("Retention period over")
        ERASURE = "erasure", _("Erasure request for one person")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    created_at = models.DateTimeField(_("erased at"), auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+")
    document = models.JSONField(_("certificate"))
    sha256 = models.CharField(_("SHA-256 of the certificate"), max_length=64)
    countersigned_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                         on_delete=models.PROTECT, related_name="+")
    countersigned_at = models.DateTimeField(_("countersigned at"), null=True, blank=True)
    mailed_at = models.DateTimeField(_("mailed at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("deletion certificate")
        verbose_name_plural = _("deletion certificates")

    def __str__(self):
        return f"{self.get_kind_display()} {self.created_at:%Y-%m-%d} ({self.sha256[:12]})"

    def get_absolute_url(self):
        return reverse("retention:certificate", args=[self.pk])


class WorkerKey(models.Model):
    """The public half of a key pair a send worker process made in its memory when it
    started: what the association seals a roster's data key to for one release
    (campaigns.key_window). The private half never leaves that process; a restarted worker
    has a new key and cannot open a grant made for the old one."""

    fingerprint = models.CharField(max_length=64, unique=True)
    public_key = models.BinaryField()
    name = models.CharField(_("worker"), max_length=200)  # host and process id
    started_at = models.DateTimeField(auto_now_add=True)
    seen_at = models.DateTimeField(db_index=True)
    # HMAC of fingerprint, public key and name under a key derived from MEMBER_DATA_KEY
    # (campaigns.key_window.attestation): the database alone cannot add a worker.
    attestation = models.CharField(max_length=64, default="", editable=False)

    class Meta:
        ordering = ["-seen_at"]

    def __str__(self):
        return f"{self.name} ({self.fingerprint[:16]}…)"


class Grant(models.Model):
    """A roster's data key, sealed by the association to one worker's key for one release:
    bound (inside the seal) to the campaign, its roster, its content hash and a deadline.
    Deleted when the campaign stops, pauses or completes."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="grants")
    worker_key = models.ForeignKey(WorkerKey, on_delete=models.CASCADE, related_name="+")
    content_hash = models.CharField(max_length=64)
    not_after = models.DateTimeField()
    sealed = models.BinaryField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "worker_key"],
                                               name="one_grant_per_worker")]
