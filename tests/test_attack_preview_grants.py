"""Attacks on preview grants (roster/previews.py, countersign/sealing.make_preview, the key
tool). Each test states the promise it checks; a failing test is a finding."""

import base64
import json
from datetime import timedelta
from unittest import mock

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from countersign import keytool, sealing
from roster import member_data, previews, services
from roster.models import Member, PreviewGrant
from roster.samples import sample_rows
from tests.factories import client_for, make_roster, signed_in_with_code

ROWS = sample_rows(8)


@pytest.fixture
def held(oscar, association_private_key):
    return make_roster(oscar, rows=ROWS)


def _answer(roster, oscar, private, numbers, *, days=1, reason="役員") -> dict:
    request = previews.request_for(roster, numbers, days=days, reason=reason, actor=oscar)
    return sealing.make_preview(request, private, made="2026-12-06T00:00:00Z")


def _grant(roster, oscar, private, numbers, **options):
    return previews.accept(json.dumps(_answer(roster, oscar, private, numbers, **options))
                           .encode(), roster=roster, actor=oscar)


def _member(roster, number) -> Member:
    return Member.objects.get(roster=roster, member_number=number)


# --- the deadline and the binding are checked on the way in only ----------------------------

def test_a_deadline_moved_in_the_database_does_not_keep_the_member_shown(
        held, oscar, association_private_key):
    """The deadline is sealed into each seal's name ("not editable", says the suite), but
    live() trusts the not_after column: whoever can write the database (not holding the
    settings) keeps a member shown to the contractor's pages past the association's deadline;
    the daily run (forget_expired) reads the same column and never ends it."""
    _grant(held, oscar, association_private_key, ["W000002"], days=1)
    PreviewGrant.objects.update(not_after=timezone.now() + timedelta(days=300))
    later = timezone.now() + timedelta(days=2)  # past the sealed deadline
    with mock.patch("django.utils.timezone.now", return_value=later):
        previews.forget_expired(later)
        shown = member_data.values(_member(held, "W000002"), shown=True)
    assert shown.sealed and not shown.previewed


def test_a_grant_moved_in_the_database_to_another_roster_does_not_show_there(
        oscar, association_private_key):
    """The seal is bound to roster A; moved (member_id/roster_id) to the same person's row
    in roster B, which the association never granted, it shows there."""
    a = make_roster(oscar, rows=ROWS, name="名簿A")
    b = make_roster(oscar, rows=ROWS, name="名簿B")
    _grant(a, oscar, association_private_key, ["W000003"])
    target = _member(b, "W000003")
    PreviewGrant.objects.update(member=target, roster=b)
    assert member_data.values(target, shown=True).sealed


# --- who can forge a grant ---------------------------------------------------------------------

def test_an_observer_without_the_key_cannot_grant_made_up_values(held, oscar):
    """Only the address is checked against the roster: anyone can seal to the preview key
    (its public half is in every request), so an observer account (no key tool, no
    association key) who knows one member's address makes the pages, previews, test
    messages and the guard's sample show a name and columns of its choosing as that member's
    "real values, shown by the association's grant"."""
    request = previews.request_for(held, ["W000001"], days=1, reason="役員", actor=oscar)
    forged = {"name": "偽 太郎", "email": ROWS[0][2],
              "extra": {"url": "https://evil.example/x"}}
    blob = sealing.seal(json.dumps(forged).encode(), previews.public(), made="x",
                        name=sealing.preview_name(roster=held.pk, member_number="W000001",
                                                  not_after=request["not_after"]))
    answer = {"kind": sealing.PREVIEW, "roster": held.pk, "not_after": request["not_after"],
              "reason": "役員", "seals": {"W000001": base64.b64encode(blob).decode()}}
    with pytest.raises(previews.PreviewRefused):
        previews.accept(json.dumps(answer).encode(), roster=held, actor=oscar)


# --- revocation ----------------------------------------------------------------------------

def test_a_revoked_answer_handed_in_again_does_not_grant_again(
        held, oscar, orla, association_private_key):
    """After a revoke, the same answer file (a bearer token until its sealed deadline)
    re-grants the member without the key tool, e.g. by another observer."""
    data = json.dumps(_answer(held, oscar, association_private_key, ["W000004"])).encode()
    previews.accept(data, roster=held, actor=oscar)
    previews.revoke(PreviewGrant.objects.get(), actor=oscar)
    try:
        previews.accept(data, roster=held, actor=orla)
    except previews.PreviewRefused:
        pass
    assert member_data.values(_member(held, "W000004"), shown=True).sealed


# --- malformed answers: refused, never a server error -------------------------------------

def _valid(held, oscar, private) -> dict:
    return _answer(held, oscar, private, ["W000001"])


@pytest.mark.parametrize("mutate", [
    pytest.param(lambda a: {**a, "seals": [1, 2]}, id="seals-a-list"),
    pytest.param(lambda a: {**a, "seals": "abc"}, id="seals-a-string"),
    pytest.param(lambda a: {**a, "seals": {"W000001": base64.b64encode(b"x" * 64).decode()}},
                 id="seal-garbage"),
    pytest.param(lambda a: {**a, "seals": {"W000001": base64.b64encode(
        b"countersign-sealed-1\n{}\n").decode()}}, id="seal-bad-header"),
    pytest.param(lambda a: "[" * 200_000, id="json-nesting-bomb"),
])
def test_a_malformed_answer_is_refused_cleanly(held, oscar, association_private_key, mutate):
    answer = mutate(_valid(held, oscar, association_private_key))
    data = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
    with pytest.raises(previews.PreviewRefused):
        previews.accept(data, roster=held, actor=oscar)


@pytest.mark.parametrize("personal", [[1, 2], "text", {"email": ["a"]}])
def test_a_sealed_row_that_is_not_an_object_is_refused_cleanly(held, oscar, personal):
    request = previews.request_for(held, ["W000001"], days=1, reason="役員", actor=oscar)
    blob = sealing.seal(json.dumps(personal).encode(), previews.public(), made="x",
                        name=sealing.preview_name(roster=held.pk, member_number="W000001",
                                                  not_after=request["not_after"]))
    answer = {"kind": sealing.PREVIEW, "roster": held.pk, "not_after": request["not_after"],
              "reason": "x", "seals": {"W000001": base64.b64encode(blob).decode()}}
    with pytest.raises(previews.PreviewRefused):
        previews.accept(json.dumps(answer).encode(), roster=held, actor=oscar)


def test_the_answer_page_never_fails_with_a_server_error(held, oscar):
    client = signed_in_with_code(oscar)
    client.raise_request_exception = False
    url = reverse("roster:preview_grant", args=[held.pk])
    for body in (b"[" * 200_000, json.dumps({"kind": sealing.PREVIEW, "roster": held.pk,
                                             "not_after": "2099-01-01T00:00:00Z",
                                             "reason": "x", "seals": [1]}).encode()):
        response = client.post(url, {"answer": SimpleUploadedFile("a.json", body)})
        assert response.status_code == 302, response.status_code


# --- the key tool: the association's last line against a server that writes the request ----

def _run_key_tool(request, private, tmp_path):
    key_file = tmp_path / "association.key"
    key_file.write_bytes(sealing.private_pem(private, None))
    request_file = tmp_path / "preview-request.json"
    request_file.write_text(json.dumps(request), encoding="utf-8")
    out = tmp_path / "answer.json"
    try:
        keytool.main(["preview", str(key_file), str(request_file), "--out", str(out)])
    except SystemExit:
        pass
    return json.loads(out.read_text()) if out.exists() else None


def _whole_roster_request(held, oscar):
    request = previews.request_for(held, ["W000001"], days=1, reason="役員", actor=oscar)
    request["members"] = [{"member_number": m.member_number, "row": m.row_number,
                           "sealed_in": m.sealed_in,
                           "ciphertext": base64.b64encode(bytes(m.personal)).decode()}
                          for m in Member.objects.filter(roster=held).order_by("row_number")]
    request["not_after"] = "2099-01-01T00:00:00Z"
    return request


def test_the_key_tool_refuses_a_request_for_more_members_or_longer_than_a_preview_may(
        held, oscar, association_private_key, tmp_path, capsys):
    """A server that writes its own request (the threat the member binding is for) asks for
    every member, until 2099. The tool caps neither and asks no confirmation; the answer,
    handed in on the server's page, carries every row sealed to a key the server derives
    from MEMBER_DATA_KEY (accept() refusing it afterwards comes too late)."""
    answer = _run_key_tool(_whole_roster_request(held, oscar), association_private_key,
                           tmp_path)
    assert answer is None or (len(answer["seals"]) <= settings.PREVIEW_MAX_MEMBERS
                              and answer["not_after"] < "2090")


def test_the_key_tool_prints_no_terminal_escapes_from_the_request(
        held, oscar, association_private_key, tmp_path, capsys):
    """What the tool prints is its safeguard ("the member numbers it prints"); the request's
    roster name and reason are printed raw, so escapes can erase the lines listing 8
    members and print "1 member(s): W000001" instead."""
    request = _whole_roster_request(held, oscar)
    request["reason"] = ("役員" + "\x1b[1A\x1b[2K" * 3 + "\rRoster 1: the real values of 1 "
                         "member(s) ...\n  W000001\n  because: 役員")
    _run_key_tool(request, association_private_key, tmp_path)
    assert "\x1b" not in capsys.readouterr().out


# --- what held (expected to pass) ---------------------------------------------------------

@pytest.mark.parametrize("who", ["olivia", "sam", "audrey", "adam", "mallory"])
def test_nobody_but_an_observer_asks_hands_in_or_revokes(held, oscar, association_private_key,
                                                         who, request):
    person = request.getfixturevalue(who)
    _grant(held, oscar, association_private_key, ["W000001"])
    grant = PreviewGrant.objects.get()
    client = client_for(person)
    url = reverse("roster:preview_grant", args=[held.pk])
    assert client.post(url, {"members": "W000002", "reason": "x", "days": 1}).status_code in (
        302, 403)
    assert "W000002" not in client.post(url, {"members": "W000002", "reason": "x",
                                              "days": 1}).content.decode()
    answer = json.dumps(_answer(held, oscar, association_private_key, ["W000003"])).encode()
    client.post(url, {"answer": SimpleUploadedFile("a.json", answer)})
    client.post(reverse("roster:preview_revoke", args=[grant.pk]))
    assert list(PreviewGrant.objects.filter(ended_at=None).values_list(
        "member__member_number", flat=True)) == ["W000001"]
    for path in ("/admin/roster/previewgrant/", "/admin/roster/member/",
                 "/admin/roster/roster/add/"):
        assert client.get(path).status_code in (302, 403, 404)


def test_a_forged_cross_site_post_is_refused(held, oscar, association_private_key):
    _grant(held, oscar, association_private_key, ["W000001"])
    client = Client(enforce_csrf_checks=True)
    client.force_login(oscar)
    grant = PreviewGrant.objects.get()
    client.post(reverse("roster:preview_revoke", args=[grant.pk]))
    client.post(reverse("roster:preview_grant", args=[held.pk]),
                {"members": "W000002", "reason": "x", "days": 1})
    assert PreviewGrant.objects.filter(ended_at=None).count() == 1


def test_only_the_granted_member_and_roster_show(oscar, association_private_key):
    whole = make_roster(oscar, rows=ROWS, name="全体")
    other = make_roster(oscar, rows=ROWS, name="同じ番号の別名簿")
    part = services.roster_subset(roster=whole, member_ids=list(
        Member.objects.filter(roster=whole).values_list("pk", flat=True)[:4]),
        name="一部", reason="x", actor=oscar)
    _grant(whole, oscar, association_private_key, ["W000002"])
    assert member_data.values(_member(whole, "W000002"), shown=True).previewed
    for roster in (other, part):
        assert member_data.values(_member(roster, "W000002"), shown=True).sealed
    assert member_data.values(_member(whole, "W000003"), shown=True).sealed
    # the worker's SQL read and the guard's rows stay sealed
    assert all(v.sealed for v in member_data.rows(whole))


def test_the_audit_payload_and_the_request_carry_no_values(held, oscar,
                                                           association_private_key):
    _grant(held, oscar, association_private_key, ["W000005"])
    entry = AuditEntry.objects.get(action="roster.preview_granted")
    text = json.dumps(entry.payload, ensure_ascii=False)
    assert ROWS[4][1] not in text and ROWS[4][2] not in text


def test_a_part_of_a_held_roster_can_be_previewed(oscar, association_private_key):
    """Functional: a part (roster_subset) shares the whole's seals, named for the whole, so
    make_preview refuses its request ("the request's data key is another roster's")."""
    whole = make_roster(oscar, rows=ROWS, name="全体")
    part = services.roster_subset(roster=whole, member_ids=list(
        Member.objects.filter(roster=whole).values_list("pk", flat=True)[:3]),
        name="一部", reason="x", actor=oscar)
    assert _grant(part, oscar, association_private_key, ["W000001"]) == ["W000001"]
