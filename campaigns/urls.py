from django.urls import path

from campaigns import ledger_views, views

app_name = "campaigns"
urlpatterns = [
    path("", views.campaign_list, name="list"),
    path("new/", views.campaign_create, name="create"),
    path("witness/", views.observer_dashboard, name="observer_dashboard"),
    path("<int:pk>/", views.campaign_detail, name="detail"),
    path("<int:pk>/edit/", views.campaign_edit, name="edit"),
    path("<int:pk>/preview/", views.campaign_preview, name="preview"),
    path("<int:pk>/submit/", views.campaign_submit, name="submit"),
    path("<int:pk>/test-send/", views.campaign_test_send, name="test_send"),
    path("<int:pk>/review/", views.campaign_review, name="review"),
    path("<int:pk>/release/", views.campaign_release, name="release"),
    path("<int:pk>/grant-request/", views.grant_request, name="grant_request"),
    path("<int:pk>/cancel/", views.campaign_cancel, name="cancel"),
    path("<int:pk>/duplicate/", views.campaign_duplicate, name="duplicate"),
    path("<int:pk>/members/", views.member_search, name="member_search"),
    path("<int:pk>/progress/", views.campaign_progress, name="progress"),
    path("<int:pk>/stop/", views.campaign_stop, name="stop"),
    path("<int:pk>/pause/", views.campaign_pause, name="pause"),
    path("<int:pk>/confirm-canary/", views.campaign_confirm_canary, name="confirm_canary"),
    path("<int:pk>/ledger/", ledger_views.campaign_ledger, name="ledger"),
    path("<int:pk>/deliveries/<int:delivery_pk>/decide/", views.delivery_decide,
         name="decide"),
]
