"""The dashboard views computed by upstream's rules equal the real API's answers on the same store.

The real AgentOps API (from AGENTOPS_SRC) and :func:`runbook_lib.traces.dashboard_views.compute_views` read
one trace store built by the checkout's own ClickHouse migrations, loaded with seeded synthetic history plus
a hand-made span for each cost rule. The session is opened the way the runbook opens it (a JWT secret
reference and a user id, through ``POST /auth/session``).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable

import pytest

from runbook_lib.traces import dashboard_views as views
from runbook_lib.traces.store import ClickHouseHttpStore
from runbook_lib.traces.synthetic import generate_table, insert_traces
from tests.conformance.conftest import ApiPair
from tests.plugins.agentops_standin import StandinStore
from tests.plugins.traces import span_rows_table

pytestmark = [pytest.mark.upstream, pytest.mark.postgres, pytest.mark.sandbox]

START, END = dt.datetime(2026, 3, 1), dt.datetime(2026, 3, 9)
T0 = dt.datetime(2026, 3, 8, 12, tzinfo=dt.timezone.utc)


def _rule_spans(project_id: str) -> list[dict]:
    def llm(model, pt, ct, response="", **cost):
        attrs = {"gen_ai.request.model": model, "gen_ai.usage.prompt_tokens": str(pt),
                 "gen_ai.usage.completion_tokens": str(ct), **{f"gen_ai.usage.{k}": v for k, v in cost.items()}}
        if response:
            attrs["gen_ai.response.model"] = response
        return attrs

    attrs = [llm("gpt-4o-mini", 1000, 1000, total_cost="0.5"),
             llm("gpt-4o-mini", 2000, 500, prompt_cost="0.01", completion_cost="0.02"),
             llm("gpt-4o-mini", 10, 10, total_cost="0.04", prompt_cost="0.01", completion_cost="0.02"),
             llm("gpt-4o", 100, 10),
             llm("gpt-4o-mini", 300, 30, response="gpt-4o-mini-2024-07-18"),
             {"gen_ai.usage.total_tokens": "999"}]
    statuses = ["Ok", "Error", "Ok", "OK", "Unset", "ERROR"]
    return [{"ts": T0 + dt.timedelta(seconds=i), "trace": f"rule-{i // 2}", "span": f"rule-span-{i}",
             "status": statuses[i], "project": project_id, "attrs": a} for i, a in enumerate(attrs)]


def _client(store: StandinStore) -> ClickHouseHttpStore:
    os.environ["CONFORMANCE_VIEWS_STORE_PASSWORD"] = store.password
    return ClickHouseHttpStore(store.query_url, store.user, "env:CONFORMANCE_VIEWS_STORE_PASSWORD")


def test_computed_views_equal_the_real_api(api_pair: Callable[..., ApiPair], conformance_store: StandinStore,
                                           tmp_path):
    pair = api_pair("current")
    pid = pair.seed.project_id
    client = _client(conformance_store)
    try:
        insert_traces(client, generate_table(300, days=7, end="2026-03-09T00:00:00+00:00", seed=23,
                                             project_ids=[pid]))
        insert_traces(client, span_rows_table(_rule_spans(pid)))
        computed = views.compute_views(client, pid, start=START, end=END)
    finally:
        client.close()

    secret_file = tmp_path / "jwt_secret"
    secret_file.write_text(pair.jwt_secret)
    secret_file.chmod(0o600)
    session = views.open_dashboard_session(pair.upstream, jwt_secret=f"file:{secret_file}", user_id=pair.seed.user_id)
    real = views.fetch_dashboard_figures(session, pid, start=START, end=END)

    pm, tl = computed.project_metrics, computed.trace_list
    metrics = real.project_metrics
    assert metrics["trace_count"] == pm.trace_count
    assert metrics["span_count"]["total"] == pm.span_count
    assert (metrics["span_count"]["success"], metrics["span_count"]["fail"],
            metrics["span_count"]["indeterminate"]) == (pm.success_count, pm.fail_count, pm.indeterminate_count)
    tokens = metrics["token_metrics"]
    assert (tokens["prompt_tokens"], tokens["completion_tokens"], tokens["total_tokens"]["all"]) == (
        pm.prompt_tokens, pm.completion_tokens, pm.total_tokens)
    # the API prints project metrics' cost with 5 decimals: equal as printed, and within half a unit of the 5th
    assert tokens["total_cost"] == pm.shown_cost
    assert abs(float(tokens["total_cost"]) - float(pm.total_cost)) <= 5e-6

    listed = real.trace_list_metrics
    assert abs(float(listed["total_cost"]) - float(tl.total_cost)) <= 1e-7
    assert listed["total_cost"] == tl.shown_cost
    for name in ("trace_count", "span_count", "success_count", "fail_count", "indeterminate_count",
                 "prompt_tokens", "completion_tokens", "total_tokens"):
        assert listed[name] == getattr(tl, name), name

    # the views really differ on this data, for the reasons the rows give
    assert pm.total_cost != tl.total_cost
    cost_row = next(r for r in computed.rows if r.figure == "total cost (USD)")
    assert any(w.startswith("no price row for gpt-4o-mini-2024-07-18") for w in cost_row.why)
    assert any(w.startswith("the trace list sums total_cost only") for w in cost_row.why)
