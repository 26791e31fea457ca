"""Points in time as operators write them in parameters: ``now``, relative (``-24h``, ``-7d``, ``-30m``,
``-2w``) or ISO (naive = UTC). Read by the parameter checks (a ``Time`` parameter is refused before any
kernel starts) and by the trace analytics window."""

from __future__ import annotations

import datetime as dt
import re

from .errors import ParameterError

__all__ = ["parse_time"]

_RELATIVE = re.compile(r"^\s*-\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


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
