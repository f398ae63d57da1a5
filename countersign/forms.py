from django import forms
from django.utils.translation import gettext_lazy as _


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code from your authenticator app"), max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric",
                                      "autofocus": True}))

    def clean_code(self):
        code = self.cleaned_data["code"].replace(" ", "")
        if not code.isdigit() or len(code) != 6:
            raise forms.ValidationError(_("Enter the six digits your app shows."))
        return code


class RefuseForm(forms.Form):
    reason = forms.CharField(label=_("Why (optional, for the audit log)"), max_length=500,
                             required=False)


class AssociationKeyForm(forms.Form):
    public_key = forms.CharField(
        label=_("The association's public key"), max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "autocomplete": "off",
                                     "class": "font-monospace"}),
        help_text=_("The block the key tool printed, from -----BEGIN PUBLIC KEY----- to "
                    "-----END PUBLIC KEY-----. Never paste the private key."))
    code = forms.CharField(label=_("Code from your authenticator app"), max_length=6,
                           min_length=6, widget=forms.TextInput(attrs={
                               "inputmode": "numeric", "autocomplete": "one-time-code"}))
