"""The synthetic generator's shapes and reproducibility; the plots' titles, units and legends."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from runbook_lib.traces import plots
from runbook_lib.traces.analytics import TraceAnalytics, TraceFilters
from runbook_lib.traces.synthetic import DEFAULT_MODELS, generate_table, generate_traces
from runbook_lib.traces.tables import TABLES
from tests.plugins.traces import TRACE_END, TRACE_START, flatten_spans

pytestmark = pytest.mark.sandbox


def test_same_seed_same_rows_other_seed_other_rows():
    a, b = generate_table(200, seed=5), generate_table(200, seed=5)
    assert a.equals(b)
    assert not a.equals(generate_table(200, seed=6))


def test_exact_span_and_trace_counts():
    t = generate_table(500, n_spans=4321, seed=1)
    assert t.num_rows == 4321
    assert len(set(t.column("TraceId").to_pylist())) == 500
    with pytest.raises(ValueError):
        generate_table(10, n_spans=5)


def test_trace_shape_and_attribute_mix(trace_truth):
    t = trace_truth
    roots = t[t["parent"] == ""]
    assert len(roots) == t["trace"].nunique()  # one root per trace
    root_of = dict(zip(roots["trace"], roots["span"], strict=True))
    children = t[t["parent"] != ""]
    assert (children["parent"] == children["trace"].map(root_of)).all()
    # children run inside their root span
    root_end = dict(zip(roots["trace"], roots["ts_ns"] + roots["duration"], strict=True))
    assert (children["ts_ns"] + children["duration"] <= children["trace"].map(root_end)).all()
    llm = t[t["is_llm"]]
    assert set(llm["model"]) == {m.request_model for m in DEFAULT_MODELS}
    errors = llm[llm["status"] == "ERROR"]
    assert len(errors) and (errors["prompt"] == 0).all()  # failed calls carry no usage
    assert (llm["attrs"].map(lambda d: d.get("gen_ai.request.streaming")) == "true").mean() == pytest.approx(0.3,
                                                                                                             abs=0.05)
    assert llm["total_cost_attr"].ne("").any() and llm["prompt_cost_attr"].ne("").any()
    assert (llm["reasoning"] > 0).any() and (llm["cache_read"] > 0).any()
    # latencies are lognormal: the log of gpt-4o-mini durations is roughly symmetric around ln(650 ms)
    mini = llm[(llm["model"] == "gpt-4o-mini") & (llm["status"] == "OK")]
    med_ms = np.median(mini["duration"]) / 1e6
    assert 550 < med_ms < 950
    # seven days of history before the end
    assert roots["ts_ns"].min() >= int(TRACE_START.timestamp()) * 10**9
    assert roots["ts_ns"].max() < int(TRACE_END.timestamp()) * 10**9


def test_dataframe_in_the_otel_traces_row_shape():
    from runbook_lib.traces import schema

    df = generate_traces(30, seed=2)
    assert list(df.columns) == [c for c, _ in schema.COLUMNS]
    row = df.iloc[0]
    assert isinstance(row["TraceId"], str) and len(row["TraceId"]) == 32 and len(row["SpanId"]) == 16
    assert dict(row["ResourceAttributes"])["agentops.project.id"] == "demo-project"
    assert str(df["Timestamp"].dtype).startswith("datetime64[ns")
    assert flatten_spans(generate_table(30, seed=2))["span"].tolist() == df["SpanId"].tolist()


@pytest.fixture(scope="module")
def tables(dump_store):
    a = TraceAnalytics(dump_store, TraceFilters.from_params(TRACE_START, TRACE_END))
    return {k: t.frame for k, t in a.all_tables(top_n=3).items()}


def _texts(fig):
    ax = fig.axes
    return {"title": " ".join(a.get_title() for a in ax), "x": " ".join(a.get_xlabel() for a in ax),
            "y": " ".join(a.get_ylabel() for a in ax), "legend": [a.get_legend() for a in ax]}


#: Unit each plot's axes must name, and whether it has a legend (by plot name).
PLOT_UNITS = {"latency": ("ms", True), "requests_errors": ("%", True), "cost": ("USD", True),
              "tokens": ("millions", True), "spans_per_trace": ("count", False)}


def test_every_registered_plot_is_checked():
    assert set(TABLES.plots()) == set(PLOT_UNITS)


@pytest.mark.parametrize("name", sorted(PLOT_UNITS))
def test_plots_have_titles_units_and_legends(tables, name):
    unit, legend = PLOT_UNITS[name]
    plot = TABLES.plots()[name]
    fig = plot.draw({k: tables[k] for k in plot.needs})
    t = _texts(fig)
    assert t["title"].strip() and t["x"].strip() and t["y"].strip()
    assert unit in t["x"] + t["y"]
    assert any(lg is not None for lg in t["legend"]) == legend
    png = plots.figure_png(fig)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_plots_of_empty_tables_say_so():
    empty = pd.DataFrame()
    for fig in (plots.latency_percentiles(empty), plots.cost_by_model_per_day(empty),
                plots.token_distribution(empty), plots.spans_per_trace_histogram(empty),
                plots.requests_and_error_rate(pd.DataFrame({"spans": []}), empty)):
        texts = [t.get_text() for ax in fig.axes for t in ax.texts]
        assert "no data in the window" in texts
        assert plots.figure_png(fig)[:4] == b"\x89PNG"


def test_windows_up_to_three_days_use_hours():
    end = dt.datetime(2025, 1, 4, tzinfo=dt.timezone.utc)
    assert TraceFilters.from_params("-3d", "now", now=end).bucket == "hour"
    assert TraceFilters.from_params("-4d", "now", now=end).bucket == "day"
