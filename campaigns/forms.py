from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Layout, Submit
from django import forms
from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.utils.translation import gettext_lazy as _

from campaigns import charsets, content, sending_hours, unsubscribe
from campaigns.models import Campaign, Kind
from campaigns.workflow import OBSERVER_CHECKLIST, SUPERVISOR_CHECKLIST, name_check
from countersign.models import User
from countersign.roles import Role
from roster.models import Roster


class MessageTextField(forms.CharField):
    """Message text exactly as typed: no trimming, and browsers' CRLF made LF, so that an
    unchanged form compares equal (and hashes the same) as what is stored."""

    def __init__(self, **kwargs):
        super().__init__(strip=False, **kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        return value.replace("\r\n", "\n").replace("\r", "\n") if value else value


class _KeptUnlessSent(forms.TypedChoiceField):
    """A choice a form that does not send it leaves as it was (not a change)."""

    def has_changed(self, initial, data):
        return bool(data) and super().has_changed(initial, data)


class CampaignForm(forms.ModelForm):
    """Draft content. There is no attachment field, by design (invariant 1)."""

    sender = forms.ChoiceField(label=_("Sender"))
    # Not sent (an older form, a script): a notice, and no change to an existing one.
    kind = forms.TypedChoiceField(label=_("Kind"), choices=Kind.choices, required=False,
                                  empty_value=Kind.NOTICE)
    # Not sent (an older form, a script): UTF-8, and no change to an existing campaign's.
    charset = _KeptUnlessSent(label=_("charset"), choices=charsets.CHOICES, required=False,
                              empty_value="")
    window_days = _KeptUnlessSent(label=_("sending days"), choices=sending_hours.DAYS,
                                  required=False, empty_value="")
    body_text = MessageTextField(label=_("Body (plain text)"), widget=forms.Textarea(
        attrs={"rows": 14}), help_text=_(
        "Placeholders: {name}, {member_number}, {email} and the roster's extra columns, "
        "e.g. {支部}. Write {{ and }} for literal braces."))
    body_html = MessageTextField(label=_("Body (HTML, optional)"), required=False,
                                 widget=forms.Textarea(attrs={"rows": 8}), help_text=_(
        "Optional. Sanitised: links and basic formatting only; no images, scripts or "
        "embedded files."))

    class Meta:
        model = Campaign
        fields = ["name", "kind", "roster", "sender", "subject", "body_text", "body_html",
                  "canary_enabled", "canary_size", "rate_limit", "rate_unit", "charset",
                  "window_start", "window_end", "window_days", "send_before"]
        widgets = {"subject": forms.TextInput(attrs={"maxlength": 255}),
                   "window_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
                   "window_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
                   "send_before": forms.DateTimeInput(attrs={"type": "datetime-local"},
                                                      format="%Y-%m-%dT%H:%M")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Over a limit is an error on the form before anything reads the text.
        for field, limit in (("subject", settings.CAMPAIGN_MAX_SUBJECT_CHARS),
                             ("body_text", settings.CAMPAIGN_MAX_BODY_CHARS),
                             ("body_html", settings.CAMPAIGN_MAX_HTML_CHARS)):
            self.fields[field].max_length = limit
            self.fields[field].validators.append(MaxLengthValidator(limit))
            self.fields[field].widget.attrs["maxlength"] = limit
        self.fields["sender"].choices = [(s, s) for s in content.allowed_senders()]
        # A newsletter must end with the footer (checked at submit): the form shows it.
        self.fields["kind"].help_text = _(
            "A notice is service mail every member gets. A newsletter skips those who "
            "unsubscribed, and must end with the association's footer (its name, postal "
            "address, contact and {unsubscribe_url}, each member's own unsubscribe link): "
            "the button below the body inserts it, in the members' language.")
        self.newsletter_footer = unsubscribe.footer_example()  # the button's text
        self.fields["charset"].help_text = Campaign._meta.get_field("charset").help_text
        self.fields["roster"].queryset = Roster.objects.filter(purged_at=None)
        # The rate limit reads as one sentence, "at most [N] per [minute]": two fields
        # (the model keeps both), one control (campaigns/_rate_field.html).
        self.fields["rate_limit"].widget.attrs.update(
            {"class": "form-control rate-number", "min": 1, "aria-label": _("Most messages")})
        self.fields["rate_unit"].widget.attrs.update(
            {"class": "form-select w-auto", "aria-label": _("Time unit")})
        self.helper = FormHelper()
        self.helper.layout = Layout(
            "name", "kind", "roster", "sender", "subject", "body_text",
            HTML('{% include "campaigns/_footer_button.html" %}'), "body_html",
            "canary_enabled",
            "canary_size", HTML('{% include "campaigns/_rate_field.html" %}'), "charset",
            "window_start", "window_end", "window_days", "send_before")
        self.helper.add_input(Submit("save", _("Save draft")))
        # A form that does not send one of the later terms (an older form, a script) leaves
        # it as it was: an empty time means "no window", so it must not be read as one.
        if self.is_bound:
            for name in self.KEPT_UNLESS_SENT:
                if self.fields[name].widget.value_omitted_from_data(
                        self.data, self.files, self.add_prefix(name)):
                    del self.fields[name]

    KEPT_UNLESS_SENT = ("charset", "window_start", "window_end", "window_days", "send_before")

    def clean(self):
        cleaned = super().clean()
        for field, default in (("charset", charsets.UTF8),
                               ("window_days", sending_hours.EVERY_DAY)):
            if field in self.fields and not cleaned.get(field):
                cleaned[field] = getattr(self.instance, field) if self.instance.pk else default
        names = ("window_start", "window_end", "window_days", "send_before")
        if any(name in self.errors for name in names):  # a time that is not one: said above
            return cleaned
        terms = {name: cleaned.get(name) if name in self.fields
                 else getattr(self.instance, name) for name in names}
        hours = sending_hours.Hours(terms["window_start"], terms["window_end"],
                                    terms["window_days"] or sending_hours.EVERY_DAY,
                                    terms["send_before"])
        for field, message in sending_hours.problems(hours).items():
            self.add_error(field if field in self.fields else None, message)
        if self.errors:
            return cleaned
        problems = content.content_problems(
            roster=cleaned.get("roster"), sender=cleaned.get("sender", ""),
            subject=cleaned.get("subject", ""), body_text=cleaned.get("body_text", ""),
            body_html=cleaned.get("body_html", ""), kind=cleaned.get("kind", Kind.NOTICE),
        )
        for field, messages in problems.items():
            for message in messages:
                self.add_error(field, message)
        return cleaned

    def clean_name(self):
        named = name_check(self.cleaned_data["name"])
        if not named:
            raise forms.ValidationError(named.reason)
        return self.cleaned_data["name"]


class SignOffForm(forms.Form):
    checklist = forms.MultipleChoiceField(label=_("Checklist"), required=False,
                                          widget=forms.CheckboxSelectMultiple)
    comment = forms.CharField(label=_("Comment"), required=False,
                              widget=forms.Textarea(attrs={"rows": 3, "class": "form-control"}),
                              help_text=_("Required when you reject: say what must change."))

    def __init__(self, *args, items, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["checklist"].choices = list(items.items())


def supervisor_signoff_form(*args, **kwargs):
    return SignOffForm(*args, items=SUPERVISOR_CHECKLIST, **kwargs)


class ReleaseForm(SignOffForm):
    # Shown only when a sender check failed (campaigns.sender_auth): the written override.
    override = forms.CharField(
        label=_("Release despite the failed sender checks, because"), required=False,
        max_length=500, widget=forms.Textarea(attrs={"rows": 2, "class": "form-control"}),
        help_text=_("Only if you accept that receivers may refuse or flag this mail. Your "
                    "reason is kept in the audit log with the checks."))
    # Only for a roster whose key the association alone holds (campaigns.key_window).
    grant = forms.FileField(
        label=_("The association's grant (the file the key tool made)"), required=False,
        help_text=_("Download the grant request below, run python -m countersign.keytool "
                    "grant association.key on it on the association's computer, and choose "
                    "the grant file it writes."))

    MAX_GRANT_BYTES = 1_000_000

    def grant_bytes(self) -> bytes | None:
        upload = self.cleaned_data.get("grant")
        if not upload:
            return None
        return upload.read(self.MAX_GRANT_BYTES + 1)[:self.MAX_GRANT_BYTES + 1]


def observer_signoff_form(*args, **kwargs):
    return ReleaseForm(*args, items=OBSERVER_CHECKLIST, **kwargs)


class TestSendForm(forms.Form):
    __test__ = False

    member_number = forms.CharField(label=_("Render as member (member number)"), max_length=64)
    recipients = forms.ModelMultipleChoiceField(
        label=_("Also send to"), required=False, widget=forms.CheckboxSelectMultiple,
        queryset=User.objects.none(),
        help_text=_("Supervisors and observers only; you always get a copy. Never members."),
    )

    def __init__(self, *args, roster, search_url="", **kwargs):
        super().__init__(*args, **kwargs)
        self.roster = roster
        # Type a number or a name: the page offers matching members (app.js).
        self.fields["member_number"].widget.attrs.update(
            {"list": "member-options", "data-member-search": search_url, "autocomplete": "off"})
        self.fields["recipients"].queryset = User.objects.filter(
            is_active=True, groups__name__in=[Role.SUPERVISOR, Role.OBSERVER],
        ).exclude(email="").distinct().order_by("username")

    def clean_member_number(self):
        number = self.cleaned_data["member_number"].strip()
        member = self.roster.members.filter(member_number=number).first()
        if member is None:
            raise forms.ValidationError(_("No member with this number in the roster."))
        self.cleaned_data["member"] = member
        return number


class CommentForm(forms.Form):
    comment = forms.CharField(label=_("Comment"), required=False,
                              widget=forms.Textarea(attrs={"rows": 2}))
