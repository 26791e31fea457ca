"""Reads from the trace store (ClickHouse over HTTP), one function per question the routes ask.

The SQL follows the real API's rules (``agentops/api/models/{traces,metrics}.py``) and calls the
same ClickHouse functions (``calculate_prompt_cost``, ``calculate_completion_cost``, and through
them ``normalize_model_name`` and ``model_costs_dict``), so a store without those objects fails the
trace list and project metrics the same way (``UNKNOWN_FUNCTION`` -> 500). Queries run with the
store's database as the current one (the cost functions name the dictionary unqualified) and read
``otel_traces`` unqualified, as the real API's client does. Filters on time compare ``Timestamp`` with
the given wall-clock time to the second (upstream formats ``%Y-%m-%d %H:%M:%S``, dropping the zone).
Span reads have no ORDER BY: spans come back in storage order, as upstream's do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

from .settings import ApiSettings

__all__ = ["ORDERABLE", "StoreQueryError", "TraceStore"]

#: Columns of the trace-list summary a caller may sort by.
ORDERABLE = ("trace_id", "service_name", "span_name", "tags", "start_time", "duration", "span_count",
             "error_count", "total_cost")

_MODEL = ("coalesce(nullIf(SpanAttributes['gen_ai.response.model'], ''), "
          "nullIf(SpanAttributes['gen_ai.request.model'], ''))")


def _tokens(kind: str) -> str:
    return f"toUInt64OrZero(SpanAttributes['gen_ai.usage.{kind}_tokens'])"


_UDF_PROMPT = f"calculate_prompt_cost({_tokens('prompt')}, {_MODEL})"
_UDF_COMPLETION = f"calculate_completion_cost({_tokens('completion')}, {_MODEL})"


def _stored_or(attr: str, fallback: str, *, decimal: bool) -> str:
    """``SpanAttributes[attr]`` when set, else ``fallback``: as Decimal(9) or as Float64."""
    value = f"SpanAttributes['{attr}']"
    if decimal:
        return f"if({value} != '', toDecimal64OrZero({value}, 9), toDecimal64({fallback}, 9))"
    return f"if({value} != '', toFloat64OrZero({value}), toFloat64({fallback}))"


_TOKEN_SUMS = ",\n".join(f"sum({_tokens(k)}) AS {k}_tokens" for k in ("prompt", "completion"))
_TOKEN_SUMS += ",\n" + ",\n".join(f"sum(toUInt64OrZero(SpanAttributes['gen_ai.usage.{k}'])) AS {k}"
                                   for k in ("cache_read_input_tokens", "reasoning_tokens"))

#: Per-span attributes read by span-level metrics (the public span/trace and trace-detail routes).
_SPAN_FIELDS = (
    "project_id, TraceId AS trace_id, SpanId AS span_id, ParentSpanId AS parent_span_id, "
    "toString(toUnixTimestamp64Nano(Timestamp)) AS start_ns, Duration AS duration, StatusCode AS status_code, "
    "StatusMessage AS status_message, TraceState AS trace_state, SpanName AS span_name, SpanKind AS span_kind, "
    "ServiceName AS service_name, ScopeName AS scope_name, ScopeVersion AS scope_version, "
    "SpanAttributes['agentops.tags'] AS tags, ResourceAttributes AS resource_attributes, "
    "SpanAttributes AS span_attributes, "
    "arrayMap(t -> toString(toUnixTimestamp64Nano(t)), `Events.Timestamp`) AS event_timestamps_ns, "
    "`Events.Name` AS event_names, `Events.Attributes` AS event_attributes, `Links.TraceId` AS link_trace_ids, "
    "`Links.SpanId` AS link_span_ids, `Links.TraceState` AS link_trace_states, "
    "`Links.Attributes` AS link_attributes"
)


class StoreQueryError(RuntimeError):
    """The trace store refused a query (its HTTP status and error text)."""


def _time(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else None


def _where(filters: Mapping[str, tuple[str, str | None]]) -> tuple[str, dict[str, str]]:
    """``WHERE`` from {param: (condition with {param:String}, value)}; conditions with value None are left out."""
    conds = [cond for name, (cond, value) in filters.items() if value is not None]
    params = {name: value for name, (_, value) in filters.items() if value is not None}
    return (f"WHERE {' AND '.join(conds)}" if conds else ""), params


def _time_filters(project_id: str, start: datetime | None, end: datetime | None) -> dict[str, tuple[str, str | None]]:
    return {"project_id": ("project_id = {project_id:String}", project_id),
            "start_time": ("Timestamp >= {start_time:String}", _time(start)),
            "end_time": ("Timestamp <= {end_time:String}", _time(end))}


class TraceStore:
    """ClickHouse HTTP reads for the stand-in API."""

    def __init__(self, settings: ApiSettings) -> None:
        self._settings = settings

    def rows(self, sql: str, params: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Rows of ``sql`` (JSONEachRow; numbers with a fraction parsed as Decimal)."""
        if not self._settings.trace_store_url:
            raise StoreQueryError("ClickHouse is not configured (no trace store URL)")
        response = httpx.post(
            self._settings.trace_store_url.rstrip("/") + "/",
            params={"default_format": "JSONEachRow", "database": self._settings.trace_store_database,
                    **{f"param_{k}": v for k, v in (params or {}).items()}},
            content=sql.encode(), auth=(self._settings.trace_store_user, self._settings.trace_store_password),
            timeout=60.0,
        )
        if response.status_code != 200:
            raise StoreQueryError(f"ClickHouse query failed with HTTP {response.status_code}: {response.text[:500]}")
        return [json.loads(line, parse_float=Decimal) for line in response.text.splitlines() if line.strip()]

    # --- spans ---------------------------------------------------------------------------------------

    def trace_spans(self, trace_id: str) -> list[dict[str, Any]]:
        """Every span of ``trace_id`` in storage order (no ORDER BY)."""
        return self.rows(f"SELECT {_SPAN_FIELDS} FROM otel_traces WHERE TraceId = {{trace_id:String}}",
                         {"trace_id": trace_id})

    def spans_by_id(self, span_id: str) -> list[dict[str, Any]]:
        """Spans with ``span_id`` (storage order); the caller takes the first."""
        return self.rows(f"SELECT {_SPAN_FIELDS} FROM otel_traces WHERE SpanId = {{span_id:String}}",
                         {"span_id": span_id})

    # --- project list --------------------------------------------------------------------------------

    def project_counts(self, project_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        """{project id: (span count, trace count)} for the projects that have spans."""
        if not project_ids:
            return {}
        params = {f"p{i}": pid for i, pid in enumerate(project_ids)}
        where = " OR ".join(f"project_id = {{p{i}:String}}" for i in range(len(project_ids)))
        rows = self.rows("SELECT any(project_id) AS pid, count() AS spans, count(DISTINCT TraceId) AS traces "
                         f"FROM otel_traces WHERE {where} GROUP BY project_id", params)
        return {str(r["pid"]): (int(r["spans"]), int(r["traces"])) for r in rows}

    # --- trace list (v4) -------------------------------------------------------------------------------

    def trace_summaries(self, project_id: str, *, start: datetime | None, end: datetime | None,
                        search: str | None, order_by: str, sort_order: str, limit: int, offset: int
                        ) -> list[dict[str, Any]]:
        """One row per trace: root (earliest) span's name and tags, wall-clock span, counts, summed total cost."""
        where, params = _where(_time_filters(project_id, start, end))
        having = ""
        if search is not None:
            params["search"] = f"%{search}%"
            having = ("HAVING trace_id ILIKE {search:String} OR span_name ILIKE {search:String} "
                      "OR tags ILIKE {search:String}")
        cost = _stored_or("gen_ai.usage.total_cost", f"{_UDF_PROMPT} + {_UDF_COMPLETION}", decimal=False)
        sql = f"""WITH per_trace AS (
SELECT TraceId AS trace_id, any(ServiceName) AS service_name, argMin(SpanName, Timestamp) AS span_name,
       argMin(SpanAttributes['agentops.tags'], Timestamp) AS tags,
       toString(toUnixTimestamp64Nano(min(Timestamp))) AS start_ns,
       dateDiff('nanosecond', min(Timestamp), max(Timestamp)) AS duration,
       count() AS span_count, countIf(upper(StatusCode) = 'ERROR') AS error_count,
       sum({cost}) AS total_cost,
       min(Timestamp) AS start_time
FROM otel_traces {where} GROUP BY trace_id)
SELECT * EXCEPT (start_time) FROM per_trace {having}
ORDER BY {order_by} {sort_order} LIMIT {int(limit)} OFFSET {int(offset)}"""
        return self.rows(sql, params)

    def trace_list_metrics(self, project_id: str, *, start: datetime | None, end: datetime | None,
                           search: str | None) -> list[dict[str, Any]]:
        """One row per trace (matching spans only when searching): last status, token sums, summed total cost."""
        where, params = _where(_time_filters(project_id, start, end))
        if search is not None:
            params["search"] = f"%{search}%"
            match = ("(TraceId ILIKE {search:String} OR SpanName ILIKE {search:String} "
                     "OR SpanAttributes['agentops.tags'] ILIKE {search:String})")
            where = f"{where} AND {match}" if where else f"WHERE {match}"
        cost = _stored_or("gen_ai.usage.total_cost", f"{_UDF_PROMPT} + {_UDF_COMPLETION}", decimal=True)
        sql = f"""SELECT TraceId AS trace_id, argMax(StatusCode, Timestamp) AS status_code, count() AS span_count,
{_TOKEN_SUMS},
any(SpanAttributes['gen_ai.request.model']) AS request_model,
any(SpanAttributes['gen_ai.response.model']) AS response_model,
sum({cost}) AS cached_total_cost
FROM otel_traces {where} GROUP BY TraceId"""
        return self.rows(sql, params)

    # --- project metrics (v4) ----------------------------------------------------------------------------

    def metrics_per_trace(self, project_id: str, start: datetime | None, end: datetime | None
                          ) -> list[dict[str, Any]]:
        """One row per trace, newest first: status counts, token sums, prompt/completion cost sums."""
        where, params = _where(_time_filters(project_id, start, end))
        total = (f"if(SpanAttributes['gen_ai.usage.total_tokens'] != '', "
                 f"toUInt64OrZero(SpanAttributes['gen_ai.usage.total_tokens']), {_tokens('prompt')} + "
                 f"{_tokens('completion')} + toUInt64OrZero(SpanAttributes['gen_ai.usage.cache_read_input_tokens'])"
                 " + toUInt64OrZero(SpanAttributes['gen_ai.usage.reasoning_tokens']))")
        prompt = _stored_or("gen_ai.usage.prompt_cost", _UDF_PROMPT, decimal=True)
        completion = _stored_or("gen_ai.usage.completion_cost", _UDF_COMPLETION, decimal=True)
        sql = f"""SELECT TraceId AS trace_id, toString(toUnixTimestamp64Nano(max(Timestamp))) AS last_ns,
argMax(StatusCode, Timestamp) AS status_code, count() AS span_count,
countIf(upper(StatusCode) = 'OK') AS success_span_count, countIf(upper(StatusCode) = 'ERROR') AS fail_span_count,
countIf(upper(StatusCode) NOT IN ('OK', 'ERROR')) AS indeterminate_span_count,
{_TOKEN_SUMS},
sum({total}) AS cached_total_tokens,
sum({prompt}) AS cached_prompt_cost, sum({completion}) AS cached_completion_cost,
max(Timestamp) AS last_time
FROM otel_traces {where} GROUP BY TraceId ORDER BY last_time DESC"""
        return self.rows(sql, params)

    def metrics_durations(self, project_id: str, start: datetime | None, end: datetime | None) -> dict[str, Any]:
        """Span duration statistics (zero durations left out), counts and the first/last span time."""
        where, params = _where(_time_filters(project_id, start, end))
        sql = f"""SELECT min(if(Duration > 0, Duration, NULL)) AS min_duration,
max(if(Duration > 0, Duration, NULL)) AS max_duration, avg(if(Duration > 0, Duration, NULL)) AS avg_duration,
sum(if(Duration > 0, Duration, NULL)) AS total_duration, count() AS span_count,
count(DISTINCT TraceId) AS trace_count, toString(toUnixTimestamp64Nano(min(Timestamp))) AS first_ns,
toString(toUnixTimestamp64Nano(max(Timestamp))) AS last_ns
FROM otel_traces {where}"""
        return self.rows(sql, params)[0]

    def trace_durations(self, project_id: str, start: datetime | None, end: datetime | None) -> list[int]:
        """Summed span duration per trace, shortest first."""
        where, params = _where(_time_filters(project_id, start, end))
        sql = (f"SELECT TraceId, sum(Duration) AS trace_duration FROM otel_traces {where} "
               "GROUP BY TraceId ORDER BY trace_duration ASC")
        return [int(r["trace_duration"] or 0) for r in self.rows(sql, params)]
