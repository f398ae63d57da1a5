"""Each shortcut the guard takes to read a message faster gives what the long way gives, on
every text of both attacker's corpora and both sets of ordinary notices: a shortcut that
read less would be a way past the guard."""

import re

from campaigns import opaque, spellings
from tests import guard_corpus
from tests.test_guard_false_refusals_review import DISGUISES, LISTS, NOTICES

TEXTS = sorted({text for case in (*guard_corpus.DISGUISES, *guard_corpus.NOTICES)
                for text in (case.subject, case.body_text, case.body_html) if text}
               | set(DISGUISES.values()) | set(LISTS.values())
               | {text for subject, body in NOTICES.values() for text in (subject, body)}
               | {"a . b@example . jp", "chihiro (at) example (dot) jp", "a@ b.jp", "x ★ y.jp",
                  "m e m b e r @ e x a m p l e . j p", "taro at example dot jp"})


def test_the_corpora_give_the_shortcuts_something_to_read():
    assert len(TEXTS) > 300


def the_long_way(text: str) -> list[tuple[str, bool]]:
    """spellings._undisguised without its shortcut: every rewrite run on every text."""
    if not any(mark in text for mark in spellings._AT_MARKS):
        return []
    joined = spellings._DOT_SPACES.sub(".", spellings._DOT_DISGUISE.sub(
        ".", spellings._AT_DISGUISE.sub("@", text)))
    found = [(joined, True)] if joined != text else []
    if spellings._SPREAD_AT.search(text):
        found.append((re.sub(r"\s+", "", joined), False))
    return found


def test_a_disguised_address_is_undone_the_same_with_the_shortcut():
    for text in TEXTS:
        base = spellings.clean(text)
        assert spellings._undisguised(base) == the_long_way(base), text


def test_cleaning_two_texts_apart_is_cleaning_them_joined_by_a_line_break():
    """clean never reads across a line break: the subject and the body read side by side are
    cleaned each on its own (and each only once), not joined."""
    for first, second in zip(TEXTS, reversed(TEXTS), strict=True):
        assert spellings.clean(f"{first}\n{second}") == (
            f"{spellings.clean(first)}\n{spellings.clean(second)}"), (first, second)


def test_a_long_text_cleaned_again_is_cleaned_the_same():
    for text in TEXTS:
        assert spellings.clean(text) == spellings.clean(text) == spellings._clean(text)


# --- campaigns.opaque: bytes written out, and runs looked for in pieces ---------------------------
HEX_PAIRS = " ".join(f"{b:02x}" for b in b"chihiro.s@ex")
BITS = " ".join(f"{b:08b}" for b in b"chih")
CODES = " ".join(str(b) for b in b"chihiro.s@example")
WRITTEN_OUT = [HEX_PAIRS, f"x{HEX_PAIRS}", f"1{HEX_PAIRS}", f"{HEX_PAIRS}z", f"会員 {HEX_PAIRS}。",
               BITS, f"1{BITS}", f"{BITS}0", f"ビット {BITS}", CODES, f"1.{CODES}", f"{CODES},5",
               f"番号 {CODES} まで", HEX_PAIRS.upper().replace(" ", ","), BITS.replace(" ", ", ")]
THE_LONG_WAY = {  # the patterns before they were made to start with their first character
    "_SPACED_HEX": re.compile(r"(?<![0-9A-Za-z])(?:[0-9A-Fa-f]{2}[ ,:]\s*){11,}[0-9A-Fa-f]{2}"
                              r"(?![0-9A-Za-z])"),
    "_SPACED_BITS": re.compile(r"(?<![01])(?:[01]{8}[ ,]\s*){3,}[01]{8}(?![01])"),
    "_SPACED_CODES": re.compile(r"(?<![\d.,])(?:\d{1,3}[ ,]\s*){15,}\d{1,3}(?![\d.,])"),
}


def test_bytes_written_out_are_found_where_the_long_patterns_found_them():
    for text in [*TEXTS, *WRITTEN_OUT]:
        cleaned = spellings.clean(text)
        for name, long_way in THE_LONG_WAY.items():
            assert [m.span() for m in getattr(opaque, name).finditer(cleaned)] == [
                m.span() for m in long_way.finditer(cleaned)], (name, text)


def test_the_written_out_samples_are_found_at_all():
    """The comparison above compares something: hex pairs, bits and codes are found."""
    assert [run.encoding for text in (HEX_PAIRS, BITS, CODES)
            for run in opaque.written_out_bytes(text)] == ["hex", "bits", "codes"]


def test_encoded_runs_are_found_in_pieces_as_in_the_whole_text():
    for text in TEXTS:
        cleaned = spellings.clean(text)
        pieces = opaque._PIECE.findall(cleaned)
        for pattern in (opaque._HEX, opaque._BASE32, opaque._BASE32_LOWER, opaque._BASE64,
                        opaque._DIGITS, opaque._DENSE, opaque._ESCAPES):
            assert [m.group(0) for m in opaque._matches(pattern, pieces)] == [
                m.group(0) for m in pattern.finditer(cleaned)], (pattern.pattern, text)
