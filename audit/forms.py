from django import forms
from django.utils.translation import gettext_lazy as _

from countersign.models import Organisation
from countersign.roles import Role


class AuditFilterForm(forms.Form):
    date_from = forms.DateField(label=_("From"), required=False,
                                widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("To"), required=False,
                              widget=forms.DateInput(attrs={"type": "date"}))
    campaign = forms.ModelChoiceField(label=_("Campaign"), required=False, queryset=None)
    actor = forms.CharField(label=_("Actor (login name)"), required=False, max_length=150)
    role = forms.ChoiceField(label=_("Role"), required=False)
    organisation = forms.ChoiceField(label=_("Organisation"), required=False)
    action = forms.ChoiceField(label=_("Action"), required=False)

    def __init__(self, *args, actions=(), **kwargs):
        from campaigns.models import Campaign

        super().__init__(*args, **kwargs)
        self.fields["campaign"].queryset = Campaign.objects.order_by("-created_at")
        self.fields["role"].choices = [("", "—"), *Role.choices]
        self.fields["organisation"].choices = [("", "—"), *Organisation.choices]
        self.fields["action"].choices = [("", "—"), *((a, a) for a in actions)]
        for field in self.fields.values():
            css = "form-select form-select-sm" if isinstance(field, forms.ChoiceField) else (
                "form-control form-control-sm")
            field.widget.attrs.setdefault("class", css)

    def filters(self) -> dict:
        """The cleaned filters (only valid ones); empty when the form is invalid."""
        if not self.is_valid():
            return {}
        return {name: value for name, value in self.cleaned_data.items() if value}
