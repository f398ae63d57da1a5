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

from campaigns.puzzles import dates_view
from campaigns.spellings import (
    NOT_LETTER_OR_DIGIT,
    chome_fold,
    clean,
    compact,
    kana_fold,
    romaji_fold,
)

MIN_NAME_LENGTH = 2  # names with non-ASCII characters, after compaction
MIN_ASCII_NAME_LENGTH = 5  # "Li Na" -> "lina" would match ordinary words


# --- the keys of one value, by what it is ---------------------------------------------------------

def name_keys(name: str) -> set[str]:
    """A name's parts in order and reversed, without spaces or punctuation, case folded."""
    parts = [p for p in NOT_LETTER_OR_DIGIT.split(kana_fold(clean(name).casefold())) if p]
    if not parts:
        return set()
    keys = {romaji_fold(k) for k in ("".join(parts), "".join(reversed(parts)),
                                     "".join(parts[-1:] + parts[:-1]))}
    return {k for k in keys if len(k) >= (MIN_ASCII_NAME_LENGTH if k.isascii()
                                          else MIN_NAME_LENGTH)}


def email_keys(email: str) -> set[str]:
    """The address as the importer stored it, and with its domain in the other IDN form."""
    address = clean(email).casefold()
    keys = {address}
    local, _at, domain = address.rpartition("@")
    try:
        if not domain.isascii():
            keys.add(f"{local}@{domain.encode('idna').decode('ascii')}")
        elif "xn--" in domain:
            keys.add(f"{local}@{domain.encode('ascii').decode('idna')}")
    except UnicodeError:
        pass
    return keys


def number_keys(number: str) -> set[str]:
    key = clean(number).casefold()
    keys = {key}
    if re.search(r"[-_\s]", key):  # W-0001 is often written W0001
        keys.add(re.sub(r"[-_\s]", "", key))
    return keys



# --- a roster's other columns, by what they hold ----------------------------------------------

# What a column holds, from its header (the importer keeps headers as the file had them).
COLUMN_KINDS = (
    ("reading", ("フリガナ", "ふりがな", "カナ", "かな", "よみ", "読み", "ローマ字", "romaji",
                 "reading", "kana", "furigana")),
    ("phone", ("電話", "tel", "携帯", "phone", "mobile", "fax", "ファックス", "ファクス")),
    ("address", ("住所", "所在地", "address", "〒", "郵便番号", "postal", "zip")),
    ("date", ("生年月日", "誕生日", "birth", "日付", "date", "入会日")),
)
MIN_PHONE_DIGITS = 9  # a Japanese number has 10 or 11 digits; 9 leaves room for abroad
MIN_VALUE_LENGTH = 6  # an address or a free-text value, compacted
_POSTAL_CODE = re.compile(r"^〒?\s*\d{3}\s*[-‐－ー−]?\s*\d{4}\s*")


def column_kind(header: str) -> str:
    """"reading", "phone", "address", "date" or "text"."""
    folded = clean(header).casefold()
    for kind, words in COLUMN_KINDS:
        if any(word in folded for word in words):
            return kind
    return "text"


def digits_of(text: str) -> str:
    return "".join(c for c in clean(text) if c.isascii() and c.isdigit())


def phone_keys(value: str) -> set[str]:
    """A telephone number as its digits, whatever separates them."""
    digits = digits_of(value)
    if len(digits) < MIN_PHONE_DIGITS:
        return set()
    # From abroad: +81 and the number without its leading 0 (+81 90-1234-5678).
    return {digits, "81" + digits[1:]} if digits.startswith("0") else {digits}


# Where a postal address is written without what a reader leaves out: the prefecture, and
# either the street or the building and room.
_PREFECTURE = re.compile(r"^(?:東京都|北海道|京都府|大阪府|\w{2,3}県)")


def date_key(value: str) -> str:
    """A date column's value as the token dates_view writes for it ("" if not a date)."""
    found = re.match(r"\s*(d[0-9]{8})\s", dates_view(clean(value).strip()) + " ")
    return found.group(1) if found else ""


_ROOM_OR_FLOOR = re.compile(r"[0-9a-z]*[0-9]+(?:号室|号|階|f)?")


def address_keys(value: str) -> set[str]:
    """A postal address, compacted: whole, without its postal code, without the prefecture
    too, blocks in words as digits, and the street or the building with its room alone
    (never a room or a floor alone: 1203号室 is in many buildings). Never the street without
    its city or ward: town names repeat across cities (本町) and one ends another (池袋 in
    西池袋)."""
    cleaned = chome_fold(_POSTAL_CODE.sub("", clean(value).casefold()))
    local = _PREFECTURE.sub("", cleaned)
    street, *building = re.split(r"\s+", local.strip())
    parts = [street, " ".join(building)] if building else [street]
    keys = value_keys(value) | {compact(cleaned), compact(local)} | {
        compact(part) for part in parts
        if any(c.isdigit() for c in part) and not _ROOM_OR_FLOOR.fullmatch(compact(part))}
    return {k for k in keys if len(k) >= MIN_VALUE_LENGTH}


def value_keys(value: str) -> set[str]:
    """An address or another member value, compacted; an address also without its postal
    code (written before it, or left out)."""
    cleaned = clean(value).casefold()
    keys = {compact(cleaned), compact(_POSTAL_CODE.sub("", cleaned))}
    return {k for k in keys if len(k) >= MIN_VALUE_LENGTH}


# --- a member's keys, for the index and the tags ------------------------------------------------


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
    column's kind (column_kind); `named`: members the association allows to be
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
