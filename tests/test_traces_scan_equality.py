"""The two-scan engine gives the same tables as the per-table queries it replaces (run before they
were deleted), on the synthetic data, with and without filters."""

from __future__ import annotations

import pandas as pd
import pytest

from runbook_lib.traces.analysis import TraceAnalytics as ScanAnalytics
from runbook_lib.traces.analytics import TraceAnalytics as PerTableAnalytics
from runbook_lib.traces.window import TraceFilters
from tests.plugins.traces import PROJECTS, TRACE_END, TRACE_START

pytestmark = pytest.mark.sandbox

PRICES = {"gpt-4o-mini-2024-07-18": {"input": 0.15, "output": 0.60}, "gpt-4o": {"input": 2.5, "output": 10.0},
          "claude-3-5-sonnet-20241022": {"input": 3.0, "output": 15.0}}


def _assert_same(key, a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns), key
    assert len(a) == len(b), key
    for col in a.columns:
        x, y = a[col].reset_index(drop=True), b[col].reset_index(drop=True)
        if pd.api.types.is_float_dtype(x) or pd.api.types.is_float_dtype(y):
            pd.testing.assert_series_equal(x.astype(float), y.astype(float), check_names=False, rtol=1e-9,
                                           obj=f"{key}.{col}")
        elif pd.api.types.is_datetime64_any_dtype(x):
            assert ((x.astype("int64") == y.astype("int64")) | (x.isna() & y.isna())).all(), (key, col)
        else:
            assert [str(v) for v in x] == [str(v) for v in y], (key, col)


@pytest.mark.parametrize("filters", [{}, {"project_id": PROJECTS[0], "tag": "prod"},
                                     {"models": ["gpt-4o"], "service_name": "support-bot"},
                                     {"start": TRACE_END - pd.Timedelta(days=2)}],
                         ids=["all", "project+tag", "models+service", "hourly"])
def test_two_scans_give_the_per_table_results(dump_store, filters):
    start = filters.pop("start", TRACE_START)
    f = TraceFilters.from_params(start, TRACE_END, **filters)
    old = PerTableAnalytics(dump_store, f, price_table=PRICES, app_url="http://dash.local", now=TRACE_END)
    new = ScanAnalytics(dump_store, f, price_table=PRICES, app_url="http://dash.local", now=TRACE_END, top_n=7)
    old_tables = old.all_tables(top_n=7)
    new_tables = new.all_tables()
    assert set(old_tables) <= set(new_tables)
    for key, table in old_tables.items():
        _assert_same(key, table.frame, new_tables[key].frame)
        assert table.notes == new_tables[key].notes, key
        assert (table.title, table.definition) == (new_tables[key].title, new_tables[key].definition), key
    _assert_same("prices", old.price_table_used(), new_tables["prices"].frame)
    _assert_same("figures", old.dashboard_figures(), new.dashboard_figures())
    for bucket in ("hour", "day"):
        _assert_same("volume", old.volume(bucket).frame, new.volume(bucket=bucket).frame)
        _assert_same("errors", old.errors_over_time(bucket).frame, new.errors_over_time(bucket=bucket).frame)
    assert len([q for q in new.queries if "GROUPING SETS" in q]) == 3  # span scan twice (hour, day), trace scan


def test_empty_window_gives_the_same_empty_tables(dump_store):
    f = TraceFilters.from_params("2020-01-01", "2020-01-02")
    old = PerTableAnalytics(dump_store, f).all_tables(top_n=3)
    new = ScanAnalytics(dump_store, f, top_n=3).all_tables()
    for key, table in old.items():
        _assert_same(key, table.frame, new[key].frame)
