"""A member's own page behind the unsubscribe link of a newsletter: no login, no CSRF token
for a mail reader's one-click POST (RFC 8058), and a GET that changes nothing."""

from django.conf import settings
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from campaigns import unsubscribe


@csrf_exempt  # RFC 8058: a mail reader's one-click POST carries no CSRF token
@require_http_methods(["GET", "POST"])
def unsubscribe_page(request, token):
    """GET shows a confirm button only (link scanners must unsubscribe nobody); POST, from
    that button or a mail reader's one-click, suppresses the address at once."""
    if token == unsubscribe.PREVIEW_TOKEN:
        return render(request, "campaigns/unsubscribe.html", {"outcome": "example"})
    shown = unsubscribe.subscription(token) if unsubscribe.delivery_id_of(token) else None
    if shown is None:
        return render(request, "campaigns/unsubscribe.html", {"outcome": "invalid"}, status=404)
    page = {"association": settings.ASSOCIATION_NAME, "address": shown["address"]}
    if request.method == "GET":
        return render(request, "campaigns/unsubscribe.html", {
            **page, "outcome": "already" if shown["unsubscribed"] else "confirm"})
    if request.POST.get("action") == "undo":
        unsubscribe.resubscribe(token, via="page")
        return render(request, "campaigns/unsubscribe.html", {**page, "outcome": "resubscribed"})
    one_click = request.POST.get("List-Unsubscribe") == "One-Click"
    unsubscribe.unsubscribe(token, via="one-click" if one_click else "page")
    return render(request, "campaigns/unsubscribe.html", {**page, "outcome": "done"})
