"""The demo's story so far, so that a newcomer sees every screen without hand-made mail: a
notice sent to the demo roster, one of whose messages came back as a hard bounce (5.1.1),
and a second notice paused with one message in doubt for a supervisor or observer to
decide. Everything goes through the app's own doors (import, the workflow's moves by the
demo people, the sender, the bounce's one way in, the ledger's moves); the member mail of
this set-up is not delivered anywhere (the mail catcher is not running yet)."""

from pathlib import Path

from django.conf import settings
from django.test.utils import override_settings
from django.utils import translation
from django.utils.translation import gettext as _

from campaigns import bounces, deliveries, key_window, sender, workflow
from campaigns.models import Campaign, Delivery
from campaigns.seen import Seen
from countersign import association_key, sealing
from countersign.models import AssociationKey, User
from roster.services import check_roster_file, roster_import

BODY = ("{name} 様\n\n会員番号 {member_number} の皆様へ、年会費のお知らせです。\n"
        "所属支部: {支部}\n\n一般社団法人 サンプル会員協会 事務局\n")


def seed(roster_file: Path, key_file: Path) -> list[Campaign]:
    """Seed the story once (nothing if the demo already has campaigns). The roster is
    imported by the association's observer after its key was registered, so only the
    association holds its key: the demo observer's releases carry a grant made with
    `key_file`, as the key tool makes it."""
    if Campaign.objects.exists():
        return []
    with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"), \
            translation.override(settings.LANGUAGE_CODE):  # the office's language
        people = {u.username: u for u in User.objects.filter(
            username__in=["olivia", "sam", "oscar"])}
        parsed = check_roster_file(roster_file.read_bytes(), roster_file.name)
        roster = roster_import(parsed=parsed, name=_("Demo roster"), actor=people["oscar"])
        private = sealing.load_private(key_file.read_bytes(), None)
        return [_sent_with_a_bounce(roster, private=private, **people),
                _paused_with_a_doubt(roster, private=private, **people)]


def association_key_file(demo_dir: Path) -> Path:
    """The demo association's key: in a real installation the association makes it on its own
    computer (python -m countersign.keytool new); the demo has no such computer, so the key
    file lies beside the demo rosters, without a passphrase, and the demo observer registers
    its public key (once; the same file on the next start)."""
    path = demo_dir / "association.key"
    if path.exists():
        private = sealing.load_private(path.read_bytes(), None)
    else:
        private = sealing.new_private_key()
        path.touch(mode=0o600)
        path.write_bytes(sealing.private_pem(private, None))
    fingerprint = sealing.fingerprint(private.public_key())
    if not AssociationKey.objects.filter(fingerprint=fingerprint).exists():
        association_key.register(user=User.objects.get(username="oscar"),
                                 pem=sealing.public_pem(private.public_key()))
    return path


def _through_the_countersign(campaign, *, olivia, sam, oscar, private):
    workflow.submit(campaign=campaign, user=olivia)
    workflow.test_send(campaign=campaign, user=olivia, member=campaign.roster.members.first(),
                       recipients=[sam])
    workflow.approve(campaign=campaign, seen=Seen.current(campaign), user=sam,
                     checklist=list(workflow.SUPERVISOR_CHECKLIST))
    workflow.release(campaign=campaign, seen=Seen.current(campaign), user=oscar,
                     checklist=list(workflow.OBSERVER_CHECKLIST),
                     grant=key_window.grant_made_here(campaign, private))


def _send(campaign) -> None:
    while sender.run(campaign.pk, worker="demo-set-up", budget=5,
                     sleep=lambda s: None) is sender.Outcome.CONTINUE:
        pass
    campaign.refresh_from_db()


def _sent_with_a_bounce(roster, *, olivia, sam, oscar, private) -> Campaign:
    campaign = workflow.create(user=olivia, roster=roster, name=_("Demo: dues notice (sent)"),
                               sender=_sender(), subject="{name} 様: 年会費のお知らせ",
                               body_text=BODY, canary_enabled=False)
    _through_the_countersign(campaign, olivia=olivia, sam=sam, oscar=oscar, private=private)
    _send(campaign)
    returned = campaign.deliveries.order_by("id").last()
    bounces.record_bounce(delivery_id=returned.pk, kind=bounces.BounceKind.HARD,
                          status="5.1.1", source="dsn:demo")
    return campaign


def _paused_with_a_doubt(roster, *, olivia, sam, oscar, private) -> Campaign:
    """The first five go, the hold is confirmed, then the worker is cut off in the middle
    of handing over the sixth: that message is in doubt, and the campaign is paused."""
    campaign = workflow.create(user=olivia, roster=roster,
                               name=_("Demo: general meeting (paused, one message in doubt)"),
                               sender=_sender(), subject="{name} 様: 総会のご案内",
                               body_text=BODY.replace("年会費のお知らせ", "総会のご案内"),
                               canary_size=5)
    _through_the_countersign(campaign, olivia=olivia, sam=sam, oscar=oscar, private=private)
    _send(campaign)  # held after the first five
    workflow.confirm_canary(campaign=campaign, seen=Seen.current(campaign), user=oscar)
    claim = deliveries.claim_next(campaign.pk, worker="demo-set-up",
                                  terms=deliveries.terms_of(Campaign.objects.get(pk=campaign.pk)))
    deliveries.move("doubt", Delivery.objects.filter(pk=claim.delivery_id),
                    smtp_reply=_("The connection to the mail server broke while this message "
                                 "was being handed over (demo)."))
    return workflow.pause(campaign=campaign, user=oscar)


def _sender() -> str:
    from campaigns import content

    return content.allowed_senders()[0]
