"""An audit entry's payload as people read it: a key/value table, keys by their translated
labels (each app labels the keys it writes, countersign.labels "PAYLOAD_KEYS"), codes by
their labels where a table names them ("PAYLOAD_VALUES"), yes/no for booleans, times in the
site's zone. The stored payload (what is hashed and exported) is never changed."""

import re
from datetime import datetime

from django.utils.translation import gettext as _

from countersign import labels

_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
# Values shown as written, in a fixed-width font: hashes, ids, file names, codes.
_CODE = re.compile(r"[0-9a-f]{16,}|[\w.-]+@[\w.-]+|[A-Za-z0-9_.:/-]+")


def rows(payload: dict, *, changes: bool = False) -> list[dict]:
    """[{"key", "label", "value"}] in key order; "value" as value() describes it.
    `changes`: the values are [before, after] pairs (an account change)."""
    keys = labels.table("PAYLOAD_KEYS")
    value_tables = labels.table("PAYLOAD_VALUES")
    return [{"key": key, "label": keys.get(key, key),
             "value": value(payload[key], value_tables.get(key), key=key, change=changes)}
            for key in sorted(payload)]


def value(item, table_name: str | None = None, *, key: str = "", change: bool = False) -> dict:
    """{"kind": ..., "value": ...}: "text", "code" (fixed-width), "time" (a datetime),
    "table" (rows of a nested object), "tables" (a list of objects), "items" (a list),
    "change" (before and after)."""
    if isinstance(item, dict):
        return {"kind": "table", "value": rows(item, changes=key == "changes")}
    if isinstance(item, list):
        if change and len(item) == 2:
            return {"kind": "change", "value": [value(i, table_name) for i in item]}
        if item and all(isinstance(i, dict) for i in item):
            return {"kind": "tables", "value": [rows(i) for i in item]}
        return {"kind": "items", "value": [value(i, table_name) for i in item]}
    if isinstance(item, bool):
        return {"kind": "text", "value": _("yes") if item else _("no")}
    if item is None or item == "":
        return {"kind": "text", "value": "—"}
    if isinstance(item, str) and _TIME.fullmatch(item):
        return {"kind": "time", "value": datetime.fromisoformat(item)}
    if table_name is not None and item in labels.table(table_name):
        return {"kind": "text", "value": labels.label(table_name, item)}
    if isinstance(item, int) or _CODE.fullmatch(str(item)):
        return {"kind": "code", "value": item}
    return {"kind": "text", "value": item}
