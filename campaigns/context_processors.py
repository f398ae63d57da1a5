"""What every page shows about campaigns: the count of unread notifications (the menu)."""

from campaigns.models import Notification


def notifications(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"unread_notifications": Notification.objects.filter(
        user=user, read_at=None).count()}
