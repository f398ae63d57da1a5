"""The countersignatures: the supervisor's approval or rejection, the observer's release,
sign-offs that lapse with their signer's standing, and a person's decision on a message in
doubt. Each is given for what its signer saw (campaigns.seen)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns import deliveries, dkim_probe, key_window, suppression
from campaigns.labels import VOID_REASONS
from campaigns.models import Campaign, CampaignVersion, Delivery, SignOff
from campaigns.seen import Seen
from campaigns.states import TRANSITIONS, State
from campaigns.terms import SENDING_FIELDS
from campaigns.workflow.door import (
    ALLOWED,
    Check,
    IncompleteSignOff,
    StaleSignOff,
    WrongState,
    acting_role,
    can,
    checklist_check,
    deadline_check,
    first_of,
    locked,
    perform,
    record_refusal,
    refused,
    void_signoffs,
)
from countersign.pseudonyms import mask_addresses
from countersign.roles import Role
from countersign.text import visible
from roster import data_keys
from roster.models import Suppression

SUPERVISOR_CHECKLIST = {
    "recipients": gettext_lazy("The recipients are the intended ones: I checked the count and "
                               "the roster."),
    "no_roster_data": gettext_lazy("The message carries no attachment and no roster data of "
                                   "other members."),
    "content": gettext_lazy("I reviewed the subject and the body."),
    "test_read": gettext_lazy("I received and read a test message of this exact version."),
}
OBSERVER_CHECKLIST = {
    "recipients": gettext_lazy("These are the members the association asked to reach."),
    "content": gettext_lazy("This is the notice the association asked for."),
    "witness": gettext_lazy("I am present and witness the release now."),
}


# --- the countersignatures ----------------------------------------------------------------------

def approve(*, campaign, user, seen: Seen | None, checklist, comment: str = "") -> Campaign:
    """The supervisor's approval of exactly what `seen` names (what the page showed)."""
    return perform("approve", campaign, user, check=_conditions_of_approve,
                    apply=_apply_approve, seen=seen, checklist=checklist, comment=comment)


def _conditions_of_approve(c, user, *, seen, checklist, comment) -> Check:
    if not c.test_sends.filter(content_hash__in=tested_hashes(c), recipients=user).exists():
        return refused(IncompleteSignOff, _("No test message of this version was sent to you. "
                                        "Ask the operator for one first."), "no_test_send")
    return checklist_check(checklist, SUPERVISOR_CHECKLIST)


def _apply_approve(c, user, *, seen, checklist, comment) -> dict:
    signoff = SignOff.objects.create(
        campaign=c, kind=SignOff.Kind.APPROVAL, user=user, role=Role.SUPERVISOR,
        organisation=user.organisation, content_hash=c.content_hash,
        recipient_count=c.roster.member_count, checklist=sorted(checklist), comment=comment)
    return {"content_hash": c.content_hash, "checklist": signoff.checklist,
            "comment": comment, "recipient_count": signoff.recipient_count,
            "signoff": signoff.pk}


def reject(*, campaign, user, comment: str) -> Campaign:
    return perform("reject", campaign, user, check=_conditions_of_reject,
                    apply=_apply_reject, comment=comment)


def _conditions_of_reject(c, user, *, comment) -> Check:
    if not comment.strip():
        return refused(IncompleteSignOff, _("Say what must change: a comment is required to "
                                        "reject."), "comment")
    return ALLOWED


def _apply_reject(c, user, *, comment) -> dict:
    role = acting_role(user, TRANSITIONS["reject"])
    SignOff.objects.create(campaign=c, kind=SignOff.Kind.REJECTION, user=user, role=role,
                           organisation=user.organisation, content_hash=c.content_hash,
                           recipient_count=c.roster.member_count, comment=comment)
    return {"content_hash": c.content_hash, "comment": comment,
            "voided_signoffs": void_signoffs(c, "rejected")}


def release(*, campaign, user, seen: Seen | None, checklist, comment: str = "",
            override: str = "", overridden=(), grant: bytes | None = None) -> Campaign:
    """The association's live go for exactly what `seen` names (what the page showed):
    valid for RELEASE_WINDOW_MINUTES. An approval whose signer lost their standing lapses
    first, and the release is refused, saying why. The sender's SPF, DKIM and DMARC are
    read from DNS first (outside the lock: a slow resolver must not hold the campaign; not
    at all when the release would be refused anyway): a hard failure refuses the release
    unless `override` says, in writing, why to send anyway, for exactly the failures it was
    written for (`overridden`: Report.failure_keys of what the page showed). The release's
    audit entry keeps the checks and the reason. A roster whose key only the association
    holds needs its `grant` too (campaigns.key_window): the file the key tool made."""
    if (sent_back := lapse_signoffs_of_unstanding_signers(campaign)) is not None:
        error = StaleSignOff(_("A sign-off no longer counts, so the campaign went back a "
                               "step: %(why)s.") % {"why": lapse_reasons(sent_back)},
                             code="signoff_lapsed")
        with transaction.atomic():
            record_refusal(TRANSITIONS["release"], sent_back, user, error)
        raise error
    current = Campaign.objects.get(pk=campaign.pk)  # the page's copy may be older
    checked = dkim_probe.report_for(current, fresh=True) \
        if settings.SENDER_CHECK and can("release", current, user) else None
    return perform("release", campaign, user, check=_conditions_of_release_now,
                   apply=_apply_release, seen=seen, checklist=checklist, comment=comment,
                   checked=checked, override=visible(override), overridden=tuple(overridden),
                   grant=grant)


def _sender_check(checked, override: str, overridden) -> Check:
    if settings.SENDER_CHECK and checked is None:  # it became releasable meanwhile
        return refused(WrongState, _("The campaign changed while it was being released: "
                                     "try again."), "sender_auth_unread")
    if checked is None or not checked.failures:
        return ALLOWED
    unseen = [r for r in checked.failures if r.key not in set(overridden)]
    if override and unseen and len(unseen) < len(checked.failures):
        return refused(IncompleteSignOff, _(
            "Since the page was loaded these checks failed too, and your reason was not "
            "written for them: %(failures)s Read the page again.")
            % {"failures": " ".join(r.message for r in unseen)}, "sender_auth_changed",
            details={"sender_check": checked.summary()})
    if override and not unseen:
        return ALLOWED
    return refused(IncompleteSignOff, _(
        "Receivers would not believe this sender: %(failures)s Fix the DNS records, or "
        "release anyway with your reason in writing (it is kept in the audit log).")
        % {"failures": " ".join(r.message for r in checked.failures)}, "sender_auth",
        details={"sender_check": checked.summary()})


def _grant_check(c, grant: bytes | None) -> Check:
    """The association's grant, when only it holds the roster's key: there, and for
    exactly this release."""
    if not data_keys.with_association(c.roster):
        return ALLOWED
    if not grant:
        return refused(IncompleteSignOff, _("Only the association holds this roster's key: "
                                            "download the grant request, make the grant with "
                                            "the key tool and hand it in with the release."),
                       "grant_needed")
    try:
        key_window.check(c, grant)
    except key_window.GrantRefused as error:
        return refused(IncompleteSignOff, str(error), "grant_refused")
    return ALLOWED


def _conditions_of_release_now(c, user, *, seen, checklist, comment, checked,
                               override, overridden, grant) -> Check:
    approval = c.valid_approvals().order_by("-created_at").first()
    if approval is None:
        return refused(StaleSignOff, _("There is no valid approval for this content."),
                   "no_approval")
    if approval.is_expired():
        return refused(StaleSignOff, _("The approval is older than %(hours)s hours: a supervisor "
                                   "must review the campaign again.")
                   % {"hours": settings.APPROVAL_TTL_HOURS}, "approval_expired")
    if c.compute_content_hash() != approval.content_hash:
        return refused(StaleSignOff, _("What would be sent is no longer what was approved (the "
                                   "content or the roster changed)."), "hash_mismatch")
    return first_of(deadline_check(c), checklist_check(checklist, OBSERVER_CHECKLIST),
                    _sender_check(checked, override, overridden), lambda: _grant_check(c, grant))


def _apply_release(c, user, *, seen, checklist, comment, checked, override,
                   overridden, grant) -> dict:
    now = timezone.now()
    approval = c.valid_approvals().order_by("-created_at").first()
    signoff = SignOff.objects.create(
        campaign=c, kind=SignOff.Kind.RELEASE, user=user, role=Role.OBSERVER,
        organisation=user.organisation, content_hash=c.content_hash,
        recipient_count=c.roster.member_count, checklist=sorted(checklist), comment=comment)
    resumed = c.state == State.PAUSED
    c.released_at = now
    c.release_expires_at = now + timedelta(minutes=settings.RELEASE_WINDOW_MINUTES)
    c.paused_reason = ""
    return {"content_hash": c.content_hash, "checklist": signoff.checklist,
            "comment": comment, "recipient_count": signoff.recipient_count,
            "approval": approval.pk, "approved_by": approval.user.get_username(),
            "release_expires_at": c.release_expires_at.isoformat(), "signoff": signoff.pk,
            "resumed": resumed,
            "sender_check": checked.summary() if checked is not None else None,
            "sender_check_overridden": override if checked and checked.failures else "",
            "grant": (key_window.store(c, key_window.check(c, grant), user)
                      if data_keys.with_association(c.roster) else None)}


# --- sign-offs lapse with their signer's standing ---------------------------------------------

def lapse_signoffs(*, campaign, reason_for) -> Campaign | None:
    """Void the approvals and releases of `campaign` for which `reason_for(signoff)` gives a
    reason ("" keeps it). A lapsed approval sends the campaign back to review (its release
    goes with it); a lapsed release alone back to the observer. One audited step, by the
    system; None when nothing lapsed."""
    with transaction.atomic():
        c = locked(campaign)
        if c.state not in TRANSITIONS["lapse"].applies_in or not _lapsed(c, reason_for):
            return None
        return perform("lapse", c, None, apply=_apply_lapse, reason_for=reason_for)


def _lapsed(c, reason_for) -> list[tuple[SignOff, str]]:
    live = c.signoffs.filter(voided_at=None, kind__in=[SignOff.Kind.APPROVAL,
                                                       SignOff.Kind.RELEASE])
    return [(s, r) for s in live.select_related("user") if (r := reason_for(s))]


def _apply_lapse(c, user, *, reason_for) -> dict:
    found = _lapsed(c, reason_for)
    approval_lapsed = any(s.kind == SignOff.Kind.APPROVAL for s, _r in found)
    voided = []
    for signoff, reason in found:
        SignOff.objects.filter(pk=signoff.pk).update(voided_at=timezone.now(),
                                                     void_reason=reason)
        voided.append({"signoff": signoff.pk, "kind": signoff.kind,
                       "user": signoff.user.get_username(), "reason": reason})
    if approval_lapsed:
        voided += [{"signoff": pk, "kind": "release", "reason": "approval_lapsed"}
                   for pk in void_signoffs(c, "approval_lapsed")]
    c.state = State.SUBMITTED if approval_lapsed else State.APPROVED
    c.release_expires_at = None
    return {"content_hash": c.content_hash, "lapsed": voided}


def lapse_reasons(campaign) -> str:
    """The newest lapse of `campaign` in words: whose sign-off, and why."""
    lapsed = campaign.signoffs.filter(voided_at__isnull=False).exclude(
        void_reason="approval_lapsed").order_by("-voided_at").select_related("user")
    newest = lapsed.first()
    if newest is None:
        return ""
    return "; ".join(f"{s.get_kind_display()} ({s.user}): "
                     f"{VOID_REASONS.get(s.void_reason, s.void_reason)}"
                     for s in lapsed.filter(voided_at=newest.voided_at))


# --- the recipients change under a frozen version -------------------------------------------

def recount_recipients(*, campaign_id: int) -> Campaign | None:
    """The recipients of a frozen version changed (an address was suppressed: a member
    unsubscribed, bounced or was erased). The suppressed set is part of the content hash,
    so the approval and release no longer hold: rather than leave the campaign "approved"
    with a release that would fail, it goes back to review as a new version (the same
    message, the new recipient count), its sign-offs void with the reason, and the people
    who must sign again are told. One audited step, by the system; None when the hash did
    not change (or the campaign is not under review)."""
    with transaction.atomic():
        c = locked(campaign_id)
        if c.state not in TRANSITIONS["recount"].applies_in or not c.content_hash:
            return None
        now_hash = c.compute_content_hash()
        if now_hash == c.content_hash:
            return None
        return perform("recount", c, None, apply=_apply_recount, now_hash=now_hash)


def _apply_recount(c, user, *, now_hash) -> dict:
    old_hash, shown = c.content_hash, c.current_version()
    voided = void_signoffs(c, "recipients_changed")
    version = CampaignVersion.objects.create(
        campaign=c, number=shown.number + 1, content_hash=now_hash, roster=c.roster,
        sender=c.sender, subject=c.subject, body_text=c.body_text, body_html=c.body_html,
        recipient_count=c.roster.member_count, submitted_by=shown.submitted_by,
        guard_report=shown.guard_report, **{f: getattr(c, f) for f in SENDING_FIELDS})
    c.content_hash = now_hash
    c.release_expires_at = None
    return {"old_content_hash": old_hash, "content_hash": now_hash,
            "recipient_count": version.recipient_count, "version": version.number,
            "suppressed_count": len(c.suppressed_numbers()), "voided_signoffs": voided}


def tested_hashes(campaign) -> set[str]:
    """The content hashes a test message counts for now: this version's, and those of the
    earlier versions that differ from it only in their recipients (a recount), since the
    message the reviewer read is the same."""
    current = campaign.current_version()
    if current is None:
        return {campaign.content_hash}
    message = ("sender", "subject", "body_text", "body_html", *SENDING_FIELDS)
    same = campaign.versions.filter(**{f: getattr(current, f) for f in message})
    return {campaign.content_hash, *same.values_list("content_hash", flat=True)}


def lapse_signoffs_of_unstanding_signers(campaign) -> Campaign | None:
    """At release and at start: sign-offs whose signer is no longer active, no longer holds
    the role, or moved organisation no longer count."""
    return lapse_signoffs(campaign=campaign, reason_for=SignOff.standing_problem)


def lapse_signoffs_of(*, user, reason: str) -> list[int]:
    """All of `user`'s sign-offs that still count lapse (their password was set by someone
    else, for example). Returns the campaigns sent back."""
    campaigns = Campaign.objects.filter(
        state__in=TRANSITIONS["lapse"].sources, signoffs__user=user, signoffs__voided_at=None,
        signoffs__kind__in=[SignOff.Kind.APPROVAL, SignOff.Kind.RELEASE]).distinct()
    sent_back = []
    for campaign in campaigns:
        if lapse_signoffs(campaign=campaign,
                          reason_for=lambda s: reason if s.user_id == user.pk else ""):
            sent_back.append(campaign.pk)
    return sent_back


# --- a message in doubt: a person decides ------------------------------------------------

def decide(*, delivery, user, seen: Seen | None, decision: str) -> Delivery:
    """A person settles a message in doubt: resend it, or skip it. Never automatic. `seen`
    names the campaign and the evidence the page showed (Seen.of(campaign, delivery=...))."""
    if decision not in ("resend", "skip"):
        raise IncompleteSignOff(_("Choose resend or skip."), code="decision")
    perform("decide", delivery.campaign_id, user, check=_conditions_of_decide,
             apply=_apply_decide, seen=seen, delivery=delivery, decision=decision)
    return Delivery.objects.get(pk=delivery.pk)


def _conditions_of_decide(c, user, *, seen, delivery, decision) -> Check:
    current = Delivery.objects.get(pk=delivery.pk)
    if current.state != Delivery.State.IN_DOUBT:
        return refused(WrongState, _("This message is not in doubt (any more)."), "not_in_doubt")
    if decision == "resend" and (current.member_id is None or Suppression.objects.filter(
            pseudonym=current.address_pseudonym,
            reason__in=suppression.reasons_for(c.kind)).exists()):
        return refused(WrongState, _("This address was erased or is on the suppression list: "
                                 "it cannot be sent again. Skip it."), "suppressed")
    return ALLOWED


def _apply_decide(c, user, *, seen, delivery, decision) -> dict:
    # The relay's evidence the person saw beside the buttons (reconcile_in_doubt), as it
    # stood when they decided: the audit entry keeps what the decision was based on.
    evidence = Delivery.objects.values_list("relay_evidence", flat=True).get(pk=delivery.pk)
    # A resent message is a new message (a new Message-ID): the old evidence is not about it.
    deliveries.move(
        decision, Delivery.objects.filter(pk=delivery.pk), decided_by=user,
        decided_at=timezone.now(), decision=decision,
        next_attempt_at=None, **({"relay_evidence": {}, "message_id": "", "message_sha256": ""}
                                 if decision == "resend" else {}))
    return {"delivery": delivery.pk, "member": delivery.member_number, "decision": decision,
            "content_hash": c.content_hash,
            "previous_reply": mask_addresses(delivery.smtp_reply)[:300],
            "relay_evidence": evidence or {}}


