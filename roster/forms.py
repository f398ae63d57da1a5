from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms
from django.utils.translation import gettext_lazy as _

from roster import free_text


class RosterUploadForm(forms.Form):
    name = forms.CharField(
        label=_("Roster name"),
        max_length=200,
        help_text=_("For example: “Members, June 2026 notice”."),
    )
    file = forms.FileField(
        label=_("Roster file"),
        help_text=_("Excel (.xlsx) or CSV (UTF-8 or Shift_JIS). Columns: member number "
                    "(会員番号), name (氏名), e-mail (メールアドレス); other columns are kept "
                    "for personalisation."),
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx,.csv,.txt,.tsv"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.attrs = {"data-upload-progress": ""}
        self.helper.add_input(Submit("submit", _("Check the file")))

    def clean_name(self):  # shown in the audit log and on every campaign of the roster
        name = self.cleaned_data["name"]
        if problem := free_text.problem(name):
            raise forms.ValidationError(problem)
        return name


class NamedMemberForm(forms.Form):
    member_number = forms.CharField(label=_("Member number"), max_length=64)
    reason = forms.CharField(label=_("Why they may be named"), max_length=200,
                             help_text=_("For example: “President, signs the notices”."))
    last_day = forms.DateField(label=_("Until (inclusive)"),
                               widget=forms.DateInput(attrs={"type": "date"}))

    def clean_reason(self):
        reason = self.cleaned_data["reason"]
        if problem := free_text.problem(reason):
            raise forms.ValidationError(problem)
        return reason

    def clean_last_day(self):
        from django.utils import timezone

        last_day = self.cleaned_data["last_day"]
        today = timezone.localdate()
        if last_day < today:
            raise forms.ValidationError(_("The last day is in the past."))
        if (last_day - today).days > 366:
            raise forms.ValidationError(_("At most one year ahead: the list is renewed "
                                          "at least once a year."))
        return last_day

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.add_input(Submit("submit", _("Allow this member to be named")))


class PreviewRequestForm(forms.Form):
    """The observer's choice of members a held roster's previews may show for real (the
    limits are roster.previews' to say)."""

    members = forms.CharField(label=_("Member numbers"), max_length=400,
                              help_text=_("Separated by commas or spaces; members who agreed "
                                          "to be shown (officers, say)."))
    reason = forms.CharField(label=_("Why they may be shown"), max_length=200)
    days = forms.IntegerField(label=_("For how many days"), min_value=1, initial=1)
