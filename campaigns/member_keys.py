"""The keys a member's values are looked up by: one list for the guard's index (plaintext,
campaigns.guard) and for the keyed tags kept of purged rosters (campaigns.guard_tags).

Each key maps to (kind, member number, key length, column). A reading counts as the
member's name; a telephone number, an address or another value (long enough, and held by
one member only: a branch or a grade is no one's data) as itself. Dates are left out: a
date alone names nobody, and every notice has dates.
"""

from __future__ import annotations

import re

from django.conf import settings

from campaigns.spellings import (
    address_keys,
    clean,
    column_kind,
    date_key,
    email_keys,
    name_keys,
    number_keys,
    phone_keys,
    value_keys,
)


def association_keys() -> frozenset[str]:
    """The association's own name, postal address and contact line (settings), in every
    key form: a member registered with the office's address or telephone (an officer) does
    not make the association's footer another member's data."""
    own = (settings.ASSOCIATION_NAME, settings.ASSOCIATION_POSTAL_ADDRESS,
           settings.ASSOCIATION_CONTACT)
    keys = set()
    for value in own:
        words = [w for w in re.split(r"[\s,、/]+", value) if w]
        for i in range(len(words)):  # every run of its words: the address with or without
            for j in range(i + 1, len(words) + 1):  # its postal code, the phone alone, ...
                part = " ".join(words[i:j])
                keys |= email_keys(part) if "@" in part else (
                    phone_keys(part) | value_keys(part) | address_keys(part))
    return frozenset(keys)


_NOT_ASCII_DIGIT = re.compile(r"[^0-9]")
_NOT_A_WORD = re.compile(r"[\d._+-]")  # what a local part has and a word has not


def number_digits_key(number: str) -> str:
    """A member number's digits written without its letters (204447 for K204447): only six
    digits or more, so that an amount or a date is not read as one."""
    cleaned = clean(number)
    digits = _NOT_ASCII_DIGIT.sub("", cleaned)  # clean() made every decimal digit ASCII;
    # a digit that is no decimal one (❶, ²) is left out: the runs it is compared with are
    # ASCII digits only, so a key holding one could never match
    return digits if len(digits) >= 6 and digits != cleaned else ""


def local_part_key(email: str) -> str:
    """An address's local part, looked for alone (chihiro_s, with the domain given once for
    all): only one that cannot be a word, with a digit or a . _ - + in it."""
    local = email.rpartition("@")[0].casefold()
    if len(local) >= 6 and _NOT_A_WORD.search(local):
        return local
    return ""


def mixed_name_keys(name: str, reading: str) -> set[str]:
    """A name written half in kanji, half in its reading (清水 ちひろ, しみず 千尋)."""
    written, read = name.split(), reading.split()
    if len(written) != 2 or len(read) != 2:
        return set()
    keys = name_keys(f"{written[0]} {read[1]}") | name_keys(f"{read[0]} {written[1]}")
    return {key for key in keys if len(key) >= 4}  # 関なお is a sentence's end and start


def entries(rows, *, min_number_length: int, columns: dict[str, str],
            named: frozenset[str] = frozenset()) -> dict[str, set]:
    """`rows`: (member number, name, e-mail, extra columns); `columns`: each extra
    column's kind (spellings.column_kind); `named`: members the association allows to be
    named (roster.models.NamedMember): their names and readings are left out."""
    found: dict[str, set] = {}
    text_values: dict[str, set] = {}
    text_keys: dict[str, set] = {}  # value_keys of each text value met
    dates: dict[str, set] = {}
    theirs = association_keys()

    shared_names = set()  # keys that are more than one member's name

    def add(key, kind, number, column=""):
        if key in theirs:
            return
        entries = found.get(key)
        if entries is None:
            found[key] = {(kind, number, len(key), column)}
            return
        if kind == "names" and any(e[0] == "names" for e in entries):
            shared_names.add(key)
        entries.add((kind, number, len(key), column))

    for number, name, email, extra in rows:
        for key in email_keys(email):
            add(key, "email", number)
        local = local_part_key(email)
        if local and number not in named:  # an officer signs T.Yamada
            add(local, "local_part", number)
        if len(number) >= min_number_length:
            for key in number_keys(number):
                add(key, "member_number", number)
            digits = number_digits_key(number)
            if digits:
                add(digits, "number_digits", number)
        for key in name_keys(name) if number not in named else ():
            add(key, "names", number)  # many members share a name: the name is the finding
        for column, value in extra.items():
            kind = columns.get(column, "text")
            if not value or (kind == "reading" and number in named):
                continue
            if kind == "date":  # one member's date only (2025/04/01: a year's new members)
                key = date_key(value)
                if key:
                    dates.setdefault(key, set()).add((number, column))
                continue
            if kind == "reading":
                for key in name_keys(value) | mixed_name_keys(name, value):
                    add(key, "names", number)
            elif kind == "phone":
                for key in phone_keys(value):
                    add(key, "phone", number, column)
            elif kind == "address":
                for key in address_keys(value):
                    add(key, "address", number, column)
            else:  # a branch, a grade: a few values, each held by many members
                keys = text_keys.get(value)
                if keys is None:
                    keys = text_keys[value] = value_keys(value)
                for key in keys:
                    text_values.setdefault(key, set()).add((number, column))
    for key, holders in text_values.items():
        if len({number for number, _c in holders}) == 1:
            number, column = min(holders)
            add(key, "column", number, column)
    for key, holders in dates.items():
        if len({number for number, _c in holders}) == 1:
            number, column = min(holders)
            add(key, "date", number, column)
    for key in shared_names:  # one member per name is enough
        kinds = found[key]
        names = [e for e in kinds if e[0] == "names"]
        found[key] = {e for e in kinds if e[0] != "names"} | {min(names, key=lambda e: e[1])}
    return found


def own_keys(values: dict, columns) -> frozenset[str]:
    """Every key of one member's own values (`values`: their placeholders; `columns`: the
    roster's extra columns): what their own message may carry, whoever else holds it."""
    row = (values.get("member_number", ""), values.get("name", ""), values.get("email", ""),
           {column: values.get(column, "") for column in columns})
    return frozenset(entries([row], min_number_length=1,
                             columns={column: column_kind(column) for column in columns}))
