"""Real previews of a few members of a roster only the association holds (issue 22, item 3):
the observer's grant, answered by the association's key tool, lets previews and test
messages show those members until a deadline; sending never uses it. The attackers: the
contractor's server asking the key tool for one member's row under another's number, an
answer handed in for another roster or member, an operator or supervisor granting, a
grant kept past its deadline."""

import base64
import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail as outbox
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from campaigns import retention, selectors, workflow
from countersign import sealing
from roster import member_data, previews, synthetic
from roster.models import Member, PreviewGrant
from roster.samples import sample_rows
from tests.factories import client_for, make_campaign, make_roster, signed_in_with_code

ROWS = sample_rows(6)
NAMES = [row[1] for row in ROWS]


@pytest.fixture
def held(oscar, association_private_key):
    return make_roster(oscar, rows=ROWS)


def _answer(roster, oscar, private, numbers, *, days=1, reason="役員（本人の同意あり）",
            **request_changes) -> bytes:
    request = {**previews.request_for(roster, numbers, days=days, reason=reason, actor=oscar),
               **request_changes}
    return json.dumps(sealing.make_preview(request, private, made="2026-12-06T00:00:00Z")).encode()


def _grant(roster, oscar, private, numbers, **options) -> list[str]:
    return previews.accept(_answer(roster, oscar, private, numbers, **options), roster=roster,
                           actor=oscar)


def _member(roster, number) -> Member:
    return Member.objects.get(roster=roster, member_number=number)


def test_a_granted_member_is_shown_in_previews_and_test_messages_until_the_deadline(
        held, olivia, sam, oscar, association_private_key):
    campaign = make_campaign(olivia, held, canary_enabled=False)
    assert all(m.sealed for m in selectors.sample_members(held))  # synthetic before
    assert _grant(held, oscar, association_private_key, ["W000002"]) == ["W000002"]

    shown, = selectors.sample_members(held)  # the granted member, with real values
    assert (shown.member_number, shown.name, shown.previewed) == ("W000002", NAMES[1], True)
    page = selectors.preview(campaign, shown)
    assert NAMES[1] in page["subject"]
    workflow.test_send(campaign=campaign, user=olivia, member=_member(held, "W000002"),
                       recipients=[sam])
    assert NAMES[1] in outbox.outbox[-1].body and synthetic.SYNTHETIC_NAME not in \
        outbox.outbox[-1].body
    assert member_data.values(_member(held, "W000003"), shown=True).sealed  # nobody else

    PreviewGrant.objects.update(not_after=timezone.now() - timedelta(seconds=1))
    assert member_data.values(_member(held, "W000002"), shown=True).sealed  # past its deadline
    retention.purge_rosters()  # the daily run wipes the seal
    grant = PreviewGrant.objects.get()
    assert bytes(grant.sealed) == b"" and grant.ended_at is not None
    ended = AuditEntry.objects.get(action="roster.preview_ended")
    assert ended.payload == {"members": ["W000002"], "outcome": "expired"}


def test_sending_never_reads_a_preview_grant(held, oscar, association_private_key):
    """The worker reads members through the claim's SQL (values_from_sql) and the guard
    through rows(): both stay sealed; only a release's window opens them for sending."""
    _grant(held, oscar, association_private_key, ["W000001"])
    member = _member(held, "W000001")
    row = {"member_id": member.pk, "member_number": member.member_number,
           "personal": member.personal, "member_roster": held.pk,
           "member_row": member.row_number, "roster_key": None, "sealed_in": member.sealed_in,
           "stored_pseudonym": member.email_pseudonym}
    assert member_data.values_from_sql(row, roster_id=held.pk).sealed
    assert all(values.sealed for values in member_data.rows(held))
    assert member_data.values(member).sealed  # reports, bounces, unsubscribe pages
    assert member_data.values(member, shown=True).previewed  # while pages show it


def test_the_key_tool_never_opens_one_members_row_under_anothers_number(
        held, oscar, association_private_key):
    """The contractor's server writes the request: it could put member 3's ciphertext under
    member 2's number, hoping the observer grants "W000002" and the tool hands over member
    3. The tool opens each row bound to the number it prints, so that row does not open."""
    other = _member(held, "W000003")
    request = previews.request_for(held, ["W000002"], days=1, reason="役員", actor=oscar)
    request["members"][0].update(ciphertext=base64.b64encode(bytes(other.personal)).decode(),
                                 row=other.row_number)
    with pytest.raises(sealing.NotSealed):
        sealing.make_preview(request, association_private_key, made="2026-12-06T00:00:00Z")


def test_an_answer_for_another_roster_member_or_deadline_is_refused(
        held, oscar, association_private_key):
    other_roster = make_roster(oscar, rows=sample_rows(3), name="別名簿")
    answer = _answer(other_roster, oscar, association_private_key, ["W000001"])
    with pytest.raises(previews.PreviewRefused):  # handed in on the wrong roster's page
        previews.accept(answer, roster=held, actor=oscar)
    swapped = json.loads(_answer(held, oscar, association_private_key, ["W000001", "W000002"]))
    seals = swapped["seals"]
    seals["W000001"], seals["W000002"] = seals["W000002"], seals["W000001"]
    with pytest.raises(previews.PreviewRefused):  # each seal is bound to its member
        previews.accept(json.dumps(swapped).encode(), roster=held, actor=oscar)
    later = json.loads(_answer(held, oscar, association_private_key, ["W000001"]))
    later["not_after"] = (timezone.now() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with pytest.raises(previews.PreviewRefused):  # the deadline is sealed in, not editable
        previews.accept(json.dumps(later).encode(), roster=held, actor=oscar)
    assert not PreviewGrant.objects.exists()


def test_a_preview_answer_with_values_that_are_not_the_members_is_refused(
        held, oscar, association_private_key):
    """Even one the association's key made (a key tool of another version, a mix-up of
    files): the address must hash to the pseudonym the roster stores for that member."""
    request = previews.request_for(held, ["W000001"], days=1, reason="役員", actor=oscar)
    forged = {"name": "偽 太郎", "email": "attacker@example.jp", "extra": {}}
    not_after = request["not_after"]
    blob = sealing.seal(json.dumps(forged).encode(), previews.public(), made="x",
                        name=sealing.preview_name(roster=held.pk, member_number="W000001",
                                                  not_after=not_after))
    tag = sealing.preview_tag(association_private_key.exchange(previews.public()), blob)
    answer = {"kind": sealing.PREVIEW, "roster": held.pk, "not_after": not_after,
              "reason": "役員", "seals": {"W000001": base64.b64encode(blob).decode()},
              "tags": {"W000001": tag.hex()}}
    with pytest.raises(previews.PreviewRefused, match="not the roster's"):
        previews.accept(json.dumps(answer).encode(), roster=held, actor=oscar)
    assert not PreviewGrant.objects.exists()


def test_the_limits_of_a_preview_request(held, oscar, olivia):
    too_many = [f"W{n:06d}" for n in range(1, settings.PREVIEW_MAX_MEMBERS + 2)]
    contractor_roster = None
    for numbers, days, reason in ((too_many, 1, "x"), (["W000001"], settings.PREVIEW_MAX_DAYS
                                                       + 1, "x"),
                                  (["W000001"], 1, " "), (["W999999"], 1, "x")):
        with pytest.raises(previews.PreviewRefused):
            previews.request_for(held, numbers, days=days, reason=reason, actor=oscar)
    from django.test import override_settings
    with override_settings(ROSTER_KEYS_WITH_ASSOCIATION=False):
        contractor_roster = make_roster(olivia, rows=sample_rows(2), name="委託先の写し")
    with pytest.raises(previews.PreviewRefused, match="Only a roster"):
        previews.request_for(contractor_roster, ["W000001"], days=1, reason="x", actor=oscar)
    from django.core.exceptions import PermissionDenied
    with pytest.raises(PermissionDenied):
        previews.request_for(held, ["W000001"], days=1, reason="x", actor=olivia)


def test_the_observer_grants_and_revokes_on_the_roster_page(held, oscar, olivia, sam,
                                                           association_private_key):
    client = signed_in_with_code(oscar)
    url = reverse("roster:preview_grant", args=[held.pk])
    download = client.post(url, {"members": "W000004、W000005", "reason": "理事（同意あり）",
                                 "days": 2})
    assert "attachment" in download["Content-Disposition"]
    request = json.loads(download.content)
    assert [m["member_number"] for m in request["members"]] == ["W000004", "W000005"]
    assert not [name for name in NAMES if name in download.content.decode()]  # ciphertext
    answer = sealing.make_preview(request, association_private_key, made="2026-12-06T00:00:00Z")
    from django.core.files.uploadedfile import SimpleUploadedFile
    response = client.post(url, {"answer": SimpleUploadedFile(
        "preview-roster.json", json.dumps(answer).encode())})
    assert response.status_code == 302
    page = client.get(held.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert NAMES[3] in page and NAMES[4] in page and NAMES[0] not in page
    granted = AuditEntry.objects.get(action="roster.preview_granted")
    assert granted.payload["members"] == ["W000004", "W000005"] and granted.actor == oscar
    assert NAMES[3] not in json.dumps(granted.payload, ensure_ascii=False)

    for person in (olivia, sam):  # the contractor sees the grant, cannot make or end one
        assert client_for(person).post(url, {"members": "W000001", "reason": "x",
                                             "days": 1}).status_code == 403
        grant = PreviewGrant.objects.filter(ended_at=None).first()
        assert client_for(person).post(reverse("roster:preview_revoke",
                                               args=[grant.pk])).status_code == 403
    client.post(reverse("roster:preview_revoke", args=[grant.pk]))
    assert member_data.values(grant.member, shown=True).sealed
    assert AuditEntry.objects.get(action="roster.preview_ended").payload["outcome"] == "revoked"


def test_the_database_and_the_settings_open_only_the_members_the_association_granted(
        held, oscar, association_private_key):
    """Root with the database and the settings opens a live grant as the pages do (the
    association's choice, for those members, for that long); every other row stays shut."""
    _grant(held, oscar, association_private_key, ["W000006"])
    opened = {v.member_number: v for v in member_data.values_of(
        Member.objects.filter(roster=held).values_list("pk", flat=True), shown=True).values()}
    assert [n for n, v in opened.items() if not v.sealed] == ["W000006"]
