"""Free texts that are kept in the audit log and shown to auditors and notified people (a
sign-off's comment, a campaign's name, why a member may be named or shown, a roster's name)
and the domains of links members' data built: no member's data in any of them, found as a
message's check finds it (every column, every roster held, keyed tags for the rosters the
contractor cannot read). The attacks are a reviewer's (each passed before the fix)."""

import json
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from audit.models import AuditEntry
from campaigns import workflow
from countersign import sealing
from roster import member_data, previews
from roster.models import Member, NamedMember
from roster.samples import sample_rows
from roster.services import add_named_member
from tests.factories import make_campaign, make_roster

HEADER = ["会員番号", "氏名", "メールアドレス", "電話番号", "住所", "ホームページ"]
ROWS = [["W000001", "清水千尋", "chihiro.s@members.example", "090-1234-5678",
         "東京都豊島区南池袋二丁目27番9号", "https://shimizu-chihiro-home.example/"],
        ["W000002", "松本樹", "itsuki.m@members.example", "080-9876-5432",
         "大阪府大阪市北区梅田3-1-1", "https://matsumoto-itsuki.example/"]]
PLAIN = {"subject": "お知らせ", "body_text": "{name} 様\nお知らせです。\n"}


def _logged() -> str:
    return json.dumps([e.payload for e in AuditEntry.objects.all()], ensure_ascii=False)


def _export(client) -> str:
    response = client.get("/audit/export.csv")
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return body.decode("utf-8-sig")


@pytest.mark.django_db
@pytest.mark.parametrize("comment", [
    "W000001 の電話 090-1234-5678 を確認してください",  # a telephone number
    "W000001 の住所 東京都豊島区南池袋二丁目27番9号 が古い",  # a postal address
    "清水 千尋 様の支部が違います",  # a name alone
    "宛先 chihiro.s＠members.example が違う",  # an address, disguised
])
def test_a_rejection_whose_comment_carries_any_members_value_is_refused_and_logs_nothing(
        olivia, sam, audrey, comment):
    roster = make_roster(olivia, rows=ROWS, header=HEADER)
    campaign = make_campaign(olivia, roster, **PLAIN)
    workflow.submit(campaign=campaign, user=olivia)
    with pytest.raises(workflow.IncompleteSignOff) as refusal:
        workflow.reject(campaign=campaign, user=sam, comment=comment)
    assert refusal.value.code == "comment_data"
    client = Client()
    client.force_login(audrey)
    for value in ("090-1234-5678", "南池袋", "清水", "chihiro"):
        assert value not in _logged() and value not in _export(client)


@pytest.mark.django_db
def test_a_comment_naming_members_by_number_is_kept(olivia, sam):
    roster = make_roster(olivia, rows=ROWS, header=HEADER)
    campaign = make_campaign(olivia, roster, **PLAIN)
    workflow.submit(campaign=campaign, user=olivia)
    workflow.reject(campaign=campaign, user=sam, comment="W000001 と W000002 の支部を直して")
    assert "W000001 と W000002" in _logged()


@pytest.mark.django_db
def test_a_comment_naming_a_previewed_member_of_a_roster_only_the_association_holds_is_refused(
        oscar, olivia, sam, association_private_key):
    held = make_roster(oscar, rows=sample_rows(8))
    request = previews.request_for(held, ["W000002"], days=1, reason="役員", actor=oscar)
    answer = sealing.make_preview(request, association_private_key, made="2026-12-06T00:00:00Z")
    previews.accept(json.dumps(answer).encode(), roster=held, actor=oscar)
    shown = member_data.values(Member.objects.get(roster=held, member_number="W000002"),
                               shown=True)  # what the supervisor's pages show
    assert shown.previewed
    campaign = make_campaign(olivia, held)
    workflow.submit(campaign=campaign, user=olivia)
    for comment in (f"{shown.email} の支部が違います", f"{shown.name} 様の支部が違います"):
        with pytest.raises(workflow.IncompleteSignOff):
            workflow.reject(campaign=campaign, user=sam, comment=comment)
    assert shown.email not in _logged() and shown.name not in _logged()


@pytest.mark.django_db
def test_a_preview_reason_naming_the_member_is_refused_before_the_key_tool_sees_it(
        oscar, association_private_key):
    held = make_roster(oscar, rows=sample_rows(8))
    name, email = sample_rows(8)[1][1], sample_rows(8)[1][2]
    with pytest.raises(previews.PreviewRefused):
        previews.request_for(held, ["W000002"], days=1, reason=f"{name} ({email}) の宛名確認",
                             actor=oscar)
    # An answer whose reason was changed on the way back is refused as well.
    request = previews.request_for(held, ["W000002"], days=1, reason="宛名確認", actor=oscar)
    answer = sealing.make_preview({**request, "reason": f"{email} の宛名確認"},
                                  association_private_key, made="2026-12-06T00:00:00Z")
    with pytest.raises(previews.PreviewRefused):
        previews.accept(json.dumps(answer).encode(), roster=held, actor=oscar)
    assert email not in _logged() and name not in _logged()


@pytest.mark.django_db
def test_why_a_member_may_be_named_may_not_carry_their_data(olivia, oscar):
    make_roster(olivia, rows=ROWS, header=HEADER)
    last_day = timezone.localdate() + timedelta(days=30)
    with pytest.raises(ValidationError):
        add_named_member(actor=oscar, member_number="W000001", last_day=last_day,
                         reason="会長 chihiro.s@members.example 090-1234-5678")
    client = Client()
    client.force_login(oscar)
    page = client.post("/rosters/named/", {"member_number": "W000001", "last_day": last_day,
                                           "reason": "会長 清水 千尋"}, HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200 and "member number only" in page.content.decode()
    assert not NamedMember.objects.exists() and "清水" not in _logged()
    add_named_member(actor=oscar, member_number="W000001", last_day=last_day,
                     reason="会長: 通知に署名する")
    assert NamedMember.objects.count() == 1


@pytest.mark.django_db
def test_a_campaign_named_with_a_members_data_is_refused_at_create_and_at_edit(
        olivia, audrey):
    roster = make_roster(olivia, rows=ROWS, header=HEADER)
    bad = "清水 千尋 chihiro.s@members.example 090-1234-5678 への個別連絡"
    with pytest.raises(workflow.ContentRefused) as refusal:
        make_campaign(olivia, roster, name=bad, **PLAIN)
    assert refusal.value.code == "name_data"
    campaign = make_campaign(olivia, roster, name="会費のお知らせ", **PLAIN)
    with pytest.raises(workflow.ContentRefused):
        workflow.edit(campaign=campaign, user=olivia, name="W000002 松本 樹 様へ")
    client = Client()
    client.force_login(olivia)
    page = client.post("/campaigns/new/", {
        "name": "090-9876-5432 松本 樹", "kind": "notice", "roster": roster.pk,
        "sender": campaign.sender, "subject": "お知らせ", "body_text": "{name} 様\n"},
        HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200 and "Name a campaign by what it announces" in (
        page.content.decode())
    campaign.refresh_from_db()
    assert campaign.name == "会費のお知らせ"
    client.force_login(audrey)
    for value in ("清水", "chihiro", "090-1234-5678", "松本", "9876-5432"):
        assert value not in _logged() and value not in _export(client)


@pytest.mark.django_db
def test_a_roster_named_with_a_members_data_is_refused_at_upload(olivia):
    from roster.forms import RosterUploadForm

    make_roster(olivia, rows=ROWS, header=HEADER)
    assert RosterUploadForm({"name": "清水 千尋 の分"}).errors.keys() == {"name", "file"}
    assert RosterUploadForm({"name": "2026年6月の会員"}).errors.keys() == {"file"}


@pytest.mark.django_db
@pytest.mark.parametrize("body", [
    "{name} 様\nhttps://{name}.evil.example/ をご覧ください\n",  # a domain made of a name
    "{name} 様\n{ホームページ} をご覧ください\n",  # a column of home pages
])
@pytest.mark.parametrize("allowed", [[], ["association.example"]])
def test_link_domains_built_from_members_data_are_not_logged(olivia, audrey, settings, body,
                                                              allowed):
    settings.CAMPAIGN_LINK_DOMAINS = allowed
    roster = make_roster(olivia, rows=ROWS, header=HEADER)
    campaign = make_campaign(olivia, roster, subject="お知らせ", body_text=body)
    if allowed:
        with pytest.raises(workflow.ContentRefused):
            workflow.submit(campaign=campaign, user=olivia)
    else:
        workflow.submit(campaign=campaign, user=olivia)
    client = Client()
    client.force_login(audrey)
    logged = _logged() + _export(client)
    for host in ("xn--8pvzgt1f", "xn--mkr47rt3newb",  # 清水千尋, 松本樹 as domain names
                 "shimizu-chihiro-home", "matsumoto-itsuki"):
        assert host not in logged


@pytest.mark.django_db
def test_a_domain_the_campaigns_own_text_writes_is_still_named_in_the_refusal(
        olivia, settings):
    settings.CAMPAIGN_LINK_DOMAINS = ["association.example"]
    roster = make_roster(olivia, rows=ROWS, header=HEADER)
    campaign = make_campaign(olivia, roster, subject="お知らせ",
                             body_text="{name} 様\nhttps://elsewhere.example/{member_number}\n")
    with pytest.raises(workflow.ContentRefused):
        workflow.submit(campaign=campaign, user=olivia)
    assert "elsewhere.example is not one of the allowed link domains" in _logged()


@pytest.mark.django_db
def test_a_roster_file_named_with_a_members_data_is_kept_by_its_extension_only(olivia, audrey):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from roster.models import Roster
    from roster.samples import csv_bytes

    make_roster(olivia, rows=ROWS, header=HEADER)
    client = Client()
    client.force_login(olivia)
    client.post("/rosters/import/", {"name": "12月の名簿", "file": SimpleUploadedFile(
        "清水千尋_090-1234-5678.csv", csv_bytes(sample_rows(3, start=100)))})
    assert "清水" not in _logged() and "090-1234-5678" not in _logged()
    assert '"(withheld).csv"' in _logged()
    client.post(f"/rosters/import/{_last_upload()}/", {"confirm": "1"})
    assert Roster.objects.filter(source_filename="(withheld).csv").exists()


def _last_upload():
    from roster.models import RosterUpload

    return RosterUpload.objects.latest("pk").pk


@pytest.mark.django_db
def test_a_roster_named_after_a_member_of_its_own_file_is_refused_and_logged_without_the_name(
        olivia):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from roster.models import RosterUpload
    from roster.samples import csv_bytes

    rows = sample_rows(3, start=100)
    client = Client()
    client.force_login(olivia)
    page = client.post("/rosters/import/", {"name": f"{rows[0][1]} ほか新入会員", "file":
                                            SimpleUploadedFile("m.csv", csv_bytes(rows))})
    assert page.status_code == 200 and not RosterUpload.objects.exists()
    assert rows[0][1] not in _logged()
    # Refused like a broken file is: recorded, with who and which file, the name withheld.
    (refused,) = AuditEntry.objects.filter(action="roster.import_refused")
    assert refused.actor == olivia and refused.payload["roster_name"] == "(withheld)"
    assert refused.payload["outcome"] == "refused: the name carries member data"


@pytest.mark.django_db
def test_the_command_line_import_refuses_a_name_with_a_members_data(olivia, tmp_path):
    from django.core.management import CommandError, call_command

    from roster.models import Roster
    from roster.samples import csv_bytes

    make_roster(olivia, rows=ROWS, header=HEADER)
    path = tmp_path / "members.csv"
    path.write_bytes(csv_bytes(sample_rows(3, start=100)))
    with pytest.raises(CommandError, match="member number only"):
        call_command("import_roster", str(path), name="清水千尋さんの名簿")
    assert Roster.objects.count() == 1 and "清水" not in _logged()
    own = sample_rows(3, start=100)[0][1]  # a member of the file itself, also on a dry run
    with pytest.raises(CommandError, match="name or address of a member of the file"):
        call_command("import_roster", str(path), name=f"{own}さんの名簿", dry_run=True)
    assert Roster.objects.count() == 1 and own not in _logged()
    assert AuditEntry.objects.filter(action="roster.import_refused",
                                     actor_name="system:cli").count() == 2


@pytest.mark.django_db
def test_a_member_who_may_be_named_is_given_by_number_not_by_name(olivia, oscar):
    make_roster(olivia, rows=ROWS, header=HEADER)
    with pytest.raises(ValidationError):
        add_named_member(actor=oscar, member_number="清水 千尋", reason="会長",
                         last_day=timezone.localdate() + timedelta(days=30))
    assert "清水" not in _logged()


def test_a_domain_is_named_only_if_the_campaigns_text_links_to_it():
    from campaigns.guard import shown_host

    assert shown_host("ito.jp", "詳しくは https://kito.jp/ へ") == ""  # not a part of one
    assert shown_host("kito.jp", "詳しくは https://kito.jp/ へ") == "kito.jp"
    assert shown_host("xn--r8jz45g.jp", "https://例え.jp/{member_number}") == "xn--r8jz45g.jp"
