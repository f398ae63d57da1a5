"""How people type Japanese, folded away for search: full-width letters and digits and
half-width katakana (NFKC), upper and lower case, hiragana for katakana, and spaces
(a name typed without the space between family and given name)."""

import re
import unicodedata

# Control characters: they show nothing, but programs act on some of them (ESC switches an
# ISO-2022-JP reader into kanji). Tab and line breaks are text.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

# Hiragana ぁ..ゖ and their iteration marks, moved onto katakana (ァ..ヶ).
_HIRAGANA_TO_KATAKANA = {code: code + 0x60 for code in range(0x3041, 0x3097)} | {
    0x309D: 0x30FD, 0x309E: 0x30FE}


def is_control(char: str) -> bool:
    return CONTROL.match(char) is not None


def visible(text: str) -> str:
    """`text` without control and format characters (zero-width space, joiners, bidi
    marks), trimmed: what a reader sees of it."""
    return "".join(c for c in text if not is_control(c)
                   and unicodedata.category(c) != "Cf").strip()


def normalised(text: str) -> str:
    """NFKC and trimmed: what the importer stores (Ｗ０００００５ -> W000005, ﾆｭｰｽ -> ニュース,
    the full-width space -> a space)."""
    return unicodedata.normalize("NFKC", text or "").strip()


def folded(text: str) -> str:
    """`text` as search compares it: normalised, case-folded, hiragana as katakana, without
    spaces."""
    return "".join(normalised(text).casefold().translate(_HIRAGANA_TO_KATAKANA).split())


def found_in(query: str, *texts: str) -> bool:
    """Does any of `texts` contain `query`, folded alike?"""
    key = folded(query)
    return any(key in folded(text) for text in texts)
