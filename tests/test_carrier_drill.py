"""The carrier drill (issue 23, item 1): a campaign released through the countersign goes to a
real Postfix running the relay profile of docs/relay-carriers.md, which relays to fake
carriers on loopback (tests/carrier_drill.py): docomo answers 421 to every fifth message, au
resets the connection on every sixth, SoftBank and the rest take everything. Then the relay's
log is read as the worker reads it, and the campaign page must say what the fakes saw:

* each carrier is paced at the profile's rate delay (within 5 %), docomo in few sessions;
* every member's message reaches its own carrier exactly once (0 duplicates), the deferred
  ones after the relay's retries, and the carrier that defers finishes later, while the
  campaign completes without a pause;
* the page's per-carrier counts (taken, delivered, deferred at least once, still retrying,
  no word) equal the fakes' own logs, and the ledger's deferrals their refusals.

Marked `mta`; skipped when Postfix is not installed."""

import re
import time

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from campaigns import carrier_outcomes, log_stamps
from campaigns.actions import Action
from campaigns.models import AtCarrier, Delivery, State
from roster.samples import HEADER
from tests.carrier_drill import (
    GROUPS,
    PROFILE_DELAY,
    DrillRelay,
    intervals,
    pace,
    postfix_installed,
    report,
)
from tests.factories import make_roster, released_campaign, run_until_done

pytestmark = [
    pytest.mark.mta,
    pytest.mark.skipif(not postfix_installed(),
                       reason="Postfix is not installed (apt-get install -y postfix)"),
]

# group -> members there (docomo and SoftBank alike, so that docomo's refusals show as time)
MEMBERS = {"docomo": 15, "au": 8, "softbank": 15, "other": 4}
TIMEOUT = 180


def members() -> list[list[str]]:
    rows, n = [], 0
    for group, count in MEMBERS.items():
        for i in range(1, count + 1):
            n += 1
            rows.append([f"D{n:05d}", f"会員 {n}", f"member{i}@{GROUPS[group][0]}", "本部"])
    return rows


def page_counts(html: str) -> dict:
    """The campaign page's "At the carriers" table: group -> column -> number."""
    table = html.split('id="carriers"', 1)[1].split("</section>", 1)[0]
    return {group: {column: int(value.replace(",", "")) for column, value in re.findall(
        r'data-count="(\w+)">([\d,]+)</td>', row)}
        for group, row in re.findall(r'data-carrier="(\w+)"(.*?)</tr>', table, re.DOTALL)}


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"waited {TIMEOUT}s for {what}"
        time.sleep(0.5)


def test_the_relay_paces_each_carrier_and_the_page_counts_what_the_carriers_saw(
        tmp_path, olivia, sam, oscar, client, settings):
    roster = make_roster(olivia, rows=members(), header=HEADER)
    # The countersign's own mail (test sends, notices) stays in Django's test outbox; the
    # campaign's messages go to the relay.
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    with DrillRelay(tmp_path / "relay") as relay:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = (
            "127.0.0.1", relay.port, 5)
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.BOUNCE_DOMAIN = "bounces.countersign.test"
        run_until_done(campaign)
        assert campaign.state == State.COMPLETED  # handed over in seconds; the relay paces
        ours = {d.message_id: d for d in campaign.deliveries.all()}
        by_group = {group: {m for m, d in ours.items() if d.carrier == group}
                    for group in MEMBERS}
        wait_for(lambda: all(set(relay.carriers[g].accepted_ids()) >= ids
                             for g, ids in by_group.items()), "every carrier to accept")
        wait_for(relay.queue_is_empty, "the relay's queue to empty")
        changed = carrier_outcomes.track([relay.maillog], zone=log_stamps.machine_zone())
        log = relay.maillog.read_text()
        report(relay)
    print(f"ledger: {dict(changed)}")

    # Each message once, at its own carrier; none twice anywhere.
    for group, ids in by_group.items():
        accepted = [m for m in relay.carriers[group].accepted_ids() if m in ours]
        assert sorted(accepted) == sorted(ids), group
    assert campaign.deliveries.count() == sum(MEMBERS.values())
    # The faults happened, and cost time without pausing anything.
    assert relay.carriers["docomo"].count("421") >= 3
    assert relay.carriers["au"].count("dropped") >= 1
    last = {g: max(a.at for a in relay.carriers[g].attempts if a.outcome == "accepted")
            for g in ("docomo", "softbank")}
    assert last["docomo"] > last["softbank"]
    campaign.refresh_from_db()
    assert campaign.state == State.COMPLETED
    assert not AuditEntry.objects.about(campaign).filter(action=Action.PAUSED).exists()
    # The profile's pace, measured at the carriers.
    for group, delay in PROFILE_DELAY.items():
        gaps = [round(gap, 3) for gap in intervals(relay.carriers[group])]
        assert pace(relay.carriers[group]) == pytest.approx(delay, rel=0.05), (group, gaps)
    # docomo counts sessions: at a 1-second pace the relay carries messages in few of them.
    sessions = {group: len(re.findall(rf"postfix/jp_{group}/smtp\[\d+\]: \w+: to=<[^>]+>, "
                                      r"relay=[^,]+, (?!conn_use)", log))
                for group in PROFILE_DELAY}
    print("new sessions:", sessions)
    assert sessions["docomo"] < MEMBERS["docomo"] / 2

    # What the page says is what the carriers saw.
    client.force_login(oscar)
    shown = page_counts(client.get(reverse("campaigns:detail", args=[campaign.pk]))
                        .content.decode())
    for group, ids in by_group.items():
        refused = [a for a in relay.carriers[group].attempts
                   if a.message_id in ours and a.outcome != "accepted"]
        assert shown[group] == {
            "handed_over": len(ids), "delivered": len(ids), "retrying": 0,
            "deferred_once": len({a.message_id for a in refused}), "bounced": 0,
            "expired": 0, "no_word": 0}, group
        deliveries = Delivery.objects.filter(message_id__in=ids)
        assert sum(d.carrier_deferrals for d in deliveries) == len(refused), group
        assert {d.at_carrier for d in deliveries} == {AtCarrier.DELIVERED}
    print("page:", {group: (row["delivered"], row["deferred_once"]) for group, row in
                    shown.items()})
