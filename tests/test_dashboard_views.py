"""The dashboard's two views computed by upstream's rules on a hand-made span set, against hand-computed figures.

Each cost rule has its span: total_cost only, prompt/completion cost only, both (disagreeing), neither
(priced by the dictionary), a dated response model (no price row), a span with only total_tokens.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import pytest

from runbook_lib.errors import ServiceError
from runbook_lib.sandbox import stack
from runbook_lib.traces import dashboard_objects as dash
from runbook_lib.traces import dashboard_views as views
from runbook_lib.traces.store import ClickHouseHttpStore
from runbook_lib.traces.synthetic import insert_traces
from tests.plugins.traces import span_rows_table

T0 = dt.datetime(2025, 6, 1, 12, tzinfo=dt.timezone.utc)
START, END = dt.datetime(2025, 6, 1), dt.datetime(2025, 6, 2)
PID = "proj-views"


def _span(i, trace, status, attrs, *, project=PID, ts=None):
    return {"ts": ts or T0 + dt.timedelta(seconds=i), "trace": trace, "span": f"s{i}", "status": status,
            "project": project, "attrs": attrs}


def _llm(model, pt, ct, response=""):
    attrs = {"gen_ai.request.model": model, "gen_ai.usage.prompt_tokens": str(pt),
             "gen_ai.usage.completion_tokens": str(ct)}
    if response:
        attrs["gen_ai.response.model"] = response
    return attrs


ROWS = [
    _span(1, "A", "Ok", {**_llm("gpt-4o-mini", 1000, 1000), "gen_ai.usage.total_cost": "0.5"}),
    _span(2, "A", "Error", {**_llm("gpt-4o-mini", 2000, 500), "gen_ai.usage.prompt_cost": "0.01",
                            "gen_ai.usage.completion_cost": "0.02"}),
    _span(3, "B", "Ok", {**_llm("gpt-4o-mini", 10, 10), "gen_ai.usage.total_cost": "0.04",
                         "gen_ai.usage.prompt_cost": "0.01", "gen_ai.usage.completion_cost": "0.02"}),
    _span(4, "B", "Ok", _llm("gpt-4o", 100, 10)),
    _span(5, "C", "Unset", _llm("gpt-4o-mini", 300, 30, response="gpt-4o-mini-2024-07-18")),
    _span(6, "C", "Unset", {"gen_ai.usage.total_tokens": "999"}),
    _span(7, "D", "Ok", {**_llm("gpt-4o", 5, 5), "gen_ai.usage.total_cost": "7"}, project="another"),
    _span(8, "E", "Ok", {**_llm("gpt-4o", 5, 5), "gen_ai.usage.total_cost": "9"}, ts=T0 - dt.timedelta(days=3)),
]


def _price(model, tokens, direction):
    (row,) = [r for r in dash.price_rows() if r.model == model]
    per_1k = row.prompt_cost_per_1k if direction == "prompt" else row.completion_cost_per_1k
    return (Decimal(tokens) / 1000 * Decimal(repr(per_1k))).quantize(Decimal("1e-7"), ROUND_HALF_EVEN)


@pytest.fixture(scope="module")
def stores(start_trace_store, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("views")
    out = {}
    for level in ("current", "bare"):
        store = start_trace_store()
        pw = tmp / f"pw-{level}"
        pw.write_text(store.password)
        pw.chmod(0o600)
        stack.provision_store({"services": {"trace_store": {"url": store.query_url, "user": store.user}},
                               "secret_files": {"store_password": str(pw)}}, level)
        client = ClickHouseHttpStore(store.query_url, store.user, f"file:{pw}")
        insert_traces(client, span_rows_table(ROWS))
        out[level] = client
    yield out
    for c in out.values():
        c.close()


def test_each_rule_gives_the_hand_computed_figures(stores):
    got = views.compute_views(stores["current"], PID, start=START, end=END)
    pm, tl = got.project_metrics, got.trace_list
    s1 = _price("gpt-4o-mini", 1000, "prompt") + _price("gpt-4o-mini", 1000, "completion")
    s2_dictionary = _price("gpt-4o-mini", 2000, "prompt") + _price("gpt-4o-mini", 500, "completion")
    s4 = _price("gpt-4o", 100, "prompt") + _price("gpt-4o", 10, "completion")
    # project metrics: prompt_cost + completion_cost, else the dictionary; total_cost ignored
    assert pm.total_cost == s1 + Decimal("0.03") + Decimal("0.03") + s4 + 0
    # trace list: total_cost, else the dictionary's prompt + completion
    assert tl.total_cost == Decimal("0.5") + s2_dictionary + Decimal("0.04") + s4 + 0
    assert (pm.trace_count, tl.trace_count) == (3, 3)
    assert (pm.span_count, tl.span_count) == (6, 3)  # the trace list counts traces as spans
    assert (pm.success_count, pm.fail_count, pm.indeterminate_count) == (3, 1, 2)
    assert (tl.success_count, tl.fail_count, tl.indeterminate_count) == (1, 1, 1)  # by each trace's last span
    assert (pm.prompt_tokens, pm.completion_tokens) == (3410, 1550) == (tl.prompt_tokens, tl.completion_tokens)
    assert (pm.total_tokens, tl.total_tokens) == (3410 + 1550 + 999, 3410 + 1550)
    assert pm.shown_cost == f"{float(pm.total_cost):.5f}" and len(tl.shown_cost.split(".")[1]) == 7

    cost_row = next(r for r in got.rows if r.figure == "total cost (USD)")
    why = " | ".join(cost_row.why)
    assert "project metrics ignores total_cost: 1 spans carry only total_cost (USD 0.5000000)" in why
    assert "the trace list sums total_cost only: 1 spans have none (their prompt + completion cost is USD 0.0300000" \
        in why
    assert "1 spans carry both, and their total_cost (USD 0.0400000) is not their prompt + completion cost " \
           "(USD 0.0300000)" in why
    assert "no price row for gpt-4o-mini-2024-07-18: 1 spans, 330 tokens" in why
    assert got.unpriced == [{"model": "gpt-4o-mini-2024-07-18", "spans": 1, "tokens": 330,
                             "spans_without_cost_attributes": 1}]
    kinds = got.spans_by_cost_attributes
    assert {k: v["spans"] for k, v in kinds.items()} == {"total_cost only": 1, "prompt/completion cost only": 1,
                                                         "both": 1, "neither": 3}
    agree = next(r for r in got.rows if r.figure == "prompt tokens")
    assert agree.why == ()


def test_open_window_and_free_plan_clamp(stores):
    everything = views.compute_views(stores["current"], PID)
    assert everything.trace_list.trace_count == 4  # the span three days before the window counts too
    now = T0 + dt.timedelta(days=28)
    free = views.compute_views(stores["current"], PID, free_plan=True, now=now)
    assert free.project_metrics.trace_count == 3  # the span 31 days before "now" is clamped away
    assert free.project_metrics.start == (now - dt.timedelta(days=30)).replace(tzinfo=None)
    assert free.trace_list.trace_count == 4
    assert free.notes and free.notes[0].startswith("free plan: project metrics use")


def test_a_store_without_the_dictionary_prices_nothing_and_says_so(stores):
    got = views.compute_views(stores["bare"], PID, start=START, end=END)
    assert got.project_metrics.total_cost == Decimal("0.06")  # only the attributes count
    assert got.trace_list.total_cost == Decimal("0.54")
    why = " | ".join(next(r for r in got.rows if r.figure == "total cost (USD)").why)
    assert "no price dictionary: the real API answers 500" in why


def test_cache_notes():
    got = views.DashboardViews("p", views.ViewFigures("project metrics", None, None),
                               views.ViewFigures("trace list", None, None), [], {}, [], dt.datetime(2025, 6, 1, 12))
    fetched = views.DashboardFigures({}, {}, dt.datetime(2025, 6, 1, 12, 2), 0.0)
    notes = views.cache_notes(got, fetched, start=START, end=END)
    assert "younger than that" in notes[0] and "30 s" in notes[1]
    later = views.DashboardFigures({}, {}, dt.datetime(2025, 6, 1, 13), 0.0)
    assert views.cache_notes(got, later, start=START, end=END) == [notes[1]]
    assert "no end time" in views.cache_notes(got, later)[0]


def test_session_errors_never_carry_secrets(monkeypatch, tmp_path: Path):
    from runbook_lib.sandbox.processes import free_port

    secret = "planted-jwt-secret-" + "s" * 20
    password = "planted-password-" + "p" * 10
    monkeypatch.setenv("PLANTED_JWT", secret)
    monkeypatch.setenv("PLANTED_PW", password)
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens
    for kwargs in ({"jwt_secret": "env:PLANTED_JWT", "user_id": "u1"},
                   {"email": "a@example.test", "password": "env:PLANTED_PW"}):
        with pytest.raises(ServiceError) as err:
            views.open_dashboard_session(url, timeout_s=2, **kwargs)
        text = str(err.value) + repr(err.value)
        assert secret not in text and password not in text
    with pytest.raises(ServiceError, match="no way to open"):
        views.open_dashboard_session(url)
    session = views.DashboardSession(url, "planted-cookie-value")
    assert "planted-cookie-value" not in repr(session)
    with pytest.raises(ServiceError) as err:
        views.fetch_dashboard_figures(session, "p", timeout_s=2)
    assert "planted-cookie-value" not in str(err.value)
