"""Spans and traces as the API's responses show them (keys in upstream's order).

Times: a span starts at its ``Timestamp`` (UTC, microseconds, ``+00:00``) and ends ``Duration``
nanoseconds later (cut to microseconds); event times and the project-metrics dates are written
without a zone, as upstream's ClickHouse client returns them. A trace's tags are the first stored
span's (JSON list in ``agentops.tags``; anything unparsable gives ``[]``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from .attributes import has_llm_attributes, nest_attributes, span_type
from .figures import TokenPrices, span_row

__all__ = ["FREEPLAN_SPAN_HIDDEN", "end_time", "iso_naive", "iso_utc", "parse_tags", "public_span",
           "span_item", "span_summary", "start_time", "tag_list"]

#: SpanItem fields a free-plan truncated trace detail empties (and lists last).
FREEPLAN_SPAN_HIDDEN = ("attributes", "resource_attributes", "span_attributes", "event_timestamps", "event_names",
                        "event_attributes", "link_trace_ids", "link_span_ids", "link_trace_states", "link_attributes")

_NS = 1_000_000_000


def start_time(ns: int | str) -> datetime:
    ns = int(ns)
    return datetime.fromtimestamp(ns // _NS, tz=timezone.utc) + timedelta(microseconds=(ns % _NS) // 1000)


def end_time(start: datetime, duration_ns: int | str) -> datetime:
    d = int(duration_ns)
    return start + timedelta(seconds=d // _NS, microseconds=(d % _NS) // 1000)


def iso_utc(ns: int | str) -> str:
    return start_time(ns).isoformat()


def iso_naive(ns: int | str) -> str:
    return start_time(ns).replace(tzinfo=None).isoformat()


def parse_tags(value: Any) -> Any:
    """``json.loads`` of the tags attribute; ``[]`` when it is not JSON."""
    try:
        return json.loads(value)
    except (json.JSONDecodeError, TypeError):
        return []


def _times(span: Mapping[str, Any]) -> tuple[str, str, int]:
    start = start_time(span["start_ns"])
    duration = int(span["duration"])
    return start.isoformat(), end_time(start, duration).isoformat(), duration


def span_summary(span: Mapping[str, Any]) -> dict[str, Any]:
    """A span in ``GET /public/v1/traces/{id}``."""
    start, end, duration = _times(span)
    return {"span_id": span["span_id"], "parent_span_id": span["parent_span_id"], "span_name": span["span_name"],
            "span_kind": span["span_kind"], "start_time": start, "end_time": end, "duration": duration,
            "status_code": str(span["status_code"]).upper(), "status_message": span["status_message"]}


def public_span(span: Mapping[str, Any]) -> dict[str, Any]:
    """``GET /public/v1/spans/{id}``."""
    start, end, duration = _times(span)
    return {"span_id": span["span_id"], "parent_span_id": span["parent_span_id"], "span_name": span["span_name"],
            "span_kind": span["span_kind"], "service_name": span["service_name"], "start_time": start,
            "end_time": end, "duration": duration, "status_code": str(span["status_code"]).upper(),
            "status_message": span["status_message"], "attributes": {},
            "resource_attributes": nest_attributes(span["resource_attributes"]),
            "span_attributes": nest_attributes(span["span_attributes"])}


def span_item(span: Mapping[str, Any], prices: TokenPrices | None, *, truncated: bool) -> dict[str, Any]:
    """A span in ``GET /v4/traces/detail/{id}``; a free-plan truncated one has its payload fields emptied."""
    start, end, duration = _times(span)
    nested = nest_attributes(span["span_attributes"])
    item = {
        "freeplan_truncated": truncated, "span_id": span["span_id"], "parent_span_id": span["parent_span_id"],
        "span_name": span["span_name"], "span_kind": span["span_kind"], "span_type": span_type(nested),
        "service_name": span["service_name"], "start_time": start, "end_time": end, "duration": duration,
        "status_code": str(span["status_code"]).upper(), "status_message": span["status_message"],
        "attributes": {}, "resource_attributes": nest_attributes(span["resource_attributes"]),
        "span_attributes": nested, "event_timestamps": [iso_naive(ns) for ns in span["event_timestamps_ns"]],
        "event_names": list(span["event_names"]), "event_attributes": list(span["event_attributes"]),
        "link_trace_ids": list(span["link_trace_ids"]), "link_span_ids": list(span["link_span_ids"]),
        "link_trace_states": list(span["link_trace_states"]), "link_attributes": list(span["link_attributes"]),
        "metrics": span_row(span, prices).metrics() if has_llm_attributes(span["span_attributes"]) else None,
    }
    if truncated:  # the payload fields move to the end, emptied
        for name in FREEPLAN_SPAN_HIDDEN:
            item[name] = type(item.pop(name))()
    return item


def tag_list(value: Any) -> list[str]:
    """Tags for a response: the parsed list; JSON that is not a list is an error (upstream: 500)."""
    tags = parse_tags(value)
    if not isinstance(tags, list):
        raise ValueError(f"tags is not a list: {tags!r}")
    return tags
