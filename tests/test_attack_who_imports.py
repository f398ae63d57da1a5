"""Attacks on who imports (roster/services.py importer_role/require_importer, the upload
views, the CLI) once the association holds the keys."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from campaigns import composing
from campaigns.models import Delivery
from countersign import sealing
from countersign.models import Organisation
from countersign.roles import Role
from roster import member_data, previews, services
from roster.models import Member, Roster, RosterUpload
from roster.samples import csv_bytes, sample_rows
from tests.factories import client_for, make_campaign, make_roster, make_user, signed_in_with_code

ROWS = sample_rows(5)


def _upload(client):
    return client.post(reverse("roster:upload"), {"name": "名簿", "file": SimpleUploadedFile(
        "members.csv", csv_bytes(ROWS))}, HTTP_ACCEPT_LANGUAGE="en")


def test_the_observers_waiting_upload_does_not_open_with_the_servers_settings(
        oscar, association_private_key):
    """The observer imports so that "the contractor never receives the member file"; but the
    checked upload waiting for confirmation is wrapped under MEMBER_DATA_KEY (data_keys.UPLOAD),
    so the database plus the settings open the whole roster until it is confirmed, cancelled,
    or swept (next upload or the daily run: an abandoned upload stays up to a day)."""
    response = _upload(signed_in_with_code(oscar))
    assert response.status_code == 302
    upload = RosterUpload.objects.get()
    opened = json.dumps(member_data.held_upload(upload), ensure_ascii=False)
    assert not [row for row in ROWS if row[2] in opened]


def test_roster_import_without_an_actor_is_refused_whatever_the_system_label(
        association_private_key):
    """require_importer refuses actor=None only when system == "cli": any other label (or
    none) imports a held roster from the contractor's server."""
    parsed = services.check_roster_file(csv_bytes(ROWS), "m.csv")
    for system in ("demo", "shell"):
        with pytest.raises(services.NotTheImporter):
            services.roster_import(parsed=parsed, name="名簿", system=system)
    assert not Roster.objects.exists()


def test_evidence_of_a_held_members_message_never_reads_a_preview_grant(
        oscar, olivia, association_private_key):
    """Outside pages/previews/test messages the door serves grants too: the incident
    report's evidence hash (composing.evidence_of), bounce-pause domains, unsubscribe page."""
    held = make_roster(oscar, rows=ROWS)
    request = previews.request_for(held, ["W000001"], days=1, reason="役員", actor=oscar)
    previews.accept(json.dumps(sealing.make_preview(request, association_private_key,
                                                    made="x")).encode(),
                    roster=held, actor=oscar)
    campaign = make_campaign(olivia, held, canary_enabled=False)
    member = Member.objects.get(roster=held, member_number="W000001")
    delivery = Delivery.objects.create(campaign=campaign, member=member,
                                       member_number="W000001",
                                       address_pseudonym=member.email_pseudonym,
                                       state=Delivery.State.SENT, attempts=1,
                                       claimed_at=timezone.now())
    assert composing.evidence_of(delivery, campaign)[1] == ""


# --- what held (expected to pass) ---------------------------------------------------------

def test_a_contractor_in_the_observer_group_does_not_import(association_private_key):
    from django.contrib.auth.models import Group
    from django.core.exceptions import ValidationError
    person = make_user("eve", Organisation.CONTRACTOR, Role.OPERATOR)
    try:  # the group is refused to a contractor account; had it been kept, no role
        from django.db import transaction
        with transaction.atomic():
            person.groups.add(Group.objects.get(name=Role.OBSERVER))
    except ValidationError:
        pass
    person = type(person).objects.get(pk=person.pk)
    assert not services.may_import(person)
    assert _upload(client_for(person)).status_code == 403
    assert not RosterUpload.objects.exists()


def test_the_cli_and_its_dry_run_read_nothing(association_private_key, tmp_path):
    missing = tmp_path / "never-read.csv"  # refused before the file is touched
    for extra in ((), ("--dry-run",)):
        with pytest.raises(CommandError, match="does not belong"):
            call_command("import_roster", str(missing), "--name", "x", *extra)


def test_another_observers_upload_is_not_theirs(oscar, orla, association_private_key):
    response = _upload(signed_in_with_code(oscar))
    other = signed_in_with_code(orla)
    assert other.get(response.url).status_code == 404
    assert other.post(response.url, {"confirm": ""}).status_code == 404
    assert not Roster.objects.exists()


def test_no_roster_member_or_grant_in_the_admin(adam):
    client = client_for(adam)
    for path in ("/admin/roster/roster/add/", "/admin/roster/member/add/",
                 "/admin/roster/previewgrant/", "/admin/roster/rosterupload/"):
        assert client.get(path).status_code == 404
