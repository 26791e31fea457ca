"""Every analytics figure against an independent pandas/numpy computation over the same rows."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from runbook_lib.traces.analytics import ALL_MODELS, ALL_TRACES, NO_LLM, QUANTILES, TraceAnalytics, TraceFilters
from runbook_lib.traces.tables import TABLES
from tests.plugins.traces import NS, PROJECTS, TRACE_END, TRACE_START, tags_of

pytestmark = pytest.mark.sandbox

#: Explicit prices for the synthetic response models (USD per 1M tokens); acme-llm-7b has none.
PRICES = {
    "gpt-4o-mini-2024-07-18": {"input": 0.15, "output": 0.60},
    "gpt-4o-2024-08-06": {"input": 2.50, "output": 10.0},
    "claude-3-5-sonnet-20241022": {"input": 3.0, "output": 15.0},
    "o3-mini-2025-01-31": {"input": 1.10, "output": 4.40},
    "gemini-2.0-flash": {"input": 0.10, "output": 0.40},
}


def exact_quantile(values: np.ndarray, q: float) -> int:
    """ClickHouse quantileExact: the element at 0-based position floor(q * n) of the sorted values."""
    v = np.sort(np.asarray(values))
    return int(v[min(int(q * len(v)), len(v) - 1)])


def ns_to_naive(ns: int) -> pd.Timestamp:
    return pd.Timestamp(ns, unit="ns")


@pytest.fixture(scope="module")
def analytics(dump_store) -> TraceAnalytics:
    f = TraceFilters.from_params(TRACE_START, TRACE_END)
    return TraceAnalytics(dump_store, f, price_table=PRICES, app_url="http://dash.local:3000")


@pytest.fixture(scope="module")
def truth(trace_truth: pd.DataFrame) -> pd.DataFrame:
    lo, hi = int(TRACE_START.timestamp()) * NS, int(TRACE_END.timestamp()) * NS
    return trace_truth[(trace_truth["ts_ns"] >= lo) & (trace_truth["ts_ns"] < hi)].copy()


def priced_cost(t: pd.DataFrame) -> pd.DataFrame:
    """Our cost rule, computed row by row in Python."""
    t = t.copy()
    basis, cost = [], []
    for stored, llm, pr, co, model, sc in zip(t["stored"], t["is_llm"], t["prompt"], t["completion"],
                                              t["cost_model"], t["stored_cost"], strict=True):
        price = PRICES.get(model)
        if stored:
            basis.append("stored")
            cost.append(sc)
        elif not llm:
            basis.append("")
            cost.append(0.0)
        elif pr + co == 0:
            basis.append("no usage")
            cost.append(0.0)
        elif price is not None:
            basis.append("computed")
            cost.append(pr * (price["input"] / 1e6) + co * (price["output"] / 1e6))
        else:
            basis.append("unpriced")
            cost.append(0.0)
    t["basis"], t["cost"] = basis, cost
    return t


def test_dataset_is_what_the_tests_assume(truth):
    assert len(truth) > 15000 and truth["trace"].nunique() == 3000
    assert set(truth["project"]) == set(PROJECTS)
    assert truth["is_llm"].sum() > 5000 and (truth["status"] == "ERROR").sum() > 50
    assert (truth["has_new"] & ~truth["has_old"]).sum() > 100  # spans with only the new token names
    assert truth["stored"].sum() > 500


def test_coverage_counts(analytics, truth):
    row = analytics.coverage().frame.iloc[0]
    assert int(row["spans"]) == len(truth)
    assert int(row["traces"]) == truth["trace"].nunique()
    assert int(row["llm_spans"]) == int(truth["is_llm"].sum())
    assert int(row["llm_errors"]) == int((truth["is_llm"] & (truth["status"] == "ERROR")).sum())
    assert row["first_span_utc"] == ns_to_naive(truth["ts_ns"].min())
    assert row["last_span_utc"] == ns_to_naive(truth["ts_ns"].max())
    assert int(row["llm_models"]) == truth.loc[truth["is_llm"], "model"].nunique()


def test_attribute_names_present(analytics, truth):
    df = analytics.attributes().frame.set_index("attribute")
    expected = pd.Series([k for d in truth["attrs"] for k in d]).value_counts()
    assert df["spans"].to_dict() == expected.to_dict()
    assert bool(df.loc["gen_ai.usage.prompt_tokens", "read_by_dashboard"])
    assert bool(df.loc["gen_ai.usage.input_tokens", "ignored_token_name"])


@pytest.mark.parametrize("bucket", ["day", "hour"])
def test_volume_per_period(analytics, truth, bucket):
    df = analytics.volume(bucket=bucket).frame
    key = "day_ns" if bucket == "day" else "hour_ns"
    g = truth.groupby(key)
    expected = pd.DataFrame({"traces": g["trace"].nunique(), "spans": g.size(), "llm_spans": g["is_llm"].sum()})
    got = df[df["spans"] > 0].set_index(df.loc[df["spans"] > 0, "period_start_utc"].astype("int64"))
    assert list(got.index) == list(expected.index)
    for col in ("traces", "spans", "llm_spans"):
        assert got[col].tolist() == expected[col].astype(int).tolist(), col
    # empty periods are filled with zeros, so the periods are contiguous
    step = np.diff(df["period_start_utc"].astype("int64").to_numpy())
    assert (step == (86400 if bucket == "day" else 3600) * NS).all()


def test_status_by_model_uses_the_agentops_rule(analytics, truth):
    df = analytics.status().frame.set_index("model")
    group = truth["model"].where(truth["is_llm"], "(non-LLM spans)")
    for model, t in truth.groupby(group):
        row = df.loc[model]
        assert int(row["spans"]) == len(t)
        assert int(row["success"]) == int((t["status"] == "OK").sum())
        assert int(row["fail"]) == int((t["status"] == "ERROR").sum())
        assert int(row["indeterminate"]) == int((~t["status"].isin(["OK", "ERROR"])).sum())
        assert row["error_rate"] == pytest.approx((t["status"] == "ERROR").mean(), rel=1e-12)
    # the generator writes Ok/Error/Unset: upper-casing is what makes these count as success/fail
    assert df["success"].sum() == (truth["status_code"] == "Ok").sum()


@pytest.mark.parametrize("bucket", ["day", "hour"])
def test_error_rate_over_time_by_model(analytics, truth, bucket):
    df = analytics.errors_over_time(bucket=bucket).frame
    llm = truth[truth["is_llm"]]
    key = "day_ns" if bucket == "day" else "hour_ns"
    g = llm.groupby([key, "model"])
    expected = pd.DataFrame({"n": g.size(), "e": g["status"].apply(lambda s: int((s == "ERROR").sum()))})
    assert len(df) == len(expected)
    for rec in df.itertuples():
        exp = expected.loc[(rec.period_start_utc.value, rec.model)]
        assert rec.llm_spans == exp["n"] and rec.errors == exp["e"]
        assert rec.error_rate == pytest.approx(exp["e"] / exp["n"], rel=1e-12)


def test_llm_latency_percentiles_are_exact(analytics, truth):
    df = analytics.llm_latency().frame.set_index("model")
    llm = truth[truth["is_llm"]]
    groups = dict(list(llm.groupby("model"))) | {ALL_MODELS: llm}
    assert set(df.index) == set(groups)
    for model, t in groups.items():
        d = t["duration"].to_numpy(dtype=np.uint64)
        row = df.loc[model]
        assert int(row["spans"]) == len(d)
        for q, name in zip(QUANTILES, ("p50", "p90", "p95", "p99"), strict=True):
            assert row[f"{name}_ms"] == exact_quantile(d, q) / 1e6, (model, name)  # exact equality
        assert row["max_ms"] == int(d.max()) / 1e6
        assert row["mean_ms"] == pytest.approx(d.astype(float).mean() / 1e6, rel=1e-12)


def test_trace_latency_percentiles_are_exact(analytics, truth):
    df = analytics.trace_latency().frame.set_index("models_used")
    t = truth.assign(end=truth["ts_ns"] + truth["duration"])
    per = t.groupby("trace").agg(start=("ts_ns", "min"), end=("end", "max"))
    per["dur"] = per["end"] - per["start"]
    used = t[t["is_llm"]].groupby("trace")["model"].agg(lambda s: "+".join(sorted(set(s))))
    per["models_used"] = used.reindex(per.index).fillna(NO_LLM)
    groups = dict(list(per.groupby("models_used"))) | {ALL_TRACES: per}
    assert set(df.index) == set(groups)
    for key, g in groups.items():
        row = df.loc[key]
        assert int(row["traces"]) == len(g)
        for q, name in zip(QUANTILES, ("p50", "p90", "p95", "p99"), strict=True):
            assert row[f"{name}_ms"] == exact_quantile(g["dur"].to_numpy(), q) / 1e6, (key, name)
        assert row["max_ms"] == int(g["dur"].max()) / 1e6


def test_tokens_by_model_and_day(analytics, truth):
    df = analytics.tokens().frame
    llm = truth[truth["is_llm"]]
    g = llm.groupby(["day_ns", "model"])
    assert len(df) == g.ngroups
    for rec in df.itertuples():
        t = g.get_group((rec.day_utc.value, rec.model))
        assert rec.llm_spans == len(t)
        assert rec.prompt_tokens == t["prompt"].sum()
        assert rec.completion_tokens == t["completion"].sum()
        assert rec.cache_read_tokens == t["cache_read"].sum()
        assert rec.reasoning_tokens == t["reasoning"].sum()
        assert rec.total_tokens == t["total"].sum()
        assert rec.spans_prompt_completion_names == int(t["has_old"].sum())
        assert rec.spans_input_output_names_only == int((t["has_new"] & ~t["has_old"]).sum())
    gem = df[df["model"] == "gemini-2.0-flash"]
    assert (gem["token_names"] == "input/output only").all() and gem["prompt_tokens"].sum() > 0


def test_cost_by_model_and_day(analytics, truth):
    df = analytics.cost().frame
    t = priced_cost(truth)
    t = t[t["basis"] != ""]
    t["group"] = t["model"].where(t["is_llm"], "(no model)")
    g = t.groupby(["day_ns", "group"])
    assert len(df) == g.ngroups
    for rec in df.itertuples():
        x = g.get_group((rec.day_utc.value, rec.model))
        assert rec.spans == len(x)
        assert rec.stored_spans == int((x["basis"] == "stored").sum())
        assert rec.computed_spans == int((x["basis"] == "computed").sum())
        assert rec.unpriced_spans == int((x["basis"] == "unpriced").sum())
        assert rec.stored_usd == pytest.approx(x.loc[x["basis"] == "stored", "cost"].sum(), rel=1e-9, abs=1e-12)
        assert rec.computed_usd == pytest.approx(x.loc[x["basis"] == "computed", "cost"].sum(), rel=1e-9, abs=1e-12)
        assert rec.cost_usd == pytest.approx(x["cost"].sum(), rel=1e-9, abs=1e-12)
    acme = df[df["model"] == "acme-llm-7b"]
    assert (acme["basis"] == "incomplete (unpriced spans)").all() and (acme["cost_usd"] == 0).all()
    assert set(df.loc[df["model"] == "gpt-4o", "basis"]) == {"mixed"}


def test_unpriced_models_are_counted_and_listed(analytics, truth):
    df = analytics.unpriced().frame
    t = priced_cost(truth)
    u = t[t["basis"] == "unpriced"]
    assert df["model"].tolist() == sorted(set(u["cost_model"]))  # only acme-llm-7b
    assert df["model"].tolist() == ["acme-llm-7b"]
    assert int(df.iloc[0]["spans"]) == len(u)
    assert int(df.iloc[0]["prompt_tokens"]) == u["prompt"].sum()


def test_spans_per_trace_distribution(analytics, truth):
    df = analytics.spans_per_trace().frame
    expected = truth.groupby("trace").size().value_counts().sort_index()
    assert df["spans_in_trace"].tolist() == expected.index.tolist()
    assert df["traces"].tolist() == expected.tolist()


def test_slowest_and_costliest_traces(analytics, truth):
    t = priced_cost(truth).assign(end=lambda x: x["ts_ns"] + x["duration"])
    per = t.groupby("trace").agg(start=("ts_ns", "min"), end=("end", "max"), cost=("cost", "sum"),
                                 spans=("span", "size"))
    per["dur"] = per["end"] - per["start"]
    slow = analytics.slowest_traces(top_n=7).frame
    exp = per.sort_values(["dur"], ascending=False, kind="stable").head(7)
    assert slow["trace_id"].tolist() == exp.index.tolist()
    assert slow["duration_ms"].tolist() == (exp["dur"] / 1e6).tolist()
    assert slow["spans"].tolist() == exp["spans"].tolist()
    assert slow["dashboard_url"].iloc[0] == f"http://dash.local:3000/traces?trace_id={exp.index[0]}"
    costly = analytics.costliest_traces(top_n=5).frame
    exp = per.sort_values("cost", ascending=False).head(5)
    assert costly["trace_id"].tolist() == exp.index.tolist()
    assert costly["cost_usd"].to_numpy() == pytest.approx(exp["cost"].to_numpy(), rel=1e-9)


def test_dashboard_figures_beside_ours(analytics, truth):
    t = priced_cost(truth)
    fig = analytics.dashboard_figures().iloc[0]
    assert int(fig["d_traces"]) == truth["trace"].nunique()
    assert int(fig["d_prompt"]) == truth["old_prompt"].sum()
    assert int(fig["d_total_tokens"]) == truth["dash_total"].sum()
    assert int(fig["o_total_tokens"]) == truth["total"].sum()
    assert fig["o_cost"] == pytest.approx(t["cost"].sum(), rel=1e-9)
    assert int(fig["new_names_only_spans"]) == int((truth["is_llm"] & truth["has_new"] & ~truth["has_old"]).sum())
    rec = analytics.dashboard().frame.set_index("figure")
    assert rec.loc["prompt tokens", "difference"] == truth["prompt"].sum() - truth["old_prompt"].sum() > 0
    assert "input_tokens/output_tokens" in rec.loc["prompt tokens", "why_they_differ"]
    assert rec.loc["traces", "difference"] == 0


def test_headline_agrees_with_the_tables(analytics, truth):
    row = analytics.headline().frame.iloc[0]
    llm = truth[truth["is_llm"]]
    assert row["traces"] == truth["trace"].nunique() and row["llm_spans"] == len(llm)
    assert row["llm_error_rate"] == pytest.approx((llm["status"] == "ERROR").mean(), rel=1e-12)
    assert row["llm_p95_ms"] == exact_quantile(llm["duration"].to_numpy(), 0.95) / 1e6
    assert row["total_tokens"] == truth["total"].sum()


def test_default_prices_come_from_litellms_bundled_map(dump_store, truth):
    from runbook_lib.traces.dashboard_objects import litellm_price_map, litellm_version

    litellm_map = litellm_price_map()
    a = TraceAnalytics(dump_store, TraceFilters.from_params(TRACE_START, TRACE_END))
    used = a.price_table_used().set_index("model")
    for model in ("gpt-4o-mini-2024-07-18", "o3-mini-2025-01-31"):
        assert used.loc[model, "price_key"] == model  # LiteLLM prices the dated names themselves
        assert used.loc[model, "input_usd_per_1m"] == pytest.approx(
            litellm_map[model]["input_cost_per_token"] * 1e6, rel=1e-9)
        assert used.loc[model, "source"] == f"litellm {litellm_version()}"
    assert pd.isna(used.loc["acme-llm-7b", "price_key"])  # in no source: left unpriced, not guessed


def test_users_price_table_wins_over_the_kept_source(dump_store):
    mine = {"gpt-4o-mini": {"input": 7.0, "output": 9.0}}
    a = TraceAnalytics(dump_store, TraceFilters.from_params(TRACE_START, TRACE_END), price_table=mine)
    used = a.price_table_used().set_index("model")
    assert used.loc["gpt-4o-mini-2024-07-18", "price_key"] == "gpt-4o-mini"
    assert used.loc["gpt-4o-mini-2024-07-18", "input_usd_per_1m"] == 7.0
    assert used.loc["gpt-4o-mini-2024-07-18", "source"] == "your table"
    assert used.loc["o3-mini-2025-01-31", "source"].startswith("litellm ")  # the rest still priced


# --------------------------------------------------------------------------- filters


def _analytics(store, **kw) -> TraceAnalytics:
    start, end = kw.pop("start", TRACE_START), kw.pop("end", TRACE_END)
    return TraceAnalytics(store, TraceFilters.from_params(start, end, **kw), price_table=PRICES)


@pytest.mark.parametrize("project", PROJECTS)
def test_project_filter(dump_store, truth, project):
    row = _analytics(dump_store, project_id=project).coverage().frame.iloc[0]
    t = truth[truth["project"] == project]
    assert int(row["spans"]) == len(t) > 0 and int(row["traces"]) == t["trace"].nunique()


def test_service_and_span_name_filters(dump_store, truth):
    row = _analytics(dump_store, service_name="billing-assistant").coverage().frame.iloc[0]
    assert int(row["spans"]) == int((truth["service"] == "billing-assistant").sum())
    row = _analytics(dump_store, span_name="openai.chat").coverage().frame.iloc[0]
    assert int(row["spans"]) == int((truth["name"] == "openai.chat").sum())


def test_tag_filter_selects_whole_traces(dump_store, truth):
    tagged = {tr for tr, tags in zip(truth["trace"], truth["tags"], strict=True) if "eval" in tags_of(tags)}
    row = _analytics(dump_store, tag="eval").coverage().frame.iloc[0]
    assert int(row["traces"]) == len(tagged) > 0
    assert int(row["spans"]) == int(truth["trace"].isin(tagged).sum())


def test_models_filter_keeps_traces_with_those_models_and_drops_other_llm_spans(dump_store, truth):
    a = _analytics(dump_store, models=["o3-mini"])
    traces = set(truth.loc[(truth["model"] == "o3-mini") | (truth["cost_model"] == "o3-mini"), "trace"])
    keep = truth["trace"].isin(traces) & (~truth["is_llm"] | (truth["model"] == "o3-mini")
                                          | (truth["cost_model"] == "o3-mini"))
    row = a.coverage().frame.iloc[0]
    assert int(row["traces"]) == len(traces) and int(row["spans"]) == int(keep.sum())
    assert set(a.llm_latency().frame["model"]) == {"o3-mini", ALL_MODELS}
    # the response name selects too
    row2 = _analytics(dump_store, models=["o3-mini-2025-01-31"]).coverage().frame.iloc[0]
    assert 0 < int(row2["llm_spans"]) <= int(row["llm_spans"])


def test_window_boundaries_include_start_and_exclude_end(make_store):
    t0 = dt.datetime(2025, 3, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
    base = int(t0.timestamp()) * NS
    rows = [
        {"ts_ns": base - 1, "trace": "before", "span": "a1"},
        {"ts_ns": base, "trace": "at-start", "span": "a2"},
        {"ts_ns": base + 3600 * NS - 1, "trace": "last-ns", "span": "a3"},
        {"ts_ns": base + 3600 * NS, "trace": "at-end", "span": "a4"},
    ]
    store = make_store(rows)
    a = TraceAnalytics(store, TraceFilters.from_params(t0, t0 + dt.timedelta(hours=1)))
    assert int(a.coverage().frame.iloc[0]["spans"]) == 2
    slow = a.slowest_traces(top_n=10).frame
    assert sorted(slow["trace_id"]) == ["at-start", "last-ns"]
    # a window given as relative times around a fixed "now"
    f = TraceFilters.from_params("-1h", "now", now=t0 + dt.timedelta(hours=1))
    assert f.start == t0 and int(TraceAnalytics(store, f).coverage().frame.iloc[0]["spans"]) == 2


def test_empty_window_gives_empty_tables_not_errors(dump_store):
    a = _analytics(dump_store, start="2001-01-01", end="2001-01-02")
    tables = a.all_tables(top_n=5)
    cov = tables["coverage"].frame.iloc[0]
    assert int(cov["spans"]) == 0 and pd.isna(cov["first_span_utc"])
    one_row_or_per_period = {"coverage", "headline", "volume", "dashboard"}
    assert one_row_or_per_period < set(tables) and set(tables) == set(TABLES.keys())
    for spec in TABLES:
        if spec.key not in one_row_or_per_period:
            assert tables[spec.key].frame.empty, spec.key
    assert (tables["volume"].frame["spans"] == 0).all()
    head = tables["headline"].frame.iloc[0]
    assert head["traces"] == 0 and math.isnan(head["llm_p50_ms"]) and math.isnan(head["llm_error_rate"])
    assert (tables["dashboard"].frame["difference"] == 0).all()


def test_price_table_validation():
    from runbook_lib.errors import ParameterError
    from runbook_lib.traces.pricing import normalise_price_table, resolve_price

    prices = normalise_price_table({"gpt-4o": {"input": 2.5, "output": 10}, "x": [1, 2]})
    assert resolve_price("openai/gpt-4o-2024-08-06", prices).key == "gpt-4o"
    assert resolve_price("GPT-4o", prices).key == "gpt-4o"
    assert resolve_price("x", prices).output_per_million == 2.0
    assert resolve_price("gpt-4o-mini", prices) is None
    with pytest.raises(ParameterError, match="not two non-negative numbers"):
        normalise_price_table({"m": {"input": "cheap", "output": 1}})
    with pytest.raises(ParameterError):
        normalise_price_table({"m": {"input": -1, "output": 1}})


@pytest.mark.parametrize("text, expected", [
    ("now", dt.datetime(2025, 6, 2, 12, tzinfo=dt.timezone.utc)),
    ("-24h", dt.datetime(2025, 6, 1, 12, tzinfo=dt.timezone.utc)),
    ("-7d", dt.datetime(2025, 5, 26, 12, tzinfo=dt.timezone.utc)),
    ("-30m", dt.datetime(2025, 6, 2, 11, 30, tzinfo=dt.timezone.utc)),
    ("2025-06-01", dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc)),
    ("2025-06-01T10:00:00Z", dt.datetime(2025, 6, 1, 10, tzinfo=dt.timezone.utc)),
    ("2025-06-01T12:00:00+02:00", dt.datetime(2025, 6, 1, 10, tzinfo=dt.timezone.utc)),
])
def test_parse_time(text, expected):
    from runbook_lib.traces.analytics import parse_time

    assert parse_time(text, now=dt.datetime(2025, 6, 2, 12, tzinfo=dt.timezone.utc)) == expected


def test_bad_window_parameters():
    from runbook_lib.errors import ParameterError

    with pytest.raises(ParameterError, match="cannot read 'yesterday'"):
        TraceFilters.from_params("yesterday", "now")
    with pytest.raises(ParameterError, match="not after start"):
        TraceFilters.from_params("-1h", "-2h")
