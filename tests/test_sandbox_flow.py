"""The documented sandbox flow turns green: up, run all (drift found), repair with 10_migration, run all."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from runbook_lib.cli import main
from runbook_lib.sandbox import stack

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]


def last_run(out: Path) -> dict:
    newest = max((p for p in out.iterdir() if (p / "run.json").is_file()), key=lambda p: p.stat().st_mtime)
    return json.loads((newest / "run.json").read_text())


def failing(run: dict) -> list[tuple[str, str]]:
    return [(nb["name"], c["id"]) for nb in run["notebooks"] for c in nb["checks"] if c["status"] in ("fail", "error")]


def test_documented_sandbox_flow_ends_green(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LITELLM_MASTER_KEY", raising=False)  # the proxy has it; this shell does not
    assert "LITELLM_MASTER_KEY" not in os.environ
    state_dir = tmp_path / ".sandbox"
    assert main(["sandbox", "up", "--state-dir", str(state_dir)]) == 0
    try:
        capsys.readouterr()
        # a second `up` is a usage error (exit 3) that says how to use, stop or sidestep the running one
        assert main(["sandbox", "up", "--state-dir", str(state_dir)]) == 3
        err = capsys.readouterr().err
        assert "already running" in err and f"runbook sandbox down --state-dir {state_dir}" in err
        assert main(["sandbox", "status", "--state-dir", str(state_dir)]) == 0
        status = capsys.readouterr().out
        assert "live schema: drifted" in status and "-p apply true" in status  # read from the database
        params = str(state_dir / "params.yaml")
        out = tmp_path / "reports"
        first = main(["run", "all", "-f", params, "--out", str(out), "--no-html"])
        assert first == 1  # the early schema's drift is found
        assert any(nb == "10_migration" for nb, _ in failing(last_run(out)))
        assert main(["run", "10_migration", "-f", params, "-p", "apply", "true", "--out", str(out),
                     "--no-html"]) == 0
        capsys.readouterr()
        assert main(["sandbox", "status", "--state-dir", str(state_dir)]) == 0
        assert "live schema: current" in capsys.readouterr().out  # the live level, not the level it started at
        final = main(["run", "all", "-f", params, "--out", str(out), "--no-html"])
        run = last_run(out)
        assert final == 0, failing(run)
        setup = next(nb for nb in run["notebooks"] if nb["name"] == "00_setup")
        env_refs = next(c for c in setup["checks"] if c["id"] == "config.env_refs")
        assert env_refs["status"] == "pass", env_refs  # decided by the running proxy, not by this environment
        assert env_refs["evidence"]["resolved_in_proxy"] == ["LITELLM_MASTER_KEY"]
    finally:
        stack.down(state_dir, purge=True)
