"""Hand-made spans with hand-computed figures: the dashboard's rules, ours, prices, hostile filters."""

from __future__ import annotations

import datetime as dt

import pytest

from runbook_lib.checks import Status
from runbook_lib.traces.analytics import TraceAnalytics, TraceFilters
from runbook_lib.traces.data_checks import data_checks, exact_percentiles_check, window_spans

pytestmark = pytest.mark.sandbox

T0 = dt.datetime(2025, 3, 1, 0, 10, tzinfo=dt.timezone.utc)
START, END = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc), dt.datetime(2025, 3, 1, 1, tzinfo=dt.timezone.utc)
PRICES = {"m-priced": {"input": 1.0, "output": 2.0}, "m-resp": {"input": 10.0, "output": 20.0}}
HOSTILE_SERVICE = "svc'; DROP TABLE otel_2.otel_traces; -- \\ \"q\" {start_ns:Int64}"


def _ts(i: int) -> dt.datetime:
    return T0 + dt.timedelta(seconds=i)


def usage(prompt=None, completion=None, **extra):
    d = {}
    if prompt is not None:
        d["gen_ai.usage.prompt_tokens"] = str(prompt)
    if completion is not None:
        d["gen_ai.usage.completion_tokens"] = str(completion)
    d.update({f"gen_ai.usage.{k}": str(v) for k, v in extra.items()})
    return d


HAND_MADE = [
    # trace T1, project p1
    {"ts": _ts(0), "trace": "T1", "span": "s1", "status": "Ok", "duration_ns": 9_000_000_000, "project": "p1",
     "attrs": {"agentops.tags": '["prod", "it\'s"]'}},
    {"ts": _ts(1), "trace": "T1", "span": "s2", "parent": "s1", "status": "OK", "duration_ns": 2_000_000_000,
     "project": "p1", "attrs": {"gen_ai.request.model": "m-priced", **usage(1000, 500, cache_read_input_tokens=100)}},
    {"ts": _ts(4), "trace": "T1", "span": "s3", "parent": "s1", "status": "Error", "duration_ns": 1_000_000_000,
     "project": "p1", "attrs": {"gen_ai.request.model": "m-priced", "gen_ai.usage.input_tokens": "300",
                                "gen_ai.usage.output_tokens": "100"}},
    # trace T2, project p1
    {"ts": _ts(10), "trace": "T2", "span": "s4", "status": "Unset", "duration_ns": 5_000_000_000, "project": "p1",
     "service": HOSTILE_SERVICE},
    {"ts": _ts(11), "trace": "T2", "span": "s5", "parent": "s4", "status": "Ok", "duration_ns": 1_500_000_000,
     "project": "p1", "attrs": {"gen_ai.request.model": "m-unknown", **usage(1000, 1000, total_tokens=1500)}},
    {"ts": _ts(12), "trace": "T2", "span": "s6", "parent": "s4", "status": "", "duration_ns": 500_000_000,
     "project": "p1", "attrs": {"gen_ai.request.model": "m-priced", "gen_ai.response.model": "m-resp",
                                **usage(100, 100)}},
    {"ts": _ts(13), "trace": "T2", "span": "s7", "parent": "s4", "status": "ok", "duration_ns": 700_000_000,
     "project": "p1", "attrs": {"gen_ai.request.model": "m-priced",
                                **usage(400, 100, reasoning_tokens=50, total_cost="0.05")}},
    # trace T3, project p2
    {"ts": _ts(20), "trace": "T3", "span": "s9", "status": "ERROR", "duration_ns": 100_000_000, "project": "p2"},
]


@pytest.fixture
def hand(make_store):
    return make_store(HAND_MADE)


def _a(store, prices=PRICES, start=START, end=END, **kw):
    return TraceAnalytics(store, TraceFilters.from_params(start, end, **kw), price_table=prices)


def test_dashboard_rule_figures_match_hand_computed_values(hand):
    fig = _a(hand).dashboard_figures().iloc[0]
    assert int(fig["d_traces"]) == 3 and int(fig["d_spans"]) == 8
    assert (int(fig["d_success"]), int(fig["d_fail"]), int(fig["d_indeterminate"])) == (4, 2, 2)
    assert int(fig["d_prompt"]) == 2500  # old names only: 1000 + 1000 + 100 + 400
    assert int(fig["d_completion"]) == 1700
    assert int(fig["d_total_tokens"]) == 3850  # 1600 + 0 + 1500 (override) + 200 + 550 (reasoning added)
    # 0.002 (s2) + 0 (s3: new names) + 0 (s5: no price) + 0.003 (s6: response model's price) + 0.05 (stored)
    assert float(fig["d_cost"]) == pytest.approx(0.055, abs=1e-12)
    assert int(fig["o_prompt"]) == 2800 and int(fig["o_completion"]) == 1800
    assert int(fig["o_total_tokens"]) == 4250
    assert float(fig["o_cost"]) == pytest.approx(0.0555, abs=1e-12)
    assert int(fig["new_names_only_spans"]) == 1 and int(fig["unpriced_spans"]) == 1


def test_reconciliation_explains_each_difference(hand):
    rec = _a(hand, project_id="p1").dashboard().frame.set_index("figure")
    assert rec.loc["traces", "dashboard_rule"] == 2 and rec.loc["spans", "ours"] == 7
    assert rec.loc["total tokens", "difference"] == 400
    assert rec.loc["total cost (USD)", "difference"] == pytest.approx(0.0005, abs=1e-12)
    assert "1 LLM spans carry tokens only as input_tokens/output_tokens" in rec.loc["prompt tokens",
                                                                                      "why_they_differ"]
    assert "1 spans have no price" in rec.loc["total cost (USD)", "why_they_differ"]


def test_status_latency_and_cost_on_hand_made_spans(hand):
    a = _a(hand)
    status = a.status().frame.set_index("model")
    assert status.loc["m-priced"].tolist()[:4] == [4, 2, 1, 1]  # spans, success, fail, indeterminate
    assert status.loc["(non-LLM spans)", "fail"] == 1
    lat = a.llm_latency().frame.set_index("model")
    # m-priced durations sorted: 0.5, 0.7, 1, 2 s -> floor(q*4): p50 idx 2, p90/95/99 idx 3
    assert lat.loc["m-priced", "p50_ms"] == 1000.0 and lat.loc["m-priced", "p90_ms"] == 2000.0
    assert lat.loc["(all models)", "spans"] == 5
    cost = a.cost().frame.set_index("model")
    assert cost.loc["m-priced", "stored_spans"] == 1 and cost.loc["m-priced", "computed_spans"] == 3
    assert cost.loc["m-priced", "cost_usd"] == pytest.approx(0.002 + 0.0005 + 0.003 + 0.05, abs=1e-12)
    assert cost.loc["m-priced", "basis"] == "mixed" and cost.loc["m-unknown", "basis"].startswith("incomplete")
    trace = a.trace_latency().frame.set_index("models_used")
    assert trace.loc["m-priced", "max_ms"] == 9000.0  # T1: root span covers the children
    assert trace.loc["m-priced+m-unknown", "max_ms"] == 5000.0
    assert trace.loc["(no LLM spans)", "traces"] == 1


def test_model_without_a_price_is_listed_and_warned(hand):
    a = _a(hand, prices={"m-resp": {"input": 10, "output": 20}})  # m-priced and m-unknown lack prices
    unpriced = a.unpriced().frame.set_index("model")
    assert set(unpriced.index) == {"m-priced", "m-unknown"}
    assert unpriced.loc["m-priced", "spans"] == 2  # s2 and s3 (s7 has stored cost, s6 prices as m-resp)
    tables = a.all_tables()
    checks = {c.id: c for c in data_checks(tables, a.dashboard_figures(), filters=a.filters, prem_status=None,
                                            now=END)}
    c = checks["traces.cost.unknown_prices"]
    assert c.status is Status.WARN and "m-priced" in c.summary and c.evidence["unpriced_spans_by_model"] == {
        "m-priced": 2, "m-unknown": 1}


def test_spans_with_only_the_new_token_names(make_store):
    rows = [{"ts": _ts(i), "trace": f"N{i}", "span": f"n{i}", "status": "OK", "project": "p1",
             "attrs": {"gen_ai.request.model": "gemini-x", "gen_ai.usage.input_tokens": "70",
                       "gen_ai.usage.output_tokens": "30"}} for i in range(3)]
    a = _a(make_store(rows), prices={"gemini-x": {"input": 1, "output": 1}})
    tok = a.tokens().frame.iloc[0]
    assert tok["prompt_tokens"] == 210 and tok["completion_tokens"] == 90 and tok["total_tokens"] == 300
    assert tok["token_names"] == "input/output only"
    fig = a.dashboard_figures().iloc[0]
    assert int(fig["d_total_tokens"]) == 0 and float(fig["d_cost"]) == 0.0
    assert float(fig["o_cost"]) == pytest.approx(300e-6)
    checks = {c.id: c for c in data_checks(a.all_tables(), fig.to_frame().T, filters=a.filters, prem_status=None,
                                            now=END)}
    warn = checks["traces.tokens.ignored_names"]
    assert warn.status is Status.WARN and "gemini-x" in warn.summary and warn.evidence["spans"] == 3


def test_empty_window_is_a_warning(hand):
    a = _a(hand, start="2020-01-01", end="2020-01-02")
    checks = {c.id: c for c in data_checks(a.all_tables(), a.dashboard_figures(), filters=a.filters,
                                            prem_status="enterprise", now=END)}
    assert checks["traces.window.empty"].status is Status.WARN
    assert checks["traces.dashboard.plan_truncation"].status is Status.PASS  # the org's plan, not the spans


@pytest.mark.parametrize("prem_status", ["free", "enterprise"])
def test_an_empty_window_judges_nothing_it_skips_saying_why(hand, prem_status):
    """Token names, prices, percentiles (and the free plan's truncation) over no spans: skip, never pass."""
    a = _a(hand, start="2020-01-01", end="2020-01-02")
    tables = a.all_tables()
    checks = {c.id: c for c in data_checks(tables, a.dashboard_figures(), filters=a.filters,
                                            prem_status=prem_status, now=END)}
    judged = ["traces.tokens.ignored_names", "traces.cost.unknown_prices"] + (
        ["traces.dashboard.plan_truncation"] if prem_status == "free" else [])
    for cid in judged:
        assert checks[cid].status is Status.SKIP and "no spans in the window" in checks[cid].summary, checks[cid]
    percentiles = exact_percentiles_check(spans=window_spans(tables["coverage"].frame))
    assert percentiles.status is Status.SKIP and "no spans in the window" in percentiles.summary
    # the same checks over the hand-made spans still judge them
    full = _a(hand)
    spans = window_spans(full.all_tables()["coverage"].frame)
    assert spans > 0 and exact_percentiles_check(spans=spans).status is Status.PASS
    judged_full = {c.id: c for c in data_checks(full.all_tables(), full.dashboard_figures(), filters=full.filters,
                                                prem_status=prem_status, now=END)}
    assert all(judged_full[cid].status is not Status.SKIP for cid in judged)


def test_free_plan_truncation_warns_for_old_windows(hand):
    a = TraceAnalytics(hand, TraceFilters.from_params(START, END), price_table=PRICES, now=END)
    figs = a.dashboard_figures()
    later = END + dt.timedelta(days=10)
    a_later = TraceAnalytics(hand, a.filters, price_table=PRICES, now=later)
    checks = {c.id: c for c in data_checks(a.all_tables(), a_later.dashboard_figures(), filters=a.filters,
                                            prem_status="free", now=later)}
    c = checks["traces.dashboard.plan_truncation"]
    assert c.status is Status.WARN and c.evidence["traces_older_than_3_days"] == 3
    assert "prem_status" in c.remedy
    fresh = {c.id: c for c in data_checks(a.all_tables(), figs, filters=a.filters, prem_status="free", now=END)}
    assert fresh["traces.dashboard.plan_truncation"].status is Status.PASS
    unknown = {c.id: c for c in data_checks(a.all_tables(), figs, filters=a.filters, prem_status=None, now=END)}
    assert unknown["traces.dashboard.plan_truncation"].status is Status.SKIP


@pytest.mark.parametrize("filters", [
    {"project_id": "x' OR '1'='1"},
    {"project_id": "p1' --"},
    {"tag": "') OR 1=1 --"},
    {"tag": "prod\"]"},
    {"models": ["\\' OR 1=1 --", "{start_ns:Int64}"]},
    {"span_name": "a\\nb\tc\n"},
    {"service_name": "svc' OR ''='"},
])
def test_hostile_filter_values_are_data(hand, filters):
    a = _a(hand, **filters)
    for table in a.all_tables().values():
        assert table.frame is not None
    assert int(a.coverage().frame.iloc[0]["spans"]) == 0
    assert int(_a(hand).coverage().frame.iloc[0]["spans"]) == 8  # the table is intact


def test_hostile_value_matches_itself_exactly(hand):
    assert int(_a(hand, service_name=HOSTILE_SERVICE).coverage().frame.iloc[0]["spans"]) == 1
    assert int(_a(hand, tag="it's").coverage().frame.iloc[0]["traces"]) == 1
    assert int(_a(hand, tag="prod").coverage().frame.iloc[0]["spans"]) == 3


def test_sample_and_span_export_only_on_request(hand, tmp_path):
    a = _a(hand)
    sample = a.sample(limit=3)
    assert len(sample) == 3 and sample["SpanId"].tolist() == ["s1", "s2", "s3"]
    path = a.export_spans(tmp_path / "spans.parquet")
    import pyarrow.parquet as pq

    assert pq.read_table(path).num_rows == 8
    path = a.export_spans(tmp_path / "spans.csv", limit=2)
    assert len(path.read_text().splitlines()) == 3  # header + 2 rows
