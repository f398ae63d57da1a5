"""Issue 22 in Chromium, as the people do it: the association's observer makes its key in
the browser and adds a passkey (a virtual WebAuthn authenticator with PRF), imports the
roster, lets previews show two members who agreed, and releases with a grant made in the
page; the operator's and the supervisor's pages never show a member value but the two
granted, and every member receives their message."""

import functools

import pytest
from django.urls import reverse

from campaigns import key_window, workflow
from campaigns.models import Campaign, State
from campaigns.seen import Seen
from countersign import sealing
from countersign.models import AssociationKey
from roster.models import Roster
from roster.samples import sample_rows, xlsx_bytes
from tests.e2e.browsing import signed_in
from tests.factories import SUPERVISOR_TICKS, make_campaign, next_code, run_until_done, totp_code
from tests.factories import with_device as phone_of

pytestmark = pytest.mark.django_db(transaction=True)
ROWS = sample_rows(12)
GRANTED = {"W000002", "W000003"}


_signed_in = functools.partial(signed_in, locale="en-US")


def _values_shown(text: str) -> set[str]:
    return {row[0] for row in ROWS if row[1] in text or row[2] in text}


def test_the_association_keeps_the_key_from_onboarding_to_every_members_mail(
        browser, live_server, olivia, sam, oscar, sink, screenshots, tmp_path):
    phone = phone_of(oscar)
    observer = _signed_in(browser, live_server, "oscar", code=totp_code(phone))
    sent = []
    observer.on("request", lambda request: sent.append(request.post_data_buffer or b""))
    cdp = observer.context.new_cdp_session(observer)
    cdp.send("WebAuthn.enable")
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True, "hasPrf": True,
        "automaticPresenceSimulation": True}})

    # 1. Onboarding: the key made in the page, its file saved on the observer's computer.
    observer.goto(live_server.url + reverse("association_key"))
    observer.fill("#new-key-passphrase", "correct horse battery")
    observer.fill("#new-key-passphrase-again", "correct horse battery")
    with observer.expect_download() as download:
        observer.get_by_role("button", name="Make the key here").click()
    key_file = tmp_path / "association.key"
    download.value.save_as(key_file)
    observer.fill("#id_code", next_code(phone))
    observer.click("main form button[type=submit]")
    observer.wait_for_selector("[data-field=fingerprint]")
    screenshots(observer, "observer-key-registered")
    # ... and a passkey, so that the key file can stay in the safe.
    observer.set_input_files("#passkey-key-file", str(key_file))
    observer.fill("#passkey-passphrase", "correct horse battery")
    observer.fill("#passkey-label", "this computer")
    with observer.expect_navigation():
        observer.get_by_role("button", name="Add a passkey").click()
    assert observer.locator("#passkey-list li").count() == 1

    # 2. The observer imports the roster: the contractor never has the file.
    roster_file = tmp_path / "会員名簿.xlsx"
    roster_file.write_bytes(xlsx_bytes([list(row) for row in ROWS]))
    observer.goto(live_server.url + reverse("roster:upload"))
    observer.fill("#id_name", "2026年 会員名簿")
    observer.set_input_files("#id_file", str(roster_file))
    observer.get_by_role("button", name="Check the file").click()
    observer.wait_for_url("**/rosters/import/*/")
    observer.get_by_role("button", name="Store these 12 members").click()
    observer.wait_for_url("**/rosters/*/")
    roster = Roster.objects.get()
    assert roster.data_key is None and roster.imported_by == oscar

    # 3. Two members who agreed are shown in previews, granted in the page.
    observer.fill("#id_members", "W000002, W000003")
    observer.fill("#id_reason", "役員（本人の同意あり）")
    observer.set_input_files("#preview-key-file", str(key_file))
    observer.fill("#preview-key-passphrase", "correct horse battery")
    with observer.expect_navigation():
        observer.get_by_role("button", name="Grant it here").click()
    observer.wait_for_selector("#previews [data-member=W000003]")

    # 4. The operator drafts, the supervisor approves: their pages show numbers, synthetic
    # values and the two granted members only.
    campaign = make_campaign(olivia, roster, canary_enabled=False)
    workflow.submit(campaign=campaign, user=olivia)
    workflow.test_send(campaign=campaign, user=olivia,
                       member=roster.members.get(member_number="W000002"), recipients=[sam])
    operator = _signed_in(browser, live_server, "olivia")
    for url in (roster.get_absolute_url(), campaign.get_absolute_url(),
                reverse("campaigns:preview", args=[campaign.pk])):
        operator.goto(live_server.url + url)
        assert _values_shown(operator.content()) <= GRANTED, url
        if url == roster.get_absolute_url():
            screenshots(operator, "operator-roster-page-numbers-and-synthetic-values")
    assert _values_shown(operator.content()) == GRANTED  # the preview shows the two, for real
    screenshots(operator, "operator-preview-with-the-granted-members")
    supervisor = _signed_in(browser, live_server, "sam")
    supervisor.goto(live_server.url + reverse("campaigns:review", args=[campaign.pk]))
    assert _values_shown(supervisor.content()) <= GRANTED
    workflow.approve(campaign=campaign, seen=Seen.current(campaign), user=sam,
                     checklist=SUPERVISOR_TICKS)

    # 5. The release, with the grant the passkey makes in the page; every member's mail.
    key_window.forget_process_key()
    key_window.publish()  # this process (the live server's) is the worker that sends
    observer.goto(live_server.url + reverse("campaigns:release", args=[campaign.pk]))
    observer.get_by_role("button", name="Or make it with a passkey kept in this browser").click()
    observer.wait_for_selector("text=The grant is made for 1 worker(s)")
    screenshots(observer, "observer-unlocked-with-a-passkey")
    for box in observer.locator("input[name=checklist]").all():
        box.check()
    observer.click("button[name=release]")
    observer.wait_for_url(f"**/campaigns/{campaign.pk}/")
    sink.handler.received.clear()
    run_until_done(campaign)
    key_window.forget_process_key()
    assert Campaign.objects.get(pk=campaign.pk).state == State.COMPLETED
    assert sorted(r for _t, r, _raw in sink.handler.campaign_mail()) == sorted(
        row[2] for row in ROWS)
    everything = b"".join(sent)
    assert b"PRIVATE KEY" not in everything and b"correct horse" not in everything
    assert AssociationKey.objects.get(current=True).fingerprint == sealing.fingerprint(
        sealing.load_private(key_file.read_bytes(), b"correct horse battery").public_key())
