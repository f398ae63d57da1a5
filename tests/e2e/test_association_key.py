"""Issue 22's first step in a browser: the association's observer registers the key its key
tool printed (with a code from their phone), and the supervisor's download of the incident
report with names and addresses is a file only that key opens: the bytes the browser saved,
not an intermediate form."""

import pytest
from django.urls import reverse

from countersign import sealing
from roster import member_data
from tests.e2e.browsing import signed_in
from tests.factories import (
    make_roster,
    next_code,
    released_campaign,
    run_until_done,
    totp_code,
    with_device,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_observer_registers_the_key_and_the_supervisors_download_is_sealed_to_it(
        browser, live_server, olivia, sam, oscar, sink, screenshots):
    roster = make_roster(olivia)
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    run_until_done(campaign)
    private = sealing.new_private_key()  # made on the association's computer
    device = with_device(oscar)

    observer = signed_in(browser, live_server, "oscar", locale="ja-JP", code=totp_code(device))
    observer.goto(live_server.url + reverse("association_key"))
    observer.fill("#id_public_key", sealing.public_pem(private.public_key()))
    observer.fill("#id_code", next_code(device))
    observer.click("main button[type=submit]")
    grouped = sealing.grouped(sealing.fingerprint(private.public_key()))
    assert grouped in observer.locator("[data-field=fingerprint]").inner_text()
    screenshots(observer, "observer-registered-the-key")

    supervisor = signed_in(browser, live_server, "sam", locale="ja-JP")
    supervisor.goto(live_server.url + reverse("audit:incident", args=[campaign.pk]))
    assert grouped[:19] in supervisor.locator("[data-field=sealed-to]").inner_text()
    screenshots(supervisor, "supervisor-incident-page")
    with supervisor.expect_download() as download:
        supervisor.get_by_role("link", name="エクスポート（CSV）").click()
    assert download.value.suggested_filename == f"incident-campaign-{campaign.pk}.csv.sealed"
    saved = open(download.value.path(), "rb").read()  # noqa: SIM115 - read once
    values = [v for m in member_data.rows(roster) for v in (m.name, m.email)]
    assert not any(value.encode() in saved for value in values)
    _header, opened = sealing.open_sealed(saved, private)
    text = opened.decode("utf-8-sig")
    assert all(value in text for value in values)  # the association reads all of it


def test_the_observer_imports_a_roster_the_association_holds_and_the_operator_cannot(
        browser, live_server, olivia, oscar, association_private_key, screenshots, tmp_path):
    """The upload page's own script (progress bar, then the preview) with the waiting
    upload's key kept in the observer's browser: the preview shows, the confirm stores it."""
    from roster.models import Roster
    from roster.samples import sample_rows, xlsx_bytes

    device = oscar.totpdevice_set.get()
    roster_file = tmp_path / "会員名簿.xlsx"
    roster_file.write_bytes(xlsx_bytes(sample_rows(12)))
    operator = signed_in(browser, live_server, "olivia", locale="en-US")
    operator.goto(live_server.url + reverse("roster:upload"))
    assert "its observer imports the member file" in operator.content()

    observer = signed_in(browser, live_server, "oscar", locale="en-US",
                          code=totp_code(device))
    observer.goto(live_server.url + reverse("roster:upload"))
    observer.fill("#id_name", "2026年 会員名簿")
    observer.set_input_files("#id_file", str(roster_file))
    observer.get_by_role("button", name="Check the file").click()
    observer.wait_for_url("**/rosters/import/*/")
    assert "W000012" in observer.content()
    screenshots(observer, "observer-held-roster-preview")
    observer.get_by_role("button", name="Store these 12 members").click()
    observer.wait_for_url("**/rosters/*/")
    roster = Roster.objects.get()
    assert roster.imported_by == oscar and roster.data_key is None
    assert member_data.values(roster.members.first()).sealed


def test_the_observer_makes_the_grant_in_the_release_page_from_the_key_file_never_sent(
        browser, live_server, olivia, sam, oscar, association_private_key, sink, screenshots,
        tmp_path):
    """The key file (under its passphrase, as the key tool writes it) is read in the page;
    the page makes the grant the key tool would, and only the grant leaves: no request the
    browser sends carries the key file, and the worker sends with the grant."""
    from campaigns import key_window, workflow
    from campaigns.models import Campaign, Grant, State
    from campaigns.seen import Seen
    from tests.factories import SUPERVISOR_TICKS, make_campaign

    roster = make_roster(oscar)
    campaign = make_campaign(olivia, roster, canary_enabled=False)
    workflow.submit(campaign=campaign, user=olivia)
    workflow.test_send(campaign=campaign, user=olivia, member=roster.members.first(),
                       recipients=[sam])
    workflow.approve(campaign=campaign, seen=Seen.current(campaign), user=sam,
                     checklist=SUPERVISOR_TICKS)
    key_window.forget_process_key()
    key_window.publish()  # this process (the live server's) is the worker that sends
    key_file = tmp_path / "association.key"
    key_file.write_bytes(sealing.private_pem(association_private_key, b"correct horse"))

    page = signed_in(browser, live_server, "oscar", locale="en-US",
                      code=totp_code(oscar.totpdevice_set.get()))
    sent = []
    page.on("request", lambda request: sent.append(request.post_data_buffer or b""))
    page.goto(live_server.url + reverse("campaigns:release", args=[campaign.pk]))
    page.set_input_files("#association-key-file", str(key_file))
    page.fill("#association-key-passphrase", "wrong")
    page.get_by_role("button", name="Make the grant here").click()
    page.wait_for_selector("[data-status].text-danger")
    assert "wrong passphrase" in page.locator("[data-status]").inner_text()
    page.fill("#association-key-passphrase", "correct horse")
    page.get_by_role("button", name="Make the grant here").click()
    page.wait_for_selector("text=The grant is made for 1 worker(s)")
    screenshots(page, "observer-grant-made-in-the-page")
    for box in page.locator("input[name=checklist]").all():
        box.check()
    page.click("button[name=release]")
    page.wait_for_url(f"**/campaigns/{campaign.pk}/")
    campaign = Campaign.objects.get(pk=campaign.pk)
    assert campaign.state == State.RELEASED and Grant.objects.filter(campaign=campaign).exists()
    everything = b"".join(sent)
    assert b"PRIVATE KEY" not in everything and b"correct horse" not in everything
    assert key_file.read_bytes()[40:80] not in everything
    outcome = run_until_done(campaign)
    assert campaign.state == State.COMPLETED, (outcome, campaign.paused_reason, campaign.state)
    key_window.forget_process_key()


def test_the_observer_makes_the_key_in_the_browser_and_only_the_public_key_is_sent(
        browser, live_server, oscar, screenshots, tmp_path):
    """Onboarding without the key tool: the key pair is made in the page, the key file is
    saved under the passphrase on the observer's computer, the paper copy is shown; the
    server receives the public key only (every request the browser sends is watched)."""
    from countersign.models import AssociationKey

    device = with_device(oscar)
    page = signed_in(browser, live_server, "oscar", locale="en-US", code=totp_code(device))
    sent = []
    page.on("request", lambda request: sent.append(request.post_data_buffer or b""))
    page.goto(live_server.url + reverse("association_key"))
    page.fill("#new-key-passphrase", "correct horse battery")
    page.fill("#new-key-passphrase-again", "correct horse battery")
    with page.expect_download() as download:
        page.get_by_role("button", name="Make the key here").click()
    saved = tmp_path / "association.key"
    download.value.save_as(saved)
    recovery = page.locator("[data-recovery]").inner_text()
    screenshots(page, "observer-made-the-key-in-the-page")
    page.fill("#id_code", next_code(device))
    page.click("main form button[type=submit]")
    page.wait_for_selector("[data-field=fingerprint]")

    private = sealing.load_private(saved.read_bytes(), b"correct horse battery")
    key = AssociationKey.objects.get(current=True)
    assert key.fingerprint == sealing.fingerprint(private.public_key())
    assert sealing.fingerprint(sealing.from_recovery_text(recovery).public_key()) == \
        key.fingerprint
    everything = b"".join(sent)
    assert b"PRIVATE KEY" not in everything and b"correct horse" not in everything
    assert recovery.replace(" ", "").encode() not in everything.replace(b"+", b"")


def test_two_passkeys_keep_the_key_in_the_browser_and_the_release_page_grants_with_one(
        browser, live_server, olivia, sam, oscar, association_private_key, sink, screenshots,
        tmp_path):
    """WebAuthn's PRF (a virtual authenticator of Chromium's): the key file is loaded once,
    wrapped in the browser under each passkey's secret; Countersign records the passkeys by
    fingerprint (audited), and the release page makes the grant with a passkey alone."""
    from audit.models import AuditEntry
    from campaigns import key_window, workflow
    from campaigns.models import Campaign, State
    from campaigns.seen import Seen
    from countersign.models import KeySlot
    from tests.factories import SUPERVISOR_TICKS, make_campaign

    key_file = tmp_path / "association.key"
    key_file.write_bytes(sealing.private_pem(association_private_key, b"correct horse"))
    page = signed_in(browser, live_server, "oscar", locale="en-US",
                      code=totp_code(oscar.totpdevice_set.get()))
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True, "hasPrf": True,
        "automaticPresenceSimulation": True}})
    sent = []
    page.on("request", lambda request: sent.append(request.post_data_buffer or b""))
    page.goto(live_server.url + reverse("association_key"))
    assert page.locator("#passkeys-too-few").is_visible()
    for label in ("phone", "security key"):
        page.set_input_files("#passkey-key-file", str(key_file))
        page.fill("#passkey-passphrase", "correct horse")
        page.fill("#passkey-label", label)
        with page.expect_navigation():
            page.get_by_role("button", name="Add a passkey").click()
    assert page.locator("#passkey-list li").count() == 2
    assert not page.locator("#passkeys-too-few").count()
    screenshots(page, "observer-two-passkeys")
    slots = KeySlot.objects.filter(observer=oscar, revoked_at=None)
    assert sorted(slots.values_list("label", flat=True)) == ["phone", "security key"]
    assert AuditEntry.objects.filter(action="association_key.slot_added").count() == 2

    roster = make_roster(oscar)
    campaign = make_campaign(olivia, roster, canary_enabled=False)
    workflow.submit(campaign=campaign, user=olivia)
    workflow.test_send(campaign=campaign, user=olivia, member=roster.members.first(),
                       recipients=[sam])
    workflow.approve(campaign=campaign, seen=Seen.current(campaign), user=sam,
                     checklist=SUPERVISOR_TICKS)
    key_window.forget_process_key()
    key_window.publish()
    page.goto(live_server.url + reverse("campaigns:release", args=[campaign.pk]))
    page.get_by_role("button", name="Or make it with a passkey kept in this browser").click()
    page.wait_for_selector("text=The grant is made for 1 worker(s)")
    for box in page.locator("input[name=checklist]").all():
        box.check()
    page.click("button[name=release]")
    page.wait_for_url(f"**/campaigns/{campaign.pk}/")
    run_until_done(campaign)
    assert Campaign.objects.get(pk=campaign.pk).state == State.COMPLETED
    everything = b"".join(sent)
    assert b"PRIVATE KEY" not in everything and b"correct horse" not in everything
    key_window.forget_process_key()

    page.goto(live_server.url + reverse("association_key"))
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.locator("#passkey-list li").first.get_by_role("button", name="Revoke").click()
    assert KeySlot.objects.filter(revoked_at=None).count() == 1
    assert page.evaluate("JSON.parse(localStorage.getItem('countersign.association-key-slots'))"
                         ".length") == 1


def test_the_observer_sees_a_held_rosters_incident_report_with_names_in_the_page(
        browser, live_server, olivia, sam, oscar, association_private_key, sink, screenshots,
        tmp_path):
    """The report downloaded sealed (audited, as by the export buttons) and opened in the
    page with the key file: names in the table, nothing opened sent anywhere."""
    from audit.models import AuditEntry
    from campaigns import key_window, workflow
    from campaigns.seen import Seen
    from roster.samples import sample_rows
    from tests.factories import OBSERVER_TICKS, SUPERVISOR_TICKS, make_campaign

    roster = make_roster(oscar)
    campaign = make_campaign(olivia, roster, canary_enabled=False)
    workflow.submit(campaign=campaign, user=olivia)
    workflow.test_send(campaign=campaign, user=olivia, member=roster.members.first(),
                       recipients=[sam])
    workflow.approve(campaign=campaign, seen=Seen.current(campaign), user=sam,
                     checklist=SUPERVISOR_TICKS)
    key_window.forget_process_key()
    workflow.release(campaign=campaign, seen=Seen.current(campaign), user=oscar,
                     checklist=OBSERVER_TICKS,
                     grant=key_window.grant_made_here(campaign, association_private_key))
    run_until_done(campaign)
    key_window.forget_process_key()
    key_file = tmp_path / "association.key"
    key_file.write_bytes(sealing.private_pem(association_private_key, b"correct horse"))

    page = signed_in(browser, live_server, "oscar", locale="en-US",
                      code=totp_code(oscar.totpdevice_set.get()))
    sent = []
    page.on("request", lambda request: sent.append(request.post_data_buffer or b""))
    page.goto(live_server.url + reverse("audit:incident", args=[campaign.pk]))
    assert "(held by the association)" in page.locator("tr[data-member] [data-name]").first \
        .inner_text()
    page.set_input_files("#incident-key-file", str(key_file))
    page.fill("#incident-key-passphrase", "correct horse")
    page.get_by_role("button", name="Show the names here").click()
    page.wait_for_selector("text=Names and addresses shown for 20 lines")
    screenshots(page, "observer-incident-names-in-the-page")
    names = {row[0]: (row[1], row[2]) for row in sample_rows(20)}
    for line in page.locator("tr[data-member]").all():
        number = line.get_attribute("data-member")
        assert (line.locator("[data-name]").inner_text(),
                line.locator("[data-email]").inner_text()) == names[number]
    assert AuditEntry.objects.filter(action="campaign.incident_report_exported").count() == 1
    everything = b"".join(sent)
    assert b"correct horse" not in everything and names["W000001"][1].encode() not in everything


def test_the_observer_grants_a_preview_on_the_roster_page_with_the_key_file(
        browser, live_server, oscar, association_private_key, screenshots, tmp_path):
    """The preview request and the answer the key tool would make, made in the page: the
    member's real values show on the roster page, and the key file never leaves."""
    from audit.models import AuditEntry
    from roster.samples import sample_rows

    roster = make_roster(oscar)
    key_file = tmp_path / "association.key"
    key_file.write_bytes(sealing.private_pem(association_private_key, b"correct horse"))
    page = signed_in(browser, live_server, "oscar", locale="en-US",
                      code=totp_code(oscar.totpdevice_set.get()))
    sent = []
    page.on("request", lambda request: sent.append(request.post_data_buffer or b""))
    page.goto(live_server.url + roster.get_absolute_url())
    page.fill("#id_members", "W000002")
    page.fill("#id_reason", "理事（本人の同意あり）")
    page.set_input_files("#preview-key-file", str(key_file))
    page.fill("#preview-key-passphrase", "correct horse")
    with page.expect_navigation():
        page.get_by_role("button", name="Grant it here").click()
    page.wait_for_selector("#previews [data-member=W000002]")
    screenshots(page, "observer-preview-granted-in-the-page")
    assert sample_rows(2)[1][1] in page.content()  # the real name, on the roster page
    assert AuditEntry.objects.get(action="roster.preview_granted").payload["members"] == [
        "W000002"]
    everything = b"".join(sent)
    assert b"PRIVATE KEY" not in everything and b"correct horse" not in everything


def test_the_observer_reseals_held_rosters_to_a_new_key_in_the_page(
        browser, live_server, oscar, association_private_key, screenshots, tmp_path):
    from audit.models import AuditEntry
    from countersign import association_key

    roster = make_roster(oscar)
    newer = sealing.new_private_key()
    association_key.register(user=oscar, pem=sealing.public_pem(newer.public_key()))
    old_file = tmp_path / "old-association.key"
    old_file.write_bytes(sealing.private_pem(association_private_key, b"the old one"))
    page = signed_in(browser, live_server, "oscar", locale="en-US",
                      code=totp_code(oscar.totpdevice_set.get()))
    sent = []
    page.on("request", lambda request: sent.append(request.post_data_buffer or b""))
    page.goto(live_server.url + reverse("roster:reseal"))
    page.set_input_files("#reseal-key-file", str(old_file))
    page.fill("#reseal-key-passphrase", "the old one")
    with page.expect_navigation():
        page.get_by_role("button", name="Reseal them here").click()
    page.wait_for_selector("#none-waiting")
    roster.refresh_from_db()
    assert set(roster.data_key_seals) == {sealing.fingerprint(association_private_key.public_key()),
                                         sealing.fingerprint(newer.public_key())}
    assert AuditEntry.objects.filter(action="roster.data_keys_resealed").exists()
    everything = b"".join(sent)
    assert b"PRIVATE KEY" not in everything and b"the old one" not in everything
