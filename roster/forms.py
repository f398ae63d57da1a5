from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms
from django.utils.translation import gettext_lazy as _


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


class MemberSearchForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=200)
