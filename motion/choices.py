"""Fixed choice lists (the combo widgets of the nodes) as string Enums.

A member's value is the exact string saved workflows hold, so a member compares equal to it and
a saved string parses back to its member.
"""
from __future__ import annotations

from enum import Enum


class Choice(str, Enum):
    """Base of the pack's choice lists; subclasses list their members."""

    def __str__(self) -> str:
        # the saved string, not ``ClassName.MEMBER``, in messages and f-strings
        return self.value

    @classmethod
    def parse(cls, value, what: str):
        """The member whose value is ``value``, or a ValueError naming ``what`` and every choice."""
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"unknown {what} {value!r}; expected one of {cls.listing()}") from None

    @classmethod
    def listing(cls) -> str:
        """``"a, b, c"``: the values in menu order."""
        return ", ".join(member.value for member in cls)
