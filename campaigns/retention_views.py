"""Member data's end: deletion certificates (observers countersign; auditors read) and the
observer's erasure page for one person. Thin: campaigns.retention does the work."""

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from campaigns import retention
from campaigns.models import DeletionCertificate
from countersign.roles import Role, has_role, role_required

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
            retention.countersign(certificate=certificate, user=request.user)
            messages.success(request, _("Countersigned; the certificate was mailed to the "
                                        "association's observers."))
        except retention.CertificateError as error:
            messages.error(request, error.message)
        return redirect(certificate)
    return render(request, "campaigns/certificate.html", {
        "certificate": certificate, "text": retention.certificate_text(certificate),
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
