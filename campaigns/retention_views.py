"""Member data's end: deletion certificates (observers countersign; auditors read), the
observer's erasure page for one person, and the suppression list. Thin: campaigns.retention
and campaigns.suppression do the work."""

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from campaigns import retention, suppression
from campaigns.models import DeletionCertificate
from countersign.roles import Role, has_role, role_required
from roster.models import Suppression

CERTIFICATE_READERS = (Role.OBSERVER, Role.AUDITOR)


class EraseForm(forms.Form):
    email = forms.EmailField(label=gettext_lazy("The person's e-mail address"))
    confirm = forms.BooleanField(label=gettext_lazy(
        "I confirm this person asked for their data to be erased. This cannot be undone; "
        "their address is then suppressed, so no campaign reaches it again."))


@role_required(*CERTIFICATE_READERS)
def certificate_list(request):
    page = Paginator(DeletionCertificate.objects.select_related("countersigned_by"), 50)
    return render(request, "campaigns/certificates.html",
                  {"page": page.get_page(request.GET.get("page"))})


@role_required(*CERTIFICATE_READERS)
@require_http_methods(["GET", "POST"])
def certificate_detail(request, pk):
    certificate = get_object_or_404(DeletionCertificate, pk=pk)
    if request.method == "POST":
        if not has_role(request.user, Role.OBSERVER):
            return render(request, "403.html", status=403)
        try:
            retention.countersign(certificate=certificate, user=request.user,
                                  seen_sha256=request.POST.get("seen_sha256", ""))
            messages.success(request, _("Countersigned; the certificate was mailed to the "
                                        "association's observers."))
        except retention.CertificateError as error:
            messages.error(request, error.message)
        return redirect(certificate)
    return render(request, "campaigns/certificate.html", {
        "certificate": certificate, "rows": retention.certificate_rows(certificate),
        "kept": retention.kept_items(certificate),
        "can_countersign": has_role(request.user, Role.OBSERVER)
        and certificate.countersigned_at is None})


@role_required(Role.OBSERVER)
@require_http_methods(["GET", "POST"])
def erase(request):
    form = EraseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        certificate = retention.erase_member(address=form.cleaned_data["email"],
                                             actor=request.user)
        messages.success(request, _("Erased. Countersign the certificate below."))
        return redirect(certificate)
    return render(request, "campaigns/erase.html", {"form": form})


class SuppressionForm(forms.Form):
    email = forms.EmailField(label=gettext_lazy("E-mail address"))


@role_required(*CERTIFICATE_READERS)
@require_http_methods(["GET", "POST"])
def suppression_list(request):
    """Counts by reason and the latest entries (pseudonyms only); the observer checks an
    address or adds one by hand (a member who asked by phone, say)."""
    manages = has_role(request.user, Role.OBSERVER)
    form = SuppressionForm(request.POST or None) if manages else None
    checked = None
    if form is not None and request.method == "POST" and form.is_valid():
        address = form.cleaned_data["email"]
        if "add" in request.POST:
            added = suppression.suppress(reason=Suppression.Reason.MANUAL, source="page",
                                         address=address, actor=request.user)
            messages.success(request, _("Added to the suppression list.") if added else
                             _("This address was already on the list (added by hand)."))
            return redirect("retention:suppressions")
        checked = list(Suppression.objects.filter(
            pseudonym=suppression.pseudonym_of(address)).order_by("created_at"))
    by_reason = dict(Suppression.objects.values_list("reason").annotate(n=Count("id")))
    return render(request, "campaigns/suppressions.html", {
        "form": form, "checked": checked,
        "counts": [(label, by_reason.get(value, 0)) for value, label in
                   Suppression.Reason.choices],
        "page": Paginator(Suppression.objects.all(), 50).get_page(request.GET.get("page"))})
