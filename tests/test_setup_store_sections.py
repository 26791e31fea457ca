"""00_setup's trace store sections and the key in the API's log, through the notebook (runner + kernel).

A bare stand-in store holding the token's project's spans of the last hours is found lacking the
dashboard's objects and price rows, then repaired from a hand-made checkout; a drifted database makes the
token request fail with 500, and the API's log is scanned for the key without showing it.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest

from runbook_lib.runner import run_notebooks
from runbook_lib.traces.synthetic import insert_traces
from tests.plugins.traces import span_rows_table
from tests.test_store_repair import _checkout

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]

NAME = "00_setup"
PRICE = "store.price.gpt-4o-mini-2024-07-18"


def _checks(record) -> dict[str, dict]:
    (nb,) = record.notebooks
    return {c["id"]: c for c in nb.checks}


def _recent_spans(project_id: str) -> list[dict]:
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    llm = {"gen_ai.request.model": "gpt-4o-mini", "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
           "gen_ai.usage.prompt_tokens": "300", "gen_ai.usage.completion_tokens": "30"}
    return [{"ts": now + dt.timedelta(seconds=i), "trace": f"t{i}", "span": f"s{i}", "status": "Ok",
             "project": project_id, "attrs": llm} for i in range(3)]


def _artifacts_text(record) -> str:
    return "".join(p.read_text(encoding="utf-8", errors="replace") for p in record.run_dir.iterdir() if p.is_file())


def test_store_found_lacking_then_repaired_from_the_checkout(start_trace_store, start_agentops_api, tmp_path):
    store = start_trace_store()
    api = start_agentops_api("current", trace_store=store)
    client = store.client()
    try:
        insert_traces(client, span_rows_table(_recent_spans(str(api.seed.project_id))))
    finally:
        client.close()
    os.environ["SETUP_STORE_PASSWORD"] = store.password
    os.environ["SETUP_PROJECT_KEY"] = api.seed.api_key
    params = {"agentops_api_url": api.url, "agentops_api_key": "env:SETUP_PROJECT_KEY",
              "trace_store_url": store.query_url, "trace_store_user": store.user,
              "trace_store_password": "env:SETUP_STORE_PASSWORD"}

    found = run_notebooks([NAME], params, out_dir=tmp_path / "found")
    checks = _checks(found)
    assert found.verdict == "failed"
    assert checks["store.function.calculate_prompt_cost"]["status"] == "fail"
    assert checks[PRICE]["status"] == "warn"  # the price dictionary is missing: the dashboard shows 0
    assert "shows cost 0 in the dashboard: 3 spans, 990 tokens" in checks[PRICE]["summary"]
    assert checks["store_repair.plan"]["status"] == "skip"  # no checkout named: nothing to create from
    assert "agentops_src" in checks["store_repair.plan"]["summary"] + checks["store_repair.plan"]["remedy"]

    checkout = _checkout(tmp_path / "agentops")
    repaired = run_notebooks([NAME], {**params, "agentops_src": str(checkout), "repair_store": True},
                             out_dir=tmp_path / "repaired")
    checks = _checks(repaired)
    (nb,) = repaired.notebooks
    assert repaired.verdict == "passed", nb.error or [c for c in checks.values() if c["status"] == "fail"]
    assert checks["store.function.calculate_prompt_cost"]["status"] == "pass"  # the state the run leaves
    assert checks["store.function.calculate_prompt_cost"]["summary"].startswith("found, then repaired: ")
    assert checks[PRICE]["status"] == "pass"
    assert checks[PRICE]["summary"].startswith("found, then repaired: shows cost 0 in the dashboard")
    assert checks["store_repair.verify"]["status"] == "pass"
    assert not [c for c in checks.values() if c["status"] in ("warn", "fail") and c["id"].startswith("store")]
    html = (repaired.run_dir / nb.html).read_text(encoding="utf-8")
    assert "gpt-4o-mini-2024-07-18" in html and "CREATE DICTIONARY" in html

    again = run_notebooks([NAME], {**params, "agentops_src": str(checkout), "repair_store": True},
                          out_dir=tmp_path / "again")
    checks = _checks(again)
    assert again.verdict == "passed"
    assert checks[PRICE]["status"] == "pass" and "priced as" in checks[PRICE]["summary"]
    assert "nothing to do" in checks["store_repair.plan"]["summary"].lower()
    for record in (found, repaired, again):
        text = _artifacts_text(record)
        assert store.password not in text and api.seed.api_key not in text


def test_token_500_on_drift_warns_and_counts_the_key_in_the_log(start_agentops_api, tmp_path):
    api = start_agentops_api("early")  # drifted schema: the token request fails with 500
    os.environ["SETUP_DRIFT_KEY"] = api.seed.api_key
    params = {"agentops_api_url": api.url, "agentops_api_key": "env:SETUP_DRIFT_KEY",
              "agentops_api_log": str(api.log_path)}
    record = run_notebooks([NAME], params, out_dir=tmp_path / "run")
    checks = _checks(record)
    assert checks["agentops.auth_token"]["status"] == "fail"
    assert checks["agentops.auth_token"]["evidence"]["status_code"] == 500
    assert checks["api_key.exposure"]["status"] == "warn"
    assert "rotate_project_api_key" in checks["api_key.exposure"]["remedy"]
    assert checks["api_key.log"]["status"] == "fail"  # the failed request above wrote it there
    assert checks["api_key.log"]["evidence"]["matching_lines"] >= 1
    assert api.seed.api_key in api.log_text()
    assert api.seed.api_key not in _artifacts_text(record)
    assert record.verdict == "failed"
