"""Signing in and out, passwords, two-step sign-in, the changes to the association's people
that wait for a countersign, and the association's key: mounted at accounts/ by web.urls."""

from django.contrib.auth import views as auth_views
from django.urls import path

from countersign import views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password/done/", auth_views.PasswordChangeDoneView.as_view(),
         name="password_change_done"),
    path("two-step/", views.two_factor_settings, name="two_factor"),
    path("two-step/verify/", views.two_factor_verify, name="two_factor_verify"),
    path("changes/", views.people_changes, name="people_changes"),
    path("association-key/", views.association_key_page, name="association_key"),
    path("association-key/passkeys/", views.key_slot_add, name="key_slot_add"),
    path("association-key/passkeys/<int:pk>/revoke/", views.key_slot_revoke,
         name="key_slot_revoke"),
    path("changes/<int:pk>/countersign/", views.countersign_change,
         name="people_change_countersign"),
    path("changes/<int:pk>/refuse/", views.refuse_change, name="people_change_refuse"),
]
