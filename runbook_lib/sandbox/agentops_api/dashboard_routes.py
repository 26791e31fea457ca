"""The dashboard's ``/v4`` routes (session cookie required), as upstream's ``api/routes/v4``.

- ``GET /v4/traces/list/{project_id}?start_time&end_time&query&limit(1-100, 20)&offset(0)&order_by
  (start_time)&sort_order(DESC)`` -> ``{traces, metrics, total, limit, offset, freeplan_truncated}``:
  one item per trace (root = earliest span; ``total_cost`` = summed ``gen_ai.usage.total_cost``, else
  the cost functions' price), metrics over every matching trace (each trace counts once, by its last
  span's status; prompt/completion cost from the price table);
- ``GET /v4/traces/detail/{trace_id}`` -> ``{freeplan_truncated, project_id, trace_id, tags, metrics,
  spans}``, spans in storage order, 404 ``Trace not found.``;
- ``GET /v4/meterics/project/{project_id}?start_time&end_time`` (sic) -> project metrics: per-span
  status counts, tokens (stored ``total_tokens`` first), cost = summed prompt + completion cost
  (stored, else the cost functions' price), durations, dates, a spans-per-trace histogram.

A project id that is not a UUID answers 500; an unknown project or one of an organisation the user is
not a member of answers 404 ``Project not found``. Project metrics are cached 5 minutes per (project,
start, end) and trace-list pages other than an unfiltered first page 30 seconds, in the process.
Free-plan projects: metrics start no earlier than 30 days back, traces older than 3 days (other than
the newest three) are marked truncated. ``order_by`` must name a summary column and ``sort_order`` be
ASC or DESC (else 500; upstream pastes both into its SQL). 200 answers carry CORS headers for the
dashboard's origin (``ApiSettings.app_url``).
"""


import threading
import time
from collections.abc import Callable, Hashable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import JSONResponse

from .figures import Row, TokenPrices, Totals, span_row, spans_per_trace
from .projects import ProjectRow, ProjectStore
from .sessions import Session, SessionStore
from .settings import ApiSettings
from .span_views import end_time, iso_naive, span_item, start_time, tag_list
from .store_queries import ORDERABLE, TraceStore

__all__ = ["TtlCache", "dashboard_router"]

StartTime = Annotated[datetime | None, Query(alias="start_time")]
EndTime = Annotated[datetime | None, Query(alias="end_time")]
FREEPLAN_METRICS_DAYS = 30
FREEPLAN_TRACE_DAYS = 3
FREEPLAN_TRACE_MIN = 3


class TtlCache:
    """A small in-process cache whose entries expire ``ttl_s`` seconds after they were stored."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._items: dict[Hashable, tuple[Any, float]] = {}

    def get(self, key: Hashable) -> Any:
        with self._lock:
            hit = self._items.get(key)
            if hit is None or time.monotonic() - hit[1] >= self.ttl_s:
                self._items.pop(key, None)
                return None
            return hit[0]

    def put(self, key: Hashable, value: Any) -> None:
        if self.ttl_s > 0:
            with self._lock:
                self._items[key] = (value, time.monotonic())


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _metrics_row(r: dict[str, Any]) -> Row:
    return Row(trace_id=r["trace_id"], status_code=r["status_code"], prompt_tokens=int(r["prompt_tokens"]),
               completion_tokens=int(r["completion_tokens"]), cache_read_input_tokens=int(r["cache_read_input_tokens"]),
               reasoning_tokens=int(r["reasoning_tokens"]), stored_total_tokens=int(r["cached_total_tokens"]),
               stored_prompt_cost=Decimal(str(r["cached_prompt_cost"])),
               stored_completion_cost=Decimal(str(r["cached_completion_cost"])),
               stored_total_cost=Decimal(str(r["cached_prompt_cost"])) + Decimal(str(r["cached_completion_cost"])))


def dashboard_router(settings: ApiSettings, projects: ProjectStore, store: TraceStore,
                     sessions: SessionStore, prices: TokenPrices) -> APIRouter:
    """The ``/v4`` trace list, trace detail and project metrics routes."""
    router = APIRouter(prefix="/v4")
    SessionDep = Annotated[Session, Depends(sessions.require)]  # noqa: N806 (a type alias)
    cors = {"Access-Control-Allow-Origin": settings.app_url, "Access-Control-Allow-Credentials": "true",
            "Access-Control-Allow-Methods": "GET, OPTIONS", "Access-Control-Allow-Headers": "*"}

    def answer(body: dict[str, Any]) -> JSONResponse:
        """A 200 answer with the CORS headers upstream's views add for the dashboard's origin."""
        return JSONResponse(body, headers=cors)
    metrics_cache = TtlCache(settings.metrics_cache_s)
    list_cache = TtlCache(settings.trace_list_cache_s)

    def member_project(project_id: str, session: Session) -> ProjectRow:
        project = projects.by_id(project_id)  # not a UUID: ValueError -> 500, as upstream
        if project is None or not project.has_member(session.user_id):
            raise HTTPException(status_code=404, detail="Project not found")
        return project

    def newest_trace_ids(project: ProjectRow) -> set[str]:
        rows = store.trace_summaries(project.id, start=None, end=None, search=None, order_by="start_time",
                                     sort_order="DESC", limit=FREEPLAN_TRACE_MIN, offset=0)
        return {r["trace_id"] for r in rows}

    def truncated(project: ProjectRow, trace_id: str, trace_end: datetime, newest: Callable[[], set[str]]) -> bool:
        if not project.is_freeplan or trace_id in newest():
            return False
        return _utc_now() - timedelta(days=FREEPLAN_TRACE_DAYS) > trace_end

    def lazy(fn: Callable[[], set[str]]) -> Callable[[], set[str]]:
        memo: list[set[str]] = []

        def once() -> set[str]:
            if not memo:
                memo.append(fn())
            return memo[0]
        return once

    @router.get("/traces/list/{project_id}")
    def trace_list(project_id: str, session: SessionDep, start_time_: StartTime = None, end_time_: EndTime = None,
                   query: str | None = None, limit: Annotated[int, Query(ge=1, le=100)] = 20,
                   offset: Annotated[int, Query(ge=0)] = 0, order_by: str = "start_time",
                   sort_order: str = "DESC") -> Any:
        project = member_project(project_id, session)
        use_cache = offset != 0 or query is not None or start_time_ is not None or end_time_ is not None
        key = (project_id, start_time_, end_time_, query, limit, offset, order_by, sort_order)
        if use_cache and (cached := list_cache.get(key)) is not None:
            if project.is_freeplan and cached["total"] > FREEPLAN_TRACE_MIN:
                return answer({**cached, "freeplan_truncated": True})
            return answer(cached)
        if order_by not in ORDERABLE or sort_order.upper() not in ("ASC", "DESC"):
            raise ValueError(f"cannot sort the trace list by {order_by!r} {sort_order!r}")
        summaries = store.trace_summaries(project.id, start=start_time_, end=end_time_, search=query,
                                          order_by=order_by, sort_order=sort_order, limit=limit, offset=offset)
        rows = [Row(trace_id=r["trace_id"], status_code=r["status_code"], prompt_tokens=int(r["prompt_tokens"]),
                    completion_tokens=int(r["completion_tokens"]),
                    cache_read_input_tokens=int(r["cache_read_input_tokens"]),
                    reasoning_tokens=int(r["reasoning_tokens"]), request_model=r["request_model"],
                    response_model=r["response_model"], stored_total_cost=Decimal(str(r["cached_total_cost"] or 0)),
                    prices=prices)
                for r in store.trace_list_metrics(project.id, start=start_time_, end=end_time_, search=query)]
        totals = Totals(rows)
        newest = lazy(lambda: newest_trace_ids(project))
        items = []
        for s in summaries:
            start = start_time(s["start_ns"])
            end = end_time(start, s["duration"])
            items.append({
                "freeplan_truncated": truncated(project, s["trace_id"], end, newest), "trace_id": s["trace_id"],
                "root_service_name": s["service_name"], "root_span_name": s["span_name"],
                "start_time": start.isoformat(), "end_time": end.isoformat(), "duration": int(s["duration"]),
                "span_count": int(s["span_count"]), "error_count": int(s["error_count"]), "tags": tag_list(s["tags"]),
                "total_cost": float(s["total_cost"]),
            })
        body = {"traces": items, "metrics": totals.metrics(), "total": totals.trace_count, "limit": limit,
                "offset": offset, "freeplan_truncated": project.is_freeplan and totals.trace_count > FREEPLAN_TRACE_MIN}
        if use_cache:
            list_cache.put(key, body)
        return answer(body)

    @router.get("/traces/detail/{trace_id}")
    def trace_detail(trace_id: str, session: SessionDep) -> Any:
        spans = store.trace_spans(trace_id)
        if not spans:
            raise HTTPException(status_code=404, detail="Trace not found.")
        project_ids = {s["project_id"] for s in spans}
        if len(project_ids) != 1:
            raise AssertionError("All spans in a trace are expected to have the same project_id")
        project = member_project(project_ids.pop(), session)
        trace_end = max(end_time(start_time(s["start_ns"]), s["duration"]) for s in spans)
        cut = truncated(project, trace_id, trace_end, lazy(lambda: newest_trace_ids(project)))
        totals = Totals([span_row(s, prices) for s in spans])
        return answer({"freeplan_truncated": cut, "project_id": project.id, "trace_id": trace_id,
                       "tags": tag_list(spans[0]["tags"]), "metrics": totals.metrics(),
                       "spans": [span_item(s, prices, truncated=cut) for s in spans]})

    @router.get("/meterics/project/{project_id}")
    def project_metrics(project_id: str, session: SessionDep, start_time_: StartTime = None,
                        end_time_: EndTime = None) -> Any:
        project = member_project(project_id, session)
        start, end, clamped = start_time_, end_time_, False
        if project.is_freeplan:
            cutoff = _utc_now() - timedelta(days=FREEPLAN_METRICS_DAYS)
            new_start = max(start, cutoff) if start else cutoff
            actual_end = end if end is not None else _utc_now()
            new_end = max(actual_end, cutoff)
            clamped = start is None or new_start != start or end is None or new_end != actual_end
            start, end = new_start, new_end
        key = (project_id, start, end)
        if (cached := metrics_cache.get(key)) is not None:
            return answer({**cached, "freeplan_truncated": clamped})
        body = _project_metrics(project, store, start, end)
        metrics_cache.put(key, body)
        return answer({**body, "freeplan_truncated": clamped})

    return router


def _project_metrics(project: ProjectRow, store: TraceStore, start: datetime | None, end: datetime | None
                     ) -> dict[str, Any]:
    per_trace = store.metrics_per_trace(project.id, start, end)
    durations = store.metrics_durations(project.id, start, end)
    trace_durations = store.trace_durations(project.id, start, end)
    totals = Totals([])
    success_dates: list[str] = []
    fail_dates: list[str] = []
    other_dates: list[str] = []
    cost_dates: dict[str, Decimal] = {}
    for r in per_trace:
        row = _metrics_row(r)
        totals.span_count += int(r["span_count"])
        totals.success_count += int(r["success_span_count"])
        totals.fail_count += int(r["fail_span_count"])
        totals.indeterminate_count += int(r["indeterminate_span_count"])
        totals.add_figures(row)
        when = iso_naive(r["last_ns"])
        if row.success:
            success_dates.append(when)
            day = when[:10]
            cost_dates[day] = cost_dates.get(day, Decimal(0)) + row.total_cost
        elif row.fail:
            fail_dates.append(when)
        else:
            other_dates.append(when)
    totals.trace_count = len({r["trace_id"] for r in per_trace})
    avg = {
        "all": totals.total_tokens / totals.span_count if totals.span_count else 0.0,
        "success": totals.success_tokens / totals.success_count if totals.success_count else 0.0,
        "fail": totals.fail_tokens / totals.fail_count if totals.fail_count else 0.0,
    }
    return {
        "project_id": project.id,
        "trace_count": int(durations["trace_count"] or 0),
        "span_count": {"total": totals.span_count, "success": totals.success_count, "fail": totals.fail_count,
                       "unknown": totals.indeterminate_count, "indeterminate": totals.indeterminate_count},
        "token_metrics": {
            "total_cost": f"{float(totals.total_cost):.5f}",
            "average_cost_per_session": f"{float(totals.average_cost_per_trace):.5f}",
            "prompt_tokens": totals.prompt_tokens, "completion_tokens": totals.completion_tokens,
            "total_tokens": {"all": totals.total_tokens, "success": totals.success_tokens, "fail": totals.fail_tokens},
            "avg_tokens": {k: round(v, 2) for k, v in avg.items()},
        },
        "duration_metrics": {
            "min_duration_ns": int(durations["min_duration"] or 0),
            "max_duration_ns": int(durations["max_duration"] or 0),
            "avg_duration_ns": int(durations["avg_duration"] or 0),
            "total_duration_ns": int(durations["total_duration"] or 0), "trace_durations": trace_durations,
        },
        "success_datetime": success_dates, "fail_datetime": fail_dates, "indeterminate_datetime": other_dates,
        "spans_per_trace": {str(k): v for k, v in spans_per_trace(int(r["span_count"]) for r in per_trace).items()},
        "trace_durations": trace_durations,
        "trace_cost_dates": {day: float(cost) for day, cost in cost_dates.items()},
        "start_time": iso_naive(durations["first_ns"]), "end_time": iso_naive(durations["last_ns"]),
    }
