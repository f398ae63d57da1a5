import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.guard import GuardReport


class State(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted for review")
    APPROVED = "approved", _("Approved by the supervisor")
    RELEASED = "released", _("Released by the observer")
    SENDING = "sending", _("Sending")
    HELD = "held", _("Held for a look at the first messages")
    PAUSED = "paused", _("Paused")
    STOPPED = "stopped", _("Stopped")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")


# States in which the content may still change (and any change voids the sign-offs).
EDITABLE_STATES = (State.DRAFT, State.SUBMITTED, State.APPROVED)


def content_hash(*, sender: str, subject: str, body_text: str, body_html: str, roster) -> str:
    """SHA-256 over exactly what will be sent: sender, subject, bodies and recipient list.

    The recipient list is read from the database every time (sorted in Python, so the
    database's collation cannot change the order): a roster altered behind the app's back
    changes the hash, and so voids the approvals.
    """
    recipients = sorted(roster.members.values_list("member_number", "email").iterator(
        chunk_size=5000))
    digest = hashlib.sha256()
    for number, email in recipients:
        digest.update(json.dumps([number, email], ensure_ascii=False).encode() + b"\n")
    document = {
        "sender": sender,
        "subject": subject,
        "body_text": body_text,
        "body_html": body_html,
        "recipient_count": len(recipients),
        "recipients_sha256": digest.hexdigest(),
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Campaign(models.Model):
    name = models.CharField(_("internal name"), max_length=200)
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

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("campaigns:detail", args=[self.pk])

    def compute_content_hash(self) -> str:
        return content_hash(sender=self.sender, subject=self.subject, body_text=self.body_text,
                            body_html=self.body_html, roster=self.roster)

    @property
    def is_editable(self) -> bool:
        return self.state in EDITABLE_STATES

    def current_version(self):
        return self.versions.order_by("-number").first()

    def valid_approvals(self):
        """Approvals not voided and given for the hash now under review."""
        return self.signoffs.filter(kind=SignOff.Kind.APPROVAL, voided_at=None,
                                    content_hash=self.content_hash)

    def release_is_live(self, now=None) -> bool:
        now = now or timezone.now()
        return (self.state == State.RELEASED and self.release_expires_at is not None
                and now < self.release_expires_at)


class CampaignVersion(models.Model):
    """A snapshot of the content at each submit: what the reviewers saw, for the diff."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    content_hash = models.CharField(max_length=64)
    sender = models.CharField(max_length=254)
    subject = models.CharField(max_length=255)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    recipient_count = models.PositiveIntegerField()
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
