"""The root URLconf: the whole site in one place.

It lives in web, the top layer, because it wires every app together; in the kernel
(countersign) it would make the kernel depend on every app above it.
"""

from django.contrib import admin
from django.urls import include, path

from campaigns import report_views, retention_views, unsubscribe_views
from campaigns import views as campaign_views
from web import audit_views, views

# The auditor's pages: the log's own (web) and the reports over campaigns (campaigns), in
# one namespace so that their URLs and names stay audit:log, audit:incident and so on.
audit_pages = ([
    path("", audit_views.log, name="log"),
    path("export.csv", audit_views.export, name="export"),
    path("verify/", audit_views.verify, name="verify"),
    path("chain.py", audit_views.chain_script, name="chain_script"),
    path("compliance/", report_views.compliance, name="compliance"),
    path("campaigns/<int:pk>/incident/", report_views.incident, name="incident"),
], "audit")

# The end of member data: deletion certificates and the erasure of one person.
retention_pages = ([
    path("certificates/", retention_views.certificate_list, name="certificates"),
    path("certificates/<int:pk>/", retention_views.certificate_detail, name="certificate"),
    path("erase/", retention_views.erase, name="erase"),
    path("suppressions/", retention_views.suppression_list, name="suppressions"),
], "retention")

urlpatterns = [
    path("", views.home, name="home"),
    path("health/", views.health, name="health"),
    path("health/worker/", views.health_worker, name="health_worker"),
    path("accounts/", include("countersign.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("mailbox/", views.mailbox, name="mailbox"),
    path("mailbox/<str:name>/", views.mailbox_message, name="mailbox_message"),
    path("notifications/", campaign_views.notification_list, name="notifications"),
    path("rosters/", include("roster.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("audit/", include(audit_pages)),
    path("data/", include(retention_pages)),
    path("admin/", admin.site.urls),
    # A newsletter's unsubscribe link (members, no login): short, it is read in mail footers.
    path("u/<str:token>/", unsubscribe_views.unsubscribe_page, name="unsubscribe"),
]
