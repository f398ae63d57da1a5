"""Every URL x every role (and anonymous), GET and POST, checked against one table; forged
object ids refused; CSRF enforced on every POST."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns import mail, workflow
from campaigns.models import Delivery
from campaigns.seen import Seen
from roster.models import RosterUpload
from roster.samples import csv_bytes, sample_rows
from roster.services import add_named_member
from tests.factories import (
    OBSERVER_TICKS,
    SUPERVISOR_TICKS,
    email_of,
    make_campaign,
    make_roster,
    name_of,
    values_of,
)

OP, SUP, OBS, AUD = "olivia", "sam", "oscar", "audrey"
STAFF = {OP, SUP, OBS}
EVERYONE = {OP, SUP, OBS, AUD}
LOGGED_IN = EVERYONE | {"mallory"}
PUBLIC = LOGGED_IN | {"anonymous"}

# (method, path, who gets through). Anyone else logged in gets 403, anonymous a login
# redirect. {placeholders} are filled from the world below. Literal paths, not reverse():
# the table is the site as an outsider sees it, address by address, query strings included,
# and the forged-id test below types the same addresses with ids that do not exist.
TABLE = [
    ("GET", "/", LOGGED_IN),
    ("GET", "/health/", PUBLIC),
    ("GET", "/accounts/two-step/", LOGGED_IN),
    ("POST", "/accounts/two-step/", LOGGED_IN),
    ("GET", "/accounts/two-step/verify/", LOGGED_IN),
    ("POST", "/accounts/two-step/verify/", LOGGED_IN),
    ("GET", "/rosters/", EVERYONE),
    ("GET", "/rosters/{roster}/", EVERYONE),
    ("GET", "/rosters/import/", {OP}),
    ("POST", "/rosters/import/", {OP}),
    ("GET", "/rosters/import/{upload}/", {OP}),
    ("POST", "/rosters/import/{upload}/", {OP}),
    ("GET", "/rosters/named/", {OBS}),
    ("POST", "/rosters/named/", {OBS}),
    ("POST", "/rosters/named/{named}/revoke/", {OBS}),
    ("GET", "/campaigns/", STAFF),
    ("GET", "/campaigns/new/", {OP}),
    ("POST", "/campaigns/new/", {OP}),
    ("GET", "/campaigns/witness/", {OBS}),
    ("GET", "/campaigns/{draft}/", STAFF),
    ("GET", "/campaigns/{draft}/edit/", {OP}),
    ("POST", "/campaigns/{draft}/edit/", {OP}),
    ("GET", "/campaigns/{draft}/preview/", STAFF),
    ("POST", "/campaigns/{draft}/members/", STAFF),  # a search: its query never in a URL
    ("POST", "/campaigns/{sending}/duplicate/", {OP}),
    ("GET", "/notifications/", LOGGED_IN),
    ("POST", "/campaigns/{draft}/submit/", {OP}),
    ("POST", "/campaigns/{draft}/test-send/", {OP}),
    ("POST", "/campaigns/{draft}/cancel/", {OP, SUP}),
    ("GET", "/campaigns/{submitted}/review/", {SUP}),
    ("POST", "/campaigns/{submitted}/review/", {SUP}),
    ("GET", "/campaigns/{approved}/release/", {OBS}),
    ("POST", "/campaigns/{approved}/release/", {OBS}),
    ("GET", "/campaigns/{sending}/progress/", STAFF),
    ("POST", "/campaigns/{sending}/stop/", STAFF),
    ("POST", "/campaigns/{sending}/pause/", STAFF),
    ("POST", "/campaigns/{sending}/confirm-canary/", {SUP, OBS}),
    ("GET", "/campaigns/{sending}/ledger/", STAFF),
    ("POST", "/campaigns/{sending}/deliveries/{delivery}/decide/", {SUP, OBS}),
    ("GET", "/audit/", {AUD}),
    ("GET", "/audit/export.csv", {AUD}),
    ("GET", "/audit/verify/", {AUD}),
    ("GET", "/audit/chain.py", {AUD, OBS}),
    ("POST", "/audit/verify/", {AUD}),
    ("GET", "/audit/compliance/", {AUD}),
    ("GET", "/audit/campaigns/{sending}/incident/", {AUD, OBS, SUP}),
    ("GET", "/audit/campaigns/{sending}/incident/?format=csv", {AUD, OBS, SUP}),
    ("GET", "/audit/campaigns/{sending}/incident/?format=xlsx", {AUD, OBS, SUP}),
    ("GET", "/mailbox/", STAFF),
]
# Cells that show member data (names, addresses) to those the policy lets see it
# (countersign.access): for everyone else the response body must hold none of it.
MEMBER_DATA = {  # path -> who may see member data there
    "/rosters/{roster}/": STAFF,
    "/rosters/import/{upload}/": {OP},
    "/campaigns/{draft}/": STAFF,
    "/campaigns/{draft}/preview/": STAFF,
    "/campaigns/{draft}/members/": STAFF,
    "/campaigns/{submitted}/review/": {SUP},
    "/campaigns/{approved}/release/": {OBS},
    "/campaigns/{sending}/ledger/": STAFF,
    "/audit/campaigns/{sending}/incident/": {OBS, SUP},
    "/audit/campaigns/{sending}/incident/?format=csv": {OBS, SUP},
    "/audit/campaigns/{sending}/incident/?format=xlsx": {OBS, SUP},
    "/mailbox/": STAFF,
}
FORGED = [path for method, path, _who in TABLE if "{" in path and method == "GET"]


@pytest.fixture
def world(everyone, settings, tmp_path):
    settings.MAILCATCHER_INBOX = True
    settings.MAILCATCHER_DIR = tmp_path / "caught"
    olivia, sam, oscar = everyone[OP], everyone[SUP], everyone[OBS]
    roster = make_roster(olivia)
    draft = make_campaign(olivia, roster, name="下書き")
    submitted = make_campaign(olivia, roster, name="確認待ち")
    workflow.submit(campaign=submitted, user=olivia)
    workflow.test_send(campaign=submitted, user=olivia, member=roster.members.first(),
                       recipients=[sam])
    approved = make_campaign(olivia, roster, name="承認済み")
    workflow.submit(campaign=approved, user=olivia)
    workflow.test_send(campaign=approved, user=olivia, member=roster.members.first(),
                       recipients=[sam])
    workflow.approve(campaign=approved, seen=Seen.current(approved),
                     user=sam, checklist=SUPERVISOR_TICKS)
    sending = make_campaign(olivia, roster, name="送信中")
    workflow.submit(campaign=sending, user=olivia)
    workflow.test_send(campaign=sending, user=olivia, member=roster.members.first(),
                       recipients=[sam])
    workflow.approve(campaign=sending, seen=Seen.current(sending),
                     user=sam, checklist=SUPERVISOR_TICKS)
    workflow.release(campaign=sending, seen=Seen.current(sending),
                     user=oscar, checklist=OBSERVER_TICKS)
    workflow.start(campaign_id=sending.pk)
    delivery = sending.deliveries.first()
    member = roster.members.first()  # a member's message, as the demo catcher keeps it
    settings.MAILCATCHER_DIR.mkdir()
    (settings.MAILCATCHER_DIR / "1-1.eml").write_bytes(mail.build_message(
        sender=sending.sender, subject=sending.subject, body_text=sending.body_text,
        body_html="", values=mail.member_values(values_of(member)),
        to=email_of(member)).wire_bytes())
    Delivery.objects.filter(pk=delivery.pk).update(state=Delivery.State.IN_DOUBT)
    client = Client()
    client.force_login(olivia)
    client.post(reverse("roster:upload"), {"name": "追加", "file": SimpleUploadedFile(
        "m.csv", csv_bytes(sample_rows(3)))})
    named = add_named_member(member_number="W000001", reason="会長", actor=oscar,
                             last_day=timezone.localdate())
    return {"roster": roster.pk, "draft": draft.pk, "submitted": submitted.pk,
            "approved": approved.pk, "sending": sending.pk, "delivery": delivery.pk,
            "upload": RosterUpload.objects.get().pk, "named": named.pk, "users": everyone}


def client_as(world, who, **kwargs):
    client = Client(**kwargs)
    if who != "anonymous":
        client.force_login(world["users"][who])
    return client


def request(client, method, path):
    """One request whose effects are rolled back, so every cell starts from the same world."""
    with transaction.atomic():
        response = client.post(path, {}) if method == "POST" else client.get(path)
        transaction.set_rollback(True)
    return response


@pytest.mark.parametrize("who", ["anonymous", OP, SUP, OBS, AUD, "mallory"])
def test_every_url_answers_every_role_as_the_table_says(world, who):
    client, wrong = client_as(world, who), []
    for method, template, allowed in TABLE:
        path = template.format(**world)
        response = request(client, method, path)
        status = response.status_code
        to_login = status == 302 and response.url.startswith(reverse("login"))
        if who in allowed:
            ok = status not in (403, 404, 500) and not to_login
        elif who == "anonymous":
            ok = to_login
        else:
            ok = status == 403
        if not ok:
            wrong.append((method, path, status))
    assert wrong == []
    print(f"{who}: {len(TABLE)} cells checked")


@pytest.mark.parametrize("who", [OP, SUP, OBS, AUD])
def test_forged_object_ids_are_refused(world, who):
    client, leaked = client_as(world, who), []
    for template in FORGED:
        path = template.format(**{k: 999999 for k in ("roster", "upload", "draft", "submitted",
                                                       "approved", "sending", "delivery",
                                                       "named")})
        if request(client, "GET", path).status_code not in (403, 404):
            leaked.append(path)
    assert leaked == []


@pytest.mark.parametrize("method, template, allowed", [row for row in TABLE if row[0] == "POST"])
def test_every_post_needs_its_csrf_token(world, method, template, allowed):
    who = min(allowed - {"anonymous"})
    client = client_as(world, who, enforce_csrf_checks=True)
    assert request(client, "POST", template.format(**world)).status_code == 403


def body_text(response) -> str:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    if content.startswith(b"PK"):  # an xlsx download: every cell's text
        import io

        import openpyxl

        sheet = openpyxl.load_workbook(io.BytesIO(content), read_only=True).active
        return "\n".join(str(v) for row in sheet.iter_rows(values_only=True) for v in row)
    return content.decode("utf-8", "replace")


def member_data_in(text, members) -> list[str]:
    return [value for m in members
            for value in (name_of(m), name_of(m).replace(" ", ""), email_of(m))
            if value in text]


@pytest.mark.parametrize("who", [OP, SUP, OBS, AUD, "mallory", "anonymous"])
def test_member_data_shows_only_to_the_roles_the_policy_names(world, who):
    from roster.models import Member

    members = list(Member.objects.filter(roster_id=world["roster"]))
    client, leaked, shown = client_as(world, who), [], []
    for method, template, allowed in TABLE:
        if method != "GET" and template not in MEMBER_DATA:
            continue
        path = template.format(**world)
        response = request(client, method, path)
        found = member_data_in(body_text(response), members)
        if found and who not in MEMBER_DATA.get(template, set()):
            leaked.append((path, found[:2]))
        if who in MEMBER_DATA.get(template, set()) and response.status_code == 200:
            shown.append(path)
    assert leaked == []
    print(f"{who}: {len(TABLE)} cells checked for member data; shown where allowed: "
          f"{len(shown)}")


def test_the_audit_log_and_its_export_carry_no_member_data_after_a_whole_campaign(world):
    from audit.models import AuditEntry
    from roster.models import Member

    members = list(Member.objects.all())
    payloads = "\n".join(str(e.payload) for e in AuditEntry.objects.all())
    assert member_data_in(payloads, members) == []
    export = client_as(world, AUD).get(reverse("audit:export"))
    assert member_data_in(body_text(export), members) == []
