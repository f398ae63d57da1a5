from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


class Roster(models.Model):
    """One imported member list, exactly as it was checked and confirmed."""

    name = models.CharField(_("name"), max_length=200)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("imported by"),
        null=True,  # None: imported with `manage.py import_roster`
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    imported_at = models.DateTimeField(_("imported at"), auto_now_add=True)
    source_filename = models.CharField(_("source file"), max_length=255)
    file_sha256 = models.CharField(_("file SHA-256"), max_length=64)
    file_format = models.CharField(_("file format"), max_length=20)
    member_count = models.PositiveIntegerField(_("members"))
    extra_columns = models.JSONField(_("extra columns"), default=list, blank=True)
    # How long each field's values are (typical and longest, in characters; no value), for
    # the synthetic previews of a roster only the association holds (roster.member_data).
    value_lengths = models.JSONField(default=dict, blank=True, editable=False)
    # A part of another roster (the members a stopped campaign did not reach), not a file.
    derived_from = models.ForeignKey("self", verbose_name=_("part of"), null=True, blank=True,
                                     on_delete=models.PROTECT, related_name="+")
    # Set when its members' names, addresses and extra columns were erased (retention).
    purged_at = models.DateTimeField(_("member data erased at"), null=True, blank=True)
    # The key its members' values are encrypted under (roster.data_keys): wrapped under the
    # installation's MEMBER_DATA_KEY, and sealed to the association's key. Both go at the
    # purge (shredding: the rows' ciphertext opens nowhere after).
    data_key = models.BinaryField(null=True, editable=False)
    data_key_seals = models.JSONField(default=dict, editable=False)  # fingerprint -> base64

    class Meta:
        ordering = ["-imported_at", "-id"]
        verbose_name = _("roster")
        verbose_name_plural = _("rosters")

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("roster:detail", args=[self.pk])

    def original(self):
        """The imported roster this one was derived from (itself if it was imported): the
        file the association gave, whose SHA-256 it can match."""
        roster = self
        while roster.derived_from_id is not None:
            roster = roster.derived_from
        return roster


class Member(models.Model):
    roster = models.ForeignKey(Roster, on_delete=models.CASCADE, related_name="members")
    row_number = models.PositiveIntegerField(_("row in file"))
    member_number = models.CharField(_("member number"), max_length=64)
    # The member's data ({"name", "email", "extra"}), encrypted under the roster's data key
    # and bound to roster, row and member number: read and written only through
    # roster.member_data, the one door (a test fails if any other module touches it).
    personal = models.BinaryField()
    # The roster whose data key `personal` is encrypted under and bound to: this one, or for
    # a part of a roster (the rest of a stopped campaign) the roster it was taken from (the
    # part shares its ciphertext and key: made without opening a row).
    sealed_in = models.BigIntegerField()
    # countersign.pseudonyms.pseudonym(email): the suppression list, erasure, uniqueness.
    email_pseudonym = models.CharField(max_length=64, blank=True, db_index=True)
    # countersign.carriers.group_of(email): docomo, au, softbank or other (the ledger counts
    # per carrier without reading the address).
    carrier = models.CharField(max_length=10, blank=True)

    class Meta:
        ordering = ["row_number"]
        verbose_name = _("member")
        verbose_name_plural = _("members")
        indexes = [models.Index(fields=["roster", "row_number"], name="member_roster_row")]
        constraints = [
            models.UniqueConstraint(
                fields=["roster", "member_number"], name="member_number_unique_in_roster"
            ),
            models.UniqueConstraint(
                fields=["roster", "email_pseudonym"], name="member_address_unique_in_roster"
            ),
        ]

    def __str__(self):
        return self.member_number


class RosterUpload(models.Model):
    """A checked upload waiting for the operator's confirmation (step 1 of 2).

    Kept only until it is confirmed, cancelled or expires. It holds the rows as checked, not
    the file, so that what is stored is exactly what the preview showed and the file is
    parsed once.
    """

    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)
    name = models.CharField(_("name"), max_length=200)
    source_filename = models.CharField(max_length=255)
    file_sha256 = models.CharField(max_length=64)
    # ParsedRoster.checked() and .preview(): member data, encrypted under the upload's own
    # data key (wrapped in `data_key`), read and written only through roster.member_data.
    checked_rows = models.BinaryField(default=b"")
    preview_rows = models.BinaryField(default=b"")
    data_key = models.BinaryField(default=b"", editable=False)

    def __str__(self):
        return f"{self.source_filename} ({self.uploaded_by})"


class Suppression(models.Model):
    """An address the association's mail must no longer go to, kept as its pseudonym only, so
    that it survives re-imports of the roster and the purge of the member data.

    An unsubscribe stops newsletters only (service notices to members still go); a hard
    bounce, a complaint, an erasure request or a manual entry stops every campaign.
    """

    class Reason(models.TextChoices):
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed from newsletters")
        HARD_BOUNCE = "hard_bounce", _("The address does not exist (hard bounce)")
        COMPLAINT = "complaint", _("Reported a message as spam")
        ERASED = "erased", _("Member data erased on request")
        MANUAL = "manual", _("Added by hand")

    pseudonym = models.CharField(max_length=64, db_index=True)
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices)
    # Where it came from: "unsubscribe", "bounce", "esp", "erase_member", "admin"; and the
    # campaign whose message led to it, if one did.
    source = models.CharField(_("source"), max_length=40)
    campaign_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(_("since"), auto_now_add=True)

    NEWSLETTER_ONLY = (Reason.UNSUBSCRIBED,)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("suppressed address")
        verbose_name_plural = _("suppressed addresses")
        constraints = [models.UniqueConstraint(fields=["pseudonym", "reason"],
                                               name="one_suppression_per_reason")]

    def __str__(self):
        return f"{self.pseudonym[:12]}… ({self.reason})"


class NamedMemberQuerySet(models.QuerySet):
    def current(self):
        """Entries that count today: not revoked, not past their last day."""
        from django.utils import timezone

        return self.filter(revoked_at=None, last_day__gte=timezone.localdate())


class NamedMember(models.Model):
    """A member the association allows to be named in any notice (an officer signing it,
    an elected member in a result), kept by its observers: the content guard does not
    count their name as another member's data. Only the name: their address, number and
    other values stay theirs."""

    member_number = models.CharField(_("member number"), max_length=64)
    reason = models.CharField(_("why they may be named"), max_length=200)
    last_day = models.DateField(_("until (inclusive)"))
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("added by"),
                                 on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField(_("added at"), auto_now_add=True)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("revoked by"),
                                   null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    objects = NamedMemberQuerySet.as_manager()

    class Meta:
        ordering = ["member_number", "-added_at"]
        verbose_name = _("member who may be named")
        verbose_name_plural = _("members who may be named")

    def __str__(self):
        return f"{self.member_number} ({self.reason})"


class PreviewGrant(models.Model):
    """One member of a roster only the association holds, whose real values the association
    lets previews and test messages show until `not_after` (roster.previews): their row,
    opened by the association's key tool and sealed (HPKE) to the installation's preview
    key. Sending never uses it: messages go out only inside a release's window. Revoked or
    past its deadline, the seal is wiped and the row stays as the record."""

    roster = models.ForeignKey(Roster, on_delete=models.CASCADE, related_name="+")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+")
    sealed = models.BinaryField(editable=False)  # b"" once revoked or expired
    # The answer's seal as handed in: the same seal is never taken twice (a revoked answer
    # handed in again stays revoked).
    seal_sha256 = models.CharField(max_length=64, db_index=True, default="", editable=False)
    reason = models.CharField(_("why"), max_length=200)
    not_after = models.DateTimeField(_("until"))
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("granted by"),
                                   on_delete=models.PROTECT, related_name="+")
    granted_at = models.DateTimeField(_("granted at"), auto_now_add=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)

    class Meta:
        ordering = ["-granted_at", "-pk"]
        verbose_name = _("member shown in previews")
        verbose_name_plural = _("members shown in previews")

    def __str__(self):
        return f"{self.member_id} until {self.not_after:%Y-%m-%d %H:%M}"


class GuardTag(models.Model):
    """What the content guard keeps of a purged roster's values: keyed tags (a keyed hash
    under GUARD_TAG_KEY of each normalised value, campaigns.guard_tags), never the values.
    With the key, a text's candidate values can be tagged and looked up; without it, a tag
    says nothing. Kept until `keep_until` (GUARD_TAGS_KEEP_DAYS, stated on the deletion
    certificate)."""

    roster = models.ForeignKey(Roster, on_delete=models.CASCADE, related_name="+")
    tag = models.CharField(max_length=16, db_index=True)
    kind = models.CharField(max_length=20)  # email, member_number, names, phone, ...
    member_number = models.CharField(max_length=64)
    column = models.CharField(max_length=200, blank=True)
    keep_until = models.DateField(db_index=True)


class GuardTagLength(models.Model):
    """Which windows of a text to tag: the lengths of a roster's tagged values per kind,
    with no member (kept on each tag, a member's exact name and address lengths stood in a
    copy of the database)."""

    roster = models.ForeignKey(Roster, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20)
    length = models.PositiveSmallIntegerField()
    keep_until = models.DateField(db_index=True)
