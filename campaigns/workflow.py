"""Every change of a campaign's state, and the rules on who may make it.

Each action has its check beside it: `can_<action>(campaign, user)` answers for the buttons
on a page; the action asks it again, inside the transaction, on the locked row. An action
that goes through writes exactly one audit entry (with the content hash) in the same
transaction. One that is refused changes nothing, writes one `campaign.refused` entry
(who tried what, and why), and raises a named WorkflowError: NotAllowed becomes a 403,
the others a message on the page.
"""

from __future__ import annotations

import smtplib
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.mail import get_connection
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

import audit
from campaigns import content, guard, mail
from campaigns.models import (
    EDITABLE_STATES,
    SENDING_FIELDS,
    Campaign,
    CampaignVersion,
    Delivery,
    SignOff,
    State,
    TestSend,
)
from countersign.roles import Role, has_role, roles_of

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


class WorkflowError(Exception):
    code = "refused"

    def __init__(self, message: str, *, code: str | None = None, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.details = details or {}


class NotAllowed(WorkflowError):
    """This user may not do this (role, or separation of duties)."""


class WrongState(WorkflowError):
    """The campaign is not in a state where this action applies."""


class ContentRefused(WorkflowError):
    """The content breaks a rule (template problems, content guard findings)."""

    report = None  # the content guard's GuardReport, when it was the guard that refused


class StaleSignOff(WorkflowError):
    """An approval or release that no longer holds (expired, or for other content)."""


class IncompleteSignOff(WorkflowError):
    """A checklist item not ticked, or a required comment missing."""


class TestSendFailed(WorkflowError):
    """The e-mail server did not take the test message."""

    __test__ = False


@dataclass(frozen=True)
class Check:
    error: WorkflowError | None = None

    def __bool__(self) -> bool:
        return self.error is None

    @property
    def reason(self) -> str:
        return self.error.message if self.error else ""


ALLOWED = Check()


def _no(error_class, message, code, *, details=None, report=None) -> Check:
    error = error_class(message, code=code, details=details)
    if report is not None:
        error.report = report
    return Check(error)


def _state_is(campaign, *states) -> Check:
    if campaign.state in states:
        return ALLOWED
    return _no(WrongState, _("Not possible while the campaign is “%(state)s”.")
               % {"state": campaign.get_state_display()}, "state")


def _first(*checks) -> Check:
    for check in checks:
        if not check:
            return check
    return ALLOWED


# --- the checks ---------------------------------------------------------------------------------

def _is_author(campaign, user) -> Check:
    if not has_role(user, Role.OPERATOR):
        return _no(NotAllowed, _("Only an operator can do this."), "role")
    if campaign.author_id != user.pk:
        return _no(NotAllowed, _("Only the campaign's author can do this."), "not_author")
    return ALLOWED


def _is_not_author(campaign, user) -> Check:
    if campaign.author_id == user.pk:
        return _no(NotAllowed, _("The author of a campaign can never sign it off."), "author")
    return ALLOWED


def can_edit(campaign, user) -> Check:
    return _first(_is_author(campaign, user), _state_is(campaign, *EDITABLE_STATES))


def can_submit(campaign, user) -> Check:
    return _first(_is_author(campaign, user), _state_is(campaign, State.DRAFT))


def can_test_send(campaign, user) -> Check:
    return _first(_is_author(campaign, user), _state_is(campaign, State.DRAFT, State.SUBMITTED))


def can_approve(campaign, user) -> Check:
    if not has_role(user, Role.SUPERVISOR):
        return _no(NotAllowed, _("Only a supervisor can approve."), "role")
    return _first(_is_not_author(campaign, user), _state_is(campaign, State.SUBMITTED))


def can_reject(campaign, user) -> Check:
    if not has_role(user, Role.SUPERVISOR, Role.OBSERVER):
        return _no(NotAllowed, _("Only a supervisor or an observer can reject."), "role")
    return _first(_is_not_author(campaign, user),
                  _state_is(campaign, State.SUBMITTED, State.APPROVED))


def can_release(campaign, user) -> Check:
    if not has_role(user, Role.OBSERVER):
        return _no(NotAllowed, _("Only the association's observer can release."), "role")
    check = _first(_is_not_author(campaign, user),
                   _state_is(campaign, State.APPROVED, State.RELEASED, State.PAUSED))
    if not check:
        return check
    if campaign.valid_approvals().filter(user=user).exists():
        return _no(NotAllowed, _("Whoever approved a campaign cannot also release it."),
                   "approver")
    if campaign.state == State.RELEASED and campaign.release_is_live():
        return _no(WrongState, _("The campaign is already released."), "already_released")
    return ALLOWED


def can_cancel(campaign, user) -> Check:
    is_author = campaign.author_id == user.pk and has_role(user, Role.OPERATOR)
    if not (is_author or has_role(user, Role.SUPERVISOR)):
        return _no(NotAllowed, _("Only the author or a supervisor can cancel."), "role")
    return _state_is(campaign, *EDITABLE_STATES)


# --- the one door -------------------------------------------------------------------------------

def _acting_role(user, *candidates) -> str:
    if user is None:
        return ""
    held = roles_of(user)
    return next((role for role in candidates if role in held), "")


def _locked(campaign) -> Campaign:
    return Campaign.objects.select_for_update().select_related("roster").get(pk=campaign.pk)


def _who(user) -> dict:
    """audit.record() arguments for a person, or for the worker when user is None."""
    return {"actor": user} if user is not None else {"system": "worker"}


def _record_refusal(action: str, campaign, user, role: str, error: WorkflowError) -> None:
    audit.record("campaign.refused", role=role, target=campaign, **_who(user), payload={
        "attempted": action, "code": error.code, "reason": str(error.message),
        "state": campaign.state, "content_hash": campaign.content_hash,
        "user_roles": sorted(roles_of(user)) if user is not None else [], **error.details,
    })


def _perform(action: str, campaign: Campaign, user, *, roles, check, apply) -> Campaign:
    """Lock, check, apply, audit: all in one transaction. Refusals are audited too."""
    role = _acting_role(user, *roles)
    with transaction.atomic():
        campaign = _locked(campaign)
        verdict = check(campaign)
        if verdict:
            payload = apply(campaign)
            audit.record(f"campaign.{action}", role=role, target=campaign, **_who(user),
                         payload={"state": campaign.state, **payload})
            return campaign
        _record_refusal(action, campaign, user, role, verdict.error)
    raise verdict.error


def _void_signoffs(campaign, reason: str) -> list[int]:
    live = campaign.signoffs.filter(voided_at=None, kind__in=[SignOff.Kind.APPROVAL,
                                                              SignOff.Kind.RELEASE])
    ids = list(live.values_list("pk", flat=True))
    live.update(voided_at=timezone.now(), void_reason=reason)
    return ids


def _checklist(ticked, items) -> Check:
    missing = [key for key in items if key not in set(ticked)]
    if missing:
        return _no(IncompleteSignOff, _("Tick every item of the checklist: %(items)s")
                   % {"items": "; ".join(str(items[k]) for k in missing)}, "checklist")
    return ALLOWED


def _content_check(roster, fields: dict) -> Check:
    problems = content.content_problems(roster=roster, **fields)
    if problems:
        return _no(ContentRefused, " ".join(m for ms in problems.values() for m in ms),
                   "content", details={"fields": sorted(problems)})
    return ALLOWED


# --- the actions --------------------------------------------------------------------------------

CONTENT_FIELDS = ("sender", "subject", "body_text", "body_html")


def create(*, user, roster, name: str, sender: str, subject: str, body_text: str,
           body_html: str = "", **sending) -> Campaign:
    fields = {"sender": sender, "subject": subject, "body_text": body_text,
              "body_html": mail.sanitise_html(body_html)}
    if not has_role(user, Role.OPERATOR):
        raise NotAllowed(_("Only an operator can create a campaign."), code="role")
    check = _content_check(roster, fields)
    if not check:
        raise check.error
    with transaction.atomic():
        sending = {k: v for k, v in sending.items() if k in SENDING_FIELDS}
        campaign = Campaign.objects.create(name=name, roster=roster, author=user, **fields,
                                           **sending)
        audit.record("campaign.created", actor=user, role=Role.OPERATOR, target=campaign,
                     payload={"state": campaign.state, "roster": roster.pk,
                              "content_hash": campaign.compute_content_hash(),
                              "recipient_count": roster.member_count})
    return campaign


def edit(*, campaign, user, roster=None, name: str | None = None, **changes) -> Campaign:
    """Change the content. After submit this returns the campaign to draft and voids every
    approval and release: they were given for other content."""
    if "body_html" in changes:
        changes["body_html"] = mail.sanitise_html(changes["body_html"])

    def check(c):
        fields = {f: changes.get(f, getattr(c, f)) for f in CONTENT_FIELDS}
        return _first(can_edit(c, user), _content_check(roster or c.roster, fields))

    def apply(c):
        old_hash, old_state = c.content_hash or c.compute_content_hash(), c.state
        if roster is not None:
            c.roster = roster
        if name is not None:
            c.name = name
        for field in CONTENT_FIELDS + SENDING_FIELDS:
            if field in changes:
                setattr(c, field, changes[field])
        voided = _void_signoffs(c, "edited") if old_state != State.DRAFT else []
        c.state, c.content_hash = State.DRAFT, ""
        c.save()
        return {"from_state": old_state, "old_content_hash": old_hash,
                "content_hash": c.compute_content_hash(), "voided_signoffs": voided}

    return _perform("edited", campaign, user, roles=[Role.OPERATOR], check=check, apply=apply)


def _guard_outside_the_lock(campaign) -> tuple[dict, guard.GuardReport, str]:
    """Run the content guard (seconds for a big roster) with no lock held. Returns what was
    checked, so that the locked step can refuse if the campaign changed meanwhile."""
    fresh = Campaign.objects.select_related("roster").get(pk=campaign.pk)
    checked = {f: getattr(fresh, f) for f in (*CONTENT_FIELDS, *SENDING_FIELDS, "roster_id")}
    report = guard.check_campaign_content(roster=fresh.roster, subject=fresh.subject,
                                          body_text=fresh.body_text, body_html=fresh.body_html)
    return checked, report, fresh.compute_content_hash()


def _unchanged_since(c, checked: dict) -> Check:
    if any(getattr(c, f) != value for f, value in checked.items()):
        return _no(WrongState, _("The campaign changed while it was being checked. Try again."),
                   "changed")
    return ALLOWED


def submit(*, campaign, user) -> Campaign:
    """Freeze this version for review: content hash, snapshot, and the content guard. The
    guard runs before the campaign row is locked; the lock only stores its verdict."""
    early = _first(can_submit(campaign, user), _content_check(campaign.roster, {
        f: getattr(campaign, f) for f in CONTENT_FIELDS}))
    checked, report, checked_hash = ({}, None, "") if not early else _guard_outside_the_lock(
        campaign)

    def check(c):
        allowed = _first(can_submit(c, user), _content_check(c.roster, {
            f: getattr(c, f) for f in CONTENT_FIELDS}), _unchanged_since(c, checked))
        if not allowed:
            return allowed
        if not c.roster.member_count:
            return _no(ContentRefused, _("The roster has no members."), "no_recipients")
        if not report.ok:
            return _no(ContentRefused, _("The content guard found roster data of other "
                                         "members in the message."), "guard",
                       details={"guard": report.audit_summary()}, report=report)
        return ALLOWED

    def apply(c):
        c.content_hash = checked_hash
        c.state = State.SUBMITTED
        c.save()
        previous = c.versions.order_by("-number").values_list("number", flat=True).first() or 0
        version = CampaignVersion.objects.create(
            campaign=c, number=previous + 1, content_hash=c.content_hash, sender=c.sender,
            subject=c.subject, body_text=c.body_text, body_html=c.body_html,
            recipient_count=c.roster.member_count, submitted_by=user,
            guard_report=report.to_json(), **{f: getattr(c, f) for f in SENDING_FIELDS},
        )
        return {"content_hash": c.content_hash, "version": version.number,
                "recipient_count": version.recipient_count, "sending": c.sending_terms(),
                "links": [link["url"] for link in report.links[:50]],
                "guard": report.audit_summary()}

    return _perform("submitted", campaign, user, roles=[Role.OPERATOR], check=check, apply=apply)


def approve(*, campaign, user, checklist, comment: str = "") -> Campaign:
    def check(c):
        allowed = _first(can_approve(c, user), _checklist(checklist, SUPERVISOR_CHECKLIST))
        if allowed and not c.test_sends.filter(content_hash=c.content_hash,
                                               recipients=user).exists():
            return _no(IncompleteSignOff, _("No test message of this version was sent to you. "
                                            "Ask the operator for one first."), "no_test_send")
        return allowed

    def apply(c):
        signoff = SignOff.objects.create(
            campaign=c, kind=SignOff.Kind.APPROVAL, user=user, role=Role.SUPERVISOR,
            organisation=user.organisation,
            content_hash=c.content_hash, recipient_count=c.roster.member_count,
            checklist=sorted(checklist), comment=comment)
        c.state = State.APPROVED
        c.save()
        return {"content_hash": c.content_hash, "checklist": signoff.checklist,
                "comment": comment, "recipient_count": signoff.recipient_count,
                "signoff": signoff.pk}

    return _perform("approved", campaign, user, roles=[Role.SUPERVISOR], check=check,
                    apply=apply)


def reject(*, campaign, user, comment: str) -> Campaign:
    def check(c):
        allowed = can_reject(c, user)
        if allowed and not comment.strip():
            return _no(IncompleteSignOff, _("Say what must change: a comment is required to "
                                            "reject."), "comment")
        return allowed

    def apply(c):
        role = _acting_role(user, Role.SUPERVISOR, Role.OBSERVER)
        SignOff.objects.create(campaign=c, kind=SignOff.Kind.REJECTION, user=user, role=role,
                               organisation=user.organisation,
                               content_hash=c.content_hash, recipient_count=c.roster.member_count,
                               comment=comment)
        voided = _void_signoffs(c, "rejected")
        from_state, c.state = c.state, State.DRAFT
        c.save()
        return {"content_hash": c.content_hash, "comment": comment, "from_state": from_state,
                "voided_signoffs": voided}

    return _perform("rejected", campaign, user, roles=[Role.SUPERVISOR, Role.OBSERVER],
                    check=check, apply=apply)


# --- sign-offs lapse with their signer's standing ---------------------------------------------

STANDING_STATES = (State.APPROVED, State.RELEASED)  # where a sign-off still has to count


def lapse_signoffs(*, campaign, reason_for) -> Campaign | None:
    """Void the approvals and releases of `campaign` for which `reason_for(signoff)` gives a
    reason ("" keeps it). A lapsed approval sends the campaign back to review (its release
    goes with it); a lapsed release alone back to the observer. One audited step, by the
    system; None when nothing lapsed."""

    def lapsed(c):
        live = c.signoffs.filter(voided_at=None, kind__in=[SignOff.Kind.APPROVAL,
                                                           SignOff.Kind.RELEASE])
        return [(s, r) for s in live.select_related("user") if (r := reason_for(s))]

    def check(c):
        allowed = _state_is(c, *STANDING_STATES)
        if allowed and not lapsed(c):
            return _no(WrongState, _("No sign-off lapsed."), "none_lapsed")
        return allowed

    def apply(c):
        found = lapsed(c)
        approval_lapsed = any(s.kind == SignOff.Kind.APPROVAL for s, _r in found)
        voided = []
        for signoff, reason in found:
            SignOff.objects.filter(pk=signoff.pk).update(voided_at=timezone.now(),
                                                         void_reason=reason)
            voided.append({"signoff": signoff.pk, "kind": signoff.kind,
                           "user": signoff.user.get_username(), "reason": reason})
        if approval_lapsed:
            voided += [{"signoff": pk, "kind": "release", "reason": "approval_lapsed"}
                       for pk in _void_signoffs(c, "approval_lapsed")]
        from_state = c.state
        c.state = State.SUBMITTED if approval_lapsed else State.APPROVED
        c.release_expires_at = None
        c.save()
        return {"from_state": from_state, "content_hash": c.content_hash, "lapsed": voided}

    with transaction.atomic():
        c = _locked(campaign)
        if c.state not in STANDING_STATES or not lapsed(c):
            return None
        return _perform("signoff_lapsed", c, None, roles=[], check=check, apply=apply)


def lapse_reasons(campaign) -> str:
    """The newest lapse of `campaign` in words: whose sign-off, and why."""
    from countersign.labels import VOID_REASONS

    lapsed = campaign.signoffs.filter(voided_at__isnull=False).exclude(
        void_reason="approval_lapsed").order_by("-voided_at").select_related("user")
    newest = lapsed.first()
    if newest is None:
        return ""
    return "; ".join(f"{s.get_kind_display()} ({s.user}): "
                     f"{VOID_REASONS.get(s.void_reason, s.void_reason)}"
                     for s in lapsed.filter(voided_at=newest.voided_at))


def lapse_signoffs_of_unstanding_signers(campaign) -> Campaign | None:
    """At release and at start: sign-offs whose signer is no longer active, no longer holds
    the role, or moved organisation no longer count."""
    return lapse_signoffs(campaign=campaign, reason_for=SignOff.standing_problem)


def lapse_signoffs_of(*, user, reason: str) -> list[int]:
    """All of `user`'s sign-offs that still count lapse (their password was set by someone
    else, for example). Returns the campaigns sent back."""
    campaigns = Campaign.objects.filter(
        state__in=STANDING_STATES, signoffs__user=user, signoffs__voided_at=None,
        signoffs__kind__in=[SignOff.Kind.APPROVAL, SignOff.Kind.RELEASE]).distinct()
    sent_back = []
    for campaign in campaigns:
        if lapse_signoffs(campaign=campaign,
                          reason_for=lambda s: reason if s.user_id == user.pk else ""):
            sent_back.append(campaign.pk)
    return sent_back


def release(*, campaign, user, checklist, comment: str = "") -> Campaign:
    """The association's live go: valid for RELEASE_WINDOW_MINUTES. An approval whose signer
    lost their standing lapses first, and the release is refused, saying why."""
    if (sent_back := lapse_signoffs_of_unstanding_signers(campaign)) is not None:
        error = StaleSignOff(_("A sign-off no longer counts, so the campaign went back a "
                               "step: %(why)s.") % {"why": lapse_reasons(sent_back)},
                             code="signoff_lapsed")
        with transaction.atomic():
            _record_refusal("released", sent_back, user, Role.OBSERVER, error)
        raise error

    def check(c):
        allowed = _first(can_release(c, user), _checklist(checklist, OBSERVER_CHECKLIST))
        if not allowed:
            return allowed
        approval = c.valid_approvals().order_by("-created_at").first()
        if approval is None:
            return _no(StaleSignOff, _("There is no valid approval for this content."),
                       "no_approval")
        if approval.is_expired():
            return _no(StaleSignOff, _("The approval is older than %(hours)s hours: a supervisor "
                                       "must review the campaign again.")
                       % {"hours": settings.APPROVAL_TTL_HOURS}, "approval_expired")
        if c.compute_content_hash() != approval.content_hash:
            return _no(StaleSignOff, _("What would be sent is no longer what was approved (the "
                                       "content or the roster changed)."), "hash_mismatch")
        return ALLOWED

    def apply(c):
        now = timezone.now()
        approval = c.valid_approvals().order_by("-created_at").first()
        signoff = SignOff.objects.create(
            campaign=c, kind=SignOff.Kind.RELEASE, user=user, role=Role.OBSERVER,
            organisation=user.organisation,
            content_hash=c.content_hash, recipient_count=c.roster.member_count,
            checklist=sorted(checklist), comment=comment)
        resumed, c.state = c.state == State.PAUSED, State.RELEASED
        c.released_at = now
        c.release_expires_at = now + timedelta(minutes=settings.RELEASE_WINDOW_MINUTES)
        c.paused_reason = ""
        c.save()
        _ring_worker(c)
        return {"content_hash": c.content_hash, "checklist": signoff.checklist,
                "comment": comment, "recipient_count": signoff.recipient_count,
                "approval": approval.pk, "approved_by": approval.user.get_username(),
                "release_expires_at": c.release_expires_at.isoformat(), "signoff": signoff.pk,
                "resumed": resumed}

    return _perform("released", campaign, user, roles=[Role.OBSERVER], check=check, apply=apply)


def cancel(*, campaign, user, comment: str = "") -> Campaign:
    def apply(c):
        voided = _void_signoffs(c, "cancelled")
        from_state, c.state = c.state, State.CANCELLED
        c.save()
        return {"content_hash": c.content_hash, "comment": comment, "from_state": from_state,
                "voided_signoffs": voided}

    return _perform("cancelled", campaign, user, roles=[Role.OPERATOR, Role.SUPERVISOR],
                    check=lambda c: can_cancel(c, user), apply=apply)


def test_send(*, campaign, user, member, recipients) -> TestSend:
    """Send the message as `member` would get it, to staff only (the author and the chosen
    supervisors and observers), so that reviewers read the real thing before approving.

    Checked and audited in one transaction, sent outside any (a slow e-mail server must not
    hold the database), recorded in another.
    """
    recipients = [r for r in recipients if r.pk != user.pk]
    to = [user, *recipients]
    staff_ok = all(has_role(r, Role.SUPERVISOR, Role.OBSERVER) and r.email for r in recipients)

    def check(c):
        allowed = can_test_send(c, user)
        if allowed and member.roster_id != c.roster_id:
            return _no(ContentRefused, _("That member is not in this campaign's roster."),
                       "member")
        if allowed and not (staff_ok and user.email):
            return _no(NotAllowed, _("Test messages go only to the author, supervisors and "
                                     "observers, each with an e-mail address."), "recipients")
        return allowed

    with transaction.atomic():
        campaign = _locked(campaign)
        verdict = check(campaign)
        if not verdict:
            _record_refusal("test_sent", campaign, user, Role.OPERATOR, verdict.error)
    if not verdict:
        raise verdict.error

    tested_hash = campaign.content_hash or campaign.compute_content_hash()
    payload = {"content_hash": tested_hash, "member": member.member_number,
               "to": sorted(p.get_username() for p in to)}
    messages = [
        mail.build_message(sender=campaign.sender, subject=campaign.subject,
                           body_text=campaign.body_text, body_html=campaign.body_html,
                           values=mail.member_values(member), to=person.email,
                           subject_prefix=_("[TEST] "), headers={"X-Countersign-Test": "yes"})
        for person in to
    ]
    try:
        get_connection(fail_silently=False).send_messages(messages)
    except (smtplib.SMTPException, OSError) as error:
        with transaction.atomic():
            audit.record("campaign.test_send_failed", actor=user, role=Role.OPERATOR,
                         target=campaign, payload={**payload, "error": str(error)[:500]})
        raise TestSendFailed(_("The e-mail server did not accept the test message: %(error)s")
                             % {"error": error}, code="smtp") from error

    with transaction.atomic():
        record = TestSend.objects.create(campaign=campaign, content_hash=tested_hash,
                                         member_number=member.member_number, sent_by=user)
        record.recipients.set(to)
        audit.record("campaign.test_sent", actor=user, role=Role.OPERATOR, target=campaign,
                     payload={"state": campaign.state, **payload})
    return record


# --- sending --------------------------------------------------------------------------------------

LIVE_STATES = (State.RELEASED, State.SENDING, State.HELD, State.PAUSED)


def _mail_anchor_after_commit(reason: str) -> None:
    """The audit chain's head goes to the association once this commits (audit anchors)."""
    from campaigns import tasks

    transaction.on_commit(lambda: tasks.queue_audit_anchor(reason))


def _ring_worker(campaign) -> None:
    """Queue a send task once this transaction commits (a rolled-back release rings nothing)."""
    from campaigns import tasks

    transaction.on_commit(lambda: tasks.queue_send(campaign.pk))


def _is_on_campaign(user) -> Check:
    if not has_role(user, Role.OPERATOR, Role.SUPERVISOR, Role.OBSERVER):
        return _no(NotAllowed, _("Only the operator, supervisor or observer can do this."), "role")
    return ALLOWED


def _sent_count(campaign) -> int:
    return campaign.deliveries.filter(state=Delivery.State.SENT).count()


def can_stop(campaign, user) -> Check:
    return _first(_is_on_campaign(user), _state_is(campaign, *LIVE_STATES))


def can_pause(campaign, user) -> Check:
    return _first(_is_on_campaign(user), _state_is(campaign, State.SENDING, State.HELD))


def can_confirm_canary(campaign, user) -> Check:
    if not has_role(user, Role.SUPERVISOR, Role.OBSERVER):
        return _no(NotAllowed, _("Only a supervisor or an observer can confirm the first "
                                 "messages."), "role")
    return _first(_is_not_author(campaign, user), _state_is(campaign, State.HELD))


def can_decide(campaign, user) -> Check:
    if not has_role(user, Role.SUPERVISOR, Role.OBSERVER):
        return _no(NotAllowed, _("Only a supervisor or an observer can decide about a message "
                                 "in doubt."), "role")
    return _state_is(campaign, State.SENDING, State.HELD, State.PAUSED, State.STOPPED)


# A worker may hand a claimed message over until EMAIL_TIMEOUT after its claim (the
# courier gives each SMTP command only the time left); allow for clocks a little apart.
CLOCK_SKEW_SECONDS = 1.0
STOP_POLL_SECONDS = 0.05


def handing_over(campaign) -> int:
    """Messages a worker may be handing to the mail server right now."""
    since = timezone.now() - timedelta(seconds=settings.EMAIL_TIMEOUT + CLOCK_SKEW_SECONDS)
    return Delivery.objects.filter(campaign_id=campaign.pk, state=Delivery.State.SENDING,
                                   claimed_at__gt=since).count()


def wait_for_hand_overs(campaign, *, timeout: float) -> int:
    """After a stop: wait until no message is being handed over (at most `timeout` seconds);
    the number still in flight when the wait ended."""
    deadline = time.monotonic() + timeout
    while (left := handing_over(campaign)) and time.monotonic() < deadline:
        time.sleep(STOP_POLL_SECONDS)
    return left


def stop(*, campaign, user, wait: float | None = None) -> Campaign:
    """Anyone on the campaign stops it at once. The stop is committed first: every claim
    checks the state under the campaign's row lock, so no message is claimed after it. A
    message claimed just before may be in the middle of its hand-over; stop then waits
    until none is (at most `wait` seconds, by default as long as a hand-over can last), so
    that once it has returned nothing more reaches the mail server. The campaign returned
    carries `handing_over`: how many were still in flight when the wait ended (0: final)."""

    def apply(c):
        from_state, c.state, c.stopped_at = c.state, State.STOPPED, timezone.now()
        c.release_expires_at = None
        c.save()
        _mail_anchor_after_commit(f"campaign {c.pk} stopped")
        return {"from_state": from_state, "content_hash": c.content_hash,
                "sent_so_far": _sent_count(c), "in_flight": handing_over(c)}

    campaign = _perform("stopped", campaign, user,
                        roles=[Role.OBSERVER, Role.SUPERVISOR, Role.OPERATOR],
                        check=lambda c: can_stop(c, user), apply=apply)
    budget = settings.EMAIL_TIMEOUT + CLOCK_SKEW_SECONDS if wait is None else wait
    campaign.handing_over = wait_for_hand_overs(campaign, timeout=budget)
    return campaign


def pause(*, campaign, user=None, reason: str = "") -> Campaign:
    """A person pauses, or the worker does (user None) with a reason. Resuming needs the
    observer's live release again."""

    def check(c):
        if user is None:
            return _state_is(c, State.SENDING, State.HELD)
        return can_pause(c, user)

    def apply(c):
        from_state, c.state = c.state, State.PAUSED
        c.paused_reason = reason or _("Paused by %(user)s.") % {"user": user}
        c.release_expires_at = None
        c.save()
        return {"from_state": from_state, "reason": c.paused_reason,
                "content_hash": c.content_hash, "sent_so_far": _sent_count(c)}

    return _perform("paused", campaign, user, roles=[Role.OBSERVER, Role.SUPERVISOR,
                                                     Role.OPERATOR], check=check, apply=apply)


def start(*, campaign) -> Campaign:
    """The worker's start, only inside the observer's release window, and only if what would
    be sent is still exactly what was approved and passes the content guard again (run
    before the row is locked). If not, nothing is sent: the campaign goes back to draft and
    its sign-offs are void. Every message is checked again just before it is handed over."""
    lapse_signoffs_of_unstanding_signers(campaign)
    checked, report, checked_hash = _guard_outside_the_lock(campaign)
    with transaction.atomic():
        c = _locked(campaign)
        verdict = _first(_state_is(c, State.RELEASED), _unchanged_since(c, checked))
        if verdict and not c.release_is_live():
            verdict = _no(StaleSignOff, _("The release window passed before sending started: "
                                          "the observer must release again."), "release_expired")
        if not verdict:
            _record_refusal("started", c, None, "", verdict.error)
            error = verdict.error
        else:
            problem = _send_time_problem(c, report, checked_hash)
            if problem is None:
                resumed = c.deliveries.exists()
                if not resumed:
                    _create_ledger(c)
                c.state = State.SENDING
                c.started_at = c.started_at or timezone.now()
                c.release_expires_at = None  # the release is used up
                c.save()
                audit.record("campaign.started", system="worker", target=c, payload={
                    "state": c.state, "content_hash": c.content_hash, "resumed": resumed,
                    "recipient_count": c.roster.member_count, "canary": c.canary_limit(),
                    "rate": f"{c.rate_limit}/{c.rate_unit}" if c.rate_limit else "none",
                    "release_to_start_seconds": int((timezone.now() - c.released_at)
                                                    .total_seconds()),
                })
                return c
            c.state = State.DRAFT
            c.save()
            audit.record("campaign.start_refused", system="worker", target=c, payload={
                "state": c.state, **problem, "voided_signoffs": _void_signoffs(c, "refused at start"),
            })
            error = ContentRefused(_("Sending did not start: what would be sent is no longer "
                                     "what was approved, or the content guard refused it."),
                                   code=problem["code"])
    raise error


def _send_time_problem(c, report, current_hash) -> dict | None:
    approval = c.valid_approvals().order_by("-created_at").first()
    if approval is None or current_hash != approval.content_hash:
        return {"code": "hash_mismatch", "content_hash": current_hash,
                "approved_hash": approval.content_hash if approval else ""}
    if not report.ok:
        return {"code": "guard", "content_hash": current_hash, "guard": report.audit_summary()}
    return None


def _create_ledger(campaign) -> None:
    """One pending row per recipient, in roster order, in one statement."""
    from django.db import connection

    table = Delivery._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (campaign_id, member_id, member_number, email, state, "
            "attempts, worker, message_id, message_sha256, smtp_reply, decision, findings) "
            "SELECT %s, id, member_number, email, %s, 0, '', '', '', '', '', '[]' "
            "FROM roster_member WHERE roster_id = %s ORDER BY row_number",
            [campaign.pk, Delivery.State.PENDING, campaign.roster_id],
        )


def refuse_message(*, campaign, delivery_id: int, findings: list) -> Campaign:
    """The content guard found other members' data in one rendered message, just before its
    hand-over: that message is not sent (ledger state `refused`, with the findings) and the
    campaign pauses, for the signers to see what was found. Never resent automatically."""

    def check(c):
        return _state_is(c, State.SENDING, State.HELD, State.PAUSED, State.STOPPED)

    def apply(c):
        delivery = Delivery.objects.get(pk=delivery_id, campaign=c)
        summary = [f.summary() for f in findings[:20]]
        Delivery.objects.filter(pk=delivery_id, state=Delivery.State.SENDING).update(
            state=Delivery.State.REFUSED, findings=summary,
            smtp_reply=_("Not sent: the content guard found other members' data."))
        from_state = c.state
        if c.state in (State.SENDING, State.HELD):
            c.state = State.PAUSED
            c.paused_reason = _("The content guard refused the message to member %(member)s: "
                                "%(found)s. Nothing more is sent; stop the campaign and "
                                "correct it.") % {"member": delivery.member_number,
                                                  "found": "; ".join(
                                                      f"{f.message} ({f.place})"
                                                      for f in findings[:5])}
            c.release_expires_at = None
            c.save()
        return {"from_state": from_state, "delivery": delivery_id,
                "member": delivery.member_number, "content_hash": c.content_hash,
                "findings": summary, "sent_so_far": _sent_count(c)}

    return _perform("message_refused", campaign, None, roles=[], check=check, apply=apply)


def hold(*, campaign) -> Campaign:
    def apply(c):
        c.state, c.held_at = State.HELD, timezone.now()
        c.save()
        return {"content_hash": c.content_hash, "sent_so_far": _sent_count(c),
                "canary": c.canary_limit()}

    return _perform("held", campaign, None, roles=[],
                    check=lambda c: _state_is(c, State.SENDING), apply=apply)


def confirm_canary(*, campaign, user, comment: str = "") -> Campaign:
    def apply(c):
        c.state, c.canary_confirmed_at = State.SENDING, timezone.now()
        c.save()
        _ring_worker(c)
        return {"content_hash": c.content_hash, "sent_so_far": _sent_count(c),
                "comment": comment}

    return _perform("canary_confirmed", campaign, user, roles=[Role.SUPERVISOR, Role.OBSERVER],
                    check=lambda c: can_confirm_canary(c, user), apply=apply)


def complete(*, campaign) -> Campaign:
    from campaigns.ledger import ledger_digest

    def check(c):
        allowed = _state_is(c, State.SENDING)
        open_rows = c.deliveries.filter(state__in=[Delivery.State.PENDING, Delivery.State.SENDING,
                                                   Delivery.State.IN_DOUBT])
        if allowed and open_rows.exists():
            return _no(WrongState, _("Some messages are not settled yet."), "open_deliveries")
        return allowed

    def apply(c):
        c.state, c.completed_at = State.COMPLETED, timezone.now()
        c.ledger_sha256 = ledger_digest(c)
        c.save()
        counts = dict(c.deliveries.values_list("state").annotate(n=models.Count("id")))
        return {"content_hash": c.content_hash, "ledger_sha256": c.ledger_sha256,
                "counts": counts}

    return _perform("completed", campaign, None, roles=[], check=check, apply=apply)


def decide(*, delivery, user, decision: str) -> Delivery:
    """A person settles a message in doubt: resend it, or skip it. Never automatic."""
    if decision not in ("resend", "skip"):
        raise IncompleteSignOff(_("Choose resend or skip."), code="decision")

    def check(c):
        allowed = can_decide(c, user)
        current = Delivery.objects.get(pk=delivery.pk)
        if allowed and current.state != Delivery.State.IN_DOUBT:
            return _no(WrongState, _("This message is not in doubt (any more)."), "not_in_doubt")
        return allowed

    def apply(c):
        new_state = Delivery.State.PENDING if decision == "resend" else Delivery.State.SKIPPED
        Delivery.objects.filter(pk=delivery.pk, state=Delivery.State.IN_DOUBT).update(
            state=new_state, decided_by=user, decided_at=timezone.now(), decision=decision,
            next_attempt_at=None)
        return {"delivery": delivery.pk, "member": delivery.member_number,
                "decision": decision, "content_hash": c.content_hash,
                "previous_reply": delivery.smtp_reply[:300]}

    _perform("delivery_decided", delivery.campaign, user,
             roles=[Role.SUPERVISOR, Role.OBSERVER], check=check, apply=apply)
    return Delivery.objects.get(pk=delivery.pk)
