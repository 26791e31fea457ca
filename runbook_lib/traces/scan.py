"""Runs the window's scans once and keeps their small results: the span scan (per period size) and
the trace scan (per top-N), with the prices matched to the models the span scan found."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import cached_property
from typing import Any

import pandas as pd

from . import scan_sql
from .costing import price_usage
from .pricing import Price, kept_source_lookup, normalise_price_table, resolve_prices
from .store import TraceStore
from .window import TraceFilters, to_ns

__all__ = ["FREE_PLAN_VISIBLE_DAYS", "WindowScan"]

#: On the free plan the dashboard hides traces older than this (except the 3 newest).
FREE_PLAN_VISIBLE_DAYS = 3


class WindowScan:
    """The aggregates of one store and one set of filters, each scan run at most once.

    ``spans(bucket)`` is the span scan's result (every grouping set, see
    :data:`scan_sql.SPAN_SETS`); ``traces(top_n)`` the trace scan's. ``queries`` lists the SQL run.
    """

    def __init__(self, store: TraceStore, filters: TraceFilters, *,
                 price_table: Mapping[str, Any] | None = None, now: dt.datetime | None = None) -> None:
        self.store = store
        self.filters = filters
        self.prices: dict[str, Price] = normalise_price_table(price_table)
        self.now = now or dt.datetime.now(dt.timezone.utc)
        self.queries: list[str] = []
        self._spans: dict[str, pd.DataFrame] = {}
        self._traces: dict[int, pd.DataFrame] = {}
        self._models: pd.DataFrame | None = None

    def run(self, sql: str, params: Mapping[str, Any]) -> pd.DataFrame:
        """Run one query on the store, remembering its text."""
        self.queries.append(sql)
        return self.store.query_df(sql, params)

    def spans(self, bucket: str | None = None) -> pd.DataFrame:
        """The span scan with periods of ``bucket`` (default: the window's), cost columns priced."""
        bucket = bucket or self.filters.bucket
        if bucket not in self._spans:
            cutoff = to_ns(self.now - dt.timedelta(days=FREE_PLAN_VISIBLE_DAYS))
            df = self.run(*scan_sql.span_scan_sql(self.filters, bucket, cutoff))
            if self._models is None:
                self._models = _models(df)
            self._spans[bucket] = price_usage(df, self.resolved_prices)
        return self._spans[bucket]

    def rows(self, grouping_set: str, bucket: str | None = None) -> pd.DataFrame:
        """The span scan's rows of one grouping set (``detail``, ``period``, ``model``, ``window``)."""
        df = self.spans(bucket)
        return df[df["grouping_set"] == grouping_set].reset_index(drop=True)

    @property
    def models(self) -> pd.DataFrame:
        """LLM spans per (request model, model priced by) in the window (from the span scan)."""
        if self._models is None:
            self.spans()
        assert self._models is not None
        return self._models

    @cached_property
    def resolved_prices(self) -> dict[str, Price]:
        """The price of each model the LLM spans are priced by: the user's table, else the kept source
        (unmatched models absent)."""
        return resolve_prices(sorted(set(self.models["priced_as"])), self.prices, fallback=kept_source_lookup())

    def traces(self, top_n: int) -> pd.DataFrame:
        """The trace scan (every grouping set of :data:`scan_sql.TRACE_SETS`) with ``top_n`` ranked traces."""
        top_n = int(top_n)
        if top_n not in self._traces:
            models = sorted(set(self.models["llm_model"]))
            df = self.run(*scan_sql.trace_scan_sql(self.filters, self.resolved_prices, top_n, models))
            if len(df) and df["unlisted_models"].max() > 0:  # spans arrived after the span scan
                df = self.run(*scan_sql.trace_scan_sql(self.filters, self.resolved_prices, top_n))
            self._traces[top_n] = df
        return self._traces[top_n]


def _models(span_scan: pd.DataFrame) -> pd.DataFrame:
    detail = span_scan[(span_scan["grouping_set"] == "detail") & (span_scan["llm_spans"] > 0)]
    df = (detail.groupby(["model", "priced_as"], sort=False)["llm_spans"].sum().reset_index()
          .rename(columns={"model": "llm_model", "llm_spans": "spans"}))
    return df.sort_values(["spans", "llm_model", "priced_as"], ascending=[False, True, True],
                          kind="stable").reset_index(drop=True)
