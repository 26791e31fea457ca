"""Notebook 30_trace_analytics end to end through the runner: on a dump file, on the sandbox store
over HTTP, and with a store that is not there."""

from __future__ import annotations

import pytest

from runbook_lib.errors import ParameterError
from runbook_lib.runner import run_notebooks
from runbook_lib.traces.tables import TABLES
from tests.plugins.traces import TRACE_END, TRACE_START

pytestmark = pytest.mark.sandbox

NAME = "30_trace_analytics"


def _window() -> dict[str, str]:
    return {"start": TRACE_START.isoformat(), "end": TRACE_END.isoformat()}


def _checks(record) -> dict[str, dict]:
    (nb,) = record.notebooks
    return {c["id"]: c for c in nb.checks}


def test_notebook_on_a_dump_file(parquet_dump, tmp_path):
    export = tmp_path / "export"
    record = run_notebooks([NAME], {"dump_path": str(parquet_dump), **_window(), "top_n": 5,
                                    "agentops_app_url": "http://dash.local:3000", "export_dir": str(export),
                                    "prem_status": "free", "models": []},
                           out_dir=tmp_path / "runs")
    (nb,) = record.notebooks
    assert record.verdict == "passed" and record.exit_code == 0, nb.error
    checks = _checks(record)
    assert checks["traces.store.reachable"]["status"] == "pass"
    assert checks["traces.tokens.ignored_names"]["status"] == "warn"  # gemini spans use input/output names
    assert checks["traces.cost.unknown_prices"]["status"] == "warn"  # acme-llm-7b has no price
    assert checks["traces.dashboard.plan_truncation"]["status"] == "warn"  # free plan, week-old data
    assert checks["traces.export"]["status"] == "pass"
    html = (record.run_dir / nb.html).read_text(encoding="utf-8")
    assert html.count("data:image/png") >= 5 and "<img" in html
    for text in ("quantilesExact", "LLM span latency by model", "As the dashboard shows it", "Definition.",
                 "http://dash.local:3000/traces?trace_id="):
        assert text in html, text
    for spec in TABLES:
        name = spec.export_name
        assert (export / f"{name}.csv").is_file() and (export / f"{name}.parquet").is_file(), name


def test_notebook_over_an_empty_window_skips_what_it_cannot_judge(parquet_dump, tmp_path):
    """No spans in the window: a warning saying so, and the token, price, percentile and plan checks skip
    with the reason; none of them passes with nothing judged."""
    record = run_notebooks([NAME], {"dump_path": str(parquet_dump), "start": "2001-01-01T00:00:00+00:00",
                                    "end": "2001-01-02T00:00:00+00:00", "prem_status": "free"},
                           out_dir=tmp_path / "runs")
    (nb,) = record.notebooks
    assert nb.error is None and record.verdict == "passed", (record.verdict, nb.error)  # warnings pass
    checks = _checks(record)
    assert checks["traces.window.empty"]["status"] == "warn"
    for cid in ("traces.tokens.ignored_names", "traces.cost.unknown_prices", "traces.percentiles.exact",
                "traces.dashboard.plan_truncation"):
        assert checks[cid]["status"] == "skip" and "no spans in the window" in checks[cid]["summary"], checks[cid]


def test_notebook_on_the_sandbox_store_over_http(http_trace_store, tmp_path):
    standin = http_trace_store.standin
    record = run_notebooks([NAME], {"trace_store_url": standin.query_url, "trace_store_user": standin.user,
                                    "trace_store_password": "env:RUNBOOK_TEST_TRACE_STORE_PASSWORD",
                                    **_window(), "project_id": "proj-alpha", "models": ["gpt-4o", "o3-mini"]},
                           out_dir=tmp_path / "runs")
    (nb,) = record.notebooks
    assert record.verdict == "passed", nb.error
    checks = _checks(record)
    assert checks["traces.window.empty"]["status"] == "pass"
    assert checks["traces.dashboard.plan_truncation"]["status"] == "skip"
    html = (record.run_dir / nb.html).read_text(encoding="utf-8")
    assert html.count("data:image/png") >= 5
    for artifact in record.run_dir.iterdir():
        assert standin.password not in artifact.read_text(encoding="utf-8", errors="replace"), artifact.name


def test_notebook_with_an_unreachable_store_fails_with_a_check(closed_port_url, tmp_path):
    record = run_notebooks([NAME], {"trace_store_url": closed_port_url, "start": "-1d"}, out_dir=tmp_path / "runs")
    (nb,) = record.notebooks
    assert nb.error is None  # the notebook ran to the end
    assert record.verdict == "failed" and record.exit_code == 1
    check = _checks(record)["traces.store.reachable"]
    assert check["status"] == "fail" and check["remedy"]


def test_a_bad_window_is_refused_before_any_kernel(parquet_dump, tmp_path):
    with pytest.raises(ParameterError, match="start"):  # unreadable: refused before any kernel starts
        run_notebooks([NAME], {"dump_path": str(parquet_dump), "start": "yesterday"}, out_dir=tmp_path / "runs")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    with pytest.raises(ParameterError, match="end .* is not after start"):  # readable, but the wrong way round
        run_notebooks([NAME], {"dump_path": str(parquet_dump), "start": "-1d", "end": "-2d"}, out_dir=tmp_path / "runs")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
