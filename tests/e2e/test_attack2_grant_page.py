"""Attack on 744a199 (the grant made in the release page from the association's key file).

The page lists the workers it grants to (#grant-workers) and is the release page of one
campaign, but its script seals the data key to whatever the grant request it fetches says:
any worker key, any campaign, and any roster's data key named by "key_roster". It shows
none of it (the key tool prints the campaign, the roster, "a part of roster N" and each
worker before it grants); the status line only says "made for N worker(s)".
The grant request is answered here through page.route, as a changed response would be.

And the passphrase field sits inside the release <form>: a browser's password manager
offers to save what it holds when the form is submitted, and after a failure it still
holds the passphrase (only a success clears it).
"""

import base64
import json

import pytest
from django.urls import reverse

from countersign import sealing
from tests.e2e.browsing import signed_in
from tests.factories import make_roster, totp_code

pytestmark = pytest.mark.django_db(transaction=True)


def _release_page(browser, live_server, olivia, sam, oscar, private, tmp_path):
    from campaigns import key_window, workflow
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
    key_window.publish()
    key_file = tmp_path / "association.key"
    key_file.write_bytes(sealing.private_pem(private, b"correct horse"))
    page = signed_in(browser, live_server, "oscar", locale="en-US",
                      code=totp_code(oscar.totpdevice_set.get()))
    return page, campaign, key_file


def _grant_in_the_page(page) -> dict | None:
    text = page.evaluate("""async () => {
        const box = document.getElementById("grant-here");
        const input = document.getElementById(box.dataset.grantInput);
        return input.files.length ? await input.files[0].text() : null; }""")
    return json.loads(text) if text else None


@pytest.mark.parametrize("change", ["another_worker", "another_campaign", "another_roster"])
def test_the_page_seals_only_to_the_workers_it_lists_for_its_campaign_and_roster(
        browser, live_server, olivia, sam, oscar, association_private_key, tmp_path, change):
    from campaigns import key_window

    page, campaign, key_file = _release_page(browser, live_server, olivia, sam, oscar,
                                             association_private_key, tmp_path)
    other_roster = make_roster(oscar, name="別の名簿")  # another held roster
    intruder = sealing.new_private_key()
    raw = sealing.raw_public(intruder.public_key())

    def changed(route):
        request = route.fetch().json()
        if change == "another_worker":
            request["workers"].append({"name": "worker:1", "fingerprint": sealing.fingerprint(
                intruder.public_key()), "public_key": base64.b64encode(raw).decode()})
        elif change == "another_campaign":
            request["campaign"] = campaign.pk + 1000
        else:
            request["key_roster"] = other_roster.pk
            request["data_key_seals"] = other_roster.data_key_seals
        route.fulfill(json=request)

    page.route("**/grant-request/", changed)
    page.goto(live_server.url + reverse("campaigns:release", args=[campaign.pk]))
    listed = page.locator("#grant-workers li").count()
    page.set_input_files("#association-key-file", str(key_file))
    page.fill("#association-key-passphrase", "correct horse")
    page.get_by_role("button", name="Make the grant here").click()
    page.wait_for_function(  # past "Opening the key file…": made, or refused
        "() => { const t = document.querySelector('[data-status]').textContent;"
        " return t && !t.endsWith('…'); }")
    status = page.locator("[data-status]").inner_text()
    grant = _grant_in_the_page(page)
    key_window.forget_process_key()
    if grant and change == "another_worker":  # the intruder opens the roster's data key
        _header, opened = sealing.open_sealed(base64.b64decode(
            grant["seals"][sealing.fingerprint(intruder.public_key())]), intruder)
        assert False, f"{listed} worker listed; sealed to the intruder too ({status}); " \
                      f"it opened a {len(opened)}-byte data key"
    page.context.close()
    assert grant is None, (change, status, sorted(grant))


def test_the_passphrase_is_not_a_field_of_the_release_form_and_goes_after_a_failure(
        browser, live_server, olivia, sam, oscar, association_private_key, tmp_path):
    from campaigns import key_window

    page, campaign, key_file = _release_page(browser, live_server, olivia, sam, oscar,
                                             association_private_key, tmp_path)
    other = sealing.new_private_key()  # the key file of another key: the grant fails
    key_file.write_bytes(sealing.private_pem(other, b"correct horse"))
    page.goto(live_server.url + reverse("campaigns:release", args=[campaign.pk]))
    page.set_input_files("#association-key-file", str(key_file))
    page.fill("#association-key-passphrase", "correct horse")
    page.get_by_role("button", name="Make the grant here").click()
    page.wait_for_selector("[data-status].text-danger")
    key_window.forget_process_key()
    left = page.evaluate("""() => { const p = document.getElementById("association-key-passphrase");
        return {value: p.value, inForm: p.form !== null}; }""")
    page.context.close()
    assert left == {"value": "", "inForm": False}, left
