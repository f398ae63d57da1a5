"""Translated labels for codes that are stored as plain text (in the audit log, the ledger,
reports): the data keeps the stable code, the page shows the label in the reader's language.

Each app owns the codes it writes and registers their labels here, from its AppConfig.ready:

    OUTCOMES = labels.register("OUTCOMES", {"received": _("received"), ...})

and templates ask for them by table name: {{ code|label:"OUTCOMES" }}. The kernel registers
its own (roles, organisations) and knows no other app's codes.

Some tables are shared: the audit log's action names and payload keys come from every app.
Each app contributes the codes it writes ("campaign.approved", "content_hash"):

    labels.contribute("ACTIONS", {Action.APPROVED: _("campaign approved"), ...})
"""

from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from countersign.actions import Action as AccountAction
from countersign.models import Organisation
from countersign.roles import Role

_TABLES: dict[str, Mapping] = {}


class _SharedTable(dict):
    """A table that several apps add codes to (see contribute)."""


def register(table_name: str, table: Mapping) -> Mapping:
    """Make `table` (code -> translated label) known as `table_name`; returns it. A second,
    different table under a name already taken is refused: two apps would fight over it."""
    known = _TABLES.get(table_name)
    if known is not None and known is not table:
        raise ImproperlyConfigured(f"the label table {table_name!r} is already registered")
    _TABLES[table_name] = table
    return table


def contribute(table_name: str, table: Mapping) -> Mapping:
    """Add `table`'s codes to the shared table `table_name` (created on first use). A code
    another app already labelled differently is refused: one code, one meaning."""
    shared = _TABLES.setdefault(table_name, _SharedTable())
    if not isinstance(shared, _SharedTable):
        raise ImproperlyConfigured(f"the label table {table_name!r} belongs to one app; "
                                   "only shared tables take contributions")
    for code, text in table.items():
        if code in shared and str(shared[code]) != str(text):
            raise ImproperlyConfigured(f"{code!r} in {table_name!r} is already labelled "
                                       f"{str(shared[code])!r}")
        shared[str(code)] = text
    return shared


def table(table_name: str) -> Mapping:
    """The whole table `table_name` (code -> label); an unknown name fails loudly."""
    try:
        return _TABLES[table_name]
    except KeyError:
        raise LookupError(f"no label table {table_name!r} is registered (known: "
                          f"{', '.join(sorted(_TABLES))})") from None


def label(table_name: str, code):
    """The label of `code` in the table `table_name`; the code itself if it has none. An
    unknown table fails loudly: a misspelt name in a template would otherwise show codes."""
    return table(table_name).get(code, code)


def source_label(code: str) -> str:
    """Where an entry or a suppression came from, in words: the code's own label (SOURCES,
    to which each app contributes its sources), else its kind's ("dsn" of "dsn:imap") with
    the detail beside it."""
    sources = table("SOURCES")
    if code in sources:
        return str(sources[code])
    kind, _colon, detail = code.partition(":")
    if kind in sources:
        return f"{sources[kind]} ({detail})" if detail else str(sources[kind])
    return code


def actor_label(name: str) -> str:
    """An audit entry's actor as people read it: a person's login name as it is, the system
    ("system:worker", "system:dsn:imap") by what it was."""
    return source_label(name.removeprefix("system:")) if name.startswith("system:") else name


register("ROLE", dict(Role.choices))
register("ORGANISATION", dict(Organisation.choices))

# Who acts when no person does (an audit entry's "system:<source>").
contribute("SOURCES", {"worker": _("the worker (automatic)"), "shell": _("the server's shell"),
                       "cli": _("a command on the server"), "mail": _("the app's mail")})

# The kernel's own entries in the audit log: accounts and access.
contribute("ACTIONS", {
    AccountAction.ACCOUNT_CREATED: _("account created"),
    AccountAction.ACCOUNT_CHANGED: _("account changed"),
    AccountAction.ROLES_CHANGED: _("roles changed"),
    AccountAction.TWO_FACTOR_ADDED: _("two-step device added by an administrator"),
    AccountAction.TWO_FACTOR_REMOVED: _("two-step device removed by an administrator"),
    AccountAction.TWO_FACTOR_ON: _("two-step sign-in turned on"),
    AccountAction.TWO_FACTOR_OFF: _("two-step sign-in turned off"),
    AccountAction.SECOND_FACTOR: _("two-step code entered"),
    AccountAction.ACCESS_DENIED: _("access refused"),
    AccountAction.CHANGE_REQUESTED: _("change to a person asked for (waits for a countersign)"),
    AccountAction.CHANGE_COUNTERSIGNED: _("change to a person countersigned"),
    AccountAction.CHANGE_REFUSED: _("change to a person refused"),
    AccountAction.CHANGE_DENIED: _("decision on a change to a person not allowed"),
    AccountAction.CHANGE_NOTICE_MAILED: _("notice of a change to a person mailed"),
    AccountAction.ASSOCIATION_KEY_REGISTERED: _("association key registered"),
    AccountAction.ASSOCIATION_KEY_NOTICE_MAILED: _("observers told of the association key"),
    AccountAction.ASSOCIATION_KEY_REFUSED: _("association key refused: not as registered"),
    AccountAction.ASSOCIATION_KEY_DESTROYED: _("retired association key destroyed"),
    AccountAction.KEY_SLOT_ADDED: _("passkey added for the association's key"),
    AccountAction.KEY_SLOT_REVOKED: _("passkey for the association's key revoked"),
})
contribute("PAYLOAD_KEYS", {
    "fingerprint": _("key fingerprint"), "retired_key": _("key retired"),
    "sealed_to": _("sealed to the association key"),
    "association_key": _("the association's key (fingerprint)"),
    "user": _("user"), "organisation": _("organisation"), "changes": _("changes"),
    "password": _("password"), "by_owner": _("by the account's owner"),
    "roles": _("roles"), "roles_added": _("roles added"), "roles_removed": _("roles removed"),
    "device": _("device"), "outcome": _("outcome"), "locked_until": _("locked until"),
    "method": _("request method"), "path": _("page"), "required_roles": _("roles required"),
    "user_roles": _("the user's roles"), "username": _("login name"),
    "email": _("e-mail address"), "first_name": _("given name"),
    "last_name": _("family name"), "is_active": _("active"), "is_staff": _("staff"),
    "is_superuser": _("superuser"),
    "where": _("where"), "failures": _("wrong codes in a row"), "address": _("client address"),
    "change": _("change request"), "requests": _("change requests"),
    "replaces": _("replaces the requests"), "requested_by": _("asked by"),
    "countersigned_change": _("countersigned change request"),
    "set_up": _("set up from the server (no countersign)"), "attempted": _("attempted"),
    "why": _("why not"),
})
# Payload keys whose values are codes of a label table.
contribute("PAYLOAD_VALUES", {"organisation": "ORGANISATION", "roles": "ROLE",
                              "roles_added": "ROLE", "roles_removed": "ROLE",
                              "required_roles": "ROLE", "user_roles": "ROLE", "role": "ROLE"})
# Outcomes of a two-step code as the payload's "outcome" stores them.
contribute("PAYLOAD_OUTCOMES", {"ok": _("code accepted"),
                                "throttled": _("too many attempts, refused"),
                                "wrong code": _("wrong code")})
contribute("PAYLOAD_VALUES", {"outcome": "PAYLOAD_OUTCOMES"})
# Where a two-step code was entered (the payload's "where").
register("TWO_FACTOR_WHERE", {"sign_in": _("at sign-in"),
                              "turn_on": _("turning two-step sign-in on"),
                              "turn_off": _("turning two-step sign-in off"),
                              "countersign": _("countersigning a change to a person"),
                              "register_key": _("registering the association's key")})
contribute("PAYLOAD_VALUES", {"where": "TWO_FACTOR_WHERE"})
register("PERSON_CHANGE_ATTEMPTS", {"countersign": _("countersign"), "refuse": _("refusal")})
contribute("PAYLOAD_VALUES", {"attempted": "PERSON_CHANGE_ATTEMPTS"})
contribute("PAYLOAD_OUTCOMES", {"failed": _("failed")})
