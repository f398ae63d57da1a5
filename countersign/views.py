from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from countersign.roles import roles_of


@login_required
def home(request):
    return render(request, "home.html", {"roles": sorted(roles_of(request.user))})
