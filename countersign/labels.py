"""Translated labels for codes that are stored as plain text (in the audit log, the ledger,
reports): the data keeps the stable code, the page shows the label in the reader's language.

Each app owns the codes it writes and registers their labels here, from its AppConfig.ready:

    OUTCOMES = labels.register("OUTCOMES", {"received": _("received"), ...})

and templates ask for them by table name: {{ code|label:"OUTCOMES" }}. The kernel registers
its own (roles, organisations) and knows no other app's codes.
"""

from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured

from countersign.models import Organisation
from countersign.roles import Role

_TABLES: dict[str, Mapping] = {}


def register(table_name: str, table: Mapping) -> Mapping:
    """Make `table` (code -> translated label) known as `table_name`; returns it. A second,
    different table under a name already taken is refused: two apps would fight over it."""
    known = _TABLES.get(table_name)
    if known is not None and known is not table:
        raise ImproperlyConfigured(f"the label table {table_name!r} is already registered")
    _TABLES[table_name] = table
    return table


def label(table_name: str, code):
    """The label of `code` in the table `table_name`; the code itself if it has none. An
    unknown table fails loudly: a misspelt name in a template would otherwise show codes."""
    try:
        table = _TABLES[table_name]
    except KeyError:
        raise LookupError(f"no label table {table_name!r} is registered (known: "
                          f"{', '.join(sorted(_TABLES))})") from None
    return table.get(code, code)


register("ROLE", dict(Role.choices))
register("ORGANISATION", dict(Organisation.choices))
