"""A campaign's states and every move between them, as one table.

`TRANSITIONS` is the state machine: for each action, the states it may start from, the state
it leads to, who may take it and the separation-of-duties rule that applies. The workflow's
checks (`workflow.can`), the buttons on every page (the views ask `can` for each action)
and the state diagram in the README (`state_diagram()`, kept equal by a test) all come from
it. New states and actions are added here first.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext_lazy as _

from campaigns.actions import Action
from countersign.roles import Role


class State(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted for review")
    APPROVED = "approved", _("Approved by the supervisor")
    RELEASED = "released", _("Released by the observer")
    SENDING = "sending", _("Sending")
    HELD = "held", _("Held for a look at the first messages")
    PAUSED = "paused", _("Paused")
    STOPPED = "stopped", _("Stopped")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")


class Kind(models.TextChoices):
    """A notice is service mail members need (dues, meetings, a data incident); a newsletter
    is mail they may refuse: it carries the unsubscribe footer and headers, and skips those
    who unsubscribed."""

    NOTICE = "notice", _("Notice to members")
    NEWSLETTER = "newsletter", _("Newsletter")


class Rule(models.TextChoices):
    """Separation of duties: who, among those holding the role, may take the action."""

    ANYONE = "anyone", "anyone with the role"
    AUTHOR = "author", "the author only"
    NOT_AUTHOR = "not_author", "never the author"
    NOT_AUTHOR_OR_APPROVER = "not_author_or_approver", "neither the author nor the approver"
    AUTHOR_OR_SUPERVISOR = "author_or_supervisor", "the author, or any supervisor"


@dataclass(frozen=True)
class Transition:
    action: str
    sources: tuple[State, ...]
    target: State | tuple[State, ...] | None  # a tuple: one of them, decided by the action;
    #                                           None: the state does not change
    roles: tuple[Role, ...]  # people who may take it; empty: only the worker
    rule: Rule = Rule.ANYONE
    worker: bool = False  # the worker (no person) may take it too
    audit: Action | None = None  # the audit entry it writes
    stays_in: tuple[State, ...] = ()  # states where it applies too, leaving the state as is
    notify: tuple[str, ...] = ()  # who is told (campaigns.notifications.AUDIENCES)
    after: tuple[str, ...] = ()  # what follows once it commits (workflow's hooks)

    @property
    def applies_in(self) -> tuple[State, ...]:
        return self.sources + self.stays_in

    @property
    def targets(self) -> tuple[State, ...]:
        if self.target is None:
            return ()
        return self.target if isinstance(self.target, tuple) else (self.target,)


S = State
_PEOPLE = (Role.OPERATOR, Role.SUPERVISOR, Role.OBSERVER)
_SIGNERS = (Role.SUPERVISOR, Role.OBSERVER)

TRANSITIONS: dict[str, Transition] = {t.action: t for t in (
    Transition("edit", (S.DRAFT, S.SUBMITTED, S.APPROVED), S.DRAFT, (Role.OPERATOR,),
               Rule.AUTHOR, audit=Action.EDITED),
    Transition("submit", (S.DRAFT,), S.SUBMITTED, (Role.OPERATOR,), Rule.AUTHOR,
               audit=Action.SUBMITTED, notify=("supervisors",)),
    Transition("test_send", (S.DRAFT, S.SUBMITTED), None, (Role.OPERATOR,), Rule.AUTHOR,
               audit=Action.TEST_SENT),
    Transition("approve", (S.SUBMITTED,), S.APPROVED, (Role.SUPERVISOR,), Rule.NOT_AUTHOR,
               audit=Action.APPROVED, notify=("observers",)),
    Transition("reject", (S.SUBMITTED, S.APPROVED), S.DRAFT, _SIGNERS, Rule.NOT_AUTHOR,
               audit=Action.REJECTED, notify=("author",)),
    Transition("release", (S.APPROVED, S.RELEASED, S.PAUSED), S.RELEASED, (Role.OBSERVER,),
               Rule.NOT_AUTHOR_OR_APPROVER, audit=Action.RELEASED, after=("ring_starter",)),
    Transition("cancel", (S.DRAFT, S.SUBMITTED, S.APPROVED), S.CANCELLED,
               (Role.OPERATOR, Role.SUPERVISOR), Rule.AUTHOR_OR_SUPERVISOR,
               audit=Action.CANCELLED),
    Transition("lapse", (S.APPROVED, S.RELEASED), (S.SUBMITTED, S.APPROVED), (), worker=True,
               audit=Action.SIGNOFF_LAPSED, notify=("people",)),
    Transition("recount", (S.SUBMITTED, S.APPROVED, S.RELEASED), S.SUBMITTED, (), worker=True,
               audit=Action.RECIPIENTS_CHANGED, notify=("supervisors", "people")),
    Transition("start", (S.RELEASED,), S.SENDING, (), worker=True, audit=Action.STARTED,
               after=("ring_others",)),
    Transition("refuse_start", (S.RELEASED,), S.DRAFT, (), worker=True,
               audit=Action.START_REFUSED, notify=("people",)),
    Transition("hold", (S.SENDING,), S.HELD, (), worker=True, audit=Action.HELD,
               notify=("people", "observers")),
    Transition("confirm_canary", (S.HELD,), S.SENDING, _SIGNERS, Rule.NOT_AUTHOR,
               audit=Action.CANARY_CONFIRMED, after=("ring_worker",)),
    Transition("pause", (S.SENDING, S.HELD), S.PAUSED, _PEOPLE, worker=True,
               audit=Action.PAUSED, notify=("people", "observers")),
    Transition("refuse_message", (S.SENDING, S.HELD), S.PAUSED, (), worker=True,
               audit=Action.MESSAGE_REFUSED, stays_in=(S.PAUSED, S.STOPPED),
               notify=("people", "observers")),
    Transition("stop", (S.RELEASED, S.SENDING, S.HELD, S.PAUSED), S.STOPPED, _PEOPLE,
               audit=Action.STOPPED, notify=("people", "observers"), after=("mail_anchor",)),
    Transition("expire", (S.RELEASED, S.SENDING, S.HELD, S.PAUSED), S.STOPPED, (),
               worker=True, audit=Action.DEADLINE_PASSED, notify=("people", "observers"),
               after=("mail_anchor",)),
    Transition("complete", (S.SENDING,), S.COMPLETED, (), worker=True, audit=Action.COMPLETED,
               notify=("people",)),  # the association's observers get the completion notice
    Transition("decide", (S.SENDING, S.HELD, S.PAUSED, S.STOPPED), None, _SIGNERS,
               audit=Action.DELIVERY_DECIDED),
)}

# The actions a person takes from a page (a button each), in the order pages show them.
PERSON_ACTIONS = tuple(name for name, t in TRANSITIONS.items() if t.roles)
# States in which the content may still change (and any change voids the sign-offs).
EDITABLE_STATES = TRANSITIONS["edit"].applies_in
# States in which sending may happen or resume: STOP applies.
LIVE_STATES = TRANSITIONS["stop"].applies_in


def state_diagram() -> str:
    """The table as a Mermaid state diagram (the README's copy is checked against it)."""
    lines = ["stateDiagram-v2", "    [*] --> draft: create (operator)"]
    for t in TRANSITIONS.values():
        who = ", ".join(t.roles) + (" or " if t.roles and t.worker else "") + (
            "worker" if t.worker else "")
        rule = "" if t.rule == Rule.ANYONE else f"; {t.rule.label}"
        for source in t.sources:
            for target in t.targets:
                if target != source:
                    lines.append(f"    {source} --> {target}: {t.action} ({who}{rule})")
    lines += [f"    {state} --> [*]" for state in (S.COMPLETED, S.CANCELLED, S.STOPPED)]
    return "\n".join(lines)
