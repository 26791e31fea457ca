"""Trace analytics pushed down to ClickHouse: every figure is an aggregate computed by the store.

The SQL is ClickHouse SQL written against ``otel_2.otel_traces`` and runs unchanged on a
ClickHouse server, the sandbox store and embedded chDB over a dump. Every filter value (window,
project, models, service, span name, tag, prices, limits) is a bound ``{name:Type}`` parameter.
Only :meth:`TraceAnalytics.sample` (a limited sample) and :meth:`TraceAnalytics.export_spans`
return span rows.

Conventions (also in each table's definition):

* window: spans whose start ``Timestamp`` is in ``[start, end)`` (UTC); trace figures are computed
  from the spans in the window;
* LLM span: a span with ``gen_ai.request.model`` or ``gen_ai.response.model``; it is grouped under
  the request model (the name the caller asked for, present on failed calls too) and priced by the
  response model when present (AgentOps's rule);
* status as AgentOps counts it: ``upper(StatusCode)`` ``OK`` success, ``ERROR`` failure, else
  indeterminate;
* percentiles are exact (``quantilesExact``: the value at 0-based position ``floor(q * n)`` of the
  sorted values, no interpolation, no approximation).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import ParameterError
from . import schema
from .pricing import Price, normalise_price_table, resolve_prices
from .store import TraceStore

__all__ = [
    "DASHBOARD_TOKEN_ATTRIBUTES",
    "DEFINITIONS",
    "IGNORED_TOKEN_ATTRIBUTES",
    "QUANTILES",
    "Table",
    "TraceAnalytics",
    "TraceFilters",
    "parse_time",
]

QUANTILES = (0.5, 0.9, 0.95, 0.99)
_Q_NAMES = ("p50", "p90", "p95", "p99")

#: Token attributes the AgentOps API reads, and the newer names it ignores.
DASHBOARD_TOKEN_ATTRIBUTES = ("gen_ai.usage.prompt_tokens", "gen_ai.usage.completion_tokens",
                              "gen_ai.usage.total_tokens", "gen_ai.usage.cache_read_input_tokens",
                              "gen_ai.usage.reasoning_tokens")
IGNORED_TOKEN_ATTRIBUTES = ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens")
#: Span attributes the AgentOps API reads (for the coverage table).
DASHBOARD_ATTRIBUTES = frozenset(DASHBOARD_TOKEN_ATTRIBUTES + (
    "gen_ai.response.model", "gen_ai.request.model", "gen_ai.usage.total_cost", "gen_ai.usage.prompt_cost",
    "gen_ai.usage.completion_cost", "agentops.tags"))

DEFINITIONS: dict[str, tuple[str, str]] = {
    "coverage": ("Data coverage",
                 "Spans whose start time is in [start, end) UTC after all filters; traces = distinct TraceId "
                 "among them; LLM spans = spans with gen_ai.request.model or gen_ai.response.model."),
    "attributes": ("Span attribute names present",
                   "Each SpanAttributes key with the number of spans in the window carrying it, and whether "
                   "the AgentOps dashboard reads it."),
    "headline": ("Headline",
                 "One row for the window: volume, LLM error rate, exact p50/p95 latency of LLM spans and of "
                 "traces, tokens and cost (stored cost where spans carry it, else tokens x price table)."),
    "volume": ("Volume over time",
               "Per UTC period: traces = distinct TraceId with at least one span starting in the period "
               "(a trace crossing a period boundary counts in both); spans and LLM spans by their start."),
    "status": ("Span status by model (AgentOps rule)",
               "upper(StatusCode): 'OK' = success, 'ERROR' = fail, anything else (Unset, empty) = "
               "indeterminate. error_rate = fail / spans. Non-LLM spans are one group."),
    "errors_over_time": ("LLM error rate over time, by model",
                         "Per UTC period and request model: LLM spans, failed ones (StatusCode ERROR) and "
                         "error_rate = failed / LLM spans."),
    "llm_latency": ("LLM span latency by model",
                    "Duration of LLM spans (all statuses) in ms: exact percentiles (quantilesExact: value at "
                    "0-based position floor(q*n) of the sorted durations; no interpolation), max and mean. "
                    "The '(all models)' row pools every LLM span."),
    "trace_latency": ("Trace latency by model mix",
                      "Trace duration = last span end - first span start over the trace's spans in the window "
                      "(ms); grouped by the sorted set of request models its LLM spans used; exact percentiles "
                      "as for LLM spans."),
    "tokens": ("Tokens by model and day",
               "Sum over LLM spans per UTC day and request model. prompt = gen_ai.usage.prompt_tokens, else "
               "gen_ai.usage.input_tokens; completion = completion_tokens, else output_tokens; cache_read = "
               "cache_read_input_tokens; reasoning = reasoning_tokens; total = gen_ai.usage.total_tokens when "
               "set, else prompt + completion + cache_read + reasoning. token_names says which attribute "
               "names the spans used (the dashboard reads prompt/completion only)."),
    "cost": ("Cost by model and day (USD)",
             "Per span: stored cost when present (gen_ai.usage.total_cost, else prompt_cost + completion_cost); "
             "else prompt x input price + completion x output price from the price table (USD per 1M tokens, "
             "matched on the response model); spans with usage but no price count as unpriced (cost 0, "
             "listed separately). basis flags each figure: stored, computed, mixed, or incomplete."),
    "unpriced": ("Models without a price",
                 "LLM spans with token usage, no stored cost and a model the price table cannot match; their "
                 "cost is missing from every cost figure."),
    "spans_per_trace": ("Spans per trace",
                        "Number of traces having n spans in the window, for each n."),
    "slowest_traces": ("Slowest traces",
                       "Top N traces by duration (last span end - first span start), with their cost and a "
                       "dashboard link."),
    "costliest_traces": ("Most expensive traces",
                         "Top N traces by cost (sum of span costs as defined for the cost table)."),
    "dashboard": ("As the dashboard shows it, beside ours",
                  "AgentOps rules: trace_count = distinct TraceId; span counts by upper(StatusCode); tokens from "
                  "gen_ai.usage.prompt_tokens/completion_tokens only (input/output names ignored); total_tokens "
                  "per span = gen_ai.usage.total_tokens if set, else prompt + completion + cache_read + "
                  "reasoning; cost per span = gen_ai.usage.total_cost if set, else (prompt_cost or price x "
                  "prompt tokens) + (completion_cost or price x completion tokens). The dashboard prices with "
                  "its own model_costs table; this runbook's price table stands in for it."),
}


# --------------------------------------------------------------------------- time and filters

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


def _ns(t: dt.datetime) -> int:
    delta = t - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
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

    def describe(self) -> str:
        parts = [f"{self.start:%Y-%m-%d %H:%M:%S} to {self.end:%Y-%m-%d %H:%M:%S} UTC"]
        for label, value in (("project", self.project_id), ("service", self.service_name),
                             ("span name", self.span_name), ("tag", self.tag)):
            if value:
                parts.append(f"{label} = {value!r}")
        if self.models:
            parts.append("models in " + ", ".join(repr(m) for m in self.models))
        return "; ".join(parts)


# --------------------------------------------------------------------------- SQL building blocks

def _attr(key: str) -> str:
    return f"SpanAttributes['{key}']"


REQUEST_MODEL = _attr("gen_ai.request.model")
RESPONSE_MODEL = _attr("gen_ai.response.model")
MODEL_SQL = f"coalesce(nullIf({REQUEST_MODEL}, ''), nullIf({RESPONSE_MODEL}, ''), '')"
COST_MODEL_SQL = f"coalesce(nullIf({RESPONSE_MODEL}, ''), nullIf({REQUEST_MODEL}, ''), '')"
TAGS_SQL = (f"if(isValidJSON({_attr('agentops.tags')}), JSONExtract({_attr('agentops.tags')}, 'Array(String)'), "
            f"splitByChar(',', {_attr('agentops.tags')}))")
NO_LLM = "(no LLM spans)"
ALL_MODELS = "(all models)"
ALL_TRACES = "(all traces)"
NON_LLM = "(non-LLM spans)"


def _derived_columns(price_in: str, price_out: str) -> str:
    a = _attr
    return f"""
        upper(StatusCode) AS status,
        status = 'ERROR' AS is_error,
        {MODEL_SQL} AS model,
        {COST_MODEL_SQL} AS cost_model,
        model != '' AS is_llm,
        toUInt64OrZero({a('gen_ai.usage.prompt_tokens')}) AS old_prompt_tokens,
        toUInt64OrZero({a('gen_ai.usage.completion_tokens')}) AS old_completion_tokens,
        ({a('gen_ai.usage.prompt_tokens')} != '' OR {a('gen_ai.usage.completion_tokens')} != '') AS has_old_names,
        ({a('gen_ai.usage.input_tokens')} != '' OR {a('gen_ai.usage.output_tokens')} != '') AS has_new_names,
        if({a('gen_ai.usage.prompt_tokens')} != '', old_prompt_tokens,
           toUInt64OrZero({a('gen_ai.usage.input_tokens')})) AS prompt_tokens,
        if({a('gen_ai.usage.completion_tokens')} != '', old_completion_tokens,
           toUInt64OrZero({a('gen_ai.usage.output_tokens')})) AS completion_tokens,
        toUInt64OrZero({a('gen_ai.usage.cache_read_input_tokens')}) AS cache_read_tokens,
        toUInt64OrZero({a('gen_ai.usage.reasoning_tokens')}) AS reasoning_tokens,
        {a('gen_ai.usage.total_tokens')} != '' AS has_total_tokens,
        if(has_total_tokens, toUInt64OrZero({a('gen_ai.usage.total_tokens')}),
           prompt_tokens + completion_tokens + cache_read_tokens + reasoning_tokens) AS total_tokens,
        if(has_total_tokens, toUInt64OrZero({a('gen_ai.usage.total_tokens')}),
           old_prompt_tokens + old_completion_tokens + cache_read_tokens + reasoning_tokens) AS dash_total_tokens,
        {a('gen_ai.usage.total_cost')} != '' AS has_total_cost,
        ({a('gen_ai.usage.prompt_cost')} != '' OR {a('gen_ai.usage.completion_cost')} != '') AS has_part_cost,
        has_total_cost OR has_part_cost AS cost_stored,
        if(has_total_cost, toFloat64OrZero({a('gen_ai.usage.total_cost')}),
           toFloat64OrZero({a('gen_ai.usage.prompt_cost')}) + toFloat64OrZero({a('gen_ai.usage.completion_cost')})
        ) AS stored_cost,
        {price_in} AS price_in,
        {price_out} AS price_out,
        price_in >= 0 AS priced,
        prompt_tokens * price_in + completion_tokens * price_out AS computed_cost,
        multiIf(cost_stored, 'stored', NOT is_llm, '', prompt_tokens + completion_tokens = 0, 'no usage',
                priced, 'computed', 'unpriced') AS cost_basis,
        multiIf(cost_stored, stored_cost, cost_basis = 'computed', computed_cost, 0.) AS cost,
        if(has_total_cost, toFloat64OrZero({a('gen_ai.usage.total_cost')}),
           if({a('gen_ai.usage.prompt_cost')} != '', toFloat64OrZero({a('gen_ai.usage.prompt_cost')}),
              old_prompt_tokens * greatest(price_in, 0.))
           + if({a('gen_ai.usage.completion_cost')} != '', toFloat64OrZero({a('gen_ai.usage.completion_cost')}),
                old_completion_tokens * greatest(price_out, 0.))) AS dash_cost"""


def _bucket_sql(bucket: str) -> str:
    if bucket == "hour":
        return "toStartOfHour(Timestamp, 'UTC')"
    if bucket == "day":
        return "toStartOfDay(Timestamp, 'UTC')"
    raise ParameterError(f"bucket must be 'hour' or 'day', not {bucket!r}")


TRACE_NS_SQL = ("(max(toUnixTimestamp64Nano(Timestamp) + toInt64(Duration)) "
                "- min(toUnixTimestamp64Nano(Timestamp)))")
MODELS_USED_SQL = "arrayStringConcat(arraySort(groupUniqArrayIf(model, is_llm)), '+')"


@dataclass
class Table:
    """One result: a DataFrame of aggregates with its title and definition."""

    key: str
    title: str
    definition: str
    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"<Table {self.key}: {len(self.frame)} rows>"


# --------------------------------------------------------------------------- the analysis


class TraceAnalytics:
    """Aggregates over one store and one set of filters. Each method runs one or two queries."""

    def __init__(self, store: TraceStore, filters: TraceFilters, *,
                 price_table: Mapping[str, Any] | None = None, app_url: str | None = None,
                 now: dt.datetime | None = None) -> None:
        self.store = store
        self.filters = filters
        self.prices: dict[str, Price] = normalise_price_table(price_table)
        self.app_url = (app_url or "").rstrip("/") or None
        self.now = now or dt.datetime.now(dt.timezone.utc)
        self.queries: list[str] = []  # SQL text run so far (for the report's appendix)
        self._cache: dict[str, pd.DataFrame] = {}

    # ---- SQL plumbing

    def _where(self) -> tuple[str, dict[str, Any]]:
        f = self.filters
        params: dict[str, Any] = {"start_ns": _ns(f.start), "end_ns": _ns(f.end)}
        base = ["Timestamp >= fromUnixTimestamp64Nano({start_ns:Int64})",
                "Timestamp < fromUnixTimestamp64Nano({end_ns:Int64})"]
        if f.project_id:
            base.append("project_id = {project_id:String}")
            params["project_id"] = f.project_id
        conds = list(base)
        if f.service_name:
            conds.append("ServiceName = {service_name:String}")
            params["service_name"] = f.service_name
        if f.span_name:
            conds.append("SpanName = {span_name:String}")
            params["span_name"] = f.span_name
        scope = " AND ".join(base)
        if f.tag:
            params["tag"] = f.tag
            conds.append(f"TraceId IN (SELECT TraceId FROM {schema.QUALIFIED} WHERE {scope} "
                         f"AND has({TAGS_SQL}, {{tag:String}}))")
        if f.models:
            names = []
            for i, m in enumerate(f.models):
                params[f"model_{i}"] = m
                names.append(f"{{model_{i}:String}}")
            in_list = ", ".join(names)
            conds.append(f"TraceId IN (SELECT TraceId FROM {schema.QUALIFIED} WHERE {scope} AND "
                         f"({REQUEST_MODEL} IN ({in_list}) OR {RESPONSE_MODEL} IN ({in_list})))")
            conds.append(f"({MODEL_SQL} = '' OR {REQUEST_MODEL} IN ({in_list}) OR {RESPONSE_MODEL} IN ({in_list}))")
        return " AND ".join(conds), params

    def _price_sql(self, params: dict[str, Any], with_prices: bool) -> tuple[str, str]:
        resolved = self.resolved_prices if with_prices else {}
        if not resolved:
            return "-1.", "-1."
        keys, ins, outs = [], [], []
        for i, (model, price) in enumerate(sorted(resolved.items())):
            params[f"pm_{i}"] = model
            params[f"pin_{i}"] = price.input_per_token
            params[f"pout_{i}"] = price.output_per_token
            keys.append(f"{{pm_{i}:String}}")
            ins.append(f"{{pin_{i}:Float64}}")
            outs.append(f"{{pout_{i}:Float64}}")
        k = ", ".join(keys)
        return (f"transform(cost_model, [{k}], [{', '.join(ins)}], -1.)",
                f"transform(cost_model, [{k}], [{', '.join(outs)}], -1.)")

    def spans_cte(self, *, with_prices: bool = True) -> tuple[str, dict[str, Any]]:
        """``WITH spans AS (...)``: the filtered spans with derived columns, and its parameters."""
        where, params = self._where()
        p_in, p_out = self._price_sql(params, with_prices)
        sql = (f"WITH spans AS (\n    SELECT *, {_derived_columns(p_in, p_out)}\n"
               f"    FROM {schema.QUALIFIED}\n    WHERE {where}\n)\n")
        return sql, params

    def _run(self, body: str, extra: Mapping[str, Any] | None = None, *, with_prices: bool = True) -> pd.DataFrame:
        cte, params = self.spans_cte(with_prices=with_prices)
        params.update(extra or {})
        sql = cte + body
        self.queries.append(sql)
        return self.store.query_df(sql, params)

    def _table(self, key: str, frame: pd.DataFrame, notes: Sequence[str] = ()) -> Table:
        title, definition = DEFINITIONS[key]
        return Table(key, title, definition, frame.reset_index(drop=True), list(notes))

    # ---- prices

    @cached_property
    def models_seen(self) -> pd.DataFrame:
        """LLM spans per (request model, model priced by) in the window."""
        df = self._run("SELECT model AS llm_model, cost_model AS priced_as, count() AS spans FROM spans "
                       "WHERE is_llm GROUP BY llm_model, priced_as ORDER BY spans DESC, llm_model, priced_as",
                       with_prices=False)
        return df

    @cached_property
    def resolved_prices(self) -> dict[str, Price]:
        return resolve_prices(sorted(set(self.models_seen["priced_as"])), self.prices)

    def price_table_used(self) -> pd.DataFrame:
        """Each model seen with the price-table entry it matched (USD per 1M tokens)."""
        rows = []
        for model in sorted(set(self.models_seen["priced_as"])):
            p = self.resolved_prices.get(model)
            rows.append({"model": model, "price_key": p.key if p else None,
                         "input_usd_per_1m": p.input_per_million if p else None,
                         "output_usd_per_1m": p.output_per_million if p else None})
        return pd.DataFrame(rows, columns=["model", "price_key", "input_usd_per_1m", "output_usd_per_1m"])

    # ---- tables

    def _coverage_row(self) -> pd.DataFrame:
        if "coverage" not in self._cache:
            cutoff = _ns(self.now - dt.timedelta(days=3))
            df = self._run(
                "SELECT count() AS spans, uniqExact(TraceId) AS traces, countIf(is_llm) AS llm_spans, "
                "countIf(is_llm AND is_error) AS llm_errors, toTimeZone(min(Timestamp), 'UTC') AS first_span_utc, "
                "toTimeZone(max(Timestamp), 'UTC') AS last_span_utc, "
                "uniqExact(ServiceName) AS services, uniqExactIf(model, is_llm) AS llm_models, "
                "uniqExactIf(TraceId, Timestamp < fromUnixTimestamp64Nano({free_cutoff_ns:Int64})) AS traces_older_3d "
                "FROM spans", {"free_cutoff_ns": cutoff}, with_prices=False)
            if df.empty or int(df.loc[0, "spans"]) == 0:
                df = pd.DataFrame([{"spans": 0, "traces": 0, "llm_spans": 0, "llm_errors": 0,
                                    "first_span_utc": pd.NaT, "last_span_utc": pd.NaT, "services": 0,
                                    "llm_models": 0, "traces_older_3d": 0}])
            self._cache["coverage"] = df
        return self._cache["coverage"]

    def coverage(self) -> Table:
        df = self._coverage_row().drop(columns=["traces_older_3d"]).copy()
        df.insert(0, "window", self.filters.describe())
        return self._table("coverage", df)

    def attributes(self) -> Table:
        df = self._run("SELECT arrayJoin(mapKeys(SpanAttributes)) AS attribute, count() AS spans FROM spans "
                       "GROUP BY attribute ORDER BY spans DESC, attribute", with_prices=False)
        df["read_by_dashboard"] = df["attribute"].isin(DASHBOARD_ATTRIBUTES)
        df["ignored_token_name"] = df["attribute"].isin(IGNORED_TOKEN_ATTRIBUTES)
        return self._table("attributes", df)

    def volume(self, bucket: str | None = None) -> Table:
        bucket = bucket or self.filters.bucket
        df = self._run(
            f"SELECT {_bucket_sql(bucket)} AS period_start_utc, uniqExact(TraceId) AS traces, count() AS spans, "
            "countIf(is_llm) AS llm_spans, countIf(is_llm AND is_error) AS llm_errors FROM spans "
            "GROUP BY period_start_utc ORDER BY period_start_utc", with_prices=False)
        df = self._fill_periods(df, bucket, ["traces", "spans", "llm_spans", "llm_errors"])
        df["llm_error_rate"] = _rate(df["llm_errors"], df["llm_spans"])
        return self._table("volume", df, [f"period = {bucket}"])

    def _fill_periods(self, df: pd.DataFrame, bucket: str, zero_cols: Sequence[str]) -> pd.DataFrame:
        freq = "h" if bucket == "hour" else "D"
        start = pd.Timestamp(self.filters.start.replace(tzinfo=None)).floor(freq)
        end = pd.Timestamp(self.filters.end.replace(tzinfo=None))
        periods = pd.date_range(start, end, freq=freq, inclusive="left")
        if len(periods) > 20000:  # an absurd window: do not invent rows
            return df
        full = pd.DataFrame({"period_start_utc": periods.astype("datetime64[ns]")})
        out = full.merge(df, on="period_start_utc", how="left")
        for c in zero_cols:
            out[c] = out[c].fillna(0).astype("int64")
        return out

    def _status_periods(self, bucket: str) -> pd.DataFrame:
        """Span status counts per (period, model group): the source of status and errors_over_time."""
        key = f"status:{bucket}"
        if key not in self._cache:
            self._cache[key] = self._run(
                f"SELECT {_bucket_sql(bucket)} AS period_start_utc, if(is_llm, model, '{NON_LLM}') AS model_group, "
                "count() AS spans, countIf(status = 'OK') AS success, countIf(status = 'ERROR') AS fail, "
                "countIf(status NOT IN ('OK', 'ERROR')) AS indeterminate FROM spans "
                "GROUP BY period_start_utc, model_group ORDER BY period_start_utc, model_group", with_prices=False)
        return self._cache[key]

    def status(self) -> Table:
        src = self._status_periods(self.filters.bucket)
        df = (src.groupby("model_group", sort=False)[["spans", "success", "fail", "indeterminate"]].sum()
              .reset_index().rename(columns={"model_group": "model"}))
        df = df.sort_values(["spans", "model"], ascending=[False, True], kind="stable")
        df["error_rate"] = _rate(df["fail"], df["spans"])
        return self._table("status", df)

    def errors_over_time(self, bucket: str | None = None) -> Table:
        bucket = bucket or self.filters.bucket
        src = self._status_periods(bucket)
        df = src[src["model_group"] != NON_LLM]
        df = pd.DataFrame({"period_start_utc": df["period_start_utc"], "model": df["model_group"],
                           "llm_spans": df["spans"], "errors": df["fail"]})
        df["error_rate"] = _rate(df["errors"], df["llm_spans"])
        return self._table("errors_over_time", df, [f"period = {bucket}"])

    def _quantile_select(self, value: str, scale: str) -> str:
        levels = ", ".join(repr(q) for q in QUANTILES)
        cols = [f"q[{i + 1}] / {scale} AS {n}_ms" for i, n in enumerate(_Q_NAMES)]
        return (f"quantilesExact({levels})({value}) AS q, max({value}) / {scale} AS max_ms, "
                f"avg({value}) / {scale} AS mean_ms", ", ".join(cols))

    def llm_latency(self) -> Table:
        agg, cols = self._quantile_select("Duration", "1e6")
        df = self._run(
            f"SELECT llm_model, spans, {cols}, max_ms, mean_ms FROM (\n"
            f"  SELECT model AS llm_model, count() AS spans, {agg} FROM spans WHERE is_llm "
            "GROUP BY llm_model WITH ROLLUP\n) ORDER BY llm_model = '', spans DESC, llm_model", with_prices=False)
        df = df.rename(columns={"llm_model": "model"})
        df = _label_rollup(df, "model", ALL_MODELS)
        return self._table("llm_latency", df)

    def trace_latency(self) -> Table:
        agg, cols = self._quantile_select("trace_ns", "1e6")
        df = self._run(
            f"SELECT models_used, traces, {cols}, max_ms, mean_ms FROM (\n"
            f"  SELECT models_used, count() AS traces, {agg} FROM (\n"
            f"    SELECT TraceId, {TRACE_NS_SQL} AS trace_ns, if(empty({MODELS_USED_SQL}), '{NO_LLM}', "
            f"{MODELS_USED_SQL}) AS models_used FROM spans GROUP BY TraceId\n"
            "  ) GROUP BY models_used WITH ROLLUP\n) ORDER BY models_used = '', traces DESC, models_used",
            with_prices=False)
        df = _label_rollup(df, "models_used", ALL_TRACES)
        return self._table("trace_latency", df)

    def _usage(self) -> pd.DataFrame:
        """Token and cost sums per (UTC day, model group, model priced by) over every span in the window:
        the source of the tokens, cost, unpriced and dashboard tables."""
        if "usage" not in self._cache:
            self._cache["usage"] = self._run(
                "SELECT toStartOfDay(Timestamp, 'UTC') AS day_utc, if(is_llm, model, '(no model)') AS model_group, "
                "cost_model AS priced_as, count() AS spans, countIf(is_llm) AS llm_spans, "
                "sum(prompt_tokens) AS prompt, sum(completion_tokens) AS completion, "
                "sum(cache_read_tokens) AS cache_read, sum(reasoning_tokens) AS reasoning, sum(total_tokens) AS total, "
                "sum(old_prompt_tokens) AS d_prompt, sum(old_completion_tokens) AS d_completion, "
                "sum(dash_total_tokens) AS d_total, "
                "countIf(is_llm AND has_old_names) AS n_old_names, "
                "countIf(is_llm AND has_new_names AND NOT has_old_names) AS n_new_only, "
                "countIf(is_llm AND NOT has_old_names AND NOT has_new_names) AS n_no_tokens, "
                "countIf(cost_basis != '') AS cost_spans, countIf(cost_basis = 'stored') AS n_stored, "
                "countIf(cost_basis = 'computed') AS n_computed, countIf(cost_basis = 'unpriced') AS n_unpriced, "
                "countIf(cost_basis = 'no usage') AS n_no_usage, "
                "sumIf(stored_cost, cost_basis = 'stored') AS stored_usd, "
                "sumIf(computed_cost, cost_basis = 'computed') AS computed_usd, sum(dash_cost) AS d_cost, "
                "sumIf(prompt_tokens, cost_basis = 'unpriced') AS unpriced_prompt, "
                "sumIf(completion_tokens, cost_basis = 'unpriced') AS unpriced_completion, "
                "minIf(toUnixTimestamp64Nano(Timestamp), cost_basis = 'unpriced') AS unpriced_first_ns, "
                "maxIf(toUnixTimestamp64Nano(Timestamp), cost_basis = 'unpriced') AS unpriced_last_ns "
                "FROM spans GROUP BY day_utc, model_group, priced_as ORDER BY day_utc, model_group, priced_as")
        return self._cache["usage"]

    def tokens(self) -> Table:
        u = self._usage()
        u = u[u["llm_spans"] > 0]
        df = (u.groupby(["day_utc", "model_group"], sort=True)[
            ["llm_spans", "prompt", "completion", "cache_read", "reasoning", "total", "n_old_names", "n_new_only",
             "n_no_tokens"]].sum().reset_index())
        df = df.rename(columns={"model_group": "model", "prompt": "prompt_tokens", "completion": "completion_tokens",
                                "cache_read": "cache_read_tokens", "reasoning": "reasoning_tokens",
                                "total": "total_tokens", "n_old_names": "spans_prompt_completion_names",
                                "n_new_only": "spans_input_output_names_only",
                                "n_no_tokens": "spans_without_token_counts"})
        df["token_names"] = [_token_names(o, n) for o, n in
                             zip(df["spans_prompt_completion_names"], df["spans_input_output_names_only"],
                                 strict=True)]
        return self._table("tokens", df)

    def cost(self) -> Table:
        u = self._usage()
        u = u[u["cost_spans"] > 0]
        df = (u.groupby(["day_utc", "model_group"], sort=True)[
            ["cost_spans", "n_stored", "n_computed", "n_unpriced", "n_no_usage", "stored_usd", "computed_usd"]]
            .sum().reset_index())
        df = df.rename(columns={"model_group": "model", "cost_spans": "spans", "n_stored": "stored_spans",
                                "n_computed": "computed_spans", "n_unpriced": "unpriced_spans",
                                "n_no_usage": "no_usage_spans"})
        df["cost_usd"] = df["stored_usd"] + df["computed_usd"]
        df["basis"] = [_basis(s, c, u) for s, c, u in
                       zip(df["stored_spans"], df["computed_spans"], df["unpriced_spans"], strict=True)]
        return self._table("cost", df, [f"prices: {len(self.resolved_prices)} of "
                                        f"{self.models_seen['priced_as'].nunique()} models matched the price table"])

    def unpriced(self) -> Table:
        u = self._usage()
        u = u[u["n_unpriced"] > 0]
        g = u.groupby("priced_as", sort=True)
        df = pd.DataFrame({"spans": g["n_unpriced"].sum(), "prompt_tokens": g["unpriced_prompt"].sum(),
                           "completion_tokens": g["unpriced_completion"].sum(),
                           "first_seen_utc": pd.to_datetime(g["unpriced_first_ns"].min(), unit="ns"),
                           "last_seen_utc": pd.to_datetime(g["unpriced_last_ns"].max(), unit="ns")})
        df = df.reset_index().rename(columns={"priced_as": "model"})
        df = df.sort_values(["spans", "model"], ascending=[False, True], kind="stable")
        return self._table("unpriced", df[["model", "spans", "prompt_tokens", "completion_tokens",
                                           "first_seen_utc", "last_seen_utc"]])

    def spans_per_trace(self) -> Table:
        df = self._run("SELECT n AS spans_in_trace, count() AS traces FROM (SELECT TraceId, count() AS n FROM spans "
                       "GROUP BY TraceId) GROUP BY spans_in_trace ORDER BY spans_in_trace", with_prices=False)
        return self._table("spans_per_trace", df)

    def _worst(self, key: str, rank: str, top_n: int) -> Table:
        """Top-N traces by ``rank`` (an aggregate over a trace's spans): the ranking reads only the
        columns it needs; the details are computed for the N chosen traces only."""
        if int(top_n) < 1:
            raise ParameterError("top_n must be at least 1")
        df = self._run(
            f"SELECT TraceId AS trace_id, toTimeZone(min(Timestamp), 'UTC') AS start_utc, "
            f"{TRACE_NS_SQL} / 1e6 AS duration_ms, count() AS spans, countIf(is_error) AS error_spans, "
            "argMin(SpanName, Timestamp) AS first_span_name, argMin(ServiceName, Timestamp) AS service, "
            f"{MODELS_USED_SQL} AS models_used, sum(total_tokens) AS tokens, sum(cost) AS cost_usd, "
            "countIf(cost_basis = 'stored') AS s_stored, countIf(cost_basis = 'computed') AS s_computed, "
            "countIf(cost_basis = 'unpriced') AS s_unpriced "
            f"FROM spans WHERE TraceId IN (SELECT TraceId FROM spans GROUP BY TraceId "
            f"ORDER BY {rank} DESC, TraceId LIMIT {{top_n:UInt32}}) "
            f"GROUP BY TraceId ORDER BY {rank} DESC, trace_id",
            {"top_n": int(top_n)})
        df["cost_basis"] = [_basis(s, c, u) for s, c, u in
                            zip(df["s_stored"], df["s_computed"], df["s_unpriced"], strict=True)]
        df = df.drop(columns=["s_stored", "s_computed", "s_unpriced"])
        df["dashboard_url"] = [self.trace_url(t) for t in df["trace_id"]]
        return self._table(key, df)

    def slowest_traces(self, top_n: int = 10) -> Table:
        return self._worst("slowest_traces", TRACE_NS_SQL, top_n)

    def costliest_traces(self, top_n: int = 10) -> Table:
        return self._worst("costliest_traces", "sum(cost)", top_n)

    def trace_url(self, trace_id: str) -> str | None:
        """The dashboard page of a trace (``{agentops_app_url}/traces?trace_id=...``)."""
        if not self.app_url:
            return None
        from urllib.parse import quote

        return f"{self.app_url}/traces?trace_id={quote(str(trace_id), safe='')}"

    def dashboard_figures(self) -> pd.DataFrame:
        """One row: the figures by AgentOps's rules (``d_*``) and ours (``o_*``) over the same spans,
        assembled from the coverage, status and usage aggregates."""
        cov = self._coverage_row().iloc[0]
        st = self._status_periods(self.filters.bucket)
        u = self._usage()

        def total(df: pd.DataFrame, col: str) -> Any:
            return df[col].sum() if len(df) else 0

        row = {
            "d_traces": int(cov["traces"]), "d_spans": int(cov["spans"]),
            "d_success": int(total(st, "success")), "d_fail": int(total(st, "fail")),
            "d_indeterminate": int(total(st, "indeterminate")),
            "d_prompt": int(total(u, "d_prompt")), "d_completion": int(total(u, "d_completion")),
            "d_total_tokens": int(total(u, "d_total")), "d_cost": float(total(u, "d_cost")),
            "o_prompt": int(total(u, "prompt")), "o_completion": int(total(u, "completion")),
            "o_total_tokens": int(total(u, "total")),
            "o_cost": float(total(u, "stored_usd") + total(u, "computed_usd")),
            "new_names_only_spans": int(total(u, "n_new_only")), "unpriced_spans": int(total(u, "n_unpriced")),
            "traces_older_3d": int(cov["traces_older_3d"]),
        }
        return pd.DataFrame([row])

    def reconciliation(self, figures: pd.DataFrame | None = None) -> Table:
        """Dashboard-rule figures beside ours, with why they differ (``figures`` from
        :meth:`dashboard_figures`, queried when not given)."""
        row = (figures if figures is not None else self.dashboard_figures()).iloc[0]
        new_only = int(row["new_names_only_spans"])
        unpriced = int(row["unpriced_spans"])
        same = "same rule"
        names = (f"{new_only} LLM spans carry tokens only as input_tokens/output_tokens, which the dashboard "
                 "ignores" if new_only else same)
        cost_note = []
        if new_only:
            cost_note.append(f"{new_only} spans with input/output token names cost 0 on the dashboard")
        if unpriced:
            cost_note.append(f"{unpriced} spans have no price (0 in both; listed in the unpriced table)")
        cost_note.append("dashboard prices come from its model_costs table, here stood in for by the price table")
        rows = [
            ("traces", row["d_traces"], row["d_traces"], same),
            ("spans", row["d_spans"], row["d_spans"], same),
            ("success spans (OK)", row["d_success"], row["d_success"], same),
            ("fail spans (ERROR)", row["d_fail"], row["d_fail"], same),
            ("indeterminate spans", row["d_indeterminate"], row["d_indeterminate"], same),
            ("prompt tokens", row["d_prompt"], row["o_prompt"], names),
            ("completion tokens", row["d_completion"], row["o_completion"], names),
            ("total tokens", row["d_total_tokens"], row["o_total_tokens"], names),
            ("total cost (USD)", float(row["d_cost"]), float(row["o_cost"]), "; ".join(cost_note)),
        ]
        df = pd.DataFrame(rows, columns=["figure", "dashboard_rule", "ours", "why_they_differ"])
        df["difference"] = [(o - d) for d, o in zip(df["dashboard_rule"], df["ours"], strict=True)]
        df = df[["figure", "dashboard_rule", "ours", "difference", "why_they_differ"]]
        notes = []
        if any([self.filters.models, self.filters.service_name, self.filters.span_name, self.filters.tag]):
            notes.append("model/service/span/tag filters are applied here; the dashboard's project metrics "
                         "cannot apply them, so compare without those filters")
        if not self.filters.project_id:
            notes.append("no project_id given: figures cover every project; the dashboard shows one project")
        return self._table("dashboard", df, notes)

    def headline(self, *, coverage: Table | None = None, llm_latency: Table | None = None,
                 trace_latency: Table | None = None, figures: pd.DataFrame | None = None) -> Table:
        """Assembled from the other tables' totals (no extra scan when they are passed in)."""
        cov = (coverage or self.coverage()).frame.iloc[0]
        llm = (llm_latency or self.llm_latency()).frame
        trc = (trace_latency or self.trace_latency()).frame
        fig = (figures if figures is not None else self.dashboard_figures()).iloc[0]
        llm_all = llm[llm["model"] == ALL_MODELS]
        trc_all = trc[trc["models_used"] == ALL_TRACES]
        llm_spans = int(cov["llm_spans"])
        errors = int(cov["llm_errors"])
        row = {
            "traces": int(cov["traces"]), "spans": int(cov["spans"]), "llm_spans": llm_spans,
            "llm_error_rate": (errors / llm_spans) if llm_spans else float("nan"),
            "llm_p50_ms": _first(llm_all, "p50_ms"), "llm_p95_ms": _first(llm_all, "p95_ms"),
            "trace_p50_ms": _first(trc_all, "p50_ms"), "trace_p95_ms": _first(trc_all, "p95_ms"),
            "total_tokens": int(fig["o_total_tokens"]), "cost_usd": float(fig["o_cost"]),
            "unpriced_spans": int(fig["unpriced_spans"]),
        }
        return self._table("headline", pd.DataFrame([row]))

    # ---- spans, only on request

    def sample(self, limit: int = 20) -> pd.DataFrame:
        """Up to ``limit`` raw spans of the window (earliest first): an explicit, bounded sample."""
        cols = ", ".join(f"`{c}`" for c, _ in schema.COLUMNS[:15])
        return self._run(f"SELECT {cols} FROM spans ORDER BY Timestamp, SpanId LIMIT {{limit:UInt32}}",
                         {"limit": int(limit)}, with_prices=False)

    def export_spans(self, path: str | Path, fmt: str | None = None, *, limit: int | None = None) -> Path:
        """Write the window's spans (all otel_traces columns) to Parquet/CSV/JSONEachRow on request."""
        cols = ", ".join(f"`{c}`" for c, _ in schema.COLUMNS)
        cte, params = self.spans_cte(with_prices=False)
        sql = cte + f"SELECT {cols} FROM spans ORDER BY Timestamp, SpanId"
        if limit is not None:
            sql += " LIMIT {limit:UInt32}"
            params["limit"] = int(limit)
        self.queries.append(sql)
        return self.store.export(sql, params, path, fmt)

    # ---- everything the notebook shows

    def all_tables(self, top_n: int = 10) -> dict[str, Table]:
        cov = self.coverage()
        llm = self.llm_latency()
        trc = self.trace_latency()
        figures = self.dashboard_figures()
        tables = {
            "coverage": cov,
            "attributes": self.attributes(),
            "headline": self.headline(coverage=cov, llm_latency=llm, trace_latency=trc, figures=figures),
            "volume": self.volume(),
            "status": self.status(),
            "errors_over_time": self.errors_over_time(),
            "llm_latency": llm,
            "trace_latency": trc,
            "tokens": self.tokens(),
            "cost": self.cost(),
            "unpriced": self.unpriced(),
            "spans_per_trace": self.spans_per_trace(),
            "slowest_traces": self.slowest_traces(top_n),
            "costliest_traces": self.costliest_traces(top_n),
            "dashboard": self.reconciliation(figures),
        }
        return tables


# --------------------------------------------------------------------------- small helpers

def _rate(num: pd.Series, den: pd.Series) -> pd.Series:
    den = den.astype("float64")
    return (num.astype("float64") / den.where(den > 0)).astype("float64")


def _first(df: pd.DataFrame, col: str) -> float:
    return float(df.iloc[0][col]) if len(df) else float("nan")


def _label_rollup(df: pd.DataFrame, col: str, label: str) -> pd.DataFrame:
    """WITH ROLLUP's total row has an empty key: name it; drop it when there were no rows at all."""
    if df.empty:
        return df
    count_col = df.columns[1]
    total = df[col] == ""
    if int(df.loc[total, count_col].sum()) == 0:
        return df[~total].reset_index(drop=True)
    df.loc[total, col] = label
    return df


def _token_names(old: int, new_only: int) -> str:
    if old and new_only:
        return "mixed"
    if old:
        return "prompt/completion"
    if new_only:
        return "input/output only"
    return "none"


def _basis(stored: int, computed: int, unpriced: int) -> str:
    if unpriced:
        return "incomplete (unpriced spans)"
    if stored and computed:
        return "mixed"
    if stored:
        return "stored"
    if computed:
        return "computed"
    return "none"
