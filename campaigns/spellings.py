"""How a member value can be written, and how the guard undoes it: the one normalisation
for the roster's keys and for a message's text (NFKC, format characters dropped,
look-alike letters folded, case folded), markup stripped, disguised "@" and "." undone,
encoded runs read as their text (campaigns.decoding). The keys a member's values
are looked up by are made of these (campaigns.member_keys)."""

from __future__ import annotations

import html
import json
import re
import sys
import unicodedata
from collections.abc import Iterator
from functools import cache, lru_cache
from importlib import resources

from campaigns.decoding import SELECTOR, decodings, smuggled
from campaigns.puzzles import date_tokens, puzzles, without_ruby

MAX_DECODE_DEPTH = 2  # base64 of percent-encoded text is found; deeper nesting is not


# --- normalisation: the same for the roster's keys and for the text --------------------------

# Letters that look like Latin ones (Cyrillic, Greek): an address typed with them reads
# the same to a member. Unicode's confusables table first; these few it does not pair with
# a Latin letter.
_LOOKALIKES = str.maketrans(
    "аеорсухіјѕԁԛԝһӏАВЕКМНОРСТХУІЈЅοαιϲκνρτυχΑΒΕΖΗΙΚΜΝΟΡΤΥΧ",
    "aeopcyxijsdqwhlABEKMHOPCTXYIJSoaickvptuxABEZHIKMNOPTYX")


def _japanese(char: str) -> bool:
    """Kana, kanji and Japanese punctuation: never folded to a Latin look-alike (ロ is not
    O), whatever the confusables table pairs them with."""
    code = ord(char)
    return (0x3000 <= code <= 0x30FF or 0x3400 <= code <= 0x4DBF or 0x4E00 <= code <= 0x9FFF
            or 0xF900 <= code <= 0xFAFF or 0xFF00 <= code <= 0xFFEF)


# Latin letters in other forms that neither NFKC nor the confusables table folds, named
# by Unicode as what they are (ᴀ LATIN LETTER SMALL CAPITAL A, 🅰 NEGATIVE SQUARED LATIN
# CAPITAL LETTER A), in the blocks that hold them.
_LETTER_FORM = re.compile(r"^(?:LATIN LETTER SMALL CAPITAL|(?:NEGATIVE )?(?:SQUARED|CIRCLED)"
                          r" LATIN (?:CAPITAL|SMALL) LETTER|PARENTHESIZED LATIN SMALL LETTER"
                          r"|MODIFIER LETTER (?:CAPITAL|SMALL)|LATIN SUBSCRIPT SMALL LETTER)"
                          r" ([A-Z])$")
_LETTER_FORM_BLOCKS = (*range(0x0250, 0x02B0), *range(0x1D00, 0x1DC0), *range(0x2070, 0x20A0),
                       *range(0x2460, 0x2500), *range(0xA700, 0xA800), *range(0x1F100, 0x1F200))


@cache
def _skeleton() -> tuple[dict[int, str], re.Pattern]:
    """Every character Unicode's confusables table pairs with a Latin letter, a digit, "@"
    or "." (1,300 of them: Cyrillic, Greek, Cherokee, mathematical letters, ...), the
    regional indicator letters (🇦), and the few above: (translation table, a pattern
    that finds any of them)."""
    data = json.loads(resources.files("confusable_homoglyphs").joinpath(
        "confusables.json").read_text(encoding="utf-8"))
    table = {}
    for char, glyphs in data.items():
        if len(char) != 1 or char.isascii() or _japanese(char):
            continue
        latin = [g["c"] for g in glyphs
                 if len(g["c"]) == 1 and g["c"].isascii() and (g["c"].isalnum() or g["c"] in "@.")]
        if latin:
            table[ord(char)] = latin[0]
    table.update({0x1F1E6 + i: chr(ord("A") + i) for i in range(26)})  # 🇦 .. 🇿
    for code in _LETTER_FORM_BLOCKS:  # small capitals, negative squared letters, ...
        match = _LETTER_FORM.match(unicodedata.name(chr(code), ""))
        if match:
            table.setdefault(code, match.group(1))
    table.update(_LOOKALIKES)
    return table, re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(table)) + "]")


# Kanji written as digits (〇九〇, W一〇〇二): read as digits where they stand in a run of
# two or more, or beside a Latin letter or digit; 一 alone (一郎, 統一) stays a word.
_KANJI_DIGIT = "〇一二三四五六七八九零"
_KANJI_DIGITS = str.maketrans(_KANJI_DIGIT, "01234567890")
_KANJI_DIGIT_RUN = re.compile(
    f"[{_KANJI_DIGIT}]{{2,}}|(?<=[0-9A-Za-z])[{_KANJI_DIGIT}]+|[{_KANJI_DIGIT}]+(?=[0-9A-Za-z])")
_ANY_KANJI_DIGIT = re.compile(f"[{_KANJI_DIGIT}]")
# A number written with 十, 百, 千, 万 (K二十万四千四百四十七) where a member number stands:
# right after a Latin letter (after a digit it is an amount: 3万円, 1万2千円).
_KANJI_UNITS = {"十": 10, "百": 100, "千": 1000}
_POSITIONAL_BESIDE_LATIN = re.compile(f"(?<=[A-Za-z])[{_KANJI_DIGIT}十百千万]*[十百千万]"
                                      f"[{_KANJI_DIGIT}十百千万]*")


# The same with Arabic digits around 万 (K20万4447 is K204447), also only after a letter.
_ARABIC_MAN_BESIDE_LATIN = re.compile(r"(?<=[A-Za-z])([0-9]{1,4})万([0-9]{0,4})(?![0-9])")


def _arabic_man_value(match: re.Match) -> str:
    return str(int(match.group(1)) * 10000 + int(match.group(2) or 0))


def kanji_number(written: str) -> str:
    """二十万四千四百四十七 as 204447 (digits, 十, 百, 千, 万)."""
    total = section = digit = 0
    for char in written:
        if char == "万":
            total += (section + digit or 1) * 10000
            section = digit = 0
        elif char in _KANJI_UNITS:
            section += (digit or 1) * _KANJI_UNITS[char]
            digit = 0
        else:
            digit = int(char.translate(_KANJI_DIGITS))
    return str(total + section + digit)


def _positional_value(match: re.Match) -> str:
    return kanji_number(match.group(0))

# Variant forms of kanji common in names (異体字), as the form a roster most often has: a
# name typed with either is the same name. No maintained table exists in Python's world;
# these are the pairs Japanese name-matching software folds.
_ITAIJI_VARIANTS = "髙﨑嵜碕邊邉齋齊濱澤廣國櫻冨德惠眞嶋嶌槇晉藏瀨籠禮龍靜圓黑淺萬彌條與榮壽實曾顯"
_ITAIJI = str.maketrans(_ITAIJI_VARIANTS,
                        "高崎崎崎辺辺斎斉浜沢広国桜富徳恵真島島槙晋蔵瀬篭礼竜静円黒浅万弥条与栄寿実曽顕")
_ANY_ITAIJI = re.compile(f"[{_ITAIJI_VARIANTS}]")


def common_kanji(text: str) -> str:
    """Variant kanji (髙, 﨑, 邊) in their common form (高, 崎, 辺)."""
    return text.translate(_ITAIJI)


# Invisible although Unicode calls them printable: fillers, selectors, the blank braille cell.
_INVISIBLE = ("\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180d\u20e3\u2800\u3164\ufe00-\ufe0f"
              "\uffa0\U000e0100-\U000e01ef")  # and the keycap mark: 1️⃣ is 1
_INVISIBLE_PRINTABLE = re.compile(f"[{_INVISIBLE}]")


@cache
def _ignorable() -> re.Pattern:
    """Characters that show nothing: Unicode format characters (zero-width space, soft
    hyphen, joiners, bidi controls, tags), other non-printing ones, and the above."""
    format_chars = "".join(re.escape(chr(c)) for c in range(sys.maxunicode + 1)
                           if unicodedata.category(chr(c)) in ("Cf", "Cc", "Zl", "Zp")
                           and chr(c) not in "\t\n\r")
    return re.compile(f"[{format_chars}{_INVISIBLE}]")


@cache
def _digits() -> dict[int, str]:
    """Every Unicode decimal digit (Arabic-Indic, Devanagari, Thai, ...) as its ASCII digit:
    NFKC folds only the full-width ones."""
    return {c: str(unicodedata.decimal(chr(c))) for c in range(sys.maxunicode + 1)
            if c > 127 and unicodedata.category(chr(c)) == "Nd"}


# Neither ASCII nor Japanese (kana, kanji, CJK punctuation, full width): where every
# look-alike letter is. Most notices have none, and this is cheap to rule out.
_UNCOMMON = re.compile("[^\x00-\x7f\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")

# Any decimal digit but 0-9: "not a non-digit, not 0-9", one class (a look-ahead on \d at
# every position of every text the guard reads cost eight times as much).
_OTHER_DIGIT = re.compile(r"[^\D0-9]")
_TAG_CHARACTER = re.compile("[\U000e0020-\U000e007e]")


def clean(text: str) -> str:
    """NFKC, nothing invisible, no look-alike letters, every decimal digit ASCII. Case is
    kept (base64 needs it). A long text's (a message's) is remembered for a while: the
    guard's checks of one message clean each of its texts several times."""
    return _clean_remembered(text) if len(text) >= _REMEMBERED else _clean(text)


_REMEMBERED = 64  # members' values are shorter: the index cleans each once


def _clean(text: str) -> str:
    if text.isascii():
        return text
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    if _OTHER_DIGIT.search(text):
        text = text.translate(_digits())
    # Format characters are never printable: the common case needs no scan for them.
    if not text.replace("\n", "").replace("\t", "").isprintable():
        # Tag characters are ASCII written invisibly ("ASCII smuggling"): read as ASCII.
        text = _TAG_CHARACTER.sub(lambda m: chr(ord(m.group(0)) - 0xE0000), text)
        text = _ignorable().sub("", text)
    elif _INVISIBLE_PRINTABLE.search(text):
        text = _INVISIBLE_PRINTABLE.sub("", text)
    if _UNCOMMON.search(text):  # outside ASCII and Japanese: look-alikes are possible
        table, lookalike = _skeleton()
        if lookalike.search(text):
            text = text.translate(table)
    if "万" in text:
        text = _ARABIC_MAN_BESIDE_LATIN.sub(_arabic_man_value, text)
    if _ANY_KANJI_DIGIT.search(text):
        text = _POSITIONAL_BESIDE_LATIN.sub(_positional_value, text)
        text = _KANJI_DIGIT_RUN.sub(lambda m: m.group(0).translate(_KANJI_DIGITS), text)
    if _ANY_ITAIJI.search(text):
        text = text.translate(_ITAIJI)
    return text


_clean_remembered = lru_cache(maxsize=32)(_clean)


_TAG = re.compile(r"<!--.*?(?:-->|\Z)|<(/?)([a-zA-Z][a-zA-Z0-9]*)\b[^<>]*>", re.DOTALL)
_INLINE_TAGS = {"a", "abbr", "b", "bdi", "bdo", "cite", "code", "em", "font", "i", "kbd",
                "mark", "q", "s", "samp", "small", "span", "strike", "strong", "sub", "sup",
                "tt", "u", "var", "wbr"}


def _tag_gap(match: re.Match) -> str:
    """An inline tag joins what it splits (mem<b></b>ber); a cell ends a field, a block a
    line, as the reader sees them."""
    name = (match.group(2) or "").lower()
    if not name or name in _INLINE_TAGS:
        return ""
    return "\t" if name in ("td", "th") and match.group(1) else "\n"


def strip_markup(text: str) -> str:
    return clean(html.unescape(_TAG.sub(_tag_gap, text)))


# Each takes the spaces before it only from the first of them ((?<!\s)): a leading \s* was
# tried again at every space of a long run of them, quadratic in the run.
_AT_DISGUISE = re.compile(
    r"(?:(?<!\s)\s+)?(?:[(\[{<]\s*(?:at|アット(?:マーク)?|単価記号)\s*[)\]}>]|\s(?:at)\s|[★☆]|@"
    r"|アット(?:マーク)?|あっと(?:まーく)?)\s*", re.IGNORECASE)
_DOT_DISGUISE = re.compile(
    r"(?:(?<!\s)\s+)?(?:[(\[{<]\s*(?:dot|ドット|点|ピリオド)\s*[)\]}>]|\s(?:dot)\s|ドット|どっと)\s*",
    re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")


_AT_MARKS = ("@", "★", "☆", "アット", "あっと", "単価記号", "at)", "at]", "at}", "at>", " at ",
             " AT ", " At ")
_DOT_SPACES = re.compile(r"(?<=[A-Za-z0-9])\s*\.\s*(?=[A-Za-z0-9])")
_SPREAD_AT = re.compile(r"\s.{0,2}@|@.{0,2}\s")


# Where each of the three rewrites below can change anything (a plain "@" with no space
# around it, and a "." with none, are left as they are): most texts with an address have none.
_AT_AT_WORK = re.compile(r"[(\[{<]\s*(?:at|アット|単価記号)|\sat\s|[★☆]|アット|あっと|\s@|@\s",
                         re.IGNORECASE)
_DOT_AT_WORK = re.compile(r"[(\[{<]\s*(?:dot|ドット|点|ピリオド)|\sdot\s|ドット|どっと",
                          re.IGNORECASE)
_SPACED_DOT = re.compile(r"[A-Za-z0-9]\s+\.|\.\s+[A-Za-z0-9]")


def _undisguised(text: str) -> list[tuple[str, bool]]:
    """Views in which a spread-out address is whole again: (text, keeps its spaces)."""
    if not any(mark in text for mark in _AT_MARKS):
        return []
    if _AT_AT_WORK.search(text) or _DOT_AT_WORK.search(text) or _SPACED_DOT.search(text):
        joined = _DOT_SPACES.sub(".", _DOT_DISGUISE.sub(".", _AT_DISGUISE.sub("@", text)))
    else:
        joined = text
    found = [(joined, True)] if joined != text else []
    if _SPREAD_AT.search(text):  # m e m b e r @ ...: only without any space
        found.append((_WHITESPACE.sub("", joined), False))
    return found


def views(text: str, depth: int = 0) -> Iterator[tuple[str, bool]]:
    """Every way a reader (or a program the reader runs) may read `text`, normalised:
    (view, whether it keeps the text's spaces, so that word boundaries mean something)."""
    if not text:
        return
    base = clean(text)
    yield base, True
    stripped = base
    if "<" in base or "&" in base:
        stripped = strip_markup(base)
        if stripped != base:
            yield stripped, True
    yield from _undisguised(stripped)
    if "《" in base or "(" in base or "【" in base or "[" in base or "<rt" in base.lower():
        plain = without_ruby(base)
        if plain != base:
            yield (strip_markup(plain) if "<" in plain else plain), True
    joined = _joined_numbers(chome_fold(stripped))  # K-204-447, 二丁目27番9号
    if joined != stripped:
        yield joined, True
    if depth == 0:
        yield from puzzles(stripped)
        dated = date_tokens(stripped)
        if dated:
            yield dated, True
    if depth == 0:  # written backwards: a reader (or a one-line program) turns it round
        yield stripped[::-1], True
    if depth < MAX_DECODE_DEPTH:
        for decoded in decodings(stripped):
            yield from views(decoded, depth + 1)
        if SELECTOR.search(text) and (hidden := smuggled(text)) is not None:
            yield from views(hidden, depth + 1)


NOT_LETTER_OR_DIGIT = re.compile(r"[\W_]+")



# A member number with a letter prefix, its digits split by separators or line breaks
# (K-204-447, K 204 447, K204⏎447), or a letter that looks like a digit among its digits: O
# for 0 (K2O4447), l or I for 1 (W000l23).
_SPLIT_NUMBER = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{1,3}[-\s・.]{0,2}[0-9OoIl]+"
                           r"(?:[-\s・.]{1,2}[0-9OoIl]+)*(?![A-Za-z0-9])")
_DIGIT_LOOKALIKES = str.maketrans("OoIl", "0011")
_NUMBER_SEPARATOR = re.compile(r"[-\s・.]")


def _joined_number(match: re.Match) -> str:
    token = match.group(0)
    if token.isalnum() and not any(c in "OoIl" for c in token[1:]):
        return token  # already whole (W000123), nothing to join
    prefix = re.match(r"[A-Za-z]{1,3}?(?=[-\s・.]*[0-9])|[A-Za-z]", token).group(0)
    digits = _NUMBER_SEPARATOR.sub("", token[len(prefix):])
    if sum(c.isdigit() for c in digits) < 2:  # a word (Too, Boo): not a number
        return token
    return prefix + digits.translate(_DIGIT_LOOKALIKES)


# Latin letters as they are read out in katakana, for a member number's prefix written so
# (ダブリュー000123 is W000123); the longer readings first.
_LETTER_NAMES = {
    "ダブリュー": "W", "ダブリュ": "W", "エックス": "X", "エイチ": "H", "ジェー": "J",
    "ジェイ": "J", "キュー": "Q", "アール": "R", "ティー": "T", "ディー": "D", "ゼット": "Z",
    "ゼッド": "Z", "エー": "A", "エイ": "A", "ビー": "B", "シー": "C", "イー": "E", "エフ": "F",
    "ジー": "G", "アイ": "I", "ケー": "K", "ケイ": "K", "エル": "L", "エム": "M", "エヌ": "N",
    "オー": "O", "ピー": "P", "エス": "S", "ユー": "U", "ブイ": "V", "ヴィー": "V", "ワイ": "Y"}
_KATAKANA_BEFORE_DIGIT = re.compile("(?<![\u30a1-\u30fc])[\u30a1-\u30fc]{2,}"
                                    "(?=[-\\s・.]{0,2}[0-9])")
_LETTER_NAME = re.compile("|".join(sorted(_LETTER_NAMES, key=len, reverse=True)))
_LETTER_NAMES_ONLY = re.compile(f"(?:{_LETTER_NAME.pattern}){{1,3}}")


def _spoken_prefix(match: re.Match) -> str:
    """A whole katakana run before a number, if it is one to three letters read out."""
    run = match.group(0)
    if not _LETTER_NAMES_ONLY.fullmatch(run):
        return run
    return _LETTER_NAME.sub(lambda name: _LETTER_NAMES[name.group(0)], run)


# A word in brackets between a number's prefix and its digits: W（東京）000123 is W000123.
_LETTER_BEFORE_BRACKET = re.compile(r"[A-Za-z]\s*[(\[【〔]")
_BRACKETED_IN_NUMBER = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{1,3})\s*[(\[【〔][^()\[\]【】〔〕\n]"
                                  r"{1,10}[)\]】〕]\s*(?=[0-9])")


def _joined_numbers(text: str) -> str:
    """`text` with every letter-prefixed number whole (one view more for the guard), its
    prefix also when read out in katakana or parted from its digits by a bracketed word."""
    if not any(c.isdigit() for c in text):
        return text
    text = _KATAKANA_BEFORE_DIGIT.sub(_spoken_prefix, text)
    if _LETTER_BEFORE_BRACKET.search(text):
        text = _BRACKETED_IN_NUMBER.sub(r"\1", text)
    return _SPLIT_NUMBER.sub(_joined_number, text)


# Kanji that look like katakana (工/エ, 二/ニ, 夕/タ, 八/ハ, 卜/ト, 力/カ, 口/ロ, 才/オ) read
# as that kana, in the text and in the keys alike: エ藤 is 工藤, 二シムラ 夕クミ is a name.
_KANJI_AS_KANA = "工二夕八卜力口才"
_KATAKANA_TO_HIRAGANA = {c: c - 0x60 for c in range(0x30A1, 0x30F7)} | str.maketrans(
    _KANJI_AS_KANA, "えにたはとかろお")


_KATAKANA = re.compile(f"[\u30a1-\u30f6{_KANJI_AS_KANA}]")


def kana_fold(text: str) -> str:
    """Katakana as hiragana: a reading written in either script is the same reading; and
    kanji that look like katakana as that kana."""
    return text.translate(_KATAKANA_TO_HIRAGANA) if _KATAKANA.search(text) else text


# Romaji as Japanese passports, name badges and forms write it, folded to one spelling:
# long vowels (ō, ô, ou, oh, oo, uu), Hepburn as Kunrei (shi/si, chi/ti, tsu/tu, fu/hu,
# ji/zi, sha/sya, cha/tya, ja/zya), m before b/p/m as n. Only in runs of three letters or
# more (a member number's prefix stays as it is).
_MACRONS = str.maketrans("āēīōūâêîôûĀĒĪŌŪÂÊÎÔÛ", "aeiouaeiouaeiouaeiou")
_ANY_MACRON = re.compile("[āēīōūâêîôûĀĒĪŌŪÂÊÎÔÛ]")
_LETTER_RUN = re.compile(r"[a-z]{3,}")
_ROMAJI = (("ou", "o"), ("oo", "o"), ("uu", "u"), ("shi", "si"), ("chi", "ti"),
           ("tsu", "tu"), ("fu", "hu"), ("ji", "zi"), ("sh", "sy"), ("ch", "ty"), ("j", "zy"),
           ("mb", "nb"), ("mp", "np"), ("mm", "nm"))


_LONG_OH = re.compile(r"oh(?![aeiou])")  # Saitoh, Ohno; not Kohei, not ...roh|uzita


def _romaji_run(match: re.Match) -> str:
    run = _LONG_OH.sub("o", match.group(0))
    for written, folded in _ROMAJI:
        run = run.replace(written, folded)
    return run


def romaji_fold(text: str) -> str:
    """`text` (case folded) with every run of Latin letters in one romaji spelling."""
    if _ANY_MACRON.search(text):  # translate() costs as much as the rest: only if needed
        text = text.translate(_MACRONS)
    return _LETTER_RUN.sub(_romaji_run, text)


def compact(text: str) -> str:
    """Letters and digits only, kana in one script, romaji in one spelling: how names and
    other values are compared."""
    return romaji_fold(kana_fold(NOT_LETTER_OR_DIGIT.sub("", text)))


# 二丁目27番9号, 2丁目27番地の9, 二丁目二十七番九号, 2丁目27-9, as 2-27-9 (the form a roster most
# often has): block, lot and number in digits or kanji, the lot ended by 番 or a hyphen.
# Possessive, and a block starts where no numeral precedes it: linear on a long run of
# digits (greedy groups backtracking into a lookahead were quadratic: 9 s on 50,000 digits).
_NUMERAL_CHAR = f"[0-9{_KANJI_DIGIT}十百]"
_NUMERAL = f"{_NUMERAL_CHAR}++"
_CHOME = re.compile(f"(?<!{_NUMERAL_CHAR})({_NUMERAL})丁目\\s*({_NUMERAL})\\s*"
                    f"(?:番(?:地)?|[-‐−ー])(?:の?({_NUMERAL})(?!\\s*[階F])(?:\\s*号)?)?")


def _chome(match: re.Match) -> str:
    return "-".join(part if part.isdigit() else kanji_number(part)
                    for part in match.groups() if part)


def chome_fold(text: str) -> str:
    """Block, lot and number written in words (二丁目27番9号) as digits with hyphens."""
    return _CHOME.sub(_chome, text) if "丁目" in text else text


_NOT_A_DIGIT = re.compile(r"[^0-9\n]")
_NUMBER_RUN = re.compile(r"\d(?:[\s().\-‐－―ー−]{0,3}\d)+")


def number_runs(view: str) -> str:
    """The runs of digits in a view, each with what separates its digits taken out, one
    run per line: how telephone numbers are compared."""
    runs = "\n".join(run.group(0) for run in _NUMBER_RUN.finditer(view))
    return _NOT_A_DIGIT.sub("", runs) if runs else ""
