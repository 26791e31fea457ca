"""The four runbooks end to end on the sandbox, once with the stand-in and once with the real API: the
same story (drift found and repaired, preflight, round trip, analytics) must reach the same verdicts,
check by check, with no secret in any artifact."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runbook_lib.runner import run_notebooks
from runbook_lib.sandbox import stack
from runbook_lib.sandbox.demo import DEMO_ORDER, write_demo_params

pytestmark = [pytest.mark.upstream, pytest.mark.postgres, pytest.mark.sandbox]


def _story(tmp_path: Path, agentops_src: Path | None) -> tuple[dict[str, dict[str, str]], Any, dict[str, Any]]:
    """Run the demo's story on a fresh sandbox; return {notebook: {check id: status}}, the record, the state."""
    mode = "upstream" if agentops_src else "standin"
    state = stack.up(tmp_path / f"sandbox-{mode}", "early", agentops_src=agentops_src)
    try:
        assert state["services"]["agentops_api"]["impl"] == mode
        stack.seed_trace_history(state, 200)
        params = write_demo_params(state)
        master_key = Path(state["secret_files"]["master_key"]).read_text().strip()
        os.environ["LITELLM_MASTER_KEY"] = master_key  # as on the proxy's host (the demo does the same)
        try:
            record = run_notebooks(list(DEMO_ORDER), params_file=params, out_dir=tmp_path / f"reports-{mode}")
        finally:
            os.environ.pop("LITELLM_MASTER_KEY", None)
    finally:
        stack.down(tmp_path / f"sandbox-{mode}")
    verdicts = {nb.name: {c["id"]: c["status"] for c in nb.checks} for nb in record.notebooks}
    return verdicts, record, state


@pytest.fixture(scope="module")
def stories(agentops_src: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("stories")
    yield {"standin": _story(tmp, None), "upstream": _story(tmp, agentops_src)}


def test_same_verdicts_check_by_check(stories: dict[str, Any]) -> None:
    standin, upstream = stories["standin"][0], stories["upstream"][0]
    assert list(standin) == list(upstream) == list(DEMO_ORDER)
    for notebook in DEMO_ORDER:
        assert upstream[notebook] == standin[notebook], notebook
    assert stories["upstream"][1].verdict == stories["standin"][1].verdict == "passed"


def test_no_secret_in_any_artifact_in_real_mode(stories: dict[str, Any]) -> None:
    _, record, state = stories["upstream"]
    text = "\n".join(p.read_text(errors="replace") for p in record.run_dir.rglob("*") if p.is_file())
    for name, path in state["secret_files"].items():
        value = Path(path).read_text().strip() if Path(path).exists() else None
        if value:
            assert value not in text, name


def test_no_process_left_after_down(stories: dict[str, Any]) -> None:
    from runbook_lib.sandbox.processes import is_running

    for mode in ("standin", "upstream"):
        state = stories[mode][2]
        for name, svc in state["services"].items():
            assert not is_running(svc.get("pid")), (mode, name)
