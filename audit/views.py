"""The auditor's pages: the log, its export, the chain's verification, the reports."""

from itertools import islice

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

import audit
from audit import selectors
from audit.chain import CSV_COLUMNS, csv_row
from audit.forms import AuditFilterForm
from audit.models import AuditEntry
from audit.services import verify_and_record
from campaigns import reports
from campaigns.models import Campaign
from countersign import access, exports
from countersign.roles import Role, has_role, role_required


def _filter_form(request):
    return AuditFilterForm(request.GET or None, actions=selectors.known_actions())


def _audit_filters(form) -> dict:
    """JSON-safe description of the filters, for the audit entry of an export."""
    return {k: (str(v.pk) if hasattr(v, "pk") else str(v)) for k, v in form.filters().items()}


@role_required(Role.AUDITOR)
def log(request):
    form = _filter_form(request)
    entries = selectors.filtered_entries(**form.filters()) if not form.errors else None
    page = Paginator(entries, 50).get_page(request.GET.get("page")) if entries is not None else None
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "audit/log.html", {
        "form": form, "page": page, "query": query.urlencode(),
        "head": selectors.chain_head(), "verification": selectors.last_verification(),
    })


@role_required(Role.AUDITOR)
def export(request):
    form = _filter_form(request)
    if form.errors:
        return HttpResponseBadRequest(_("The filters are not valid; nothing was exported."))
    with transaction.atomic():
        audit.record("audit.exported", actor=request.user, role=Role.AUDITOR,
                     payload={"filters": _audit_filters(form), "format": "csv"})
    entries = AuditEntry.chain_rows(selectors.filtered_entries(**form.filters()))
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    return exports.csv_response(f"audit-{stamp}.csv", list(CSV_COLUMNS),
                                map(csv_row, entries), already_safe=True)


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
        "verification": selectors.last_verification(), "head": selectors.chain_head()})


@role_required(Role.AUDITOR)
def compliance(request):
    rows = list(reports.compliance_rows())
    if request.GET.get("format") == "csv":
        with transaction.atomic():
            audit.record("audit.compliance_exported", actor=request.user, role=Role.AUDITOR,
                         payload={"campaigns": len(rows)})
        return exports.csv_response("two-person-compliance.csv", reports.COMPLIANCE_HEADER,
                                    reports.compliance_csv_rows(rows))
    return render(request, "audit/compliance.html", {"rows": rows})


@role_required(*access.roles_for(access.Data.INCIDENT_SUMMARY))
def incident(request, pk):
    """Who got what. With names and addresses for the supervisor and the observer; for an
    auditor the same report keyed by member number only (access.POLICY). There is no report
    for a campaign that never started sending. Every download is audited."""
    campaign = get_object_or_404(Campaign.objects.select_related("roster"), pk=pk)
    if campaign.started_at is None:
        raise Http404("this campaign never started sending")
    member_data = access.may_see(request.user, access.Data.INCIDENT_REPORT)
    fmt = request.GET.get("format")
    if fmt in ("csv", "xlsx"):
        rows = list(reports.incident_export_rows(campaign, member_data=member_data))
        with transaction.atomic():
            audit.record("campaign.incident_report_exported", actor=request.user,
                         role=next(r for r in (Role.OBSERVER, Role.SUPERVISOR, Role.AUDITOR)
                                   if has_role(request.user, r)),
                         target=campaign, payload={
                             "format": fmt, "rows": len(rows), "member_data": member_data,
                             "ledger_sha256": campaign.ledger_sha256})
        name = f"incident-campaign-{campaign.pk}.{fmt}"
        header = reports.incident_header(member_data=member_data)
        if fmt == "csv":
            return exports.csv_response(name, header, rows)
        return exports.xlsx_response(name, header, rows)
    from campaigns.ledger import progress

    return render(request, "audit/incident.html", {
        "campaign": campaign, "progress": progress(campaign), "member_data": member_data,
        "rows": list(islice(reports.incident_rows(campaign, member_data=member_data), 200))})
