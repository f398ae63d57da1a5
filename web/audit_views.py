"""The auditor's pages over the audit log: browse and filter it, export it, verify it."""

import hashlib
from pathlib import Path

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

import audit
from audit import chain, selectors
from audit.actions import Action
from audit.chain import csv_header, csv_row
from audit.models import AuditEntry
from audit.services import verify_and_record
from countersign import exports
from countersign.roles import Role, role_required
from web import payloads
from web.forms import AuditFilterForm


def _filter_form(request):
    return AuditFilterForm(request.GET or None, actions=selectors.known_actions())


def _audit_filters(form) -> dict:
    """JSON-safe description of the filters, for the audit entry of an export."""
    return {k: (str(v.pk) if hasattr(v, "pk") else str(v)) for k, v in form.filters().items()}


@role_required(Role.AUDITOR)
def log(request):
    form = _filter_form(request)
    # Newest first, as an office reads a log (the export keeps the chain's order).
    entries = (selectors.filtered_entries(**form.selector_filters()).order_by("-sequence")
               if not form.errors else None)
    page = Paginator(entries, 50).get_page(request.GET.get("page")) if entries is not None else None
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "audit/log.html", {
        "form": form, "page": page, "query": query.urlencode(),
        "entries": [(e, payloads.rows(e.payload)) for e in page.object_list] if page else [],
        "head": selectors.chain_head(), "verification": selectors.last_verification(),
    })


@role_required(Role.AUDITOR)
def export(request):
    form = _filter_form(request)
    if form.errors:
        return HttpResponseBadRequest(_("The filters are not valid; nothing was exported."))
    with transaction.atomic():
        audit.record(Action.EXPORTED, actor=request.user, role=Role.AUDITOR,
                     payload={"filters": _audit_filters(form), "format": "csv"})
    entries = AuditEntry.chain_rows(selectors.filtered_entries(**form.selector_filters()))
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    zone = timezone.get_current_timezone()
    return exports.csv_response(f"audit-{stamp}.csv", csv_header(get_language()),
                                (csv_row(entry, zone) for entry in entries), already_safe=True)


@role_required(Role.AUDITOR)
@require_http_methods(["GET", "POST"])
def verify(request):
    if request.method == "POST":
        verdict = verify_and_record(actor=request.user)
        if verdict.ok:
            messages.success(request, _("The chain verifies: %(count)s entries.")
                             % {"count": verdict.count})
        else:
            messages.error(request, _("The chain does NOT verify: entry %(seq)s: %(reason)s")
                           % {"seq": verdict.bad_sequence, "reason": verdict.reason})
        return redirect("audit:verify")
    return render(request, "audit/verify.html", {
        "verification": selectors.last_verification(), "head": selectors.chain_head(),
        "chain_py_sha256": hashlib.sha256(_chain_py()).hexdigest()})


def _chain_py() -> bytes:
    """audit/chain.py as shipped: the standalone verifier an outsider runs."""
    return Path(chain.__file__).read_bytes()


@role_required(Role.AUDITOR, Role.OBSERVER)
def chain_script(request):
    """The verifier for outsiders (standard-library Python only), with its SHA-256 on the
    verify page and in the completion notice, so the copy can be checked."""
    response = HttpResponse(_chain_py(), content_type="text/x-python; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="chain.py"'
    return response
