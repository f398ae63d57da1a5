"""The release opens a window: a roster whose data key only the association holds
(roster.data_keys) is opened by a send worker only with the key the association sealed to
that worker, for that release.

1. Each worker process makes an X25519 key pair in its memory when it starts and publishes
   the public half (WorkerKey). The private half never leaves the process.
2. At release the observer downloads a grant request (`request_for`: the campaign, its
   content hash, the roster's data key as sealed to the association, the live workers'
   public keys, a deadline) and runs `python -m countersign.keytool grant` on the
   association's machine: it opens the data key with the association's key and seals it to
   each worker, bound (HPKE info) to campaign, roster, content hash and deadline
   (sealing.grant_name). The observer hands the grant in with the release (`check` then
   `store`): the server never sees the data key.
3. The worker opens its grant at the start of each send slice (`key_for`), holds the data key
   in memory while the slice runs (data_keys.open_window) and drops it at the slice's end.
   Stop, pause and completion delete the grants (`drop`); past the deadline, or for other
   content, a grant does not open. A restarted worker has a new key: the campaign pauses
   ("key needed") until the observer releases it again with a new grant; claims in flight
   go in doubt as before.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import socket
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import Grant, WorkerKey
from countersign import association_key, sealing
from roster import data_keys

log = logging.getLogger(__name__)

_process: dict = {"pid": None, "private": None}


def _private():
    """This process's private key, made at first use (a forked worker makes its own)."""
    if _process["pid"] != os.getpid():
        _process.update(pid=os.getpid(), private=sealing.new_private_key())
    return _process["private"]


def fingerprint() -> str:
    return sealing.fingerprint(_private().public_key())


def attestation(fingerprint_: str, public_key: bytes, name: str) -> str:
    """What a worker writes beside its public key: an HMAC under a key derived from the
    installation's MEMBER_DATA_KEY, which a worker process holds and the database does not.
    A row the database's administrator adds or changes (his own key under a worker's name)
    carries none that holds, and is never listed or granted."""
    secret = hashlib.sha256(f"countersign-worker-key:{settings.MEMBER_DATA_KEY}".encode())
    message = b"cs1|worker-key|" + fingerprint_.encode() + b"|" + public_key + b"|" + name.encode()
    return hmac.new(secret.digest(), message, hashlib.sha256).hexdigest()


def publish(**_signal) -> WorkerKey:
    """Make this process's key known (as a worker starts, and at each send slice)."""
    public = _private().public_key()
    fingerprint_, raw = sealing.fingerprint(public), sealing.raw_public(public)
    name = f"{socket.gethostname()}:{os.getpid()}"
    key, created = WorkerKey.objects.update_or_create(fingerprint=fingerprint_, defaults={
        "public_key": raw, "seen_at": timezone.now(), "name": name,
        "attestation": attestation(fingerprint_, raw, name)})
    if created:  # for whoever compares it with the grant request
        log.info("worker %s: key %s", name, sealing.grouped(fingerprint_))
    return key


def forget_process_key() -> None:
    """As a restart would: this process's key is gone (tests, drills)."""
    _process.update(pid=None, private=None)


def live_workers() -> list[WorkerKey]:
    """Workers seen lately whose row holds as a worker wrote it: the ones a grant is sealed
    to."""
    since = timezone.now() - timedelta(hours=settings.WORKER_KEY_LIVE_HOURS)
    return [w for w in WorkerKey.objects.filter(seen_at__gte=since).order_by("name")
            if sealing.fingerprint(bytes(w.public_key)) == w.fingerprint
            and hmac.compare_digest(w.attestation, attestation(w.fingerprint,
                                                               bytes(w.public_key), w.name))]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def request_for(campaign) -> dict:
    """What the observer's key tool needs to make a grant for this campaign's release."""
    not_after = timezone.now() + timedelta(hours=settings.GRANT_HOURS)
    if campaign.send_before and campaign.send_before < not_after:
        not_after = campaign.send_before
    return {
        "kind": sealing.GRANT_REQUEST, "campaign": campaign.pk, "name": campaign.name,
        "roster": campaign.roster_id, "key_roster": campaign.roster.original().pk,
        "content_hash": campaign.content_hash,
        "not_after": _iso(not_after), "data_key_seals": campaign.roster.data_key_seals,
        "workers": [{"name": w.name, "fingerprint": w.fingerprint,
                     "public_key": base64.b64encode(bytes(w.public_key)).decode("ascii")}
                    for w in live_workers()],
    }


class GrantRefused(ValueError):
    """A grant file that is not one for this release; the message says why."""


def check(campaign, data: bytes) -> tuple[datetime, dict[str, bytes]]:
    """(deadline, {worker fingerprint: sealed data key}) of a grant file handed in with the
    release of `campaign`; GrantRefused if it is not one for exactly this release."""
    try:
        grant = json.loads(data)
        kind, seals = grant["kind"], grant["seals"]
        not_after = datetime.fromisoformat(grant["not_after"])
        sealed = {str(fp): base64.b64decode(blob, validate=True) for fp, blob in seals.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise GrantRefused(_("This is not a grant file made by the key tool.")) from error
    if kind != sealing.GRANT:
        raise GrantRefused(_("This is not a grant file made by the key tool."))
    if (grant.get("campaign"), grant.get("roster"), grant.get("content_hash")) != (
            campaign.pk, campaign.roster_id, campaign.content_hash):
        raise GrantRefused(_("This grant was made for another campaign or other content: "
                             "download the grant request again and make a new grant."))
    if not_after <= timezone.now():
        raise GrantRefused(_("This grant's deadline has passed: make a new one."))
    known = {w.fingerprint for w in live_workers()} & set(sealed)
    if not known:
        raise GrantRefused(_("This grant is for no worker that is running now (a worker "
                             "restarted since the request was downloaded): download the "
                             "grant request again and make a new grant."))
    return not_after, {fp: blob for fp, blob in sealed.items() if fp in known}


def store(campaign, checked: tuple[datetime, dict[str, bytes]], user) -> dict:
    """The checked grant, kept for the workers it names (a release replaces any before it).
    Returns what the release's audit entry says of it: fingerprints and the deadline."""
    not_after, sealed = checked
    drop(campaign)
    workers = {w.fingerprint: w for w in WorkerKey.objects.filter(fingerprint__in=list(sealed))}
    Grant.objects.bulk_create(
        Grant(campaign=campaign, worker_key=workers[fp], content_hash=campaign.content_hash,
              not_after=not_after, sealed=blob, created_by=user) for fp, blob in sealed.items())
    return {"workers": sorted(sealed), "not_after": _iso(not_after),
            "association_key": association_key.current_fingerprint()}


def drop(campaign) -> int:
    return Grant.objects.filter(campaign=campaign).delete()[0]


def key_for(campaign) -> tuple[AESGCM, datetime] | None:
    """(the roster's data key, the grant's deadline) if this process holds a grant for the
    campaign as it is now (its content hash, its roster) that opens and is not past its
    deadline; None otherwise ("key needed")."""
    grant = Grant.objects.filter(campaign=campaign, worker_key__fingerprint=fingerprint()).first()
    if grant is None:
        return None
    try:
        header, data_key = sealing.open_sealed(bytes(grant.sealed), _private())
    except sealing.NotSealed:
        return None
    not_after = grant.not_after
    expected = sealing.grant_name(campaign=campaign.pk, roster=campaign.roster_id,
                                  content_hash=campaign.content_hash,
                                  not_after=_iso(not_after))
    if header.name != expected or not_after <= timezone.now():
        return None
    return AESGCM(data_key), not_after


def grant_made_here(campaign, private_key) -> bytes | None:
    """What the key tool makes on the association's computer, made in this process with the
    association's private key: for the demo (whose key file lies beside it) and the tests and
    benchmarks, never for a real association. This process is the worker that sends. None
    when the campaign's roster needs no grant."""
    campaign = type(campaign).objects.select_related("roster").get(pk=campaign.pk)
    if not data_keys.with_association(campaign.roster):
        return None
    publish()
    made = _iso(timezone.now())
    return json.dumps(sealing.make_grant(request_for(campaign), private_key,
                                         made=made)).encode()
