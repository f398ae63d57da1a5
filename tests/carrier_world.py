"""A campaign's messages past the relay, as the carrier-outcome tests need them: a campaign
to members on four carriers, handed to the relay, and the relay's log lines written about
them (tests/returned_mail.RelayLog) under the profile's per-carrier transport names."""

from datetime import timedelta

from django.utils import timezone

from campaigns import carrier_outcomes
from campaigns.models import Delivery, State
from roster.samples import HEADER
from tests.factories import email_of, make_roster, released_campaign, run_until_done
from tests.returned_mail import RelayLog

ADDRESSES = ["hanako@docomo.ne.jp", "taro@ezweb.ne.jp", "jiro@softbank.ne.jp",
             "saburo@example.jp", "shiro@docomo.ne.jp"]
GROUPS = ("docomo", "au", "softbank", "other")


def campaign_to(olivia, sam, oscar, addresses, *, roster=None, prefix="C"):
    rows = [[f"{prefix}{n:05d}", f"会員 {n}", address, "本部"]
            for n, address in enumerate(addresses, 1)]
    roster = roster or make_roster(olivia, rows=rows, header=HEADER)
    campaign = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    run_until_done(campaign)
    assert campaign.state == State.COMPLETED
    return campaign


def delivery(campaign, address) -> Delivery:
    return next(d for d in campaign.deliveries.all() if email_of(d) == address)


def new_log(**kwargs) -> RelayLog:
    return RelayLog(zone=timezone.get_current_timezone(), style="rfc3339", **kwargs)


def status_line(queue, to, dsn, status, reply="250 2.0.0 ok"):
    return (f"{queue}: to=<{to}>, relay=mx.carrier[203.0.113.9]:25, delay=1, "
            f"delays=0/0/0/1, dsn={dsn}, status={status} ({reply})")


def relay_took(log, d, at, *, queue, then=(), sender=None, to=None, reply="250 2.0.0 ok",
               removed=None):
    """The relay queued `d`'s message at `at`, then logged `then`: (seconds later, transport,
    dsn, status) delivery attempts to `to` (default the member's own address)."""
    log.postfix(at, "smtpd", f"{queue}: client=app[10.0.0.5]")
    log.postfix(at, "cleanup", f"{queue}: message-id={d.message_id}")
    log.postfix(at, "qmgr", f"{queue}: from=<{sender or RelayLog.sender(d)}>, size=2048, "
                            "nrcpt=1 (queue active)")
    for seconds, transport, dsn, status in then:
        log.postfix(at + timedelta(seconds=seconds), f"{transport}/smtp",
                    status_line(queue, email_of(d) if to is None else to, dsn, status, reply))
    if removed is None:
        removed = bool(then) and then[-1][3] != "deferred"
    if removed:
        last = then[-1][0] if then else 0
        log.postfix(at + timedelta(seconds=last), "qmgr", f"{queue}: removed")


def track(*paths, now=None):
    return carrier_outcomes.track(list(paths), zone=timezone.get_current_timezone(),
                                  now=now or timezone.now() + timedelta(minutes=10))


def word(d):
    d.refresh_from_db()
    return d.at_carrier


def counts(campaign) -> dict:
    return {group: carrier_outcomes.by_carrier(campaign)[n].counts
            for n, group in enumerate(GROUPS)}
