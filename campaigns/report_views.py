"""The reports over campaigns that an auditor (and the association) reads beside the audit
log: two-person compliance, and the incident report of one campaign. web.urls mounts them
under /audit/, in the audit namespace, next to the log."""

import json

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

import audit
from campaigns import reports
from campaigns.actions import Action
from campaigns.ledger import progress
from campaigns.models import Campaign
from countersign import access, association_key, exports, sealing
from countersign.roles import Role, has_role, role_required
from roster import data_keys
from roster import member_data as door


@role_required(Role.AUDITOR)
def compliance(request):
    rows = list(reports.compliance_rows())
    if request.GET.get("format") == "csv":
        with transaction.atomic():
            audit.record(Action.COMPLIANCE_EXPORTED, actor=request.user, role=Role.AUDITOR,
                         payload={"campaigns": len(rows)})
        return exports.csv_response("two-person-compliance.csv",
                                    reports.header_rows(reports.COMPLIANCE_COLUMNS),
                                    reports.compliance_csv_rows(rows))
    return render(request, "campaigns/compliance.html", {"rows": rows})


def _incident_file(request, campaign, fmt: str, *, member_data: bool):
    """The report as a file. With member data, and once the association has registered its
    key, the file is sealed to that key (countersign.association_key): only the association
    opens it, with its key tool. For a roster only the association holds, the file is the
    report with each member's row ciphertext (reports.incident_bundle): the key tool opens it
    into the CSV with names and addresses."""
    if member_data and data_keys.with_association(campaign.roster):
        # Only the association opens the names: its key tool fills them in, as CSV.
        bundle = reports.incident_bundle(campaign)
        rows, name = bundle["rows"], f"incident-campaign-{campaign.pk}.json"
        response = exports.file_response(name, json.dumps(bundle, ensure_ascii=False).encode(),
                                         "application/json")
    else:
        rows = list(reports.incident_export_rows(campaign, member_data=member_data,
                                                 spreadsheet=fmt == "xlsx"))
        name = f"incident-campaign-{campaign.pk}.{fmt}"
        header = reports.header_rows(reports.incident_columns(member_data=member_data))
        response = (exports.csv_response if fmt == "csv" else exports.xlsx_response)(
            name, header, rows)
    sealed = None
    if member_data and association_key.sealing_required():  # else it streams as it is
        try:
            sealed = association_key.seal_file(exports.content_of(response), name=name,
                                               actor=request.user)
        except association_key.KeyNotAsRegistered as refusal:
            messages.error(request, str(refusal))
            return redirect("audit:incident", campaign.pk)
    with transaction.atomic():
        audit.record(Action.INCIDENT_REPORT_EXPORTED, actor=request.user,
                     role=next(r for r in (Role.OBSERVER, Role.SUPERVISOR, Role.AUDITOR)
                               if has_role(request.user, r)),
                     target=campaign, payload={
                         "format": fmt, "rows": len(rows), "member_data": member_data,
                         "ledger_sha256": campaign.ledger_sha256,
                         **({"sealed_to": sealed.fingerprint} if sealed else {})})
    if sealed is None:
        return response
    return exports.file_response(sealed.filename, sealed.data, "application/octet-stream")


@role_required(*access.roles_for(access.Data.INCIDENT_SUMMARY))
@require_http_methods(["GET", "POST"])  # POST: a search (countersign.access.search_query)
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
        return _incident_file(request, campaign, fmt, member_data=member_data)
    q = access.search_query(request)
    deliveries = campaign.deliveries.order_by("id")
    if q:  # by member number; by name and address only for those who may see them
        found = Q(member_number__icontains=q)
        if member_data:
            found |= Q(member_id__in=door.matching_ids(campaign.roster_id, q))
        deliveries = deliveries.filter(found)
    page = Paginator(deliveries, 50).get_page(access.page_number(request))  # a phone's page
    return render(request, "campaigns/incident.html", {
        "campaign": campaign, "progress": progress(campaign), "member_data": member_data,
        "page": page, "q": q, "post_search": True,
        "sealed_to": sealing.grouped(association_key.current_fingerprint())[:19]
        if member_data else "",
        "held": member_data and data_keys.with_association(campaign.roster),
        "association_fingerprint": association_key.current_fingerprint(),
        "rows": list(reports.incident_rows(campaign, member_data=member_data,
                                           deliveries=page.object_list))})
