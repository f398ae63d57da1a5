from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from audit.models import object_key
from campaigns.models import Campaign
from countersign import labels
from countersign.models import Organisation
from countersign.roles import Role


class CampaignChoiceField(forms.ModelChoiceField):
    """Campaigns by number and name: two campaigns of one name (a copy, the rest) differ."""

    def label_from_instance(self, obj):
        return _("No. %(number)s: %(name)s (%(state)s)") % {
            "number": obj.pk, "name": obj.name, "state": obj.get_state_display()}


class AuditFilterForm(forms.Form):
    """The audit log's filters. The log itself knows objects only by type and id; the
    choice of campaign is this page's, which turns it into that type and id."""

    date_from = forms.DateField(label=pgettext_lazy("start of a date range", "From"),
                                required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=pgettext_lazy("end of a date range", "To"),
                              required=False, widget=forms.DateInput(attrs={"type": "date"}))
    campaign = CampaignChoiceField(label=_("Campaign"), required=False,
                                   queryset=Campaign.objects.order_by("-created_at"))
    actor = forms.CharField(label=_("Actor (login name)"), required=False, max_length=150)
    role = forms.ChoiceField(label=_("Role"), required=False)
    organisation = forms.ChoiceField(label=_("Organisation"), required=False)
    action = forms.ChoiceField(label=_("Action"), required=False)

    def __init__(self, *args, actions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [("", "—"), *Role.choices]
        self.fields["organisation"].choices = [("", "—"), *Organisation.choices]
        self.fields["action"].choices = [("", "—"), *((a, labels.label("ACTIONS", a))
                                                      for a in actions)]
        for field in self.fields.values():
            css = "form-select form-select-sm" if isinstance(field, forms.ChoiceField) else (
                "form-control form-control-sm")
            field.widget.attrs.setdefault("class", css)

    def filters(self) -> dict:
        """The cleaned filters as the page names them (only valid ones); empty when the form
        is invalid."""
        if not self.is_valid():
            return {}
        return {name: value for name, value in self.cleaned_data.items() if value}

    def selector_filters(self) -> dict:
        """The filters as audit.selectors.filtered_entries() takes them."""
        filters = self.filters()
        campaign = filters.pop("campaign", None)
        if campaign is not None:
            filters["object_type"], filters["object_id"] = object_key(campaign)
        return filters
