"""The analysis window and filters: which spans an analysis covers, read from notebook parameters.

Times are UTC; the window is ``[start, end)`` on a span's start ``Timestamp``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import ParameterError

__all__ = ["TraceFilters", "parse_time", "to_ns"]

_RELATIVE = re.compile(r"^\s*-\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def parse_time(value: str | dt.datetime | dt.date, *, now: dt.datetime | None = None,
               name: str = "time") -> dt.datetime:
    """A UTC datetime from ``now``, a relative ``-24h``/``-7d``/``-30m``/``-2w``, an ISO date or
    date-time (naive = UTC), or a datetime."""
    now = now or dt.datetime.now(dt.timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.timezone.utc)
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.timezone.utc)
    text = str(value).strip()
    if text.lower() == "now":
        return now
    if m := _RELATIVE.match(text):
        return now - dt.timedelta(seconds=float(m[1]) * _UNIT_S[m[2]])
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ParameterError(
            f"{name}: cannot read {text!r} as a time",
            hint="use an ISO time (2025-06-01T12:00:00Z, 2025-06-01), 'now', or a relative time like -24h, -7d",
        ) from None
    return parsed.replace(tzinfo=dt.timezone.utc) if parsed.tzinfo is None else parsed.astimezone(dt.timezone.utc)


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
