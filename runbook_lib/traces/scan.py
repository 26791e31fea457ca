"""Runs the window's scans once and keeps their small results: the span scan (per period size) and
the trace scan (per period size and top-N), with the prices matched to the models the span scan found."""

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

    ``top_n``: the ranked traces kept when a caller gives none.
    ``spans(bucket)`` is the span scan's result (every grouping set, see
    :data:`scan_sql.SPAN_SETS`); ``traces(top_n, bucket)`` the trace scan's (the sets of
    :data:`scan_sql.TRACE_SETS`, then one ``slowest`` and one ``costliest`` row per ranked trace).
    ``queries`` lists the SQL run.
    """

    def __init__(self, store: TraceStore, filters: TraceFilters, *,
                 price_table: Mapping[str, Any] | None = None, now: dt.datetime | None = None,
                 top_n: int = 10) -> None:
        self.store = store
        self.filters = filters
        self.prices: dict[str, Price] = normalise_price_table(price_table)
        self.now = now or dt.datetime.now(dt.timezone.utc)
        self.top_n = int(top_n)
        self.queries: list[str] = []
        self._spans: dict[str, pd.DataFrame] = {}
        self._traces: dict[tuple[str, int], tuple[pd.DataFrame, dict[str, pd.DataFrame]]] = {}
        self._models: pd.DataFrame | None = None

    def run(self, sql: str, params: Mapping[str, Any]) -> pd.DataFrame:
        """Run one query on the store, remembering its text."""
        self.queries.append(sql)
        return self.store.query_df(sql, params)

    def spans(self, bucket: str | None = None) -> pd.DataFrame:
        """The span scan with periods of ``bucket`` (default: the window's), cost columns priced."""
        bucket = bucket or self.filters.bucket
        if bucket not in self._spans:
            df = self.run(*scan_sql.span_scan_sql(self.filters, bucket))
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

    def traces(self, top_n: int | None = None, bucket: str | None = None) -> pd.DataFrame:
        """The trace scan's set rows with ``top_n`` ranked traces and periods of ``bucket`` (default: the
        window's); the ranked traces themselves are :meth:`trace_rows` ``slowest`` and ``costliest``."""
        return self._trace_scan(top_n, bucket)[0]

    def trace_rows(self, grouping_set: str, top_n: int | None = None, bucket: str | None = None) -> pd.DataFrame:
        """The trace scan's rows of one set (``models_used``, ``spans_in_trace``, ``period``, ``all``), or
        the ranked traces of one top list (``slowest``, ``costliest``: ``<list>_id`` and details, in rank
        order)."""
        sets, ranked = self._trace_scan(top_n, bucket)
        if grouping_set in ranked:
            return ranked[grouping_set]
        return sets[sets["grouping_set"] == grouping_set].reset_index(drop=True)

    def _trace_scan(self, top_n: int | None, bucket: str | None) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
        top_n, bucket = int(self.top_n if top_n is None else top_n), bucket or self.filters.bucket
        if (bucket, top_n) not in self._traces:
            models = sorted(set(self.models["llm_model"]))
            cutoff = to_ns(self.now - dt.timedelta(days=FREE_PLAN_VISIBLE_DAYS))
            for listed in (models, None):  # None: spans with a model the span scan did not see arrived since
                df = self.run(*scan_sql.trace_scan_sql(self.filters, self.resolved_prices, top_n, listed,
                                                       bucket=bucket, free_cutoff_ns=cutoff))
                if not (len(df) and df["unlisted_models"].max() > 0):
                    break
            self._traces[(bucket, top_n)] = _split_ranked(df)
        return self._traces[(bucket, top_n)]


#: Types of the ranked traces' details (a ClickHouse server's JSON answer quotes 64-bit integers).
_DETAIL_TYPES = {"t_spans": "int64", "start_ns": "int64", "duration_ms": "float64", "error_spans": "int64",
                 "tokens": "int64", "cost_usd": "float64", "s_stored": "int64", "s_computed": "int64",
                 "s_unpriced": "int64"}


def _split_ranked(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The trace scan's set rows (without the top-list arrays), and per top list one row per ranked
    trace (``<list>_id``, then the details in their own columns; rank order kept)."""
    prefixes = tuple(f"{n}_" for n in scan_sql.TOP_LISTS)
    sets = df[[c for c in df.columns if not c.startswith(prefixes)]].reset_index(drop=True)
    whole = df[df["grouping_set"] == "all"]
    details = ["t_models_used" if c == "models_key" else c for c in scan_sql.TRACE_DETAILS]
    ranked = {}
    for name in scan_sql.TOP_LISTS:
        cells = {col: [] if whole.empty else list(whole.iloc[0][f"{name}_{col}"]) for col in ["id", *details]}
        frame = pd.DataFrame(cells, columns=["id", *details]).rename(columns={"id": f"{name}_id"})
        frame = frame.astype({c: t for c, t in _DETAIL_TYPES.items() if c in frame.columns})
        frame["start_utc"] = pd.to_datetime(frame.pop("start_ns"), unit="ns")
        frame["t_models_used"] = frame["t_models_used"].astype(object)
        ranked[name] = frame
    return sets, ranked


def _models(span_scan: pd.DataFrame) -> pd.DataFrame:
    detail = span_scan[(span_scan["grouping_set"] == "detail") & (span_scan["llm_spans"] > 0)]
    df = (detail.groupby(["model", "priced_as"], sort=False)["llm_spans"].sum().reset_index()
          .rename(columns={"model": "llm_model", "llm_spans": "spans"}))
    return df.sort_values(["spans", "llm_model", "priced_as"], ascending=[False, True, True],
                          kind="stable").reset_index(drop=True)
