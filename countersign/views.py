from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from campaigns.models import Campaign, State
from countersign.roles import Role, roles_of


@login_required
def home(request):
    """Tell each role what is waiting for them."""
    roles = roles_of(request.user)
    waiting = {}
    if Role.OPERATOR in roles:
        waiting["drafts"] = Campaign.objects.filter(author=request.user, state=State.DRAFT).count()
    if Role.SUPERVISOR in roles:
        waiting["review"] = (Campaign.objects.filter(state=State.SUBMITTED)
                             .exclude(author=request.user).count())
    if Role.OBSERVER in roles:
        waiting["release"] = Campaign.objects.filter(state=State.APPROVED).count()
    return render(request, "home.html", {"roles": sorted(roles), "waiting": waiting})
