"""Trace analytics over one store and one window: every table of :data:`tables.TABLES`, computed from
two scans of the window (the span scan and the trace scan), each run at most once.

Only :meth:`TraceAnalytics.sample` (a bounded sample) and :meth:`TraceAnalytics.export_spans` return
span rows; every other figure is an aggregate computed by the store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from . import scan_sql, schema, shaping
from .pricing import Price
from .scan import WindowScan
from .scan_sql import NO_LLM, QUANTILES
from .shaping import ALL_MODELS, ALL_TRACES
from .store import TraceStore
from .tables import TABLES, Table
from .window import TraceFilters, parse_time

__all__ = ["ALL_MODELS", "ALL_TRACES", "NO_LLM", "QUANTILES", "Table", "TraceAnalytics", "TraceFilters", "parse_time"]


class TraceAnalytics:
    """The tables of one window. ``table(key)`` cuts one table from the scans; ``all_tables()``
    every registered table; each registered key is also a method (``analytics.llm_latency()``)."""

    def __init__(self, store: TraceStore, filters: TraceFilters, *,
                 price_table: Mapping[str, Any] | None = None, app_url: str | None = None,
                 now: dt.datetime | None = None, top_n: int = 10) -> None:
        self.store = store
        self.filters = filters
        self.app_url = (app_url or "").rstrip("/") or None
        self.top_n = int(top_n)
        self.scan = WindowScan(store, filters, price_table=price_table, now=now, top_n=self.top_n)
        self.now = self.scan.now

    @property
    def queries(self) -> list[str]:
        """SQL text run so far (for the report's appendix)."""
        return self.scan.queries

    @property
    def prices(self) -> dict[str, Price]:
        return self.scan.prices

    @property
    def resolved_prices(self) -> dict[str, Price]:
        return self.scan.resolved_prices

    @property
    def models_seen(self) -> pd.DataFrame:
        return self.scan.models

    def table(self, key: str, *, bucket: str | None = None, top_n: int | None = None) -> Table:
        """One registered table (``bucket``: ``hour``/``day`` periods; ``top_n``: rows of top lists)."""
        return TABLES[key].compute(self.scan, bucket=bucket, top_n=self.top_n if top_n is None else int(top_n),
                                   app_url=self.app_url)

    def all_tables(self, top_n: int | None = None) -> dict[str, Table]:
        """Every registered table, in registry order: two scans in all."""
        return {spec.key: self.table(spec.key, top_n=top_n) for spec in TABLES}

    def __getattr__(self, name: str) -> Callable[..., Table]:
        if name.startswith("_") or name not in TABLES:
            raise AttributeError(name)
        return lambda **options: self.table(name, **options)

    def dashboard_figures(self) -> pd.DataFrame:
        """One row: the figures by AgentOps's rules (``d_*``) and ours (``o_*``) over the same spans."""
        return shaping.dashboard_figures(self.scan)

    def trace_url(self, trace_id: str) -> str | None:
        """The dashboard page of a trace (``{agentops_app_url}/traces?trace_id=...``)."""
        return shaping.trace_url(self.app_url, trace_id)

    def price_table_used(self) -> pd.DataFrame:
        """Each model seen with the price-table entry it matched (USD per 1M tokens)."""
        return self.table("prices").frame

    # ---- spans, only on request

    def sample(self, limit: int = 20) -> pd.DataFrame:
        """Up to ``limit`` raw spans of the window (earliest first): an explicit, bounded sample."""
        sql, params = scan_sql.sample_sql(self.filters, [c for c, _ in schema.COLUMNS[:15]], int(limit))
        return self.scan.run(sql, params)

    def export_spans(self, path: str | Path, fmt: str | None = None, *, limit: int | None = None) -> Path:
        """Write the window's spans (all otel_traces columns) to Parquet/CSV/JSONEachRow on request."""
        sql, params = scan_sql.sample_sql(self.filters, [c for c, _ in schema.COLUMNS], limit)
        self.scan.queries.append(sql)
        return self.store.export(sql, params, path, fmt)
