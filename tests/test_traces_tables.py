"""The table registry, the two-scan engine and the 30_trace_analytics runbook on hand-made spans
whose figures are computed by hand (in the comments), through the notebook's own path."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from runbook_lib import display
from runbook_lib.checks import Status
from runbook_lib.errors import ParameterError, TraceStoreError
from runbook_lib.traces import scan_sql
from runbook_lib.traces.analytics import TraceAnalytics, TraceFilters
from runbook_lib.traces.costing import price_usage
from runbook_lib.traces.pricing import Price
from runbook_lib.traces.runbook import TraceAnalyticsRunbook
from runbook_lib.traces.tables import TABLES, TableRegistry, TableSpec
from tests.test_traces_rules import END, HAND_MADE, PRICES, START

pytestmark = pytest.mark.sandbox


# --------------------------------------------------------------------------- the registry


def test_registry_declarations_are_complete_and_consistent():
    assert len(TABLES) == len(set(TABLES.keys())) >= 16
    assert len({s.export_name for s in TABLES}) == len(TABLES)
    for spec in TABLES:
        assert spec.title and spec.definition.endswith((".", ")")) and spec.scan in (
            "span scan", "trace scan", "span scan + trace scan"), spec.key
        assert set(spec.columns.values()) <= set(display.COLUMN_KINDS), spec.key
        if spec.plot is not None:
            assert set(spec.plot.needs) <= set(TABLES.keys()), spec.key
    # every section of the registry is a section of the runbook, and the runbook shows every table
    assert set(TABLES.sections()) <= set(TraceAnalyticsRunbook.SECTIONS)


def test_registry_refuses_a_key_twice():
    reg = TableRegistry()
    spec = next(iter(TABLES))
    reg.register(spec)
    with pytest.raises(ValueError, match="declared twice"):
        reg.register(spec)
    with pytest.raises(KeyError, match="no table 'nope'"):
        TABLES["nope"]


def test_a_shape_that_drifts_from_its_declared_columns_is_refused(make_store):
    a = TraceAnalytics(make_store(HAND_MADE), TraceFilters.from_params(START, END))
    spec = TABLES["spans_per_trace"]
    drifted = TableSpec(spec.key, spec.title, spec.definition, {"spans_in_trace": "count"}, spec.shape, spec.scan,
                        spec.section)
    with pytest.raises(Exception, match="differ from the declared"):
        drifted.compute(a.scan, top_n=10)


# --------------------------------------------------------------------------- hand-computed figures


@pytest.fixture
def hand_tables(make_store):
    a = TraceAnalytics(make_store(HAND_MADE), TraceFilters.from_params(START, END), price_table=PRICES,
                       app_url="http://dash", top_n=2)
    return a, a.all_tables()


def test_all_tables_take_two_scans(hand_tables):
    a, tables = hand_tables
    assert list(tables) == TABLES.keys()
    span, trace = a.queries
    assert "ARRAY JOIN" in span and "ARRAY JOIN" in trace
    # distinct traces come from the trace scan (which groups by trace): no set of trace ids per span-scan row;
    # the top lists are kept by groupArraySorted: no window function sorting every trace
    assert "uniqExact(TraceId)" not in span and "groupArraySortedIf" in trace and " OVER " not in trace
    assert sum(q.count("SpanAttributes['gen_ai.usage.prompt_tokens']") for q in a.queries) == 2  # decoded once each


def test_llm_latency_by_hand(hand_tables):
    df = hand_tables[1]["llm_latency"].frame.set_index("model")
    # m-priced: s2 2.0 s, s3 1.0 s, s6 0.5 s, s7 0.7 s -> sorted [500, 700, 1000, 2000] ms; floor(q*4)
    assert df.loc["m-priced"].to_dict() == {"spans": 4, "p50_ms": 1000.0, "p90_ms": 2000.0, "p95_ms": 2000.0,
                                            "p99_ms": 2000.0, "max_ms": 2000.0, "mean_ms": 1050.0}
    # all: + s5 1.5 s -> [500, 700, 1000, 1500, 2000]; p50 = [2], p90 = [4]; mean 5.7 s / 5
    assert df.loc["(all models)", "p50_ms"] == 1000.0 and df.loc["(all models)", "p90_ms"] == 2000.0
    assert df.loc["(all models)", "mean_ms"] == pytest.approx(1140.0, rel=1e-12)
    assert list(df.index) == ["m-priced", "m-unknown", "(all models)"]


def test_trace_tables_by_hand(hand_tables):
    tables = hand_tables[1]
    # T1: 0 s .. 9 s (s1 lasts 9 s) = 9000 ms; T2: 10 s .. 15 s = 5000 ms; T3: 100 ms
    lat = tables["trace_latency"].frame.set_index("models_used")
    assert lat.loc["m-priced", "max_ms"] == 9000.0 and lat.loc["m-priced+m-unknown", "max_ms"] == 5000.0
    assert lat.loc["(no LLM spans)", "p50_ms"] == 100.0 and lat.loc["(all traces)", "traces"] == 3
    per = tables["spans_per_trace"].frame
    assert per.to_dict("list") == {"spans_in_trace": [1, 3, 4], "traces": [1, 1, 1]}
    slow = tables["slowest_traces"].frame  # top_n = 2
    assert slow["trace_id"].tolist() == ["T1", "T2"] and slow["duration_ms"].tolist() == [9000.0, 5000.0]
    assert slow["spans"].tolist() == [3, 4] and slow["models_used"].tolist() == ["m-priced", "m-priced+m-unknown"]
    assert slow["dashboard_url"].tolist() == ["http://dash/traces?trace_id=T1", "http://dash/traces?trace_id=T2"]
    costly = tables["costliest_traces"].frame
    # T2: s6 100 x 10e-6 + 100 x 20e-6 (priced as m-resp) + s7 stored 0.05 = 0.053; s5 unpriced
    # T1: s2 1000 x 1e-6 + 500 x 2e-6 = 0.002, s3 (input/output names) 300 x 1e-6 + 100 x 2e-6 = 0.0005
    assert costly["trace_id"].tolist() == ["T2", "T1"]
    assert costly["cost_usd"].tolist() == pytest.approx([0.053, 0.0025], rel=1e-12)
    assert costly["cost_basis"].tolist() == ["incomplete (unpriced spans)", "computed"]


def test_trace_scan_model_mix_as_a_bit_mask_equals_the_set_of_names(hand_tables):
    a = hand_tables[0]
    models = sorted(set(a.scan.models["llm_model"]))
    assert models == ["m-priced", "m-unknown"]
    ordered = ["grouping_set", "models_used", "spans_in_trace", "period_start_utc"]

    def scan(listed: list[str] | None) -> pd.DataFrame:
        df = a.store.query_df(*scan_sql.trace_scan_sql(a.filters, a.resolved_prices, 2, listed))
        for col in df.columns[df.columns.str.startswith(("slowest_", "costliest_"))]:  # top lists: arrays
            df[col] = df[col].map(tuple)
        return df.sort_values(ordered).reset_index(drop=True)

    as_mask, as_set = scan(models), scan(None)
    pd.testing.assert_frame_equal(as_mask, as_set)
    top = as_mask[as_mask["grouping_set"] == "all"].iloc[0]
    assert top["slowest_t_models_used"] == ("m-priced", "m-priced+m-unknown")  # T1, T2 (decoded from the mask)
    assert as_mask["unlisted_models"].max() == 0
    mixes = set(as_mask.loc[as_mask["grouping_set"] == "models_used", "models_used"])
    assert mixes == {"m-priced", "m-priced+m-unknown", scan_sql.NO_LLM}, mixes
    # a model missing from the list (spans that arrived after the span scan) is flagged, never dropped
    assert scan(models[1:])["unlisted_models"].max() == 1
    # more models than mask bits: the set of names
    assert "groupUniqArrayIf" in scan_sql.trace_scan_sql(a.filters, {}, 2, [f"m{i}" for i in range(64)])[0]


def test_traces_older_than_the_free_plan_cutoff_count_a_trace_with_any_older_span(make_store):
    # now - 3 days = START + 30 min: "both" has a span on each side, "old" only before, "new" only after
    now = START + dt.timedelta(days=3, minutes=30)
    at = {"old": [5, 10], "both": [20, 40], "new": [35, 50]}
    rows = [{"ts": START + dt.timedelta(minutes=m), "trace": t, "span": f"{t}-{m}", "duration_ns": 1}
            for t, minutes in at.items() for m in minutes]
    a = TraceAnalytics(make_store(rows), TraceFilters.from_params(START, END), now=now)
    figures = a.dashboard_figures().iloc[0]
    assert (figures["d_traces"], figures["traces_older_3d"]) == (3, 2)


def test_decode_floor_reads_the_window_once_without_grouping(hand_tables):
    a = hand_tables[0]
    sql, params = scan_sql.decode_floor_sql(a.filters)
    assert "GROUP BY" not in sql and sql.count("SpanAttributes['gen_ai.usage.total_tokens']") == 1
    row = a.store.query_df(sql, params).iloc[0]
    assert row.iloc[0] == a.table("coverage").frame.loc[0, "spans"]


def test_top_lists_break_ties_by_trace_id(make_store):
    t0 = START + dt.timedelta(minutes=5)
    rows = [{"ts": t0, "trace": t, "span": f"s-{t}", "duration_ns": 1_000_000} for t in ("b", "c", "a")]
    a = TraceAnalytics(make_store(rows), TraceFilters.from_params(START, END), top_n=2)
    assert a.slowest_traces().frame["trace_id"].tolist() == ["a", "b"]
    assert a.costliest_traces(top_n=5).frame["trace_id"].tolist() == ["a", "b", "c"]


def test_cost_tables_by_hand(hand_tables):
    tables = hand_tables[1]
    cost = tables["cost"].frame.set_index("model")
    # m-priced: s2 0.002 + s3 0.0005 + s6 0.003 computed, s7 0.05 stored
    assert cost.loc["m-priced", ["spans", "stored_spans", "computed_spans", "unpriced_spans"]].tolist() == [4, 1, 3, 0]
    assert cost.loc["m-priced", "cost_usd"] == pytest.approx(0.0555, rel=1e-12)
    assert cost.loc["m-unknown", "basis"] == "incomplete (unpriced spans)"
    unpriced = tables["unpriced"].frame
    assert unpriced[["model", "spans", "prompt_tokens", "completion_tokens"]].values.tolist() == [
        ["m-unknown", 1, 1000, 1000]]
    keys = tables["prices"].frame["price_key"]
    assert keys[:2].tolist() == ["m-priced", "m-resp"] and pd.isna(keys[2])  # m-unknown matches no entry


def test_pricing_join_applies_one_price_per_group():
    groups = pd.DataFrame({"priced_as": ["a", "b"], "np_prompt": [1000, 10], "np_completion": [500, 0],
                           "n_needs_price": [2, 1], "n_stored": [1, 0], "stored_usd": [0.5, 0.0],
                           "n_no_usage": [0, 1], "d_price_prompt": [1000, 10], "d_price_completion": [500, 0]})
    out = price_usage(groups, {"a": Price("a", 1.0, 2.0)})
    assert out["n_computed"].tolist() == [2, 0] and out["n_unpriced"].tolist() == [0, 1]
    assert out["computed_usd"].tolist() == pytest.approx([0.002, 0.0])
    assert out["cost_spans"].tolist() == [3, 2]
    assert out["d_cost"].tolist() == pytest.approx([0.502, 0.0])


# --------------------------------------------------------------------------- the runbook (the notebook's path)


def test_runbook_sections_show_the_registry_tables(make_store, tmp_path):
    rb = TraceAnalyticsRunbook(store=make_store(HAND_MADE), start=START.isoformat(), end=END.isoformat(),
                               price_table=PRICES, top_n=2, export_dir=str(tmp_path / "out"), prem_status="free",
                               now=END)
    checks = rb.run_all()
    shown = {t.title: t for result in rb for t in result.tables}
    for spec in TABLES:
        table = shown[spec.title]
        assert dict(table.formats) == dict(spec.columns), spec.key
        assert table.caption == f"Definition. {spec.definition}"
    figures = [b for result in rb for b in result.blocks if b is not None and hasattr(b, "figure")]
    assert len(figures) == len(TABLES.plots())
    by_id = {c.id: c for c in checks}
    assert by_id["traces.store.reachable"].status == Status.PASS
    assert by_id["traces.cost.unknown_prices"].status == Status.WARN  # m-unknown
    assert by_id["traces.tokens.ignored_names"].status == Status.WARN  # s3 uses input/output names
    assert by_id["traces.dashboard.plan_truncation"].status == Status.PASS  # within the last 3 days of `now`
    assert by_id["traces.export"].status == Status.PASS
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        f"{s.export_name}.{ext}" for s in TABLES for ext in ("csv", "parquet"))
    assert rb.verdict() == "passed"


def test_runbook_from_parameters_coerces_and_bad_inputs_become_checks(parquet_dump, tmp_path):
    with pytest.raises(ParameterError, match=r"start \(Time\): cannot read 'yesterday'"):
        TraceAnalyticsRunbook.from_parameters({"dump_path": str(parquet_dump), "start": "yesterday"})
    assert TraceAnalyticsRunbook.from_parameters({"dump_path": str(parquet_dump), "top_n": "3"}).top_n == 3
    rb = TraceAnalyticsRunbook(dump_path=str(parquet_dump), start="yesterday")  # built in code, not from the cell
    rb.run_all()
    by_id = {c.id: c for c in rb.checks}
    assert by_id["traces.params"].status == Status.FAIL and "-24h" in by_id["traces.params"].remedy
    assert not rb.tables and rb.verdict() == "failed"
    assert "not computed" in rb.results["latency"].blocks[0].text
    missing = TraceAnalyticsRunbook(dump_path=str(tmp_path / "none.parquet"))
    missing.run("store")
    assert {c.id: c.status for c in missing.checks}["traces.store.reachable"] == Status.FAIL


def test_a_server_without_a_function_the_scans_use_is_told_the_version_they_need(make_store):
    store = make_store(HAND_MADE)
    with pytest.raises(TraceStoreError) as caught:
        store.query_df("SELECT groupArraySortedButMissing(2)(number) FROM numbers(3)")
    assert "ClickHouse 24.2 or newer" in caught.value.hint and "groupArraySorted" in caught.value.hint
