"""One deadline for the whole of 20_callback_verification (``deadline_s``).

:class:`Deadline` starts when the preflight starts; every later network call takes its timeout from
what is left (:meth:`Deadline.timeout`, capped per kind of call), and nothing is sent once it has
passed, so the notebook ends within ``deadline_s`` plus the time to write up what it found.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

__all__ = ["Deadline", "MIN_CALL_S"]

#: The shortest timeout a call is given (below this, a call could not even connect): no call is made.
MIN_CALL_S = 0.05


@dataclass
class Deadline:
    """``total_s`` seconds from ``started`` (``time.monotonic()``)."""

    total_s: float
    started: float = field(default_factory=time.monotonic)

    def remaining(self) -> float:
        """Seconds left (0 once passed)."""
        return max(0.0, self.total_s - (time.monotonic() - self.started))

    @property
    def passed(self) -> bool:
        return self.remaining() < MIN_CALL_S

    def timeout(self, cap_s: float) -> float:
        """The timeout of one call: ``cap_s`` or what is left, whichever is shorter (at least MIN_CALL_S)."""
        return max(MIN_CALL_S, min(cap_s, self.remaining()))

    def elapsed(self) -> float:
        return time.monotonic() - self.started
