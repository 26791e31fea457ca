"""30_trace_analytics's dashboard sections end to end through the runner: a bare store found lacking the
dashboard's objects and repaired from a checkout, then the dashboard's own figures beside the computed ones
through a session minted from a JWT secret reference."""

from __future__ import annotations

import os

import pytest

from runbook_lib.runner import run_notebooks
from runbook_lib.traces.store import ClickHouseHttpStore
from runbook_lib.traces.synthetic import insert_traces
from tests.plugins.traces import span_rows_table
from tests.test_dashboard_views import END, ROWS, START
from tests.test_store_repair import _checkout

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]

NAME = "30_trace_analytics"


def _checks(record) -> dict[str, dict]:
    (nb,) = record.notebooks
    return {c["id"]: c for c in nb.checks}


def test_readiness_repair_and_the_dashboards_figures(start_trace_store, start_agentops_api, standin_jwt_secret,
                                                    tmp_path):
    store = start_trace_store()
    api = start_agentops_api("current", trace_store=store)
    pid = str(api.seed.project_id)
    os.environ["H6_NOTEBOOK_STORE_PASSWORD"] = store.password
    client = ClickHouseHttpStore(store.query_url, store.user, "env:H6_NOTEBOOK_STORE_PASSWORD")
    try:
        insert_traces(client, span_rows_table([{**r, "project": pid if r["project"] == "proj-views" else r["project"]}
                                               for r in ROWS]))
    finally:
        client.close()
    params = {"trace_store_url": store.query_url, "trace_store_user": store.user,
              "trace_store_password": "env:H6_NOTEBOOK_STORE_PASSWORD", "project_id": pid,
              "start": START.isoformat(), "end": END.isoformat()}

    found = run_notebooks([NAME], params, out_dir=tmp_path / "found")
    checks = _checks(found)
    assert found.verdict == "failed"  # the bare store breaks the dashboard: said, with the remedy
    assert checks["store.function.calculate_prompt_cost"]["status"] == "fail"
    assert checks["store_repair.plan"]["status"] == "skip"

    checkout = _checkout(tmp_path / "agentops")
    repaired = run_notebooks([NAME], {**params, "agentops_src": str(checkout), "repair_store": True,
                                      "agentops_api_url": api.url,
                                      "dashboard_jwt_secret": f"file:{standin_jwt_secret[1]}",
                                      "dashboard_user_id": str(api.seed.user_id)}, out_dir=tmp_path / "repaired")
    (nb,) = repaired.notebooks
    checks = _checks(repaired)
    assert repaired.verdict == "passed", nb.error or [c for c in checks.values() if c["status"] == "fail"]
    assert checks["store_repair.verify"]["status"] == "pass"
    assert checks["dashboard.reconciled"]["status"] == "pass"
    assert checks["dashboard.cost_views"]["status"] == "warn"
    html = (repaired.run_dir / nb.html).read_text(encoding="utf-8")
    for text in ("What the dashboard shows", "the trace list sums total_cost only", "CREATE DICTIONARY"):
        assert text in html, text
    for artifact in repaired.run_dir.iterdir():
        body = artifact.read_text(encoding="utf-8", errors="replace")
        assert store.password not in body and standin_jwt_secret[0] not in body, artifact.name
