"""String enums that read as the words they replace (``enum.StrEnum`` behaviour on Python 3.10).

A :class:`Word` member equals, hashes, prints, formats and serialises to JSON as its value, so
replacing a string constant by one changes no record, table or message.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["Word"]


class Word(str, Enum):
    """A string enum that prints, formats and serialises as its value."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)
