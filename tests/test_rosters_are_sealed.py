"""Rosters are stored sealed (issue 22, item 2): every member's values are one AES-256-GCM
ciphertext under a data key of the roster's own, bound to roster, row and member number;
the data key is kept wrapped under the installation's MEMBER_DATA_KEY (never in the
database) and sealed to the association's key. The attacker here is the database's
administrator (or whoever holds a dump): they can read, copy, swap and paste stored bytes,
but hold no key."""

import base64
import json

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.checks import run_checks
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test import override_settings

import audit
from audit.models import AuditEntry
from campaigns import retention, workflow
from campaigns.models import Delivery, State
from countersign import association_key, sealing
from countersign.models import AssociationKey
from countersign.pseudonyms import pseudonym
from roster import data_keys, member_data
from roster.models import Member, Roster, RosterUpload
from roster.samples import csv_bytes, sample_rows
from roster.services import roster_subset, roster_upload_check
from tests.factories import (
    database_dump,
    make_campaign,
    make_roster,
    people_of,
    released_campaign,
    run_until_done,
    swap_stored_values,
    with_device,
)


def _register_key(observer):
    """The association's key, registered by its observer (the service, as the page calls it)."""
    with_device(observer)
    private = sealing.new_private_key()
    association_key.register(user=observer, pem=sealing.public_pem(private.public_key()))
    return private


def _first_two(roster):
    return list(roster.members.order_by("row_number")[:2])


# --- what a dump holds --------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_a_database_dump_holds_no_name_or_address_of_a_roster_or_an_upload(olivia):
    roster = make_roster(olivia)
    roster_upload_check(data=csv_bytes(sample_rows(5)), filename="next.csv", name="next",
                        actor=olivia)  # a checked upload waiting for confirmation
    people = people_of(roster)
    dump = database_dump()
    assert len(people) == 20 and RosterUpload.objects.count() == 1
    assert [text for email, name in people for text in (email, name, email.upper())
            if text in dump] == []
    assert member_data.values(roster.members.first()).email == people[0][0]  # the door opens


def test_each_roster_has_a_data_key_of_its_own_kept_only_wrapped(olivia, settings):
    first, second = make_roster(olivia), make_roster(olivia, name="二つ目")
    assert first.data_key and second.data_key and bytes(first.data_key) != bytes(second.data_key)
    settings.MEMBER_DATA_KEY = "another installation's key"
    assert member_data.values(first.members.first()).unreadable  # the key does not open here


# --- the administrator's moves ------------------------------------------------------------------

def test_two_members_values_swapped_in_the_database_open_for_neither(olivia):
    roster = make_roster(olivia)
    one, two = _first_two(roster)
    before = member_data.values(one)
    swap_stored_values(one, two)
    assert member_data.values(one).unreadable and member_data.values(two).unreadable
    assert before.email not in [v.email for v in member_data.values_of([one.pk, two.pk]).values()]


def test_a_row_pasted_from_another_roster_does_not_open(olivia):
    source, target = make_roster(olivia), make_roster(olivia, name="別名簿")
    pasted = Member.objects.filter(roster=source, member_number="W000001").values_list(
        "personal", flat=True).get()
    victim = target.members.get(member_number="W000001")  # same number, same row
    Member.objects.filter(pk=victim.pk).update(personal=bytes(pasted))
    assert member_data.values(victim).unreadable


def test_a_wrapped_data_key_moved_to_another_roster_does_not_open_its_rows(olivia):
    source, target = make_roster(olivia), make_roster(olivia, name="別名簿")
    Roster.objects.filter(pk=target.pk).update(data_key=bytes(source.data_key))
    assert member_data.values(target.members.first()).unreadable


def test_a_swapped_row_is_refused_at_submit_with_what_to_do(olivia):
    roster = make_roster(olivia)
    campaign = make_campaign(olivia, roster)
    swap_stored_values(*_first_two(roster))
    with pytest.raises(workflow.ContentRefused) as refused:
        workflow.submit(campaign=campaign, user=olivia)
    assert "does not open" in str(refused.value) and "W000001" in str(refused.value)
    campaign.refresh_from_db()
    assert campaign.state == State.DRAFT


@pytest.mark.django_db(transaction=True)
def test_a_swap_before_the_start_voids_the_release(olivia, sam, oscar):
    roster = make_roster(olivia)
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    swap_stored_values(*_first_two(roster))
    run_until_done(campaign)
    assert campaign.state == State.DRAFT and not campaign.deliveries.exists()
    assert AuditEntry.objects.filter(action="campaign.start_refused").exists()


@pytest.mark.django_db(transaction=True)
def test_a_row_swapped_while_sending_is_not_sent_and_the_campaign_pauses(
        olivia, sam, oscar, sink):
    roster = make_roster(olivia)
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    workflow.start(campaign_id=campaign.pk)  # the ledger is made; nothing sent yet
    sink.handler.received.clear()  # the test message
    swap_stored_values(*_first_two(roster))
    run_until_done(campaign)
    assert campaign.state == State.PAUSED and "does not open" in campaign.paused_reason
    assert sink.handler.received == []
    refused = Delivery.objects.get(campaign=campaign, state=Delivery.State.REFUSED)
    assert refused.member_number == "W000001" and refused.findings[0]["kind"] == "unreadable"
    assert AuditEntry.objects.filter(action="campaign.message_refused").exists()


def test_a_swap_after_the_sign_offs_changes_the_content_hash(olivia):
    roster = make_roster(olivia)
    before = member_data.recipients_digest(roster)
    swap_stored_values(*_first_two(roster))
    assert member_data.recipients_digest(roster) != before


# --- the purge shreds ---------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_the_purge_destroys_the_data_key_so_a_copy_of_the_rows_opens_with_nothing_held(
        olivia, settings):
    roster = make_roster(olivia)
    copied = list(Member.objects.filter(roster=roster).values_list(
        "pk", "member_number", "personal", "roster_id", "row_number",
        "sealed_in", "email_pseudonym"))  # a copy kept aside
    settings.ROSTER_RETENTION_DAYS = 0
    (certificate,) = retention.purge_rosters()
    roster.refresh_from_db()
    assert roster.data_key is None and roster.data_key_seals == {}
    assert certificate.document["counts"]["data_keys"] == 1
    opened = [member_data._values(*row[:5], roster.data_key, *row[5:]) for row in copied]
    assert opened and not any(v.email or v.name for v in opened)


def test_a_part_of_a_roster_shares_its_ciphertext_and_outlives_the_purge_of_the_whole(olivia):
    roster = make_roster(olivia)
    ids = list(roster.members.order_by("row_number").values_list("pk", flat=True)[:3])
    part = roster_subset(roster=roster, member_ids=ids, name="残り", reason="test", actor=olivia)
    assert bytes(part.data_key) != bytes(roster.data_key)  # its own copy of the same key
    stored = dict(Member.objects.filter(pk__in=ids).values_list("member_number", "personal"))
    assert {m.member_number: bytes(m.personal) for m in part.members.all()} == {
        number: bytes(sealed) for number, sealed in stored.items()}  # not opened, not changed
    first_three = [email for email, _name in people_of(roster)[:3]]
    data_keys.shred([roster.pk])
    assert not any(v.email for v in member_data.rows(roster))
    assert [v.email for v in member_data.rows(part)] == first_three


def test_a_row_moved_into_a_part_of_another_roster_does_not_open(olivia):
    roster, other = make_roster(olivia), make_roster(olivia, name="別名簿")
    ids = list(roster.members.order_by("row_number").values_list("pk", flat=True)[:2])
    part = roster_subset(roster=roster, member_ids=ids, name="残り", reason="test", actor=olivia)
    foreign = other.members.get(member_number="W000001")
    Member.objects.filter(roster=part, member_number="W000001").update(
        personal=bytes(foreign.personal), sealed_in=other.pk)
    assert member_data.values(part.members.get(member_number="W000001")).unreadable


# --- the association's copy ---------------------------------------------------------------------

def _opened_with(private, roster) -> AESGCM:
    (fingerprint, sealed), = roster.data_key_seals.items()
    assert fingerprint == sealing.fingerprint(private.public_key())
    _header, data_key = sealing.open_sealed(base64.b64decode(sealed), private)
    return AESGCM(data_key)


def test_the_association_opens_its_roster_with_its_own_key_alone(olivia, orla):
    private = _register_key(orla)
    roster = make_roster(orla)
    key = _opened_with(private, roster)
    member = Member.objects.filter(roster=roster).order_by("row_number").first()
    opened = json.loads(sealing.open_row(key, bytes(member.personal), member_data.bound_member(
        roster.pk, member.row_number, member.member_number)))
    assert opened["email"] == sample_rows(1)[0][2]


def test_a_new_association_key_seals_every_live_roster_to_it_and_to_it_only(olivia, orla):
    roster = make_roster(olivia)
    assert roster.data_key_seals == {}  # no key registered yet
    first = _register_key(orla)
    roster.refresh_from_db()
    _opened_with(first, roster)
    second = _register_key(orla)
    roster.refresh_from_db()
    _opened_with(second, roster)  # one seal, to the new key
    with pytest.raises(sealing.NotSealed):
        sealing.open_sealed(base64.b64decode(next(iter(roster.data_key_seals.values()))), first)


def test_no_data_key_is_sealed_to_a_key_the_audit_log_does_not_vouch_for(olivia, orla):
    _register_key(orla)
    swapped = sealing.new_private_key()  # the administrator's own key, put in the row
    AssociationKey.objects.filter(current=True).update(
        public_key=sealing.raw_public(swapped.public_key()))
    with pytest.raises(association_key.KeyNotAsRegistered):  # neither sealed to it nor kept
        make_roster(orla)
    assert not Roster.objects.exists()
    settings_off = {"ROSTER_KEYS_WITH_ASSOCIATION": False}
    with override_settings(**settings_off):  # where the contractor keeps its copy anyway
        roster = make_roster(olivia)
    assert roster.data_key_seals == {} and roster.data_key


def test_the_deploy_check_warns_while_the_member_data_key_is_derived(settings):
    settings.MEMBER_DATA_KEY = data_keys.hashlib.sha256(
        f"countersign-member-data:{settings.SECRET_KEY}".encode()).hexdigest()
    assert "roster.W001" in [m.id for m in run_checks(include_deployment_checks=True)]
    settings.MEMBER_DATA_KEY = "a key of its own"
    assert "roster.W001" not in [m.id for m in run_checks(include_deployment_checks=True)]


# --- an installation that had plaintext rosters -------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_the_upgrade_encrypts_the_rows_of_a_roster_imported_before():
    before, after = [("roster", "0009_member_carrier")], [("roster", "0010_sealed_member_data")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    roster = old.get_model("roster", "Roster").objects.create(
        name="旧名簿", source_filename="old.csv", file_sha256="0" * 64, file_format="csv",
        member_count=1)
    old.get_model("roster", "Member").objects.create(
        roster=roster, row_number=2, member_number="W000001",
        email_pseudonym=pseudonym("hanako@example.jp"),
        personal={"name": "鈴木 花子", "email": "hanako@example.jp", "extra": {"支部": "東京"}})
    executor = MigrationExecutor(connection)
    executor.migrate(after)
    executor = MigrationExecutor(connection)  # the code below reads today's tables
    executor.migrate(executor.loader.graph.leaf_nodes())
    member = Member.objects.get(member_number="W000001")
    assert b"hanako" not in bytes(member.personal)
    values = member_data.values(member)
    assert (values.name, values.email, values.extra) == ("鈴木 花子", "hanako@example.jp",
                                                         {"支部": "東京"})


# --- the administrator's forgeries (found by a reviewer who attacked this) --------------------

def test_a_registration_forged_in_the_database_gets_no_roster_sealed_to_it(olivia, orla):
    """The audit chain is plain SHA-256, which whoever writes to the database can extend; the
    attestation needs the installation's key, which the database does not hold."""
    _register_key(orla)
    forged = sealing.new_private_key()
    AssociationKey.objects.update(current=False)
    key = AssociationKey.objects.create(
        public_key=sealing.raw_public(forged.public_key()),
        fingerprint=sealing.fingerprint(forged.public_key()), registered_by=orla)
    with transaction.atomic():  # a correctly hashed entry, in a real observer's name
        audit.record("association_key.registered", actor=orla, role="observer", target=key,
                     payload={"fingerprint": key.fingerprint, "retired_key": ""})
    assert association_key.problem()[0] == "unattested"
    with pytest.raises(association_key.KeyNotAsRegistered):  # sealed to nobody, not imported
        make_roster(orla)


def test_a_delivery_pointed_at_another_rosters_member_is_not_sent(olivia, sam, oscar, sink):
    roster, other = make_roster(olivia), make_roster(olivia, name="別名簿")
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    workflow.start(campaign_id=campaign.pk)
    stranger = other.members.get(member_number="W000001")
    Delivery.objects.filter(campaign=campaign, member_number="W000001").update(
        member_id=stranger.pk)
    sink.handler.received.clear()
    run_until_done(campaign)
    assert campaign.state == State.PAUSED and sink.handler.received == []


def test_a_member_whose_pseudonym_was_changed_does_not_open(olivia):
    """Swapping the rows with their numbers but not their pseudonyms would mail a suppressed
    member while the suppression list looks untouched; a changed pseudonym would let a row
    survive an erasure request."""
    roster = make_roster(olivia)
    one, two = _first_two(roster)
    stored = dict(Member.objects.filter(pk__in=[one.pk, two.pk]).values_list(
        "pk", "email_pseudonym"))
    Member.objects.filter(pk=one.pk).update(email_pseudonym="0" * 64)
    assert member_data.values(one).unreadable and not member_data.values(two).unreadable
    Member.objects.filter(pk=two.pk).update(email_pseudonym=stored[one.pk])
    Member.objects.filter(pk=one.pk).update(email_pseudonym=stored[two.pk])  # swapped
    assert member_data.values(one).unreadable and member_data.values(two).unreadable


def test_a_row_that_does_not_open_is_found_by_its_number_and_flagged(olivia, otto):
    roster = make_roster(olivia)
    swap_stored_values(*_first_two(roster))
    page = member_data.page_of(roster, user=olivia, q="W000001")
    assert [row.member_number for row in page.object_list] == ["W000001"]
    assert page.object_list[0].unreadable
