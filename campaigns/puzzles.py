"""Texts a reader is told to read another way, each one more view for the guard
(campaigns.spellings.views): Morse code, letters with a filler between them, the first
character of each line, readings written beside their kanji, and dates in any of the forms
a roster or a notice writes them; a number's prefix written once for several (K204 の 447・452),
and two lists read side by side (清水・松本 各位 ... 千尋さん、樹さん). Plain functions of text,
no Django."""

from __future__ import annotations

import re
from collections.abc import Iterator

_MORSE = {".-": "a", "-...": "b", "-.-.": "c", "-..": "d", ".": "e", "..-.": "f", "--.": "g",
          "....": "h", "..": "i", ".---": "j", "-.-": "k", ".-..": "l", "--": "m", "-.": "n",
          "---": "o", ".--.": "p", "--.-": "q", ".-.": "r", "...": "s", "-": "t", "..-": "u",
          "...-": "v", ".--": "w", "-..-": "x", "-.--": "y", "--..": "z", "-----": "0",
          ".----": "1", "..---": "2", "...--": "3", "....-": "4", ".....": "5", "-....": "6",
          "--...": "7", "---..": "8", "----.": "9", ".--.-.": "@", ".-.-.-": ".",
          "..--.-": "_", "--..--": ",", "-....-": "-", "/": " "}
_MORSE_RUN = re.compile(r"(?:[.\-]{1,6}|/)(?:[ \t]+(?:[.\-]{1,6}|/)){7,}")
_FILLED = re.compile(r"(?:[!-~](.))(?:[!-~]\1){7,}")  # m x e x m x b x ...: every other one
_DIGIT_FILLED = re.compile(r"(?:[!-~][0-9]){8,}[!-~]?")  # c1h2i3h4...: a changing digit
_LONG_ASCII = re.compile(r"[!-~]{16,}")  # where such a run can be (one quick pass)


def _unfilled(match: re.Match) -> str:
    return match.group(0)[::2]


# Dots and dashes as Japanese text writes them (・ and ー, also from full-width －), and a bar
# between letters instead of a space: the same code.
_MORSE_MARKS = str.maketrans({"・": ".", "ー": "-", "−": "-", "‐": "-", "|": " "})
_ANY_MORSE_MARK = re.compile("[・ー−‐|]")
_MARKED_MORSE_RUN = re.compile(r"(?:[.\-・ー−‐]{1,6}|/)(?:[ \t|]+(?:[.\-・ー−‐]{1,6}|/)){7,}")
_AFTER_A_MARK = re.compile(r"[\W_]+(\w)")  # a bulleted line's first letter


class Acrostic(str):
    """A text read down the left edge of its lines. Only a name of ACROSTIC_MIN_NAME
    characters or more counts there: the first letters of an ordinary list spell a short
    name by chance (森林公園…, 優勝… is 森 優)."""


ACROSTIC_MIN_NAME = 4


def _morse(text: str, pattern: re.Pattern = _MORSE_RUN) -> Iterator[tuple[str, bool]]:
    for match in pattern.finditer(text):
        codes = match.group(0).translate(_MORSE_MARKS).split()
        yield "".join(_MORSE.get(code, "?") for code in codes), True


def puzzles(text: str) -> Iterator[tuple[str, bool]]:
    """Morse code, letters with a filler between them (the same one, or a changing digit), the
    first character of each line (a name hidden down the left edge, also behind bullets):
    each as one more view, only where the text has one."""
    if "-" in text or "." in text:
        yield from _morse(text)
    if _ANY_MORSE_MARK.search(text):
        yield from _morse(text, _MARKED_MORSE_RUN)
    filled = _FILLED.sub(_unfilled, text)
    if filled != text:
        yield filled, True
    for run in _LONG_ASCII.findall(text):
        for match in _DIGIT_FILLED.finditer(run):
            if not (kept := match.group(0)[::2]).isdigit():
                yield kept, True
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) >= 4:
        edge = "".join(line[0] for line in lines)
        yield Acrostic(edge), True
        if not edge.isalnum():  # some line starts with a mark
            bulleted = "".join(found.group(1) if (found := _AFTER_A_MARK.match(line))
                               else line[0] for line in lines)
            if bulleted != edge:
                yield Acrostic(bulleted), True
    if any(c.isdigit() for c in text):
        for match in _FACTORED.finditer(text):
            prefix = re.sub(r"[-\s]", "", match.group(1))
            tails = re.findall(r"[0-9]+", match.group(2))
            yield " ".join(prefix + digits for digits in tails), True


# A letter-prefixed number's head written once, then the tails of several (K204 の 447・452・468
# 番): each tail read with the head. Tails are whole digit runs, two or more in a list.
_TAIL_LIST = r"[0-9]{1,6}(?:\s*(?:[・、,/]|と|及び|および)\s*[0-9]{1,6})+"
_FACTORED = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{1,3}[-\s]?[0-9]{1,6})(?![0-9])"
                       rf"[^0-9A-Za-z\n]{{0,6}}?({_TAIL_LIST})(?![0-9])")

# Lists of short words (names, parts of names), each perhaps with an honorific: a list of
# family names in the subject and the given names in the body, read side by side, is a list
# of full names. Words are split off once (one pass of a regular expression in C); a list is
# a run of short words joined by list marks (・、,/，), or by spaces between kana and kanji.
_PIECES = re.compile(r"([\s・、,/，。]+)")
# A short word (group 1 when it is kana and kanji only, which may be listed with spaces).
_SHORT_WORD = re.compile(r"([\u3041-\u30ff\u3400-\u9fff々〆ヶー]{1,8})|"
                         r"[\u3041-\u30ff\u3400-\u9fffA-Za-z々〆ヶー]{1,8}")
_LIST_MARKS = frozenset("・、,/，")
_HONORIFIC = re.compile(r"(?:さん|様|さま|君|くん|ちゃん|氏|殿|先生|各位)$")
MAX_LISTS = 24  # 276 pairs at most: a notice has a few lists


def _lists(text: str) -> list[list[str]]:
    pieces = _PIECES.split(text)
    lists, run, marked, spaced_ok = [], [], False, False

    def close():
        if len(run) >= 3 or (marked and len(run) == 2):
            words = [w for w in (_HONORIFIC.sub("", w) for w in run) if w]
            if len(words) >= 2:
                lists.append(words)

    for i in range(0, len(pieces), 2):
        word = pieces[i]
        short = _SHORT_WORD.fullmatch(word)
        if short is None:
            close()
            run, marked = [], False
            continue
        kana_kanji = short.group(1) is not None
        if run:
            between = pieces[i - 1].strip(" \t\u3000")
            if between in _LIST_MARKS:
                marked = True
            elif between or not (spaced_ok and kana_kanji):  # spaces join kana and kanji only
                close()
                run, marked = [], False
        run.append(word)
        spaced_ok = kana_kanji
        if len(lists) == MAX_LISTS:
            return lists
    close()
    return lists[:MAX_LISTS]


def side_by_side(text: str) -> Iterator[str]:
    """Every two lists of two or more words in `text` read side by side, word by word (清水 +
    千尋, 松本 + 樹, ...), aligned at their start and at their end: one view per pair."""
    lists = list(dict.fromkeys(map(tuple, _lists(text))))  # a list repeated is one list
    for i, first in enumerate(lists):
        for second in lists[i + 1:]:
            yield " ".join(a + b for a, b in zip(first, second))
            if len(first) != len(second):
                yield " ".join(a + b for a, b in zip(reversed(first), reversed(second)))


# Readings written beside the kanji they read: Aozora Bunko's 清水《しみず》, a reading in
# brackets after each kanji 清(し)水(みず) or 清【し】水【みず】, HTML's <rt>. Without them the
# kanji are whole.
_READING = re.compile(r"《[^《》]{1,20}》|[(【\[][\u3041-\u30ff]{1,10}[)】\]]|<(r[tp])\b",
                      re.IGNORECASE)
_RUBY_END = {"rt": re.compile(r"</rt\s*>", re.IGNORECASE),
             "rp": re.compile(r"</rp\s*>", re.IGNORECASE)}


def without_ruby(text: str) -> str:
    r"""The text without readings: what the pattern <rt\b[^>]*>.*?</rt\s*> (and <rp>) would
    take out, found in one pass: an opening tag's ">" is looked for again only past the last
    one found, and a tag with no closing tag after one opening has none after any later one
    (the pattern read to the end from every "<rt", quadratic)."""
    kept, position, at = [], 0, 0
    tag_end = -1  # the first ">" at or after the opening tag last looked at; None: none left
    unclosed: set[str] = set()
    while (match := _READING.search(text, at)) is not None:
        tag = (match.group(1) or "").lower()
        if tag:
            if tag_end is not None and tag_end < match.end():
                found = text.find(">", match.end())
                tag_end = found if found >= 0 else None
            end = None
            if tag_end is not None and tag not in unclosed:
                end = _RUBY_END[tag].search(text, tag_end + 1)
                if end is None:
                    unclosed.add(tag)
            if end is None:  # no reading here: go on from the next character
                at = match.start() + 1
                continue
        kept.append(text[position:match.start()])
        position = at = (end if tag else match).end()
    kept.append(text[position:])
    return "".join(kept)


# Dates as a roster's date column holds them and as a notice writes them: 1990/03/25,
# 1990-3-25, 1990年3月25日, 平成2年3月25日. Each is read as one token (d19900325) in one
# more view of the text, and a date column's values are keyed the same way.
_ERAS = {"明治": 1868, "大正": 1912, "昭和": 1926, "平成": 1989, "令和": 2019}
_DATE = re.compile(r"(?<![0-9])(?:(明治|大正|昭和|平成|令和)\s*(元|[0-9]{1,2})|([0-9]{4}))\s*"
                   r"(?:年|[/.\-])\s*([0-9]{1,2})\s*(?:月|[/.\-])\s*([0-9]{1,2})(?![0-9])\s*日?")


def _date_token(match: re.Match) -> str:
    era, era_year, year, month, day = match.groups()
    if era:
        year = _ERAS[era] + (1 if era_year == "元" else int(era_year)) - 1
    month, day = int(month), int(day)
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return match.group(0)
    return f" d{int(year):04d}{month:02d}{day:02d} "


def _may_hold_a_date(text: str) -> bool:
    return "年" in text or "/" in text or "-" in text or "." in text


def dates_view(text: str) -> str:
    """`text` with every full date as a token (d19900325)."""
    return _DATE.sub(_date_token, text) if _may_hold_a_date(text) else text


def date_tokens(text: str) -> str:
    """The full dates of `text` as tokens and nothing else (" d19900325  d20260701 "): the
    guard's view for dates, which only compares whole tokens (the rest of the text is read
    in the other views)."""
    if not _may_hold_a_date(text):
        return ""
    tokens = (_date_token(match) for match in _DATE.finditer(text))
    return "".join(token for token in tokens if token.startswith(" d"))
