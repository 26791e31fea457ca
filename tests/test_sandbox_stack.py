"""The sandbox stack end to end: up/status/down by pid, params file, secrets, runbooks through the runner."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from runbook_lib.cli import main
from runbook_lib.errors import SandboxError
from runbook_lib.runner import run_notebooks
from runbook_lib.sandbox import stack
from runbook_lib.sandbox.processes import is_running
from runbook_lib.secrets import SecretRef

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]


def secret_values(state: dict) -> set[str]:
    return {Path(p).read_text().strip() for p in state["secret_files"].values()}


def all_pids(state: dict) -> list[int]:
    pids = [svc["pid"] for svc in state["services"].values()]
    return pids + ([state["postgres"]["pid"]] if state["postgres"].get("pid") else [])


def params_for(state: dict, names: list[str], folder: Path) -> Path:
    """The sandbox params file cut down to ``names``' sections (the runner refuses sections of
    notebooks that are not part of the run)."""
    params = yaml.safe_load(Path(state["params_file"]).read_text())
    path = folder / f"params-{'-'.join(names)}.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in params.items() if k in names}))
    return path


def assert_no_secret_under(folder: Path, secrets: set[str]) -> None:
    for path in folder.rglob("*"):
        if path.is_file() and path.parent.name != "secrets":
            text = path.read_text(errors="replace")
            for secret in secrets:
                assert secret not in text, f"a secret value is in {path}"


def test_status_reports_every_service_answering(sandbox_stack):
    info = stack.status(sandbox_stack["state_dir"])
    assert set(info["services"]) == {"litellm", "agentops_api", "trace_store", "egress_trap", "postgres"}
    assert all(s["answers"] for s in info["services"].values()), info
    for svc in sandbox_stack["services"].values():
        assert svc["url"].startswith("http://127.0.0.1:")


def test_params_file_holds_file_references_to_private_secret_files(sandbox_stack):
    params = yaml.safe_load(Path(sandbox_stack["params_file"]).read_text())
    refs = [v for section in params.values() for k, v in section.items()
            if k.endswith(("_key", "_password", "database_url"))]
    assert refs and all(r.startswith("file:") for r in refs)
    for ref in refs:
        parsed = SecretRef.parse(ref)
        assert parsed.file_is_private(), ref
        assert stat.S_IMODE(Path(parsed.target).stat().st_mode) == 0o600
    state_dir = Path(sandbox_stack["state_dir"])
    assert stat.S_IMODE((state_dir / "secrets").stat().st_mode) == 0o700
    assert_no_secret_under(state_dir, secret_values(sandbox_stack))


def test_round_trip_notebook_passes_on_the_current_sandbox(sandbox_stack, tmp_path):
    params = params_for(sandbox_stack, ["20_callback_verification"], tmp_path)
    record = run_notebooks(["20_callback_verification"], params_file=params, out_dir=tmp_path / "r", html=True)
    nb = record.notebooks[0]
    assert record.verdict == "passed", [c for c in nb.checks if c["status"] != "pass"]
    ids = {c["id"]: c["status"] for c in nb.checks}
    assert ids["roundtrip.arrival"] == "pass" and ids["roundtrip.tokens"] == "pass"
    assert ids["roundtrip.status"] == "pass" and ids["diagnosis"] == "pass"
    assert_no_secret_under(record.run_dir, secret_values(sandbox_stack))
    assert stack.status(sandbox_stack["state_dir"])["egress_attempts"] == []


def test_early_schema_fails_the_token_with_the_drift_diagnosis_until_10_migration_repairs_it(tmp_path):
    state_dir = tmp_path / ".sandbox"
    state = stack.up(state_dir, "early")
    try:
        with pytest.raises(SandboxError, match="already running"):
            stack.up(state_dir, "early")
        params = params_for(state, ["20_callback_verification"], tmp_path)
        before = run_notebooks(["20_callback_verification"], params_file=params, out_dir=tmp_path / "r1")
        checks = {c["id"]: c for c in before.notebooks[0].checks}
        assert before.verdict == "failed"
        assert checks["agentops.token"]["status"] == "fail"
        assert "10_migration" in checks["agentops.token"]["remedy"]
        assert checks["diagnosis.no_token"]["status"] == "fail"  # the proxy's handler cannot get a token either

        repair = run_notebooks(["10_migration"], {"apply": True}, params_file=params_for(state, ["10_migration"],
                               tmp_path), out_dir=tmp_path / "r2")
        assert repair.verdict == "passed", ([c for c in repair.notebooks[0].checks if c["status"] == "fail"],
                                            repair.leaks)  # leaks: kind and file only, never the value

        after = run_notebooks(["20_callback_verification"], params_file=params, out_dir=tmp_path / "r3")
        assert after.verdict == "passed", [c for c in after.notebooks[0].checks if c["status"] != "pass"]
        for record in (before, repair, after):
            assert_no_secret_under(record.run_dir, secret_values(state))
    finally:
        stopped = stack.down(state_dir)
    assert set(stopped) == {"litellm", "agentops_api", "trace_store", "egress_trap", "postgres"}
    assert not any(is_running(pid) for pid in all_pids(state))
    assert json.loads((state_dir / "state.json").read_text())["status"] == "down"
    assert (state_dir / "params.yaml").exists()  # kept without --purge
    assert (state_dir / "logs" / "postgres.log").exists()
    assert not Path(state["postgres"]["base_dir"]).exists()  # the throwaway cluster's files are gone
    stack.down(state_dir, purge=True)
    assert not state_dir.exists()


def test_down_without_a_sandbox_says_how_to_start_one(tmp_path):
    with pytest.raises(SandboxError, match="no sandbox state") as info:
        stack.down(tmp_path / "nothing")
    assert "sandbox up" in info.value.hint


def test_runbook_demo_ends_with_verdict_passed(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "runbook_lib", "demo", "--state-dir", str(tmp_path / "demo"), "--out",
         str(tmp_path / "reports")], capture_output=True, text=True, timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "verdict: passed" in proc.stdout
    report = next((tmp_path / "reports").iterdir())
    run = json.loads((report / "run.json").read_text())
    assert [nb["name"] for nb in run["notebooks"]] == ["10_migration", "00_setup", "20_callback_verification",
                                                      "30_trace_analytics"]
    analytics = {c["id"]: c for c in run["notebooks"][3]["checks"]}
    traces = re.search(r"in ([\d,]+) traces", analytics["traces.window.empty"]["summary"]).group(1)
    assert int(traces.replace(",", "")) >= 2000 + 6  # the seeded history and the round trip's own requests
    # the story: drift found and repaired (and the key's exposure said), the store's missing price rows found
    # and repaired, the round trip read back through the dashboard's route, the analytics reconciled
    checks = {nb["name"]: {c["id"]: c for c in nb["checks"]} for nb in run["notebooks"]}
    migration, setup, verification = checks["10_migration"], checks["00_setup"], checks["20_callback_verification"]
    assert migration["repair.apply"]["status"] == "pass" and migration["api_key.exposure"]["status"] == "warn"
    dated = setup["store.price.gpt-4o-mini-2024-07-18"]
    assert dated["status"] == "pass" and dated["summary"].startswith("found, then repaired: shows cost 0")
    assert setup["store_repair.plan"]["status"] == "pass" and setup["store_repair.verify"]["status"] != "fail"
    assert analytics["store.price.gpt-4o-mini-2024-07-18"]["status"] == "pass"  # priced for the dashboard now
    assert verification["dashboard.cost"]["status"] == "pass"
    assert "v4 detail" in verification["dashboard.cost"]["evidence"]["route"]
    assert analytics["dashboard.reconciled"]["status"] == "pass"
    assert main(["report", "verify", str(report)]) == 0
    state = json.loads((tmp_path / "demo" / "state.json").read_text())
    assert state["status"] == "down"
    assert not any(is_running(pid) for pid in all_pids(state))
    assert_no_secret_under(report, secret_values(state))


def test_the_live_schema_line_reads_as_one_sentence_with_the_command_to_paste():
    from runbook_lib.sandbox.cli import _live_schema_line

    drifted = _live_schema_line({"clean": False, "differ": 18, "sentence": "Effects of X present; Y missing."},
                                "/tmp/state dir/params.yaml")
    assert drifted == ("  live schema: drifted, 18 object(s) differ: Effects of X present; Y missing; "
                       "repair: runbook run 10_migration -f '/tmp/state dir/params.yaml' -p apply true")
    current = _live_schema_line({"clean": True, "differ": 0, "sentence": "Effects of every migration present."}, "p")
    assert current == "  live schema: current: Effects of every migration present."
    assert _live_schema_line({"error": "postgres is not running"}, "p").endswith("not read (postgres is not running)")
