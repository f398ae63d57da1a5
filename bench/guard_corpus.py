"""The attacker's corpus (tests/guard_corpus.py), counted: every case through the real
workflow to a loopback SMTP sink, in both modes of tests/test_guard_attack_corpus.py.

    python bench/guard_corpus.py [--failing] [--held]

Prints, by class and mode, how many disguises there are, how many reached members (any
message of the campaign arrived at the sink; and how many messages did) and how many were
refused (at submit, at start, before a hand-over); and how many ordinary notices were
refused or did not reach every member. The figures come from running the cases, never from
the test file's xfail marks. `--failing` also lists the (case, mode) that today's guard gets
wrong, in the form of the test file's TODAY set. `--held`: the association registers its key
before the rosters are imported, so only it holds their keys: the check at submit runs on the
keyed tags and synthetic previews, the worker's on what the observer's grant opens (issue 22).
"""

import argparse
import logging
import time
from collections import Counter, defaultdict
from unittest import mock

parser = argparse.ArgumentParser()
parser.add_argument("--failing", action="store_true",
                    help="list the (case, mode) the guard gets wrong, as in TODAY")
parser.add_argument("--held", action="store_true",
                    help="the rosters' keys held by the association (a grant per release)")
args = parser.parse_args()

import os

from _setup import django_setup

# Figures, not timings: an in-memory database keeps the run short (DATABASE_URL overrides).
os.environ.setdefault("DATABASE_URL", "sqlite://:memory:")
django_setup()

from django.core.management import call_command
from django.test import override_settings

call_command("migrate", verbosity=0)
logging.getLogger("django-q").setLevel(logging.WARNING)  # a line per notification queued

from campaigns import guard
from campaigns.findings import GuardReport
from countersign import people
from countersign.models import Organisation
from countersign.roles import Role
from tests import guard_corpus as corpus
from tests.factories import make_user
from tests.sending_helpers import SinkServer

MODES = ("submit_on", "hand_over_only")


def run(case, mode, roster, signers, sink):
    if mode == "submit_on":
        return corpus.drive(case, roster, signers, sink.handler)
    with mock.patch.object(guard, "check_campaign_content", lambda **kw: GuardReport()):
        return corpus.drive(case, roster, signers, sink.handler)


def main():
    with people.setting_up():
        signers = (make_user("olivia", Organisation.CONTRACTOR, Role.OPERATOR),
                   make_user("sam", Organisation.CONTRACTOR, Role.SUPERVISOR),
                   make_user("oscar", Organisation.ASSOCIATION, Role.OBSERVER))
    sink = SinkServer()
    sink.start()
    smtp = {"EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": sink.port, "EMAIL_TIMEOUT": 5,
            "EMAIL_USE_TLS": False, "EMAIL_USE_SSL": False, "EMAIL_HOST_USER": "",
            "EMAIL_HOST_PASSWORD": ""}
    started = time.perf_counter()
    if args.held:
        import functools

        from countersign import association_key, sealing
        from tests import factories

        private = sealing.new_private_key()
        association_key.register(user=signers[2], pem=sealing.public_pem(private.public_key()))
        factories.through_the_countersign = functools.partial(
            factories.through_the_countersign, association_key=private)
    try:
        with override_settings(**smtp):
            roster = corpus.setting_up(signers[0], signers[2])
            outcomes = {(case.key, mode): (case, run(case, mode, roster, signers, sink))
                        for case in (*corpus.DISGUISES, *corpus.NOTICES) for mode in MODES}
    finally:
        sink.stop()
    elapsed = time.perf_counter() - started

    cases, reached, messages, refused = Counter(), Counter(), Counter(), defaultdict(Counter)
    wrong = []
    for (key, mode), (case, outcome) in outcomes.items():
        row = (case.cls, mode)
        cases[row] += 1
        messages[row] += outcome.reached
        if outcome.refused_at:
            refused[row][outcome.refused_at] += 1
        if case.cls == "notice":
            ok = not outcome.refused_at and outcome.reached == outcome.members
        else:
            ok = outcome.reached == 0
            reached[row] += outcome.reached > 0
        if not ok:
            wrong.append((key, mode))

    print(f"{len(corpus.DISGUISES)} disguises and {len(corpus.NOTICES)} notices, "
          f"{len(outcomes)} runs in {elapsed:.0f} s; campaign roster of "
          f"{len(corpus.TOKYO)} members")
    head = f"{'class':<16}{'mode':<16}{'cases':>6}{'reached':>9}{'messages':>10}{'refused':>9}"
    print(head + "  (where refused)")
    print("  reached: cases of which a message arrived for a member; messages: how many did")
    for cls in [*corpus.CLASSES, "notice"]:
        for mode in MODES:
            row = (cls, mode)
            where = ", ".join(f"{n} at {w}" for w, n in sorted(refused[row].items()))
            shown = reached[row] if cls != "notice" else "-"
            print(f"{cls:<16}{mode:<16}{cases[row]:>6}{shown:>9}{messages[row]:>10}"
                  f"{sum(refused[row].values()):>9}  {where}".rstrip())
    for mode in MODES:
        rows = [(c, mode) for c in corpus.CLASSES]
        print(f"{'all disguises':<16}{mode:<16}{sum(cases[r] for r in rows):>6}"
              f"{sum(reached[r] for r in rows):>9}{sum(messages[r] for r in rows):>10}"
              f"{sum(sum(refused[r].values()) for r in rows):>9}")
    for mode in MODES:
        bad = sum(1 for key, m in wrong if m == mode and key.startswith("notice/"))
        print(f"notices wrongly refused or not delivered to all, {mode}: {bad} of "
              f"{cases[('notice', mode)]}")
    if args.failing:
        print("\nTODAY = {")
        for key, mode in sorted(wrong):
            print(f"    ({key!r}, {mode!r}),")
        print("}")


main()
