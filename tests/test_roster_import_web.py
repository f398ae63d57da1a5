"""The operator's two-step import: check and preview, then confirm. All or nothing."""

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audit.models import AuditEntry
from roster.models import Member, Roster, RosterUpload
from roster.samples import csv_bytes, sample_rows, xlsx_bytes
from tests.audit_helpers import business_entries
from tests.factories import client_for, email_of, extra_of


def upload(client, data, filename="members.csv", name="June notice"):
    return client.post(reverse("roster:upload"),
                       {"name": name, "file": SimpleUploadedFile(filename, data)},
                       HTTP_ACCEPT_LANGUAGE="en")


def test_a_clean_file_is_previewed_then_stored_on_confirm(olivia):
    client = client_for(olivia)
    response = upload(client, xlsx_bytes(sample_rows(12)), "members.xlsx")
    pending = RosterUpload.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("roster:upload_preview", args=[pending.pk])
    assert Roster.objects.count() == 0  # nothing stored before the confirmation

    preview = client.get(response.url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "12" in preview and "W000001" in preview and "W000012" in preview
    assert pending.file_sha256 in preview

    confirmed = client.post(response.url, {"confirm": ""})
    roster = Roster.objects.get()
    assert confirmed.url == reverse("roster:detail", args=[roster.pk])
    assert roster.member_count == 12 == Member.objects.filter(roster=roster).count()
    assert (roster.imported_by, roster.source_filename) == (olivia, "members.xlsx")
    assert roster.extra_columns == ["支部"]
    assert not RosterUpload.objects.exists()
    assert list(business_entries().values_list("action", flat=True)) == [
        "roster.check_passed", "roster.imported"]
    entry = AuditEntry.objects.get(action="roster.imported")
    assert entry.payload["sha256"] == roster.file_sha256 and entry.payload["members"] == 12
    assert entry.role == "operator" and entry.actor == olivia


def test_a_broken_file_shows_every_problem_and_stores_nothing(olivia):
    rows = [["1", "A", "a@example.jp"], ["2", "", "bad"], ["1", "C", "c@example.jp"]]
    data = csv_bytes(rows, header=["会員番号", "氏名", "メールアドレス"])
    response = upload(client_for(olivia), data)
    page = response.content.decode()
    assert response.status_code == 200
    assert "Nothing was stored" in page
    assert "B (氏名)" in page and "“bad” is not a valid e-mail address." in page
    assert "is already on row 2" in page
    assert not Roster.objects.exists() and not RosterUpload.objects.exists()
    refused = business_entries().get()
    assert refused.action == "roster.import_refused"
    assert refused.payload["outcome"] == "refused" and refused.payload["error_count"] == 3
    assert "bad" not in str(refused.payload)  # the log names rows and columns, not member data


def test_the_form_requires_a_file_and_a_name(olivia):
    response = client_for(olivia).post(reverse("roster:upload"), {"name": ""})
    assert response.status_code == 200
    assert not business_entries().exists() and not Roster.objects.exists()


def test_discarding_a_preview_stores_nothing(olivia):
    client = client_for(olivia)
    response = upload(client, csv_bytes(sample_rows(3)))
    client.post(response.url, {"cancel": ""})
    assert not Roster.objects.exists() and not RosterUpload.objects.exists()
    assert AuditEntry.objects.last().action == "roster.upload_cancelled"


def test_another_operator_cannot_see_or_confirm_my_upload(olivia, otto):
    response = upload(client_for(olivia), csv_bytes(sample_rows(3)))
    other = client_for(otto)
    assert other.get(response.url).status_code == 404
    assert other.post(response.url, {"confirm": ""}).status_code == 404
    assert not Roster.objects.exists()


def test_only_operators_may_import(sam, oscar, audrey):
    for user in (sam, oscar, audrey):
        client = client_for(user)
        assert client.get(reverse("roster:upload")).status_code == 403
        assert upload(client, csv_bytes(sample_rows(2))).status_code == 403
    assert not RosterUpload.objects.exists()
    # The forged POSTs left one denied-attempt entry each, and nothing else.
    assert list(business_entries().values_list("action", "actor_name")) == [
        ("access.denied", "sam"), ("access.denied", "oscar"), ("access.denied", "audrey")]


def test_an_expired_upload_cannot_be_confirmed(olivia, settings):
    client = client_for(olivia)
    response = upload(client, csv_bytes(sample_rows(3)))
    settings.ROSTER_UPLOAD_TTL_MINUTES = -1
    confirmed = client.post(response.url, {"confirm": ""}, follow=True, HTTP_ACCEPT_LANGUAGE="en")
    assert "expired" in confirmed.content.decode()
    assert not Roster.objects.exists()


def test_an_oversized_upload_is_refused_without_reading_it_all(olivia, settings):
    settings.ROSTER_MAX_BYTES = 500
    response = upload(client_for(olivia), csv_bytes(sample_rows(100)))
    assert "larger than the limit" in response.content.decode()
    assert not RosterUpload.objects.exists()


def test_a_file_is_parsed_once_from_upload_to_confirmation(olivia, monkeypatch):
    from roster import services

    calls = []
    parse = services.parse_roster
    monkeypatch.setattr(services, "parse_roster", lambda *a, **k: calls.append(a) or parse(*a, **k))
    client = client_for(olivia)
    response = upload(client, xlsx_bytes(sample_rows(12)), "members.xlsx")
    client.post(response.url, {"confirm": ""})
    assert Roster.objects.get().member_count == 12
    assert len(calls) == 1


def test_confirming_stores_exactly_the_rows_previewed(olivia, settings):
    client = client_for(olivia)
    response = upload(client, csv_bytes(sample_rows(3)))
    settings.ROSTER_MAX_ROWS = 1  # a change of limits after the check does not matter now
    client.post(response.url, {"confirm": ""})
    members = Member.objects.filter(roster=Roster.objects.get()).order_by("row_number")
    assert [(m.row_number, m.member_number, email_of(m), extra_of(m)) for m in members] == [
        (row + 2, number, email, {"支部": branch})
        for row, (number, _name, email, branch) in enumerate(sample_rows(3))]


def test_an_upload_whose_checked_rows_do_not_open_must_be_uploaded_again(olivia):
    client = client_for(olivia)
    response = upload(client, csv_bytes(sample_rows(3)))
    upload_row = RosterUpload.objects.get()
    sealed = bytearray(upload_row.checked_rows)
    sealed[-1] ^= 1  # one bit changed in the database
    RosterUpload.objects.update(checked_rows=bytes(sealed))
    confirmed = client.post(response.url, {"confirm": ""}, follow=True, HTTP_ACCEPT_LANGUAGE="en")
    assert "expired" in confirmed.content.decode() and not Roster.objects.exists()
