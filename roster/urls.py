from django.urls import path

from roster import views

app_name = "roster"
urlpatterns = [
    path("", views.roster_list, name="list"),
    path("import/", views.roster_upload, name="upload"),
    path("import/<int:pk>/", views.roster_upload_preview, name="upload_preview"),
    path("<int:pk>/", views.roster_detail, name="detail"),
    path("<int:pk>/previews/", views.preview_grant, name="preview_grant"),
    path("previews/<int:pk>/revoke/", views.preview_revoke, name="preview_revoke"),
    path("named/", views.named_members, name="named"),
    path("reseal/", views.reseal, name="reseal"),
    path("keys/<int:pk>/destroyed/", views.key_destroyed, name="key_destroyed"),
    path("named/<int:pk>/revoke/", views.named_member_revoke, name="named_revoke"),
]
