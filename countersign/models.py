import re

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ImproperlyConfigured
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from countersign import accounts

# Kana and kanji (with the half-width katakana): a name written with them is a Japanese name.
_JAPANESE_SCRIPT = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
                              "\uff66-\uff9f]")


def person_name(first_name: str, last_name: str) -> str:
    """A person's name as people write it: family name first for a Japanese name (「小野
    里美」), given name first otherwise ("Olivia Smith"). Either part may be missing."""
    first, last = first_name.strip(), last_name.strip()
    if _JAPANESE_SCRIPT.search(first + last):
        return f"{last} {first}".strip()
    return f"{first} {last}".strip()


class Organisation(models.TextChoices):
    CONTRACTOR = "contractor", _("Contractor")
    ASSOCIATION = "association", _("Association (data owner)")


class User(AbstractUser):
    """A person with a login. Roles are Django groups; see countersign.roles."""

    organisation = models.CharField(
        _("organisation"), max_length=20, choices=Organisation.choices
    )
    # Set when someone else (an administrator, a command) set this person's password: they
    # choose their own at the next sign-in, so nobody else keeps knowing it.
    must_change_password = models.BooleanField(_("must choose a new password"), default=False)

    def __str__(self):
        return self.get_full_name() or self.username

    def get_full_name(self):
        """Family name first for Japanese staff: Django's own puts the given name first."""
        return person_name(self.first_name, self.last_name)

    # The hold on changes to the association's people (countersign.people, which reads and
    # writes this model, so cannot be imported here): set at start-up (countersign.apps).
    people = None

    def save(self, *args, **kwargs):
        """Saved and audited in one transaction (countersign.accounts). A change to one of the
        association's people that waits for another observer's countersign is put back and
        stored as a request instead (countersign.people)."""
        people = type(self).people
        if people is None:  # never save people without the hold (a missing start-up step)
            raise ImproperlyConfigured("countersign.apps did not set User.people")
        with transaction.atomic():
            before = accounts.snapshot(self)
            held = people.hold(self, before)
            # A password given here, or a waiting one now countersigned (its hash applied).
            password_given = (self._password is not None
                              or self.__dict__.pop("_countersigned_password", False))
            if password_given and before is not None:
                self.must_change_password = not accounts.by_owner(self)
                if "update_fields" in kwargs and kwargs["update_fields"] is not None:
                    kwargs["update_fields"] = {*kwargs["update_fields"], "must_change_password"}
            super().save(*args, **kwargs)
            accounts.record_saved(self, before, password_given=password_given)
            people.request(self, held)


class PersonChange(models.Model):
    """A change to one of the association's people that someone else asked for (in the admin,
    the shell, a command). It takes effect only when another observer of the association
    countersigns it in the app (countersign.people); until then the account is as it was."""

    class Kind(models.TextChoices):
        EMAIL = "email", _("e-mail address")
        USERNAME = "username", _("login name")
        PASSWORD = "password", _("password")
        ORGANISATION = "organisation", _("organisation")
        ROLE_ADDED = "role_added", _("role given")
        ROLE_REMOVED = "role_removed", _("role taken away")
        DEVICE_REMOVED = "device_removed", _("two-step device removed")

    class State(models.TextChoices):
        WAITING = "waiting", _("waiting for a countersign")
        COUNTERSIGNED = "countersigned", _("countersigned and in effect")
        REFUSED = "refused", _("refused")
        REPLACED = "replaced", _("replaced by a later request")

    subject = models.ForeignKey(User, on_delete=models.PROTECT, related_name="held_changes",
                                verbose_name=_("person"))
    kind = models.CharField(_("change"), max_length=20, choices=Kind.choices)
    old_value = models.CharField(_("before"), max_length=254, blank=True)
    new_value = models.CharField(_("after"), max_length=254, blank=True)
    # The password someone else set, hashed as the user table stores it; never shown or
    # audited, and emptied once the change is decided.
    password_hash = models.CharField(max_length=128, blank=True, editable=False)
    device_pk = models.BigIntegerField(null=True, blank=True)  # the device to remove
    requested_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="+", verbose_name=_("asked by"))
    requested_by_name = models.CharField(_("asked by"), max_length=150)  # or system:shell
    requested_at = models.DateTimeField(_("asked at"), default=timezone.now)
    state = models.CharField(_("state"), max_length=15, choices=State.choices,
                             default=State.WAITING, db_index=True)
    decided_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+", verbose_name=_("decided by"))
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=500, blank=True)

    class Meta:
        ordering = ["requested_at", "pk"]
        verbose_name = _("change waiting for a countersign")
        verbose_name_plural = _("changes waiting for a countersign")

    def __str__(self):
        return f"{self.subject.get_username()}: {self.get_kind_display()}"


class AssociationKey(models.Model):
    """The public half of the association's key pair (countersign.sealing): member data that
    leaves Countersign as a file is sealed to it. The private half never reaches the
    contractor. One key is current; registering another retires it (both audited, by
    fingerprint)."""

    public_key = models.BinaryField(_("public key"), max_length=32)
    fingerprint = models.CharField(_("fingerprint"), max_length=64, unique=True)
    current = models.BooleanField(default=True)
    registered_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+",
                                      verbose_name=_("registered by"))
    registered_at = models.DateTimeField(_("registered at"), default=timezone.now)
    retired_at = models.DateTimeField(_("retired at"), null=True, blank=True)
    # A retired key opens the data keys sealed to it in every backup taken before its rosters
    # were purged: the association destroys it once those backups are gone (retired_at +
    # BACKUP_RETENTION_DAYS), and says so here (roster.data_keys.record_key_destroyed).
    destroy_on = models.DateField(_("to be destroyed on"), null=True, blank=True)
    destroyed_at = models.DateTimeField(_("destroyed at"), null=True, blank=True)
    # HMAC of the fingerprint and its registration's audit hash under the installation's key
    # (countersign.association_key.attestation): the database alone cannot make a key current.
    attestation = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        ordering = ["-registered_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["current"], condition=models.Q(
            current=True), name="one_current_association_key")]
        verbose_name = _("association key")
        verbose_name_plural = _("association keys")

    def __str__(self):
        return self.fingerprint[:16]


class KeySlot(models.Model):
    """A way an observer unlocks the association's key in their browser: a passkey (WebAuthn
    PRF), whose output wraps the private key in that browser's storage, never here. Countersign
    keeps who added which slot, for which key, by fingerprints only, and when it was revoked:
    the record, not the key."""

    class Kind(models.TextChoices):
        PASSKEY = "passkey", _("passkey")

    observer = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.PASSKEY)
    slot = models.CharField(max_length=64)  # SHA-256 of the passkey's credential id
    key_fingerprint = models.CharField(max_length=64)  # the association's key it unlocks
    label = models.CharField(_("name"), max_length=100, blank=True)
    added_at = models.DateTimeField(_("added at"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        ordering = ["-added_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["observer", "slot"],
                                               name="one_record_per_key_slot")]

    def __str__(self):
        return f"{self.observer}: {self.get_kind_display()} {self.slot[:12]}"
