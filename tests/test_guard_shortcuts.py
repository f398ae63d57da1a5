"""Each shortcut the guard takes to read a message faster gives what the long way gives, on
every text of both attacker's corpora and both sets of ordinary notices: a shortcut that
read less would be a way past the guard."""

import random
import re

from campaigns import decoding, guard_hits, links, opaque, puzzles, spellings
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
def test_the_written_out_samples_are_found_at_all():
    """The comparison below compares something: hex pairs, bits and codes are found."""
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


# The backtracking patterns bytes written one by one were read with: quadratic on a long list
# followed by what may not follow it ("1, 1, 1, ... 1.5": 24,000 characters took 4.4 s).
BACKTRACKING_DECIMAL_BYTES = re.compile(
    r"\d(?<![\d.,]\d)\d{0,2}+(?:(?:\s*+[,/]\s*+|\s++)\d{1,3}+){5,}(?![\d.,])")
BACKTRACKING_WRITTEN_OUT = {
    "hex": re.compile(r"[0-9A-Fa-f](?<![0-9A-Za-z][0-9A-Fa-f])[0-9A-Fa-f][ ,:]\s*"
                      r"(?:[0-9A-Fa-f]{2}[ ,:]\s*){10,}[0-9A-Fa-f]{2}(?![0-9A-Za-z])"),
    "bits": re.compile(r"[01](?<![01][01])[01]{7}[ ,]\s*(?:[01]{8}[ ,]\s*){2,}[01]{8}(?![01])"),
    "codes": re.compile(r"\d(?<![\d.,]\d)\d{0,2}[ ,]\s*(?:\d{1,3}[ ,]\s*){14,}\d{1,3}"
                        r"(?![\d.,])"),
}


def decimal_bytes_the_long_way(text: str) -> list[str]:
    found = []
    for match in BACKTRACKING_DECIMAL_BYTES.finditer(text):
        numbers = [int(n) for n in re.findall(r"[0-9]+", match.group(0))]
        if max(numbers) <= 255 and (decoded := decoding.as_text(bytes(numbers))) is not None:
            found.append(decoded)
    return found


def written_out_the_long_way(text: str) -> list[opaque.Run]:
    found = []
    for match in BACKTRACKING_WRITTEN_OUT["hex"].finditer(text):
        pairs = re.findall(r"[0-9A-Fa-f]{2}", match.group(0))
        labels = all(p[0].isalpha() != p[1].isalpha() for p in pairs)
        if any(c.isalpha() for c in match.group(0)) and not labels:
            found.append(opaque.Run("hex", match.group(0)))
    found += [opaque.Run("bits", m.group(0))
              for m in BACKTRACKING_WRITTEN_OUT["bits"].finditer(text)]
    for match in BACKTRACKING_WRITTEN_OUT["codes"].finditer(text):
        numbers = [int(n) for n in re.findall(r"[0-9]+", match.group(0))]
        if max(numbers) <= 255 and numbers != sorted(numbers) and decoding.as_text(
                bytes(numbers)):
            found.append(opaque.Run("codes", match.group(0)))
    return found


def written_lists(seed: int, items: list[str], separators: list[str], longest: int) -> list[str]:
    """Lists of `items` with `separators`, and what may stand before and after them."""
    generated = random.Random(seed)

    def one() -> str:
        text = "".join(generated.choice(items) + generated.choice(separators)
                       for _ in range(generated.randint(3, longest)))
        return (generated.choice(["", "1.", "a ", "9,", "f", "会費 "]) + text.rstrip()
                + generated.choice(["", " 2026年", " 0.5", ".", ",", "1", "a", " 1,5", "円"]))

    return [one() for _ in range(10_000)]


NUMBER_LISTS = written_lists(39, ["46", "64", "99", "104", "115", "1", "12", "2026"],
                             [" ", ", ", "/", " / ", "\n", "  ", ",", "."], 24)
HEX_LISTS = written_lists(40, ["63", "68", "6a", "2E", "40", "6d", "69", "a1", "abc", "0g"],
                          [" ", ", ", ":", " : ", " ", " ", ":", "\n", " ", "."], 30)
CODE_LISTS = written_lists(42, ["99", "104", "105", "46", "115", "64", "101", "120", "106",
                                "112", "111", "109", "2026"],
                           [" ", ", ", ",", " , ", " ", "  ", " ", ", ", " ", "."], 40)
BIT_LISTS = written_lists(41, ["01100011", "01101000", "0110100", "011010001", "00101110"],
                          [" ", ", ", ",", "\n", "", "."], 8)


def test_decimal_bytes_are_read_where_a_backtracking_pattern_read_them():
    texts = [*TEXTS, "99 104 105 104 105 114 111 46 115 64 / 101 120 97 109 112 2026年4月",
             *NUMBER_LISTS]
    assert len([text for text in texts if decimal_bytes_the_long_way(text)]) > 100
    for text in texts:
        assert list(decoding._decimal_bytes(text)) == decimal_bytes_the_long_way(text), text


def test_bytes_written_one_by_one_are_found_where_backtracking_patterns_found_them():
    texts = [*TEXTS, *WRITTEN_OUT, *NUMBER_LISTS, *CODE_LISTS, *HEX_LISTS, *BIT_LISTS]
    texts += [spellings.clean(text) for text in texts]
    found = [written_out_the_long_way(text) for text in texts]
    for kind in ("hex", "bits", "codes"):  # the comparison below is not empty
        assert sum(any(run.encoding == kind for run in runs) for runs in found) > 20, kind
    for text, runs in zip(texts, found, strict=True):
        assert opaque.written_out_bytes(text) == runs, text


# --- patterns rewritten so that a long hostile text is read in linear time ----------------------
# Each is compared with the pattern or loop it replaced, on random texts made of the pieces
# that matter to it (a reviewer measured the old ones: a body of 40,000 characters took from
# 4 s to 63 s in the check of one message).
def random_texts(seed: int, pieces: list[str], count: int = 30_000, longest: int = 14):
    generated = random.Random(seed)
    return ["".join(generated.choice(pieces) for _ in range(generated.randint(0, longest)))
            for _ in range(count)]


OLD_AT = re.compile(
    r"\s*(?:[(\[{<]\s*(?:at|アット(?:マーク)?|単価記号)\s*[)\]}>]|\s(?:at)\s|[★☆]|@"
    r"|アット(?:マーク)?|あっと(?:まーく)?)\s*", re.IGNORECASE)
OLD_DOT = re.compile(
    r"\s*(?:[(\[{<]\s*(?:dot|ドット|点|ピリオド)\s*[)\]}>]|\s(?:dot)\s|ドット|どっと)\s*",
    re.IGNORECASE)
OLD_ADDRESS = re.compile(r"[^\s@<>()\[\],;:\"]+@[^\s@<>()\[\],;:\"]+\.[^\s@<>()\[\],;:\"]+")
OLD_TEXT_URL = re.compile(
    r"\b(?:[a-z][a-z0-9+.-]*://|www\.|mailto:)[^\s<>\"'）」』】〕］}]+", re.IGNORECASE)
OLD_RUBY = re.compile(r"《[^《》]{1,20}》|[(【\[][\u3041-\u30ff]{1,10}[)】\]]|"
                      r"<rt\b[^>]*>.*?</rt\s*>|<rp\b[^>]*>.*?</rp\s*>", re.IGNORECASE | re.DOTALL)
MARKS = [*" \t\n\u3000@.aAt()[]<>{}★アットドット点:/-+xwm_1ſKß", "at", "dot", " at ", "www.",
         "mailto:", "://", "http", "(at)", "[dot]", "アット", "a@b.jp", ",", ";", '"']


def test_written_out_marks_and_lone_addresses_are_read_as_before():
    for text in [*TEXTS, *random_texts(43, MARKS)]:
        assert spellings._AT_DISGUISE.sub("@", text) == OLD_AT.sub("@", text), text
        assert spellings._DOT_DISGUISE.sub(".", text) == OLD_DOT.sub(".", text), text
        assert bool(guard_hits._ADDRESS.fullmatch(text)) == bool(OLD_ADDRESS.fullmatch(text))


def test_links_in_plain_text_are_found_as_before():
    for text in [*TEXTS, *random_texts(44, MARKS)]:
        old = sorted({m.group(0).rstrip(links._TRAILING) for m in OLD_TEXT_URL.finditer(text)})
        new = sorted({(m.group("scheme") or m.group(0)).rstrip(links._TRAILING)
                      for m in links._TEXT_URL.finditer(text)})
        assert new == old, text


def test_readings_are_taken_out_as_before():
    pieces = ["<rt>", "<RT x>", "<rp>", "</rt>", "</rt >", "</RP>", "<rt", ">", "<", "a", "\n",
              "《", "》", "しみず", "(", ")", "【", "】", "み", "清", "<rtc>", "</rtx>"]
    for text in [*TEXTS, *random_texts(45, pieces, longest=16)]:
        assert puzzles.without_ruby(text) == OLD_RUBY.sub("", text), text


def held_the_old_way(names, spans):
    return [(start, end, member) for start, end, member in names
            if not any(s <= start and end <= e and (s, e) != (start, end) for s, e, *_m in spans)]


def test_a_name_inside_a_longer_one_is_found_as_before():
    generated = random.Random(46)
    for _ in range(20_000):
        length = generated.randint(1, 30)
        names = [(start, min(length, start + generated.randint(1, 6)), "W1")
                 for start in (generated.randint(0, length - 1)
                               for _ in range(generated.randint(0, 8)))]
        spans = names + [(start, min(length, start + generated.randint(1, 9)), "")
                         for start in (generated.randint(0, length - 1)
                                       for _ in range(generated.randint(0, 4)))]
        before, at = guard_hits.reach(spans, length)
        kept = [(start, end, member) for start, end, member in names
                if before[start] < end and at.get(start, 0) <= end]
        assert kept == held_the_old_way(names, spans), (names, spans)


def reach_position_by_position(spans, length):
    at = {}
    for start, end, *_rest in spans:
        at[start] = max(at.get(start, 0), end)
    before, furthest = [0] * (length + 1), 0
    for position in range(length + 1):
        before[position] = furthest
        furthest = max(furthest, at.get(position, 0))
    return before, at


def test_where_spans_reach_is_what_a_walk_position_by_position_finds():
    """guard_hits.reach fills the runs between two spans' starts at once (a message has a
    few spans over hundreds of positions): the same list as walking every position, also
    for spans that start at or past the end, or at one place."""
    generated = random.Random(47)
    for _ in range(50_000):
        length = generated.randint(0, 40)
        spans = [(generated.randint(0, length + 2), generated.randint(0, length + 4), "W1")
                 for _ in range(generated.randint(0, 10))]
        assert guard_hits.reach(spans, length) == reach_position_by_position(spans, length), (
            spans, length)
