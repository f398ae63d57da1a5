"""The operator drafts a campaign: allowed senders, known placeholders, one-line subject,
sanitised HTML, and no attachment anywhere."""

import pytest
from django.conf import settings
from django.urls import reverse

from audit.models import AuditEntry
from campaigns import workflow
from campaigns.forms import CampaignForm
from campaigns.models import Campaign, State
from campaigns.seen import Seen
from tests.factories import BODY, client_for, make_campaign, make_roster, name_of


def post_campaign(client, roster, **changes):
    data = {"name": "June notice", "roster": roster.pk, "sender": settings.CAMPAIGN_SENDERS[0],
            "subject": "{name} 様へ", "body_text": BODY, "body_html": "",
            "canary_enabled": "on", "rate_unit": "minute", **changes}
    return client.post(reverse("campaigns:create"), data, HTTP_ACCEPT_LANGUAGE="en")


def test_operator_creates_a_draft_and_it_is_audited(olivia, roster):
    response = post_campaign(client_for(olivia), roster)
    campaign = Campaign.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("campaigns:detail", args=[campaign.pk])
    assert (campaign.state, campaign.author) == (State.DRAFT, olivia)
    entry = AuditEntry.objects.get(action="campaign.created")
    assert entry.payload["content_hash"] == campaign.compute_content_hash()
    assert entry.payload["recipient_count"] == 20


def test_the_form_has_no_attachment_field_and_refuses_uploaded_files(olivia, roster):
    assert not any("attach" in name or "file" in name for name in CampaignForm.base_fields)
    from django.core.files.uploadedfile import SimpleUploadedFile

    post_campaign(client_for(olivia), roster,
                  attachment=SimpleUploadedFile("roster.xlsx", b"PK\x03\x04..."))
    assert Campaign.objects.count() == 1  # saved as if no file had been sent
    detail = reverse("campaigns:detail", args=[Campaign.objects.get().pk])
    page = client_for(olivia).get(detail).content.decode()
    assert 'type="file"' not in page


@pytest.mark.parametrize("field, text", [("subject", "{nmae} 様"), ("body_text", "Dear {fullname}"),
                                         ("body_text", "{name} {unknown_col}")])
def test_unknown_placeholders_are_refused_at_save_with_what_is_available(olivia, roster, field,
                                                                           text):
    response = post_campaign(client_for(olivia), roster, **{field: text})
    page = response.content.decode()
    assert response.status_code == 200 and "Unknown placeholder" in page
    assert "{member_number}" in page and "{支部}" in page  # the available ones are listed
    assert not Campaign.objects.exists() and not AuditEntry.objects.filter(
        action="campaign.created").exists()


def test_extra_columns_are_known_placeholders(olivia, roster):
    post_campaign(client_for(olivia), roster, body_text="{支部} 支部の {name} 様")
    assert Campaign.objects.count() == 1


def test_a_lone_brace_is_refused_and_doubled_braces_are_literal(olivia, roster):
    assert "lone" in post_campaign(client_for(olivia), roster,
                                   body_text="{name} {").content.decode()
    post_campaign(client_for(olivia), roster, body_text="{{literal}} {name}")
    assert Campaign.objects.count() == 1


@pytest.mark.parametrize("subject", ["line one\nBcc: everyone@example.jp", "a\r\nb"])
def test_a_subject_with_a_line_break_is_refused(olivia, roster, subject):
    response = post_campaign(client_for(olivia), roster, subject=subject)
    assert "single line" in response.content.decode()
    assert not Campaign.objects.exists()


def test_a_sender_outside_the_configured_list_is_refused_even_by_a_forged_post(olivia, roster):
    response = post_campaign(client_for(olivia), roster, sender="attacker@evil.example")
    assert response.status_code == 200 and not Campaign.objects.exists()
    with pytest.raises(workflow.ContentRefused):
        make_campaign(olivia, roster, sender="attacker@evil.example")


def test_html_body_is_sanitised(olivia, roster):
    html = ('<p onclick="x()">Hi {name}</p><script>alert(1)</script><img src="https://t.example/x">'
            '<a href="javascript:alert(1)">a</a><a href="data:text/csv;base64,AAAA">roster</a>'
            '<a href="https://association.example/">site</a>')
    post_campaign(client_for(olivia), roster, body_html=html)
    stored = Campaign.objects.get().body_html
    assert "<script" not in stored and "onclick" not in stored and "<img" not in stored
    assert "javascript:" not in stored and "data:" not in stored
    assert 'href="https://association.example/"' in stored and "{name}" in stored


def test_only_operators_may_create(sam, oscar, roster):
    for user in (sam, oscar):
        assert post_campaign(client_for(user), roster).status_code == 403
    assert not Campaign.objects.exists()
    assert set(AuditEntry.objects.values_list("action", flat=True)) >= {"access.denied"}


def test_preview_renders_the_message_for_a_chosen_member(olivia, draft):
    preview = reverse("campaigns:preview", args=[draft.pk])
    page = client_for(olivia).get(preview, {"member": "W000007"}).content.decode()
    member = draft.roster.members.get(member_number="W000007")
    assert f"【重要】{name_of(member)} 様" in page and "会員番号 W000007" in page


def test_preview_defaults_to_first_last_and_a_random_member(olivia, draft):
    page = client_for(olivia).get(reverse("campaigns:preview", args=[draft.pk])).content.decode()
    assert "W000001" in page and "W000020" in page


def test_html_in_member_data_is_escaped_in_previews(olivia):
    roster = make_roster(olivia,
                         rows=[["1001", "<script>alert(1)</script>", "x@example.jp", "東京"]])
    campaign = make_campaign(olivia, roster, body_html="<p>{name}</p>")
    page = client_for(olivia).get(reverse("campaigns:preview", args=[campaign.pk])).content.decode()
    assert "<script>alert(1)</script>" not in page


def test_the_rate_limit_reads_as_one_sentence(olivia, roster):
    page = client_for(olivia).get(reverse("campaigns:create"),
                                  HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    control = page[page.index('id="rate-limit"'):]
    control = control[:control.index("</fieldset>")]
    assert "送信速度の上限" in control
    assert control.index('name="rate_unit"') < control.index("あたり最大") < control.index(
        'name="rate_limit"') < control.index("通")
    assert '<option value="hour">1時間</option>' in control


def test_a_limit_per_hour_is_kept_signed_and_paced(olivia, roster):
    from campaigns.terms import send_interval

    post_campaign(client_for(olivia), roster, rate_limit="120", rate_unit="hour")
    campaign = Campaign.objects.get()
    assert (campaign.rate_limit, campaign.rate_unit) == (120, "hour")
    assert campaign.send_interval() == 30.0
    assert "at most 120 per hour" in campaign.sending_terms()
    assert send_interval(rate_limit=10, rate_unit="second") == 0.1
    assert send_interval(rate_limit=None, rate_unit="hour") == 0.0


@pytest.mark.parametrize("state, expected", [
    ("draft", "Draft saved."),
    ("submitted", "Saved. The campaign is a draft again: submit it for review again."),
    ("approved", ("Saved. The campaign is a draft again, and the sign-offs given to the "
                  "earlier version no longer count: submit it for review again.")),
])
def test_saving_says_exactly_what_happened(olivia, sam, oscar, roster, state, expected):
    """A draft never submitted has no approvals to void, and must not say it has."""
    from tests.factories import SUPERVISOR_TICKS

    campaign = make_campaign(olivia, roster)
    if state != "draft":
        workflow.submit(campaign=campaign, user=olivia)
    if state == "approved":
        workflow.test_send(campaign=campaign, user=olivia, member=roster.members.first(),
                           recipients=[sam])
        workflow.approve(campaign=campaign, seen=Seen.current(campaign),
                         user=sam, checklist=SUPERVISOR_TICKS)
    client = client_for(olivia)
    data = {"name": campaign.name, "roster": roster.pk, "sender": campaign.sender,
            "subject": "新しい件名 {name} 様", "body_text": campaign.body_text, "body_html": "",
            "canary_enabled": "on", "rate_unit": "minute"}
    response = client.post(reverse("campaigns:edit", args=[campaign.pk]), data, follow=True,
                           HTTP_ACCEPT_LANGUAGE="en")
    shown = [str(m) for m in response.context["messages"]]
    assert shown == [expected]
    if state == "draft":
        assert "sign-offs" not in shown[0] and "approv" not in shown[0]


def test_saving_an_unchanged_form_says_nothing_changed(olivia, draft):
    data = {"name": draft.name, "roster": draft.roster.pk, "sender": draft.sender,
            "subject": draft.subject, "body_text": draft.body_text, "body_html": "",
            "canary_enabled": "on", "rate_unit": "minute"}
    response = client_for(olivia).post(reverse("campaigns:edit", args=[draft.pk]), data,
                                       follow=True, HTTP_ACCEPT_LANGUAGE="en")
    assert [str(m) for m in response.context["messages"]] == ["Nothing was changed."]
