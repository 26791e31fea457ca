"""Step 3: wait for each request's span in the trace store; the arrival latency per request as a frame and a plot.

The checks over the spans found (step 4) are in :mod:`.span_checks`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import RunbookError
from .results import RoundTrip, SentRequest, SpanSeen

__all__ = ["KIND_COLOURS", "latency_frame", "plot_latency", "wait_for_spans"]

_CALL_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


_SPAN_QUERY = """
SELECT SpanAttributes['litellm.call_id'] AS call_id, TraceId AS trace_id, SpanId AS span_id,
       SpanName AS span_name, ServiceName AS service_name, StatusCode AS status_code,
       StatusMessage AS status_message, ResourceAttributes['agentops.project.id'] AS project_id,
       toJSONString(SpanAttributes) AS attributes_json
FROM otel_2.otel_traces
WHERE Timestamp >= fromUnixTimestamp64Nano({since_ns:Int64})
  AND has(splitByChar(',', {call_ids:String}), SpanAttributes['litellm.call_id'])
"""


def _span_score(attrs: Mapping[str, str]) -> int:
    """Prefer the LLM span among several carrying one call id (legacy OTel exports a few)."""
    usage = sum(1 for k in attrs if k.startswith("gen_ai.usage."))
    return usage * 10 + sum(1 for k in attrs if k.startswith("gen_ai."))


def wait_for_spans(
    store: Any,
    sent: Sequence[SentRequest],
    *,
    run_id: str,
    deadline_s: float = 30.0,
    first_poll_s: float = 0.25,
    max_poll_s: float = 2.0,
) -> RoundTrip:
    """Poll the trace store until every request with a call id has a span, or ``deadline_s`` passes.

    A poll that fails is noted (``store_error``) and retried until the deadline.
    """
    trip = RoundTrip(run_id=run_id, requests=list(sent), deadline_s=deadline_s)
    ids = [r.call_id for r in sent if r.call_id and _CALL_ID.match(r.call_id)]
    if not ids:
        return trip
    since_ns = int((min(r.started_at for r in sent) - 120) * 1e9)
    params = {"since_ns": since_ns, "call_ids": ",".join(ids)}
    start = time.monotonic()
    pause = first_poll_s
    while True:
        trip.polls += 1
        try:
            frame = store.query_df(_SPAN_QUERY, params)
            trip.store_error = None
        except RunbookError as exc:
            frame = None
            trip.store_error = exc.message
        now = time.time()
        if frame is not None:
            for row in frame.to_dict("records"):
                attrs = json.loads(row.get("attributes_json") or "{}")
                call_id = str(row.get("call_id") or "")
                old = trip.spans.get(call_id)
                if old is not None and _span_score(old.attributes) >= _span_score(attrs):
                    continue
                trip.spans[call_id] = SpanSeen(
                    call_id=call_id, trace_id=str(row.get("trace_id", "")), span_id=str(row.get("span_id", "")),
                    span_name=str(row.get("span_name", "")), service_name=str(row.get("service_name", "")),
                    status_code=str(row.get("status_code", "")), status_message=str(row.get("status_message", "")),
                    project_id=str(row.get("project_id", "")), attributes=attrs,
                    first_seen_at=old.first_seen_at if old else now,
                )
        if all(i in trip.spans for i in ids):
            break
        elapsed = time.monotonic() - start
        if elapsed >= deadline_s:
            break
        time.sleep(min(pause, max(deadline_s - elapsed, 0.01)))
        pause = min(pause * 1.5, max_poll_s)
    trip.waited_s = time.monotonic() - start
    return trip


def latency_frame(trip: RoundTrip) -> Any:
    """One row per request: kind, HTTP status, call id, whether and how fast its span arrived."""
    import pandas as pd

    rows = []
    for r in trip.requests:
        span = trip.span_for(r)
        rows.append({
            "kind": r.kind, "index": r.index, "http_status": r.status_code, "call_id": r.call_id,
            "response_id": r.response_id, "arrived": span is not None,
            "latency_s": round(span.first_seen_at - r.finished_at, 3) if span else None,
            "span_status": span.status_code if span else None,
            "trace_id": span.trace_id if span else None,
        })
    return pd.DataFrame(rows)


#: Bar colour per request kind (the legend names each kind the data has).
KIND_COLOURS = {"plain": "#4C72B0", "stream": "#55A868", "failing": "#C44E52"}
_MISSING_COLOUR = "#555555"
#: Above this ratio of the deadline to the slowest arrival the seconds axis is logarithmic, so both the
#: bars and the deadline line stay readable.
_LOG_RATIO = 4.0


def _seconds_label(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def plot_latency(trip: RoundTrip) -> Any:
    """Arrival latency per request as bars coloured by kind, a dashed line at the deadline labelled
    ``deadline N s``, and a legend naming each kind present, the missing spans and the deadline.

    The axis is scaled to the data: linear from 0 when the deadline is within a few times the slowest
    arrival, else logarithmic between the fastest arrival and the deadline. A request whose span never
    arrived is an outlined, hatched bar up to the deadline ("no span by the deadline") labelled ``missing``
    inside; each other bar is labelled with its latency above it. The deadline's own label goes where it
    overlaps no bar label (left or right end of the line, above it, else below it).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter

    frame = latency_frame(trip)
    records = frame.to_dict("records")
    deadline = float(trip.deadline_s)
    arrived = [max(float(r["latency_s"]), 0.001) for r in records if r["arrived"]]
    log_axis = bool(arrived) and deadline > _LOG_RATIO * max(arrived)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.0 + 0.7 * len(records)), 3.4), layout="constrained")
    for pos, row in enumerate(records):
        colour = KIND_COLOURS.get(row["kind"], "grey")
        if row["arrived"]:
            height = max(float(row["latency_s"]), 0.001)
            ax.bar(pos, height, color=colour, width=0.7)
            ax.annotate(f"{height:.2f} s", (pos, height), textcoords="offset points", xytext=(0, 2),
                        ha="center", va="bottom", fontsize=8)
        else:
            ax.bar(pos, deadline, fill=False, edgecolor=colour, hatch="//", width=0.7, linewidth=1)
    deadline_label = f"deadline {_seconds_label(deadline)} s"
    deadline_line = ax.axhline(deadline, color="black", linestyle="--", linewidth=1.2, label=deadline_label)
    if log_axis:
        ax.set_yscale("log")
        ax.set_ylim(min(arrived) / 2, deadline * 2)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    else:
        ax.set_ylim(0, max([deadline, *arrived]) * 1.15 if (arrived or deadline) else 1.0)
    ax.set_xticks(range(len(records)), [f"{r['kind']} #{r['index']}" for r in records], rotation=30, ha="right")
    ax.set_xlim(-0.6, max(len(records), 1) - 0.4)
    ax.set_ylabel("seconds until seen" + (" (log)" if log_axis else ""))
    ax.set_title("Span arrival latency per request")
    kinds = list(dict.fromkeys(r["kind"] for r in records))
    handles: list[Any] = [Patch(color=KIND_COLOURS.get(k, "grey"), label=f"{k} (arrived)") for k in kinds
                          if any(r["arrived"] for r in records if r["kind"] == k)]
    if any(not r["arrived"] for r in records):
        handles.append(Patch(fill=False, edgecolor=_MISSING_COLOUR, hatch="//", label="no span by the deadline"))
    handles.append(deadline_line)
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    if not records:
        ax.text(0.5, 0.5, "no request was sent", transform=ax.transAxes, ha="center", va="center")
    _label_missing(ax, records, deadline)
    _label_deadline(fig, ax, deadline, deadline_label)
    return fig


def _label_missing(ax: Any, records: list[dict[str, Any]], deadline: float) -> None:
    """``missing`` inside each hatched bar, half way up it (on a white ground so the hatch stays behind)."""
    top = (ax.transData + ax.transAxes.inverted()).transform((0.0, deadline))[1]  # the bar's top, axes fraction
    for pos, row in enumerate(records):
        if not row["arrived"]:
            ax.annotate("missing", (pos, top / 2), xycoords=("data", "axes fraction"), ha="center", va="center",
                        fontsize=8, color=_MISSING_COLOUR,
                        bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none"})


def _label_deadline(fig: Any, ax: Any, deadline: float, label: str) -> None:
    """The deadline's label at the first end of its line where it overlaps no other label of the plot."""
    fig.draw_without_rendering()  # lay the figure out: the labels' extents are final
    taken = [t.get_window_extent() for t in ax.texts]
    candidates = [((0.0, 4, "left"), 3, "bottom"), ((1.0, -4, "right"), 3, "bottom"),
                  ((0.0, 4, "left"), -3, "top"), ((1.0, -4, "right"), -3, "top")]
    for (x, dx, ha), dy, va in candidates:
        text = ax.annotate(label, (x, deadline), xycoords=("axes fraction", "data"), textcoords="offset points",
                           xytext=(dx, dy), ha=ha, va=va, fontsize=8)
        box = text.get_window_extent()
        if not any(box.overlaps(other) for other in taken):
            return
        text.remove()
    ax.annotate(label, (0.0, deadline), xycoords=("axes fraction", "data"), textcoords="offset points",
                xytext=(4, 3), ha="left", va="bottom", fontsize=8)
