"""The table registry of trace analytics: one declaration per table.

Each :class:`TableSpec` says what a table is (key, title, the one-sentence definition an operator
reads), its columns with their display kinds (``runbook_lib.display.COLUMN_KINDS``), how it is cut
from the window's scans (``shape``), which scan it reads, the notebook section that shows it, its
plot, and the file name it is exported as. The notebook, :meth:`TraceAnalytics.all_tables`, the
exports, the benchmark and the tests iterate :data:`TABLES`; no other module lists table names.

Every table reads the two scans (:mod:`scan_sql`): the span scan (one pass: every span-level figure)
and/or the trace scan (one pass grouped by trace: distinct traces, trace latency, span counts and both
top-N lists, which need prices and so run after the span scan has named the models).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..errors import RunbookError
from . import plots, shaping
from .scan import WindowScan

__all__ = ["TABLES", "PlotSpec", "Table", "TableRegistry", "TableSpec"]

Shape = Callable[..., tuple[pd.DataFrame, list[str]]]


@dataclass(frozen=True)
class PlotSpec:
    """A figure drawn from one or more tables' frames (keyed by table key)."""

    name: str
    title: str
    draw: Callable[[Mapping[str, pd.DataFrame]], Any]
    needs: tuple[str, ...]


@dataclass(frozen=True)
class TableSpec:
    """One analytics table: what it is, how it is computed, shown, plotted and exported."""

    key: str
    title: str
    definition: str
    columns: Mapping[str, str]
    shape: Shape
    scan: str
    section: str
    export_name: str = ""
    plot: PlotSpec | None = None

    def __post_init__(self) -> None:
        if not self.export_name:
            object.__setattr__(self, "export_name", self.key)

    def compute(self, scan: WindowScan, **options: Any) -> Table:
        """Cut this table from ``scan`` (``options``: ``bucket``, ``top_n``, ``app_url``)."""
        frame, notes = self.shape(scan, **options)
        frame = frame.reset_index(drop=True)
        if list(frame.columns) != list(self.columns):
            raise RunbookError(f"table {self.key}: shaped columns {list(frame.columns)} differ from the "
                               f"declared {list(self.columns)}", hint="a runbook bug: report it")
        return Table(self.key, self.title, self.definition, frame, list(notes), dict(self.columns))


@dataclass
class Table:
    """One result: a DataFrame of aggregates with its title, definition, notes and column kinds."""

    key: str
    title: str
    definition: str
    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    formats: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<Table {self.key}: {len(self.frame)} rows>"


class TableRegistry:
    """Table declarations in display order; ``register`` refuses a key declared twice."""

    def __init__(self) -> None:
        self._specs: dict[str, TableSpec] = {}

    def register(self, spec: TableSpec) -> TableSpec:
        if spec.key in self._specs:
            raise ValueError(f"table {spec.key!r} is declared twice")
        self._specs[spec.key] = spec
        return spec

    def __getitem__(self, key: str) -> TableSpec:
        try:
            return self._specs[key]
        except KeyError:
            raise KeyError(f"no table {key!r}; tables: {', '.join(self._specs)}") from None

    def __contains__(self, key: object) -> bool:
        return key in self._specs

    def __iter__(self) -> Iterator[TableSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def keys(self) -> list[str]:
        return list(self._specs)

    def in_section(self, section: str) -> list[TableSpec]:
        """The tables a notebook section shows, in registry order."""
        return [s for s in self if s.section == section]

    def sections(self) -> list[str]:
        """Every section named by a table, in order of first appearance."""
        return list(dict.fromkeys(s.section for s in self))

    def plots(self) -> dict[str, PlotSpec]:
        """Every plot, by name, in table order."""
        return {s.plot.name: s.plot for s in self if s.plot is not None}


TABLES = TableRegistry()
_PCT = {"p50_ms": "ms", "p90_ms": "ms", "p95_ms": "ms", "p99_ms": "ms", "max_ms": "ms", "mean_ms": "ms"}
_SPAN, _TRACE = "span scan", "trace scan"
_BOTH = f"{_SPAN} + {_TRACE}"

TABLES.register(TableSpec(
    "coverage", "Data coverage",
    "Spans whose start time is in [start, end) UTC after all filters; traces = distinct TraceId among them; "
    "LLM spans = spans with gen_ai.request.model or gen_ai.response.model.",
    {"window": "text", "spans": "count", "traces": "count", "llm_spans": "count", "llm_errors": "count",
     "first_span_utc": "time", "last_span_utc": "time", "services": "count", "llm_models": "count"},
    shaping.coverage, _BOTH, "coverage"))
TABLES.register(TableSpec(
    "attributes", "Span attribute names present",
    "Each SpanAttributes key with the number of spans in the window carrying it, and whether the AgentOps "
    "dashboard reads it.",
    {"attribute": "text", "spans": "count", "read_by_dashboard": "bool", "ignored_token_name": "bool"},
    shaping.attributes, _SPAN, "coverage"))
TABLES.register(TableSpec(
    "headline", "Headline",
    "One row for the window: volume, LLM error rate, exact p50/p95 latency of LLM spans and of traces, tokens "
    "and cost (stored cost where spans carry it, else tokens x price table).",
    {"traces": "count", "spans": "count", "llm_spans": "count", "llm_error_rate": "ratio", "llm_p50_ms": "ms",
     "llm_p95_ms": "ms", "trace_p50_ms": "ms", "trace_p95_ms": "ms", "total_tokens": "count", "cost_usd": "usd",
     "unpriced_spans": "count"},
    shaping.headline, _BOTH, "headline"))
TABLES.register(TableSpec(
    "volume", "Volume over time",
    "Per UTC period: traces = distinct TraceId with at least one span starting in the period (a trace "
    "crossing a period boundary counts in both); spans and LLM spans by their start.",
    {"period_start_utc": "time", "traces": "count", "spans": "count", "llm_spans": "count",
     "llm_errors": "count", "llm_error_rate": "ratio"},
    shaping.volume, _BOTH, "errors"))
TABLES.register(TableSpec(
    "status", "Span status by model (AgentOps rule)",
    "upper(StatusCode): 'OK' = success, 'ERROR' = fail, anything else (Unset, empty) = indeterminate. "
    "error_rate = fail / spans. Non-LLM spans are one group.",
    {"model": "text", "spans": "count", "success": "count", "fail": "count", "indeterminate": "count",
     "error_rate": "ratio"},
    shaping.status, _SPAN, "errors"))
TABLES.register(TableSpec(
    "errors_over_time", "LLM error rate over time, by model",
    "Per UTC period and request model: LLM spans, failed ones (StatusCode ERROR) and error_rate = failed / "
    "LLM spans.",
    {"period_start_utc": "time", "model": "text", "llm_spans": "count", "errors": "count",
     "error_rate": "ratio"},
    shaping.errors_over_time, _SPAN, "errors",
    plot=PlotSpec("requests_errors", "Requests and error rate over time",
                  lambda t: plots.requests_and_error_rate(t["volume"], t["errors_over_time"]),
                  ("volume", "errors_over_time"))))
TABLES.register(TableSpec(
    "llm_latency", "LLM span latency by model",
    "Duration of LLM spans (all statuses) in ms: exact percentiles (quantilesExact: value at 0-based position "
    "floor(q*n) of the sorted durations; no interpolation), max and mean. The '(all models)' row pools every "
    "LLM span.",
    {"model": "text", "spans": "count", **_PCT},
    shaping.llm_latency, _SPAN, "latency",
    plot=PlotSpec("latency", "LLM latency percentiles by model",
                  lambda t: plots.latency_percentiles(t["llm_latency"][t["llm_latency"]["model"]
                                                                       != shaping.ALL_MODELS]),
                  ("llm_latency",))))
TABLES.register(TableSpec(
    "trace_latency", "Trace latency by model mix",
    "Trace duration = last span end - first span start over the trace's spans in the window (ms); grouped by "
    "the sorted set of request models its LLM spans used; exact percentiles as for LLM spans.",
    {"models_used": "text", "traces": "count", **_PCT},
    shaping.trace_latency, _TRACE, "latency"))
TABLES.register(TableSpec(
    "tokens", "Tokens by model and day",
    "Sum over LLM spans per UTC day and request model. prompt = gen_ai.usage.prompt_tokens, else "
    "gen_ai.usage.input_tokens; completion = completion_tokens, else output_tokens; cache_read = "
    "cache_read_input_tokens; reasoning = reasoning_tokens; total = gen_ai.usage.total_tokens when set, else "
    "prompt + completion + cache_read + reasoning. token_names says which attribute names the spans used (the "
    "dashboard reads prompt/completion only).",
    {"day_utc": "time", "model": "text", "llm_spans": "count", "prompt_tokens": "count",
     "completion_tokens": "count", "cache_read_tokens": "count", "reasoning_tokens": "count",
     "total_tokens": "count", "spans_prompt_completion_names": "count", "spans_input_output_names_only": "count",
     "spans_without_token_counts": "count", "token_names": "text"},
    shaping.tokens, _SPAN, "cost",
    plot=PlotSpec("tokens", "Token distribution", lambda t: plots.token_distribution(t["tokens"]), ("tokens",))))
TABLES.register(TableSpec(
    "cost", "Cost by model and day (USD)",
    "Per span: stored cost when present (gen_ai.usage.total_cost, else prompt_cost + completion_cost); else "
    "prompt x input price + completion x output price from the price table (USD per 1M tokens, matched on the "
    "response model); spans with usage but no price count as unpriced (cost 0, listed separately). basis flags "
    "each figure: stored, computed, mixed, or incomplete.",
    {"day_utc": "time", "model": "text", "spans": "count", "stored_spans": "count", "computed_spans": "count",
     "unpriced_spans": "count", "no_usage_spans": "count", "stored_usd": "usd", "computed_usd": "usd",
     "cost_usd": "usd", "basis": "text"},
    shaping.cost, _SPAN, "cost",
    plot=PlotSpec("cost", "Cost by model per day", lambda t: plots.cost_by_model_per_day(t["cost"]), ("cost",))))
TABLES.register(TableSpec(
    "unpriced", "Models without a price",
    "LLM spans with token usage, no stored cost and a model the price table cannot match; their cost is "
    "missing from every cost figure.",
    {"model": "text", "spans": "count", "prompt_tokens": "count", "completion_tokens": "count",
     "first_seen_utc": "time", "last_seen_utc": "time"},
    shaping.unpriced, _SPAN, "cost"))
TABLES.register(TableSpec(
    "prices", "Price table used",
    "Each model the LLM spans are priced by (the response model), with the entry it matched and where from "
    "(USD per 1M tokens): your price_table first, else LiteLLM's bundled price map (tokencost's without it).",
    {"model": "text", "price_key": "text", "input_usd_per_1m": "usd", "output_usd_per_1m": "usd", "source": "text"},
    shaping.prices, _SPAN, "cost"))
_TOP_COLUMNS = {"trace_id": "text", "start_utc": "time", "duration_ms": "ms", "spans": "count",
                "error_spans": "count", "first_span_name": "text", "service": "text", "models_used": "text",
                "tokens": "count", "cost_usd": "usd", "cost_basis": "text", "dashboard_url": "url"}
TABLES.register(TableSpec(
    "slowest_traces", "Slowest traces",
    "Top N traces by duration (last span end - first span start), with their cost and a dashboard link.",
    _TOP_COLUMNS, shaping.slowest_traces, _TRACE, "worst"))
TABLES.register(TableSpec(
    "costliest_traces", "Most expensive traces",
    "Top N traces by cost (sum of span costs as defined for the cost table).",
    _TOP_COLUMNS, shaping.costliest_traces, _TRACE, "worst"))
TABLES.register(TableSpec(
    "spans_per_trace", "Spans per trace",
    "Number of traces having n spans in the window, for each n.",
    {"spans_in_trace": "count", "traces": "count"},
    shaping.spans_per_trace, _TRACE, "worst",
    plot=PlotSpec("spans_per_trace", "Spans per trace",
                  lambda t: plots.spans_per_trace_histogram(t["spans_per_trace"]), ("spans_per_trace",))))
TABLES.register(TableSpec(
    "dashboard", "As the dashboard shows it, beside ours",
    "AgentOps rules: trace_count = distinct TraceId; span counts by upper(StatusCode); tokens from "
    "gen_ai.usage.prompt_tokens/completion_tokens only (input/output names ignored); total_tokens per span = "
    "gen_ai.usage.total_tokens if set, else prompt + completion + cache_read + reasoning; cost per span = "
    "gen_ai.usage.total_cost if set, else (prompt_cost or price x prompt tokens) + (completion_cost or price x "
    "completion tokens). The dashboard prices with its own model_costs table; this runbook's price table stands "
    "in for it.",
    {"figure": "text", "dashboard_rule": "number", "ours": "number", "difference": "number",
     "why_they_differ": "text"},
    shaping.reconciliation, _BOTH, "dashboard"))
