"""Who imports a roster (issue 22, item 2): once the association holds the keys of new
rosters, its observer imports the member file itself and the contractor never receives it;
before, the contractor's operator imports what it was given. Every other person, however
privileged, is told who imports, and nothing is read or kept."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from audit.models import AuditEntry
from countersign import association_key, sealing
from countersign.models import Organisation
from countersign.roles import Role
from roster import data_keys, member_data, services
from roster.models import Roster, RosterUpload
from roster.samples import csv_bytes, sample_rows
from tests.factories import client_for, make_roster, make_user, signed_in_with_code, with_device

OBSERVER_IMPORTS = "its observer imports the member file"
OPERATOR_IMPORTS = "until the association registers its key"


def _upload(client, name="会員名簿 2026"):
    return client.post(reverse("roster:upload"), {"name": name, "file": SimpleUploadedFile(
        "members.csv", csv_bytes(sample_rows(5)))}, HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture
def association_holds_the_keys(association_private_key):
    assert services.importer_role() == Role.OBSERVER


def test_once_the_association_holds_the_keys_its_observer_imports_the_file(
        association_holds_the_keys, oscar):
    client = signed_in_with_code(oscar)
    page = client.get(reverse("roster:upload"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'id="held-import"' in page  # told the roster is sealed to the association's key
    response = _upload(client)
    assert response.status_code == 302
    client.post(response.url, {"confirm": ""})
    roster = Roster.objects.get()
    assert roster.imported_by == oscar and data_keys.with_association(roster)
    imported = AuditEntry.objects.get(action="roster.imported")
    assert (imported.actor, imported.role) == (oscar, "observer")


def test_once_the_association_holds_the_keys_the_operator_is_told_and_nothing_is_kept(
        association_holds_the_keys, olivia):
    client = client_for(olivia)
    page = client.get(reverse("roster:upload"), HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 403 and OBSERVER_IMPORTS in page.content.decode()
    response = _upload(client)
    assert response.status_code == 403 and OBSERVER_IMPORTS in response.content.decode()
    assert not RosterUpload.objects.exists() and not Roster.objects.exists()
    denied = AuditEntry.objects.get(action="access.denied")
    assert denied.actor == olivia and denied.payload["required_roles"] == ["observer"]
    with pytest.raises(services.NotTheImporter):  # the rule is the service's, not the page's
        make_roster(olivia)
    assert not Roster.objects.exists()


def test_an_operators_upload_waiting_when_the_association_registers_its_key_is_not_stored(
        olivia, oscar):
    client = client_for(olivia)
    response = _upload(client)
    assert response.status_code == 302  # checked while the contractor may still hold rosters
    with_device(oscar)
    association_key.register(user=oscar, pem=sealing.public_pem(
        sealing.new_private_key().public_key()))
    confirmed = client.post(response.url, {"confirm": ""}, HTTP_ACCEPT_LANGUAGE="en")
    assert confirmed.status_code == 403 and OBSERVER_IMPORTS in confirmed.content.decode()
    assert not Roster.objects.exists()
    upload = RosterUpload.objects.get()
    with pytest.raises(services.NotTheImporter):
        services.roster_upload_confirm(upload=upload, actor=olivia)
    assert not Roster.objects.exists()


def test_before_the_association_registers_a_key_the_operator_imports_and_the_observer_is_told(
        olivia, oscar):
    assert services.importer_role() == Role.OPERATOR
    page = client_for(oscar).get(reverse("roster:upload"), HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 403 and OPERATOR_IMPORTS in page.content.decode()
    assert _upload(client_for(olivia)).status_code == 302


@pytest.mark.parametrize("organisation, role", [
    (Organisation.CONTRACTOR, Role.SUPERVISOR), (Organisation.ASSOCIATION, Role.AUDITOR),
    (Organisation.CONTRACTOR, None)])
def test_no_other_person_imports_not_even_a_superuser(association_holds_the_keys,
                                                      organisation, role):
    roles = (role,) if role else ()
    person = make_user("root", organisation, *roles, is_superuser=True, is_staff=True)
    assert _upload(client_for(person)).status_code == 403
    assert not RosterUpload.objects.exists()


def test_the_servers_command_line_imports_nothing_once_the_association_holds_the_keys(
        association_holds_the_keys, tmp_path):
    file = tmp_path / "members.csv"
    file.write_bytes(csv_bytes(sample_rows(3)))
    for dry_run in ((), ("--dry-run",)):
        with pytest.raises(CommandError, match="does not belong on the contractor's server"):
            call_command("import_roster", str(file), "--name", "名簿", *dry_run)
    assert not Roster.objects.exists()


def test_the_pages_offer_the_import_to_whoever_imports_now(association_holds_the_keys,
                                                          olivia, oscar):
    upload, operator, observer = reverse("roster:upload"), client_for(olivia), \
        signed_in_with_code(oscar)
    for page in ("home", "roster:list"):
        assert upload not in operator.get(reverse(page)).content.decode()
        assert upload in observer.get(reverse(page)).content.decode()


def test_the_observers_waiting_upload_opens_only_in_the_browser_that_uploaded_it(
        association_holds_the_keys, oscar):
    """The checked rows wait for the confirmation encrypted under a key the observer's
    browser holds (a cookie for the preview's page alone): the database and the settings do
    not open them, nor does another browser."""
    client = signed_in_with_code(oscar)
    response = _upload(client)
    upload = RosterUpload.objects.get()
    assert bytes(upload.data_key) == member_data.WITH_THE_UPLOADER
    assert member_data.held_upload(upload) == {} and member_data.held_preview(upload) == {}
    cookie = client.cookies[f"roster_upload_{upload.pk}"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    assert cookie["path"] == response.url
    assert "W000001" in client.get(response.url).content.decode()  # this browser sees it

    stolen = dict(client.cookies)  # another browser, signed in as the observer too
    client.cookies.pop(f"roster_upload_{upload.pk}")
    elsewhere = client.get(response.url, HTTP_ACCEPT_LANGUAGE="en", follow=True)
    assert "made in another browser" in elsewhere.content.decode()
    client.post(response.url, {"confirm": ""})
    assert not Roster.objects.exists()

    client.cookies[f"roster_upload_{upload.pk}"] = stolen[f"roster_upload_{upload.pk}"].value
    client.post(response.url, {"confirm": ""})
    assert Roster.objects.get().member_count == 5


def test_an_erasure_drops_an_upload_it_cannot_look_into(association_holds_the_keys, oscar):
    from campaigns import retention

    _upload(signed_in_with_code(oscar))
    make_roster(oscar, rows=sample_rows(5))  # the person is in a roster, and maybe the upload
    retention.erase_member(address=sample_rows(5)[2][2], actor=oscar)
    assert not RosterUpload.objects.exists()
