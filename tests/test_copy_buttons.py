"""The hashes people are told to keep are shown whole (wrapping on a phone) with a copy
button: the content hash, the chain head after a sign-off, the chain head for the auditor."""

from django.urls import reverse

from audit.models import AuditEntry
from tests.factories import OBSERVER_TICKS, client_for, shown_on


def copy_button(value: str) -> str:
    return f'data-copy="{value}"'


def test_the_content_hash_has_a_copy_button(olivia, submitted):
    page = client_for(olivia).get(reverse("campaigns:detail", args=[submitted.pk]),
                                  HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert copy_button(submitted.content_hash) in page and ">コピー</button>" in page
    assert f'<code class="text-break">{submitted.content_hash}</code>' in page


def test_the_chain_head_the_observer_must_keep_is_whole_with_a_copy_button(oscar, approved):
    url, client = reverse("campaigns:release", args=[approved.pk]), client_for(oscar)
    response = client.post(url, {"checklist": OBSERVER_TICKS, "release": "",
                                 **shown_on(client, url)},
                                      follow=True, HTTP_ACCEPT_LANGUAGE="ja")
    head = AuditEntry.objects.order_by("-sequence").first()
    page = response.content.decode()
    message = page[page.index('class="alert alert-success"'):]
    message = message[:message.index("</div>")]
    assert "送信を許可しました。" in message and copy_button(head.hash) in message
    assert f'<code class="text-break">{head.hash}</code>' in message  # not cut short


def test_the_auditor_can_copy_the_chain_head(audrey, released):
    head = AuditEntry.objects.order_by("-sequence").first()
    page = client_for(audrey).get(reverse("audit:verify")).content.decode()
    assert copy_button(head.hash) in page


def test_the_copy_buttons_are_served_by_the_apps_own_script():
    """No inline script (the CSP allows 'self' only): app.js handles [data-copy]."""
    from django.conf import settings

    script = (settings.BASE_DIR / "countersign" / "static" / "countersign" / "app.js").read_text()
    assert "[data-copy]" in script and "navigator.clipboard" in script
