"""One member's values as the door (roster.member_data) hands them out: real ones, or for
a member whose roster's key is with the association, none, with synthetic ones of the
right lengths for a preview's layout (never sent)."""

from __future__ import annotations

from dataclasses import dataclass, field

from roster import synthetic


@dataclass(frozen=True)
class Values:
    """One member's values, as read through the door."""

    member_id: int | None
    member_number: str
    name: str = ""
    email: str = ""
    extra: dict = field(default_factory=dict)
    # The stored ciphertext did not open: changed, moved or its key gone. No values.
    unreadable: bool = False
    # The roster's key is with the association and no window is open here: no values; a
    # preview shows synthetic ones (placeholders()), and nothing is ever sent with them.
    sealed: bool = False
    extra_columns: tuple = ()  # a sealed member's roster's columns (for synthetic values)
    lengths: dict = field(default_factory=dict)  # ... and how long its values are
    longest: bool = False  # synthetic values as long as the roster's longest (a preview)
    # A sealed member whose real values the association lets previews show (roster.previews).
    previewed: bool = False

    @property
    def erased(self) -> bool:
        return not self.email and not self.unreadable and not self.sealed

    def placeholders(self) -> dict[str, str]:
        """The values a message is rendered with ({name}, {member_number}, {email} and the
        extra columns); synthetic ones for a sealed member (a preview's layout, never sent:
        the worker refuses a sealed member)."""
        if self.sealed:
            size = "longest" if self.longest else "typical"

            def length(key):
                return (self.lengths.get(key) or {}).get(size, 0)

            return {"name": synthetic.name(length("name")), "member_number": self.member_number,
                    "email": synthetic.email(length("email")),
                    **{column: synthetic.value(length(column)) for column in self.extra_columns}}
        return {"name": self.name, "member_number": self.member_number, "email": self.email,
                **self.extra}
