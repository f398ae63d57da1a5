"""How people type Japanese, folded away for search: full-width letters and digits and
half-width katakana (NFKC), upper and lower case, hiragana for katakana, and spaces
(a name typed without the space between family and given name)."""

import unicodedata

# Hiragana ぁ..ゖ and their iteration marks, moved onto katakana (ァ..ヶ).
_HIRAGANA_TO_KATAKANA = {code: code + 0x60 for code in range(0x3041, 0x3097)} | {
    0x309D: 0x30FD, 0x309E: 0x30FE}


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
