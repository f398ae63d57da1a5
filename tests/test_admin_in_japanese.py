"""The admin's index in Japanese names the other apps' tables in Japanese too (django-axes'
access attempts, django-q2's tasks ship no Japanese)."""

from django.urls import reverse

ENGLISH_NAMES = ("Access attempts", "Access failures", "Access logs", "Failed tasks",
                 "Successful tasks", "Scheduled tasks", "Queued tasks", "TOTP devices")


def test_the_admin_index_names_every_table_in_japanese(admin_client):
    page = admin_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert [name for name in ENGLISH_NAMES if name in page] == []
    assert "アクセス試行" in page and "失敗したタスク" in page
