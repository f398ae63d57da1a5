"""The one door every move of a campaign goes through.

The moves are the table in campaigns.states (`TRANSITIONS`). `can(action, campaign, user)`
answers from it (role, separation of duties, source state) plus the action's own conditions;
the pages ask it for their buttons, and `perform` asks it again inside the transaction, on
the locked row, then applies the action's change and writes its audit entry in the same
transaction. A refused action changes nothing, writes one `campaign.refused` entry (who
tried what, and why), and raises a named WorkflowError: NotAllowed becomes a 403, the
others a message on the page. The moves themselves are in drafting, signing and sending.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

import audit
from campaigns import charsets, content, guard, key_window, sending_hours
from campaigns.actions import Action
from campaigns.findings import GuardReport
from campaigns.models import Campaign, Delivery, SignOff
from campaigns.seen import Seen
from campaigns.states import TRANSITIONS, Rule, State, Transition
from campaigns.terms import SENDING_FIELDS
from countersign.roles import Role, has_role, roles_of
from roster import member_data
from roster.models import Roster

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


def refused(error_class, message, code, *, details=None, report=None) -> Check:
    error = error_class(message, code=code, details=details)
    if report is not None:
        error.report = report
    return Check(error)


def first_of(*checks) -> Check:
    """The first refusal among checks (callables, evaluated in order until one refuses)."""
    for check in checks:
        verdict = check() if callable(check) else check
        if not verdict:
            return verdict
    return ALLOWED


# --- the table's answer ---------------------------------------------------------------------------

def _role_check(t: Transition, user) -> Check:
    if user is None:
        return ALLOWED if t.worker else refused(NotAllowed, _("A person must do this."), "role")
    if not has_role(user, *t.roles):
        names = _(" or ").join(str(Role(r).label) for r in t.roles) or _("the worker")
        return refused(NotAllowed, _("Only %(roles)s can do this.") % {"roles": names}, "role")
    return ALLOWED


def _rule_check(t: Transition, campaign, user) -> Check:
    if user is None:
        return ALLOWED
    is_author = campaign.author_id == user.pk
    if t.rule == Rule.AUTHOR and not is_author:
        return refused(NotAllowed, _("Only the campaign's author can do this."), "not_author")
    if t.rule in (Rule.NOT_AUTHOR, Rule.NOT_AUTHOR_OR_APPROVER) and is_author:
        return refused(NotAllowed, _("The author of a campaign can never sign it off."), "author")
    if t.rule == Rule.NOT_AUTHOR_OR_APPROVER and campaign.valid_approvals().filter(
            user=user).exists():
        return refused(NotAllowed, _("Whoever approved a campaign cannot also release it."),
                   "approver")
    if t.rule == Rule.AUTHOR_OR_SUPERVISOR and not (
            (is_author and has_role(user, Role.OPERATOR)) or has_role(user, Role.SUPERVISOR)):
        return refused(NotAllowed, _("Only the author or a supervisor can do this."), "role")
    return ALLOWED


def _state_check(t: Transition, campaign) -> Check:
    if campaign.state in t.applies_in:
        return ALLOWED
    return refused(WrongState, _("Not possible while the campaign is “%(state)s”.")
               % {"state": campaign.get_state_display()}, "state")


def _conditions_of_release(campaign, user) -> Check:
    if campaign.state == State.RELEASED and campaign.release_is_live():
        return refused(WrongState, _("The campaign is already released."), "already_released")
    return ALLOWED


# Conditions of an action beyond the table (a page may ask them before the person acts).
_CONDITIONS = {"release": _conditions_of_release}


def can(action: str, campaign, user) -> Check:
    """May `user` (None: the worker) take `action` on `campaign` now? The table's answer
    (role, separation of duties, state) and the action's own conditions."""
    t = TRANSITIONS[action]
    return first_of(lambda: _role_check(t, user), lambda: _rule_check(t, campaign, user),
                  lambda: _state_check(t, campaign),
                  lambda: _CONDITIONS.get(action, lambda c, u: ALLOWED)(campaign, user))


def checks_for(campaign, user) -> dict[str, Check]:
    """Which buttons a page shows: every person's action, asked the same way the action is."""
    return {action: can(action, campaign, user) for action in TRANSITIONS
            if TRANSITIONS[action].roles}


# --- the one door ---------------------------------------------------------------------------------

def acting_role(user, t: Transition) -> str:
    if user is None:
        return ""
    held = roles_of(user)
    return next((role for role in t.roles if role in held), "")


def locked(campaign) -> Campaign:
    """The campaign's row, locked for this transaction (`campaign`: an instance or an id)."""
    pk = campaign.pk if isinstance(campaign, Campaign) else campaign
    return Campaign.objects.select_for_update().select_related("roster").get(pk=pk)


def who(user) -> dict:
    """audit.record() arguments for a person, or for the worker when user is None."""
    return {"actor": user} if user is not None else {"system": "worker"}


def record_refusal(t: Transition, campaign, user, error: WorkflowError) -> None:
    audit.record(Action.REFUSED, role=acting_role(user, t), target=campaign, **who(user),
                 payload={"attempted": str(t.audit).removeprefix("campaign."),
                          "code": error.code, "reason": str(error.message),
                          "state": campaign.state, "content_hash": campaign.content_hash,
                          "user_roles": sorted(roles_of(user)) if user is not None else [],
                          **error.details})


def verdict_on(t: Transition, campaign, user, check, args) -> Check:
    """Inside the caller's transaction, on the locked row: may it go on? A refusal is
    recorded here (it commits with the caller's transaction). A sign-off (`seen` among
    the arguments) is checked against what its page showed right after who may sign, so
    that a page left open while the campaign moved on says what changed."""
    verdict = first_of(lambda: _role_check(t, user), lambda: _rule_check(t, campaign, user),
                     lambda: _seen_check(campaign, args) if "seen" in args else ALLOWED,
                     lambda: can(t.action, campaign, user),
                     lambda: _comment_check(campaign, args.get("comment", "")),
                     lambda: _comment_check(campaign, args.get("override", "")),
                     lambda: check(campaign, user, **args) if check else ALLOWED)
    if not verdict:
        record_refusal(t, campaign, user, verdict.error)
    return verdict


def _seen_check(campaign, args) -> Check:
    """A sign-off is given for what its signer saw (campaigns.seen): the content hash, the
    recipient count and the sending terms (and, deciding a message in doubt, the evidence)
    the page showed must still be what would be signed. Missing: refused too."""
    seen, delivery = args["seen"], args.get("delivery")
    if not isinstance(seen, Seen):
        return refused(IncompleteSignOff, _("This form does not say what you are signing. Reload "
                                        "the page, read it, and sign again."), "seen_missing")
    if delivery is not None:
        delivery = Delivery.objects.get(pk=delivery.pk)
    now = Seen.of(campaign, delivery=delivery)
    changed = seen.differences(now)
    if changed:
        return refused(StaleSignOff, _("What you would sign changed after this page was loaded. "
                                   "Nothing was signed: read the changes and sign again if "
                                   "they are right."), "seen_changed",
                   details={"changed": changed, "seen": seen.as_payload(),
                            "current": now.as_payload()})
    return ALLOWED


def _comment_check(campaign, comment: str) -> Check:
    """A comment (or a written reason, such as a release's override) is kept in the
    sign-off, the audit log and notifications: never a member's data (the member number
    says who)."""
    if guard.member_data_in(comment):
        return refused(IncompleteSignOff, _(
            "The comment carries a member's data (an address, a name, a telephone number or "
            "another value of theirs). Refer to members by their member number only: "
            "comments are kept in the audit log."), "comment_data")
    return ALLOWED


def record_move(t: Transition, campaign, user, from_state: str, payload: dict) -> None:
    """The move itself: the table's target state, the row saved, the audit entry."""
    if from_state in t.stays_in or t.target is None:
        campaign.state = from_state
    elif not isinstance(t.target, tuple):
        campaign.state = t.target
    assert campaign.state == from_state or campaign.state in t.targets, (
        t.action, from_state, campaign.state)
    campaign.save()
    audit.record(t.audit, role=acting_role(user, t), target=campaign, **who(user),
                 payload={"state": campaign.state, "from_state": from_state, **payload})
    _HOOKS["notify"](t, campaign, user, payload)
    for effect in t.after:  # declared in the table; a rolled-back move rings nothing
        transaction.on_commit(partial(_HOOKS[effect], campaign))


# What follows a move: every move is told to the people it concerns ("notify", in the
# move's transaction), and a move's `after` effects run once it commits ("ring_starter",
# "ring_others", "ring_worker", "mail_anchor"). Registered at start-up (campaigns.apps), so
# that the workflow imports nothing above it.
_HOOKS: dict[str, Callable] = {}


# The states in which no worker may hold the roster's key: the grants go in the move's own
# transaction (a worker opens its grant at each send slice, so its window closes with it).
WINDOW_CLOSES = (State.PAUSED, State.STOPPED, State.COMPLETED, State.DRAFT, State.CANCELLED,
                 State.SUBMITTED)


def register_hooks(**hooks: Callable) -> None:
    _HOOKS.update(hooks)


def perform(action: str, campaign, user, *, check=None, apply=None, **args) -> Campaign:
    """Lock, check, apply, audit: all in one transaction. Refusals are audited too.
    `check(c, user, **args)` adds the action's conditions that need its arguments;
    `apply(c, user, **args)` makes the change and returns the audit payload."""
    t = TRANSITIONS[action]
    with transaction.atomic():
        c = locked(campaign)
        verdict = verdict_on(t, c, user, check, args)
        if verdict:
            from_state = c.state
            payload = apply(c, user, **args) if apply else {}
            record_move(t, c, user, from_state, payload)
            if c.state in WINDOW_CLOSES:  # the association's key leaves the workers' reach
                key_window.drop(c)
            return c
    raise verdict.error


def void_signoffs(campaign, reason: str) -> list[int]:
    live = campaign.signoffs.filter(voided_at=None, kind__in=[SignOff.Kind.APPROVAL,
                                                              SignOff.Kind.RELEASE])
    ids = list(live.values_list("pk", flat=True))
    live.update(voided_at=timezone.now(), void_reason=reason)
    return ids


def checklist_check(ticked, items) -> Check:
    missing = [key for key in items if key not in set(ticked)]
    if missing:
        return refused(IncompleteSignOff, _("Tick every item of the checklist: %(items)s")
                   % {"items": "; ".join(str(items[k]) for k in missing)}, "checklist",
                   details={"missing": missing})
    return ALLOWED


def deadline_check(c) -> Check:
    """Nothing more goes out once the campaign's "do not send after" moment has passed."""
    if sending_hours.past_deadline(sending_hours.Hours.of(c), timezone.now()):
        return refused(ContentRefused, _("The campaign's “do not send after” moment has "
                                         "passed: nothing more may be sent. Use Send to the "
                                         "rest for a new campaign."), "deadline_passed")
    return ALLOWED


def content_check(roster, fields: dict) -> Check:
    if roster is not None and roster.purged_at is not None:
        return refused(ContentRefused, _("This roster's member data was erased (retention); "
                                     "import the roster again."), "roster_purged")
    problems = content.content_problems(roster=roster, **fields)
    if problems:
        return refused(ContentRefused, " ".join(m for ms in problems.values() for m in ms),
                   "content", details={"fields": sorted(problems)})
    return ALLOWED


def name_check(name: str | None) -> Check:
    """A campaign's name is listed to auditors, in notifications and in mails to the
    people on it: never a member's data (campaigns.guard.member_data_in)."""
    if name and guard.member_data_in(name):
        return refused(ContentRefused, _(
            "The campaign's name carries a member's data (an address, a name, a telephone "
            "number or another value of theirs). Name a campaign by what it announces: its "
            "name is shown in the audit log and in notifications."), "name_data",
            details={"fields": ["name"]})
    return ALLOWED


def charset_check(fields: dict, members=None) -> Check:
    """What the campaign's charset cannot carry (campaigns.charsets), on `fields` (sender,
    texts, charset, roster_id): refused with the list. `members`: whose values to read
    (default: every member of the roster, read only for ISO-2022-JP)."""
    charset = fields["charset"]
    if charset not in (charsets.UTF8, charsets.ISO_2022_JP):
        return refused(ContentRefused, _("Choose UTF-8 or ISO-2022-JP."), "charset")
    if members is None and charset == charsets.ISO_2022_JP:
        members = member_data.rows(Roster.objects.get(pk=fields["roster_id"]))
    lint = charsets.lint(charset=charset, sender=fields["sender"], subject=fields["subject"],
                         body_text=fields["body_text"], body_html=fields["body_html"],
                         members=members or ())
    if lint.refuses:
        return refused(ContentRefused, lint.refusal(), "charset",
                       details={"charset": lint.summary()})
    return ALLOWED


def sent_count(campaign) -> int:
    return campaign.deliveries.filter(state=Delivery.State.SENT).count()


def guard_outside_the_lock(campaign) -> tuple[dict, GuardReport, str]:
    """Run the content guard (seconds for a big roster) with no lock held. Returns what was
    checked, so that the locked step can refuse if the campaign changed meanwhile."""
    pk = campaign.pk if isinstance(campaign, Campaign) else campaign
    fresh = Campaign.objects.select_related("roster").get(pk=pk)
    checked = {f: getattr(fresh, f) for f in (*CONTENT_FIELDS, *SENDING_FIELDS, "roster_id")}
    report = guard.check_campaign_content(roster=fresh.roster, **fresh.texts())
    return checked, report, fresh.compute_content_hash()


def unchanged_since(c, checked: dict) -> Check:
    if any(getattr(c, f) != value for f, value in checked.items()):
        return refused(WrongState, _("The campaign changed while it was being checked. Try again."),
                   "changed")
    return ALLOWED
