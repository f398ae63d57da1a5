from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from countersign import views

urlpatterns = [
    path("", views.home, name="home"),
    path("health/", views.health, name="health"),
    path("health/worker/", views.health_worker, name="health_worker"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True),
         name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(),
         name="password_change_done"),
    path("accounts/two-step/", views.two_factor_settings, name="two_factor"),
    path("accounts/two-step/verify/", views.two_factor_verify, name="two_factor_verify"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("mailbox/", views.mailbox, name="mailbox"),
    path("mailbox/<str:name>/", views.mailbox_message, name="mailbox_message"),
    path("rosters/", include("roster.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("audit/", include("audit.urls")),
    path("admin/", admin.site.urls),
]
