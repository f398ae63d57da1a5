"""The root URLconf: the whole site in one place.

It lives in web, the top layer, because it wires every app together; in the kernel
(countersign) it would make the kernel depend on every app above it.
"""

from django.contrib import admin
from django.urls import include, path

from web import views

urlpatterns = [
    path("", views.home, name="home"),
    path("health/", views.health, name="health"),
    path("health/worker/", views.health_worker, name="health_worker"),
    path("accounts/", include("countersign.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("mailbox/", views.mailbox, name="mailbox"),
    path("mailbox/<str:name>/", views.mailbox_message, name="mailbox_message"),
    path("rosters/", include("roster.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("audit/", include("audit.urls")),
    path("admin/", admin.site.urls),
]
