"""The analysis window and filters: which spans an analysis covers, read from notebook parameters.

Times are UTC; the window is ``[start, end)`` on a span's start ``Timestamp``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import ParameterError
from ..times import parse_time

__all__ = ["TraceFilters", "parse_time", "to_ns"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def to_ns(t: dt.datetime) -> int:
    """Nanoseconds since the Unix epoch (exact, no float rounding)."""
    delta = t - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


@dataclass(frozen=True)
class TraceFilters:
    """Which spans the analysis covers. ``start``/``end`` are UTC; the window is ``[start, end)``.

    ``project_id``, ``service_name`` and ``span_name`` select spans; ``tag`` selects traces whose spans
    carry it in ``agentops.tags``; ``models`` selects traces with an LLM span of one of those models
    (request or response name) and drops LLM spans of other models from them.
    """

    start: dt.datetime
    end: dt.datetime
    project_id: str | None = None
    models: tuple[str, ...] = ()
    service_name: str | None = None
    span_name: str | None = None
    tag: str | None = None

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ParameterError(f"end ({self.end.isoformat()}) is not after start ({self.start.isoformat()})",
                                 hint="give a start earlier than end, e.g. start=-7d end=now")

    @classmethod
    def from_params(cls, start: Any = "-7d", end: Any = "now", *, now: dt.datetime | None = None,
                    project_id: str | None = None, models: Iterable[str] | str | None = None,
                    service_name: str | None = None, span_name: str | None = None,
                    tag: str | None = None) -> TraceFilters:
        """Filters from notebook parameters (relative times are taken against ``now``)."""
        now = now or dt.datetime.now(dt.timezone.utc)
        if isinstance(models, str):
            models = [models]
        clean = tuple(dict.fromkeys(str(m) for m in (models or []) if str(m) != ""))
        return cls(parse_time(start, now=now, name="start"), parse_time(end, now=now, name="end"),
                   project_id or None, clean, service_name or None, span_name or None, tag or None)

    @property
    def bucket(self) -> str:
        """``hour`` for windows up to 3 days, else ``day``."""
        return "hour" if (self.end - self.start) <= dt.timedelta(days=3) else "day"

    @property
    def narrows_spans(self) -> bool:
        """True when a model, service, span-name or tag filter applies (the dashboard cannot apply these)."""
        return bool(self.models or self.service_name or self.span_name or self.tag)

    def describe(self) -> str:
        """One line an operator reads: the window and every filter given."""
        parts = [f"{self.start:%Y-%m-%d %H:%M:%S} to {self.end:%Y-%m-%d %H:%M:%S} UTC"]
        for label, value in (("project", self.project_id), ("service", self.service_name),
                             ("span name", self.span_name), ("tag", self.tag)):
            if value:
                parts.append(f"{label} = {value!r}")
        if self.models:
            parts.append("models in " + ", ".join(repr(m) for m in self.models))
        return "; ".join(parts)
