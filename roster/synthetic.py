"""What a preview shows for a member whose values only the association can open: synthetic
values, as long as the roster's typical values (or, for a preview's last sample, its
longest), measured at import without keeping a value (Roster.value_lengths). Never sent: the
worker refuses a member whose values do not open."""

SYNTHETIC_NAME = "○○ ○○"
SYNTHETIC_EMAIL = "member@example.invalid"
SYNTHETIC_VALUE = "○○○"
SYNTHETIC_CHARACTER = "○"  # a white circle: not 〇, a kanji zero the guard reads as 0
_DOMAIN = "@example.invalid"
LENGTHS_FROM_MEMBERS = 10  # fewer, and the lengths would say too much of each one
LENGTH_STEP = 2  # rounded up to a multiple of it


def name(length: int) -> str:
    """A name of `length` characters, family and given name apart (○○ ○○ when unknown)."""
    if length < 3:
        return SYNTHETIC_NAME if not length else SYNTHETIC_CHARACTER * length
    family = (length - 1) // 2
    return SYNTHETIC_CHARACTER * family + " " + SYNTHETIC_CHARACTER * (length - 1 - family)


def email(length: int) -> str:
    """An address of about `length` characters that no mail server delivers (.invalid)."""
    local = length - len(_DOMAIN)
    return "m" * local + _DOMAIN if local > len("member") else SYNTHETIC_EMAIL


def value(length: int) -> str:
    return SYNTHETIC_CHARACTER * length if length else SYNTHETIC_VALUE


def lengths(members) -> dict[str, dict[str, int]]:
    """How long each field's values are, in characters (the median and the longest, rounded
    up to a multiple of LENGTH_STEP). No value; nothing for a roster of fewer than
    LENGTHS_FROM_MEMBERS (its previews use the fixed placeholders), and an erasure from the
    roster forgets them (campaigns.retention.erase_member)."""
    members = list(members)
    if len(members) < LENGTHS_FROM_MEMBERS:
        return {}
    found: dict[str, list[int]] = {}
    for m in members:
        for key, text in (("name", m.name), ("email", m.email), *m.extra.items()):
            found.setdefault(key, []).append(len(text or ""))

    def step(n):
        return -(-n // LENGTH_STEP) * LENGTH_STEP

    return {key: {"typical": step(sorted(sizes)[len(sizes) // 2]), "longest": step(max(sizes))}
            for key, sizes in found.items()}
