"""The ledger page: every message of a campaign, what became of it and where, searched by
number, name or address: member data, for the roles the access policy lets see addresses
(countersign.access)."""

from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_http_methods

from campaigns import carrier_outcomes, ledger
from campaigns.labels import status_meaning
from campaigns.models import Campaign, Delivery
from countersign import access, carriers
from countersign.roles import role_required
from roster import member_data

LEDGER_ROLES = access.roles_for(access.Data.LEDGER_ADDRESSES)


@role_required(*LEDGER_ROLES)
@require_http_methods(["GET", "POST"])  # POST: a search (countersign.access.search_query)
def campaign_ledger(request, pk):
    campaign = get_object_or_404(Campaign.objects.select_related("roster"), pk=pk)
    state, q = request.GET.get("state"), access.search_query(request)
    carrier = request.GET.get("carrier")
    deliveries = campaign.deliveries.order_by("id")
    if state in Delivery.State.values:
        deliveries = deliveries.filter(state=state)
    if carrier in dict(carriers.GROUPS):
        deliveries = carrier_outcomes.in_group(deliveries, carrier)
    if q:  # the ledger is member data (access policy): search by number, name or address
        deliveries = deliveries.filter(Q(member_number__icontains=q) | Q(
            member_id__in=member_data.matching_ids(campaign.roster_id, q)))
    page = Paginator(deliveries, 100).get_page(access.page_number(request))
    page.object_list = ledger.with_addresses(page.object_list)
    for delivery in page.object_list:  # 5.1.1 and what it means, in the reader's language
        delivery.bounce_meaning = status_meaning(delivery.bounce_status)
    numbers = ledger.progress(campaign)
    return render(request, "campaigns/ledger.html", {
        "campaign": campaign, "page": page, "state": state, "states": Delivery.State.choices,
        "progress": numbers, "q": q, "post_search": True, "carrier": carrier,
        "carriers": carriers.GROUPS,
        # What the relay's log or the provider said of a message at its carrier, if anything.
        "at_carriers": campaign.deliveries.exclude(at_carrier="").exists(),
        # Bounces, complaints or delays came back: the ledger shows what and when.
        "returned": numbers["bounced"] or numbers["complained"] or numbers["soft_bounced"]})
