"""Every change of a campaign's state, and the rules on who may make it: the one door.

`door` holds the door itself (the table's answer `can`, and `perform`: lock, check, apply,
audit in one transaction; refusals audited); the moves are in `drafting` (the operator's),
`signing` (the countersignatures) and `sending` (the worker's moves and stop). Callers use
this package: `workflow.approve(...)`, `workflow.can("release", campaign, user)`.

The worker's moves (start, hold, pause, refuse a message, complete) go through the same door
with no person, by campaign id.
"""

from campaigns.states import EDITABLE_STATES, LIVE_STATES, TRANSITIONS
from campaigns.workflow.door import (
    ALLOWED,
    CONTENT_FIELDS,
    Check,
    ContentRefused,
    IncompleteSignOff,
    NotAllowed,
    StaleSignOff,
    TestSendFailed,
    WorkflowError,
    WrongState,
    can,
    checks_for,
    name_check,
    register_hooks,
)
from campaigns.workflow.drafting import (
    ENDED_STATES,
    NOT_REACHED,
    can_duplicate,
    can_send_to_the_rest,
    cancel,
    create,
    duplicate,
    edit,
    submit,
    test_send,
)
from campaigns.workflow.sending import (
    complete,
    confirm_canary,
    hold,
    pause,
    refuse_message,
    start,
    stop,
    stop_at_deadline,
    stop_overdue,
)
from campaigns.workflow.signing import (
    OBSERVER_CHECKLIST,
    SUPERVISOR_CHECKLIST,
    approve,
    decide,
    lapse_reasons,
    lapse_signoffs,
    lapse_signoffs_of,
    lapse_signoffs_of_unstanding_signers,
    recount_recipients,
    reject,
    release,
    tested_hashes,
)

__all__ = [
    "ALLOWED", "CONTENT_FIELDS", "EDITABLE_STATES", "ENDED_STATES", "LIVE_STATES",
    "NOT_REACHED", "OBSERVER_CHECKLIST", "SUPERVISOR_CHECKLIST", "TRANSITIONS", "Check",
    "ContentRefused", "IncompleteSignOff", "NotAllowed", "StaleSignOff", "TestSendFailed",
    "WorkflowError", "WrongState", "approve", "can", "can_duplicate", "can_send_to_the_rest",
    "cancel", "checks_for", "complete", "confirm_canary", "create", "decide", "duplicate",
    "edit", "hold", "lapse_reasons", "lapse_signoffs", "lapse_signoffs_of",
    "lapse_signoffs_of_unstanding_signers", "name_check", "pause", "recount_recipients",
    "refuse_message", "register_hooks", "reject", "release", "start", "stop", "stop_at_deadline",
    "stop_overdue", "submit", "test_send", "tested_hashes",
]
