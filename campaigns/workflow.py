"""Every change of a campaign's state, and the rules on who may make it: the one door.

The moves are the table in campaigns.states (`TRANSITIONS`). `can(action, campaign, user)`
answers from it (role, separation of duties, source state) plus the action's own conditions
(`_conditions_of_<action>`); the pages ask it for their buttons, and `_perform` asks it again
inside the transaction, on the locked row, then applies the action's change
(`_apply_<action>`) and writes its audit entry in the same transaction. A refused action
changes nothing, writes one `campaign.refused` entry (who tried what, and why), and raises a
named WorkflowError: NotAllowed becomes a 403, the others a message on the page.

The worker's moves (start, hold, pause, refuse a message, complete) go through the same door
with no person, by campaign id.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.mail import get_connection
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

import audit
from campaigns import content, deliveries, guard, ledger, mail, suppression, unsubscribe
from campaigns.actions import Action
from campaigns.labels import VOID_REASONS
from campaigns.models import (
    SENDING_FIELDS,
    Campaign,
    CampaignVersion,
    Delivery,
    Kind,
    SignOff,
    TestSend,
)
from campaigns.seen import Seen
from campaigns.states import EDITABLE_STATES, LIVE_STATES, TRANSITIONS, Rule, State, Transition
from countersign.pseudonyms import mask_addresses
from countersign.roles import Role, has_role, roles_of
from roster import member_data
from roster.models import Suppression
from roster.services import roster_subset

__all__ = ["EDITABLE_STATES", "LIVE_STATES"]  # re-exported for the views

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
CONTENT_FIELDS = ("kind", "sender", "subject", "body_text", "body_html")


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


def _first(*checks) -> Check:
    """The first refusal among checks (callables, evaluated in order until one refuses)."""
    for check in checks:
        verdict = check() if callable(check) else check
        if not verdict:
            return verdict
    return ALLOWED


# --- the table's answer ---------------------------------------------------------------------------

def _role_check(t: Transition, user) -> Check:
    if user is None:
        return ALLOWED if t.worker else _no(NotAllowed, _("A person must do this."), "role")
    if not has_role(user, *t.roles):
        names = _(" or ").join(str(Role(r).label) for r in t.roles) or _("the worker")
        return _no(NotAllowed, _("Only %(roles)s can do this.") % {"roles": names}, "role")
    return ALLOWED


def _rule_check(t: Transition, campaign, user) -> Check:
    if user is None:
        return ALLOWED
    is_author = campaign.author_id == user.pk
    if t.rule == Rule.AUTHOR and not is_author:
        return _no(NotAllowed, _("Only the campaign's author can do this."), "not_author")
    if t.rule in (Rule.NOT_AUTHOR, Rule.NOT_AUTHOR_OR_APPROVER) and is_author:
        return _no(NotAllowed, _("The author of a campaign can never sign it off."), "author")
    if t.rule == Rule.NOT_AUTHOR_OR_APPROVER and campaign.valid_approvals().filter(
            user=user).exists():
        return _no(NotAllowed, _("Whoever approved a campaign cannot also release it."),
                   "approver")
    if t.rule == Rule.AUTHOR_OR_SUPERVISOR and not (
            (is_author and has_role(user, Role.OPERATOR)) or has_role(user, Role.SUPERVISOR)):
        return _no(NotAllowed, _("Only the author or a supervisor can do this."), "role")
    return ALLOWED


def _state_check(t: Transition, campaign) -> Check:
    if campaign.state in t.applies_in:
        return ALLOWED
    return _no(WrongState, _("Not possible while the campaign is “%(state)s”.")
               % {"state": campaign.get_state_display()}, "state")


def _conditions_of_release(campaign, user) -> Check:
    if campaign.state == State.RELEASED and campaign.release_is_live():
        return _no(WrongState, _("The campaign is already released."), "already_released")
    return ALLOWED


# Conditions of an action beyond the table (a page may ask them before the person acts).
_CONDITIONS = {"release": _conditions_of_release}


def can(action: str, campaign, user) -> Check:
    """May `user` (None: the worker) take `action` on `campaign` now? The table's answer
    (role, separation of duties, state) and the action's own conditions."""
    t = TRANSITIONS[action]
    return _first(lambda: _role_check(t, user), lambda: _rule_check(t, campaign, user),
                  lambda: _state_check(t, campaign),
                  lambda: _CONDITIONS.get(action, lambda c, u: ALLOWED)(campaign, user))


def checks_for(campaign, user) -> dict[str, Check]:
    """Which buttons a page shows: every person's action, asked the same way the action is."""
    return {action: can(action, campaign, user) for action in TRANSITIONS
            if TRANSITIONS[action].roles}


# --- the one door ---------------------------------------------------------------------------------

def _acting_role(user, t: Transition) -> str:
    if user is None:
        return ""
    held = roles_of(user)
    return next((role for role in t.roles if role in held), "")


def _locked(campaign) -> Campaign:
    """The campaign's row, locked for this transaction (`campaign`: an instance or an id)."""
    pk = campaign.pk if isinstance(campaign, Campaign) else campaign
    return Campaign.objects.select_for_update().select_related("roster").get(pk=pk)


def _who(user) -> dict:
    """audit.record() arguments for a person, or for the worker when user is None."""
    return {"actor": user} if user is not None else {"system": "worker"}


def _record_refusal(t: Transition, campaign, user, error: WorkflowError) -> None:
    audit.record(Action.REFUSED, role=_acting_role(user, t), target=campaign, **_who(user),
                 payload={"attempted": str(t.audit).removeprefix("campaign."),
                          "code": error.code, "reason": str(error.message),
                          "state": campaign.state, "content_hash": campaign.content_hash,
                          "user_roles": sorted(roles_of(user)) if user is not None else [],
                          **error.details})


def _verdict(t: Transition, campaign, user, check, args) -> Check:
    """Inside the caller's transaction, on the locked row: may it go on? A refusal is
    recorded here (it commits with the caller's transaction). A sign-off (`seen` among
    the arguments) is checked against what its page showed right after who may sign, so
    that a page left open while the campaign moved on says what changed."""
    verdict = _first(lambda: _role_check(t, user), lambda: _rule_check(t, campaign, user),
                     lambda: _seen_check(campaign, args) if "seen" in args else ALLOWED,
                     lambda: can(t.action, campaign, user),
                     lambda: _comment_check(campaign, args.get("comment", "")),
                     lambda: check(campaign, user, **args) if check else ALLOWED)
    if not verdict:
        _record_refusal(t, campaign, user, verdict.error)
    return verdict


def _seen_check(campaign, args) -> Check:
    """A sign-off is given for what its signer saw (campaigns.seen): the content hash, the
    recipient count and the sending terms (and, deciding a message in doubt, the evidence)
    the page showed must still be what would be signed. Missing: refused too."""
    seen, delivery = args["seen"], args.get("delivery")
    if not isinstance(seen, Seen):
        return _no(IncompleteSignOff, _("This form does not say what you are signing. Reload "
                                        "the page, read it, and sign again."), "seen_missing")
    if delivery is not None:
        delivery = Delivery.objects.get(pk=delivery.pk)
    now = Seen.of(campaign, delivery=delivery)
    changed = seen.differences(now)
    if changed:
        return _no(StaleSignOff, _("What you would sign changed after this page was loaded. "
                                   "Nothing was signed: read the changes and sign again if "
                                   "they are right."), "seen_changed",
                   details={"changed": changed, "seen": seen.as_payload(),
                            "current": now.as_payload()})
    return ALLOWED


def _comment_check(campaign, comment: str) -> Check:
    """A comment is kept in the sign-off, the audit log and notifications: never a
    member's address or name (the member number says who)."""
    if guard.members_named_in(comment, campaign.roster):
        return _no(IncompleteSignOff, _("The comment names a member by address or name. "
                                        "Refer to members by their member number only: "
                                        "comments are kept in the audit log."), "comment_data")
    return ALLOWED


def _record(t: Transition, campaign, user, from_state: str, payload: dict) -> None:
    """The move itself: the table's target state, the row saved, the audit entry."""
    if from_state in t.stays_in or t.target is None:
        campaign.state = from_state
    elif not isinstance(t.target, tuple):
        campaign.state = t.target
    assert campaign.state == from_state or campaign.state in t.targets, (
        t.action, from_state, campaign.state)
    campaign.save()
    audit.record(t.audit, role=_acting_role(user, t), target=campaign, **_who(user),
                 payload={"state": campaign.state, "from_state": from_state, **payload})
    _HOOKS["notify"](t, campaign, user, payload)
    for effect in t.after:  # declared in the table; a rolled-back move rings nothing
        transaction.on_commit(partial(_HOOKS[effect], campaign))


# What follows a move: every move is told to the people it concerns ("notify", in the
# move's transaction), and a move's `after` effects run once it commits ("ring_worker",
# "mail_anchor"). Registered at start-up (campaigns.apps), so that the workflow imports
# nothing above it.
_HOOKS: dict[str, Callable] = {}


def register_hooks(**hooks: Callable) -> None:
    _HOOKS.update(hooks)


def _perform(action: str, campaign, user, *, check=None, apply=None, **args) -> Campaign:
    """Lock, check, apply, audit: all in one transaction. Refusals are audited too.
    `check(c, user, **args)` adds the action's conditions that need its arguments;
    `apply(c, user, **args)` makes the change and returns the audit payload."""
    t = TRANSITIONS[action]
    with transaction.atomic():
        c = _locked(campaign)
        verdict = _verdict(t, c, user, check, args)
        if verdict:
            from_state = c.state
            payload = apply(c, user, **args) if apply else {}
            _record(t, c, user, from_state, payload)
            return c
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
                   % {"items": "; ".join(str(items[k]) for k in missing)}, "checklist",
                   details={"missing": missing})
    return ALLOWED


def _content_check(roster, fields: dict) -> Check:
    if roster is not None and roster.purged_at is not None:
        return _no(ContentRefused, _("This roster's member data was erased (retention); "
                                     "import the roster again."), "roster_purged")
    problems = content.content_problems(roster=roster, **fields)
    if problems:
        return _no(ContentRefused, " ".join(m for ms in problems.values() for m in ms),
                   "content", details={"fields": sorted(problems)})
    return ALLOWED


def _sent_count(campaign) -> int:
    return campaign.deliveries.filter(state=Delivery.State.SENT).count()


# --- drafting -------------------------------------------------------------------------------------

def create(*, user, roster, name: str, sender: str, subject: str, body_text: str,
           body_html: str = "", kind: str = Kind.NOTICE, **sending) -> Campaign:
    """A new draft (not a move between states: the diagram's entry)."""
    fields = {"kind": kind, "sender": sender, "subject": subject, "body_text": body_text,
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
        audit.record(Action.CREATED, actor=user, role=Role.OPERATOR, target=campaign,
                     payload={"state": campaign.state, "roster": roster.pk,
                              "content_hash": campaign.compute_content_hash(),
                              "recipient_count": roster.member_count})
    return campaign


# States after which "send to the rest" makes sense: the campaign will send no more.
ENDED_STATES = (State.STOPPED, State.COMPLETED)
NOT_REACHED = (Delivery.State.PENDING, Delivery.State.FAILED, Delivery.State.SKIPPED,
               Delivery.State.REFUSED)


def can_duplicate(campaign, user) -> Check:
    if not has_role(user, Role.OPERATOR):
        return _no(NotAllowed, _("Only an operator can create a campaign."), "role")
    return ALLOWED


def can_send_to_the_rest(campaign, user) -> Check:
    return _first(lambda: can_duplicate(campaign, user),
                  lambda: ALLOWED if campaign.state in ENDED_STATES else _no(
                      WrongState, _("Only a stopped or completed campaign has a rest."),
                      "state"),
                  lambda: ALLOWED if campaign.deliveries.filter(
                      state__in=NOT_REACHED).exists() else _no(
                      WrongState, _("Every member was sent the message (or is in doubt)."),
                      "nobody_left"))


def duplicate(*, campaign, user, rest_only: bool = False) -> Campaign:
    """A new draft with the same content and sending terms, by `user`: to the same roster,
    or (rest_only) to exactly the members this stopped campaign did not reach (not sent,
    failed, skipped or refused; never a member in doubt). Either way it goes through the
    whole countersign again."""
    check = (can_send_to_the_rest if rest_only else can_duplicate)(campaign, user)
    if not check:
        raise check.error
    with transaction.atomic():
        roster, name = campaign.roster, _("%(name)s (copy)") % {"name": campaign.name}
        if rest_only:
            name = _("%(name)s (the rest)") % {"name": campaign.name}
            ids = campaign.deliveries.filter(state__in=NOT_REACHED).values_list("member_id",
                                                                               flat=True)
            roster = roster_subset(roster=roster, member_ids=list(ids), name=name,
                                   reason=f"rest of campaign {campaign.pk}", actor=user)
        copy = create(user=user, roster=roster, name=name, sender=campaign.sender,
                      subject=campaign.subject, body_text=campaign.body_text,
                      body_html=campaign.body_html, kind=campaign.kind,
                      **{f: getattr(campaign, f) for f in SENDING_FIELDS})
        audit.record(Action.DUPLICATED, actor=user, role=Role.OPERATOR, target=copy, payload={
            "from_campaign": campaign.pk, "rest_only": rest_only, "roster": roster.pk,
            "recipient_count": roster.member_count})
    return copy


def edit(*, campaign, user, roster=None, name: str | None = None, **changes) -> Campaign:
    """Change the content. After submit this returns the campaign to draft and voids every
    approval and release: they were given for other content."""
    if "body_html" in changes:
        changes["body_html"] = mail.sanitise_html(changes["body_html"])
    return _perform("edit", campaign, user, check=_conditions_of_edit, apply=_apply_edit,
                    roster=roster, name=name, changes=changes)


def _conditions_of_edit(c, user, *, roster, name, changes) -> Check:
    fields = {f: changes.get(f, getattr(c, f)) for f in CONTENT_FIELDS}
    return _content_check(roster or c.roster, fields)


def _apply_edit(c, user, *, roster, name, changes) -> dict:
    old_hash = c.content_hash or c.compute_content_hash()
    if roster is not None:
        c.roster = roster
    if name is not None:
        c.name = name
    for field in CONTENT_FIELDS + SENDING_FIELDS:
        if field in changes:
            setattr(c, field, changes[field])
    voided = _void_signoffs(c, "edited") if c.state != State.DRAFT else []
    c.content_hash = ""
    return {"old_content_hash": old_hash, "content_hash": c.compute_content_hash(),
            "voided_signoffs": voided}


def _guard_outside_the_lock(campaign) -> tuple[dict, guard.GuardReport, str]:
    """Run the content guard (seconds for a big roster) with no lock held. Returns what was
    checked, so that the locked step can refuse if the campaign changed meanwhile."""
    pk = campaign.pk if isinstance(campaign, Campaign) else campaign
    fresh = Campaign.objects.select_related("roster").get(pk=pk)
    checked = {f: getattr(fresh, f) for f in (*CONTENT_FIELDS, *SENDING_FIELDS, "roster_id")}
    report = guard.check_campaign_content(roster=fresh.roster, subject=fresh.subject,
                                          body_text=fresh.body_text, body_html=fresh.body_html)
    return checked, report, fresh.compute_content_hash()


def _footer_check(c) -> Check:
    """A newsletter is submitted only with its footer (a draft may be saved without)."""
    if c.kind != Kind.NEWSLETTER:
        return ALLOWED
    problems = unsubscribe.footer_problems(body_text=c.body_text, body_html=c.body_html)
    if problems:
        return _no(ContentRefused, " ".join(m for ms in problems.values() for m in ms),
                   "newsletter_footer", details={"fields": sorted(problems)})
    return ALLOWED


def _unchanged_since(c, checked: dict) -> Check:
    if any(getattr(c, f) != value for f, value in checked.items()):
        return _no(WrongState, _("The campaign changed while it was being checked. Try again."),
                   "changed")
    return ALLOWED


def submit(*, campaign, user) -> Campaign:
    """Freeze this version for review: content hash, snapshot, and the content guard. The
    guard runs before the campaign row is locked; the lock only stores its verdict."""
    early = _first(can("submit", campaign, user), _content_check(campaign.roster, {
        f: getattr(campaign, f) for f in CONTENT_FIELDS}))
    if not early:
        # Refused on what this request read. Not retried under the lock: the campaign may
        # have moved meanwhile (a reject racing this submit), and nothing was checked.
        with transaction.atomic():
            _record_refusal(TRANSITIONS["submit"], _locked(campaign), user, early.error)
        raise early.error
    checked, report, checked_hash = _guard_outside_the_lock(campaign)
    return _perform("submit", campaign, user, check=_conditions_of_submit,
                    apply=_apply_submit, checked=checked, report=report,
                    checked_hash=checked_hash)


def _conditions_of_submit(c, user, *, checked, report, checked_hash) -> Check:
    return _first(
        lambda: _content_check(c.roster, {f: getattr(c, f) for f in CONTENT_FIELDS}),
        lambda: _unchanged_since(c, checked),
        lambda: ALLOWED if c.roster.member_count else _no(
            ContentRefused, _("The roster has no members."), "no_recipients"),
        lambda: _footer_check(c),
        lambda: ALLOWED if report.ok else _no(
            ContentRefused, _("The content guard found roster data of other members in the "
                              "message."), "guard",
            details={"guard": report.audit_summary()}, report=report))


def _apply_submit(c, user, *, checked, report, checked_hash) -> dict:
    c.content_hash = checked_hash
    previous = c.versions.order_by("-number").values_list("number", flat=True).first() or 0
    version = CampaignVersion.objects.create(
        campaign=c, number=previous + 1, content_hash=c.content_hash, roster=c.roster,
        sender=c.sender,
        subject=c.subject, body_text=c.body_text, body_html=c.body_html,
        recipient_count=c.roster.member_count, submitted_by=user,
        guard_report=report.to_json(), **{f: getattr(c, f) for f in SENDING_FIELDS},
    )
    return {"content_hash": c.content_hash, "version": version.number,
            "recipient_count": version.recipient_count, "sending": c.sending_terms(),
            "links": report.links[:50],
            "guard": report.audit_summary()}


def test_send(*, campaign, user, member, recipients) -> TestSend:
    """Send the message as `member` would get it, to staff only (the author and the chosen
    supervisors and observers), so that reviewers read the real thing before approving.

    Checked (refusals audited) in one transaction, sent outside any (a slow e-mail server
    must not hold the database), recorded in another.
    """
    t = TRANSITIONS["test_send"]
    to = [user, *(r for r in recipients if r.pk != user.pk)]
    with transaction.atomic():
        c = _locked(campaign)
        verdict = _verdict(t, c, user, _conditions_of_test_send, {"member": member, "to": to})
    if not verdict:
        raise verdict.error

    tested_hash = c.content_hash or c.compute_content_hash()
    payload = {"content_hash": tested_hash, "member": member.member_number,
               "to": sorted(p.get_username() for p in to)}
    values = mail.member_values(member_data.values(member), c.kind)
    messages = [
        mail.build_message(sender=c.sender, subject=c.subject, body_text=c.body_text,
                           body_html=c.body_html, values=values,
                           to=person.email, subject_prefix=_("[TEST] "),
                           headers={"X-Countersign-Test": str(c.pk)})
        for person in to
    ]
    try:
        get_connection(fail_silently=False).send_messages(messages)
    except (smtplib.SMTPException, OSError) as error:
        with transaction.atomic():
            audit.record(Action.TEST_SEND_FAILED, actor=user, role=Role.OPERATOR, target=c,
                         payload={**payload, "error": str(error)[:500]})
        raise TestSendFailed(_("The e-mail server did not accept the test message: %(error)s")
                             % {"error": error}, code="smtp") from error

    with transaction.atomic():
        c = _locked(c)
        record = TestSend.objects.create(campaign=c, content_hash=tested_hash,
                                         member_number=member.member_number, sent_by=user)
        record.recipients.set(to)
        _record(t, c, user, c.state, payload)
    return record


def _conditions_of_test_send(c, user, *, member, to) -> Check:
    if member.roster_id != c.roster_id:
        return _no(ContentRefused, _("That member is not in this campaign's roster."), "member")
    staff_ok = all(has_role(r, Role.SUPERVISOR, Role.OBSERVER) and r.email for r in to[1:])
    if not (staff_ok and user.email):
        return _no(NotAllowed, _("Test messages go only to the author, supervisors and "
                                 "observers, each with an e-mail address."), "recipients")
    return ALLOWED


def cancel(*, campaign, user, comment: str = "") -> Campaign:
    return _perform("cancel", campaign, user, apply=_apply_cancel, comment=comment)


def _apply_cancel(c, user, *, comment) -> dict:
    return {"content_hash": c.content_hash, "comment": comment,
            "voided_signoffs": _void_signoffs(c, "cancelled")}


# --- the countersignatures ----------------------------------------------------------------------

def approve(*, campaign, user, seen: Seen | None, checklist, comment: str = "") -> Campaign:
    """The supervisor's approval of exactly what `seen` names (what the page showed)."""
    return _perform("approve", campaign, user, check=_conditions_of_approve,
                    apply=_apply_approve, seen=seen, checklist=checklist, comment=comment)


def _conditions_of_approve(c, user, *, seen, checklist, comment) -> Check:
    if not c.test_sends.filter(content_hash__in=tested_hashes(c), recipients=user).exists():
        return _no(IncompleteSignOff, _("No test message of this version was sent to you. "
                                        "Ask the operator for one first."), "no_test_send")
    return _checklist(checklist, SUPERVISOR_CHECKLIST)


def _apply_approve(c, user, *, seen, checklist, comment) -> dict:
    signoff = SignOff.objects.create(
        campaign=c, kind=SignOff.Kind.APPROVAL, user=user, role=Role.SUPERVISOR,
        organisation=user.organisation, content_hash=c.content_hash,
        recipient_count=c.roster.member_count, checklist=sorted(checklist), comment=comment)
    return {"content_hash": c.content_hash, "checklist": signoff.checklist,
            "comment": comment, "recipient_count": signoff.recipient_count,
            "signoff": signoff.pk}


def reject(*, campaign, user, comment: str) -> Campaign:
    return _perform("reject", campaign, user, check=_conditions_of_reject,
                    apply=_apply_reject, comment=comment)


def _conditions_of_reject(c, user, *, comment) -> Check:
    if not comment.strip():
        return _no(IncompleteSignOff, _("Say what must change: a comment is required to "
                                        "reject."), "comment")
    return ALLOWED


def _apply_reject(c, user, *, comment) -> dict:
    role = _acting_role(user, TRANSITIONS["reject"])
    SignOff.objects.create(campaign=c, kind=SignOff.Kind.REJECTION, user=user, role=role,
                           organisation=user.organisation, content_hash=c.content_hash,
                           recipient_count=c.roster.member_count, comment=comment)
    return {"content_hash": c.content_hash, "comment": comment,
            "voided_signoffs": _void_signoffs(c, "rejected")}


def release(*, campaign, user, seen: Seen | None, checklist, comment: str = "") -> Campaign:
    """The association's live go for exactly what `seen` names (what the page showed):
    valid for RELEASE_WINDOW_MINUTES. An approval whose signer lost their standing lapses
    first, and the release is refused, saying why."""
    if (sent_back := lapse_signoffs_of_unstanding_signers(campaign)) is not None:
        error = StaleSignOff(_("A sign-off no longer counts, so the campaign went back a "
                               "step: %(why)s.") % {"why": lapse_reasons(sent_back)},
                             code="signoff_lapsed")
        with transaction.atomic():
            _record_refusal(TRANSITIONS["release"], sent_back, user, error)
        raise error
    return _perform("release", campaign, user, check=_conditions_of_release_now,
                    apply=_apply_release, seen=seen, checklist=checklist, comment=comment)


def _conditions_of_release_now(c, user, *, seen, checklist, comment) -> Check:
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
    return _checklist(checklist, OBSERVER_CHECKLIST)


def _apply_release(c, user, *, seen, checklist, comment) -> dict:
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
            "resumed": resumed}


# --- sign-offs lapse with their signer's standing ---------------------------------------------

def lapse_signoffs(*, campaign, reason_for) -> Campaign | None:
    """Void the approvals and releases of `campaign` for which `reason_for(signoff)` gives a
    reason ("" keeps it). A lapsed approval sends the campaign back to review (its release
    goes with it); a lapsed release alone back to the observer. One audited step, by the
    system; None when nothing lapsed."""
    with transaction.atomic():
        c = _locked(campaign)
        if c.state not in TRANSITIONS["lapse"].applies_in or not _lapsed(c, reason_for):
            return None
        return _perform("lapse", c, None, apply=_apply_lapse, reason_for=reason_for)


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
                   for pk in _void_signoffs(c, "approval_lapsed")]
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


def recount_recipients(*, campaign_id: int) -> Campaign | None:
    """The recipients of a frozen version changed (an address was suppressed: a member
    unsubscribed, bounced or was erased). The suppressed set is part of the content hash,
    so the approval and release no longer hold: rather than leave the campaign "approved"
    with a release that would fail, it goes back to review as a new version (the same
    message, the new recipient count), its sign-offs void with the reason, and the people
    who must sign again are told. One audited step, by the system; None when the hash did
    not change (or the campaign is not under review)."""
    with transaction.atomic():
        c = _locked(campaign_id)
        if c.state not in TRANSITIONS["recount"].applies_in or not c.content_hash:
            return None
        now_hash = c.compute_content_hash()
        if now_hash == c.content_hash:
            return None
        return _perform("recount", c, None, apply=_apply_recount, now_hash=now_hash)


def _apply_recount(c, user, *, now_hash) -> dict:
    old_hash, shown = c.content_hash, c.current_version()
    voided = _void_signoffs(c, "recipients_changed")
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


# --- sending --------------------------------------------------------------------------------------

def start(*, campaign_id: int) -> Campaign:
    """The worker's start, only inside the observer's release window, and only if what would
    be sent is still exactly what was approved and passes the content guard again (run
    before the row is locked). If not, nothing is sent: the campaign goes back to draft and
    its sign-offs are void (`refuse_start`). Every message is checked again just before it
    is handed over."""
    lapse_signoffs_of_unstanding_signers(campaign_id)
    checked, report, checked_hash = _guard_outside_the_lock(campaign_id)
    t = TRANSITIONS["start"]
    with transaction.atomic():
        c = _locked(campaign_id)
        verdict = _verdict(t, c, None, _conditions_of_start, {"checked": checked})
        if verdict:
            problem = _send_time_problem(c, report, checked_hash)
            from_state = c.state
            if problem is None:
                resumed = c.deliveries.exists()
                if not resumed:
                    deliveries.create_ledger(c)
                c.started_at = c.started_at or timezone.now()
                c.release_expires_at = None  # the release is used up
                _record(t, c, None, from_state, {
                    "content_hash": c.content_hash, "resumed": resumed,
                    "recipient_count": c.roster.member_count, "canary": c.canary_limit(),
                    "rate": f"{c.rate_limit}/{c.rate_unit}" if c.rate_limit else "none",
                    "release_to_start_seconds": int((timezone.now() - c.released_at)
                                                    .total_seconds())})
                return c
            _record(TRANSITIONS["refuse_start"], c, None, from_state, {
                **problem, "voided_signoffs": _void_signoffs(c, "refused at start")})
            verdict = _no(ContentRefused, _("Sending did not start: what would be sent is no "
                                            "longer what was approved, or the content guard "
                                            "refused it."), problem["code"])
    raise verdict.error


def _conditions_of_start(c, user, *, checked) -> Check:
    return _first(lambda: _unchanged_since(c, checked),
                  lambda: ALLOWED if c.release_is_live() else _no(
                      StaleSignOff, _("The release window passed before sending started: the "
                                      "observer must release again."), "release_expired"))


def _send_time_problem(c, report, current_hash) -> dict | None:
    approval = c.valid_approvals().order_by("-created_at").first()
    if approval is None or current_hash != approval.content_hash:
        return {"code": "hash_mismatch", "content_hash": current_hash,
                "approved_hash": approval.content_hash if approval else ""}
    if not report.ok:
        return {"code": "guard", "content_hash": current_hash, "guard": report.audit_summary()}
    return None


def hold(*, campaign_id: int) -> Campaign:
    return _perform("hold", campaign_id, None, apply=_apply_hold)


def _apply_hold(c, user) -> dict:
    c.held_at = timezone.now()
    return {"content_hash": c.content_hash, "sent_so_far": _sent_count(c),
            "canary": c.canary_limit()}


def confirm_canary(*, campaign, user, seen: Seen | None, comment: str = "") -> Campaign:
    """'The first messages looked right: send the rest', for what `seen` names."""
    return _perform("confirm_canary", campaign, user, apply=_apply_confirm_canary,
                    seen=seen, comment=comment)


def _apply_confirm_canary(c, user, *, seen, comment) -> dict:
    c.canary_confirmed_at = timezone.now()
    return {"content_hash": c.content_hash, "sent_so_far": _sent_count(c), "comment": comment}


def pause(*, campaign=None, campaign_id: int | None = None, user=None,
          reason: str = "") -> Campaign:
    """A person pauses (`campaign`, `user`), or the worker does (`campaign_id`, a reason).
    Resuming needs the observer's live release again."""
    return _perform("pause", campaign if campaign is not None else campaign_id, user,
                    apply=_apply_pause, reason=reason)


def _apply_pause(c, user, *, reason) -> dict:
    # A server's reply may quote a member's address; the reason goes to the audit log.
    c.paused_reason = mask_addresses(reason)[:500] or _("Paused by %(user)s.") % {"user": user}
    c.release_expires_at = None
    return {"reason": c.paused_reason, "content_hash": c.content_hash,
            "sent_so_far": _sent_count(c)}


def refuse_message(*, campaign_id: int, delivery_id: int, findings: list) -> Campaign:
    """The content guard found other members' data in one rendered message, just before its
    hand-over: that message is not sent (ledger state `refused`, with the findings) and the
    campaign pauses, for the signers to see what was found. Never resent automatically."""
    return _perform("refuse_message", campaign_id, None, apply=_apply_refuse_message,
                    delivery_id=delivery_id, findings=findings)


def _apply_refuse_message(c, user, *, delivery_id, findings) -> dict:
    delivery = Delivery.objects.get(pk=delivery_id, campaign=c)
    summary = [f.summary() for f in findings[:20]]
    deliveries.move("refuse", Delivery.objects.filter(pk=delivery_id), findings=summary,
                    smtp_reply=_("Not sent: the content guard found other members' data."))
    if c.state in TRANSITIONS["refuse_message"].sources:  # else it stays paused or stopped
        c.paused_reason = _("The content guard refused the message to member %(member)s: "
                            "%(found)s. Nothing more is sent; stop the campaign and correct "
                            "it.") % {"member": delivery.member_number, "found": "; ".join(
                                f"{f.message} ({f.place})" for f in findings[:5])}
        c.release_expires_at = None
    return {"delivery": delivery_id, "member": delivery.member_number,
            "content_hash": c.content_hash, "findings": summary, "sent_so_far": _sent_count(c)}


def complete(*, campaign_id: int) -> Campaign:
    return _perform("complete", campaign_id, None, check=_conditions_of_complete,
                    apply=_apply_complete)


def _conditions_of_complete(c, user) -> Check:
    open_rows = c.deliveries.filter(state__in=[Delivery.State.PENDING, Delivery.State.SENDING,
                                               Delivery.State.IN_DOUBT])
    if open_rows.exists():
        return _no(WrongState, _("Some messages are not settled yet."), "open_deliveries")
    return ALLOWED


def _apply_complete(c, user) -> dict:
    c.completed_at = timezone.now()
    c.ledger_sha256 = ledger.ledger_digest(c)
    counts = dict(c.deliveries.values_list("state").annotate(n=models.Count("id")))
    return {"content_hash": c.content_hash, "ledger_sha256": c.ledger_sha256,
            "counts": counts}


def decide(*, delivery, user, seen: Seen | None, decision: str) -> Delivery:
    """A person settles a message in doubt: resend it, or skip it. Never automatic. `seen`
    names the campaign and the evidence the page showed (Seen.of(campaign, delivery=...))."""
    if decision not in ("resend", "skip"):
        raise IncompleteSignOff(_("Choose resend or skip."), code="decision")
    _perform("decide", delivery.campaign_id, user, check=_conditions_of_decide,
             apply=_apply_decide, seen=seen, delivery=delivery, decision=decision)
    return Delivery.objects.get(pk=delivery.pk)


def _conditions_of_decide(c, user, *, seen, delivery, decision) -> Check:
    current = Delivery.objects.get(pk=delivery.pk)
    if current.state != Delivery.State.IN_DOUBT:
        return _no(WrongState, _("This message is not in doubt (any more)."), "not_in_doubt")
    if decision == "resend" and (current.member_id is None or Suppression.objects.filter(
            pseudonym=current.address_pseudonym,
            reason__in=suppression.reasons_for(c.kind)).exists()):
        return _no(WrongState, _("This address was erased or is on the suppression list: "
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


# --- stop: final once it returns ------------------------------------------------------------------

def stop(*, campaign, user, wait: float | None = None) -> Campaign:
    """Anyone on the campaign stops it at once. The stop is committed first: every claim
    checks the state under the campaign's row lock, so no message is claimed after it. A
    message claimed just before may be in the middle of its hand-over; stop then waits
    until none is (at most `wait` seconds, by default as long as a hand-over can last), so
    that once it has returned nothing more reaches the mail server. The campaign returned
    carries `handing_over`: how many were still in flight when the wait ended (0: final)."""
    campaign = _perform("stop", campaign, user, apply=_apply_stop)
    budget = settings.EMAIL_TIMEOUT + deliveries.CLOCK_SKEW_SECONDS if wait is None else wait
    campaign.handing_over = deliveries.wait_for_hand_overs(campaign, timeout=budget)
    return campaign


def _apply_stop(c, user) -> dict:
    c.stopped_at = timezone.now()
    c.release_expires_at = None
    return {"content_hash": c.content_hash, "sent_so_far": _sent_count(c),
            "in_flight": deliveries.handing_over(c)}
