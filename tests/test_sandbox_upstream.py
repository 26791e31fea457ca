"""Real mode: the sandbox runs the upstream AgentOps API from the checkout named by AGENTOPS_SRC.

Refusals (bad checkout, no Python 3.12) happen before anything starts. The real API answers
``/health`` and ``POST /v3/auth/token`` with the sandbox key; a second API of either kind runs beside
it on the same database; after ``down`` (or ``stop_service``) no process of any session the sandbox
started is left, uvicorn's worker processes included.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import httpx
import pytest

from runbook_lib.cli import main
from runbook_lib.errors import SandboxError
from runbook_lib.sandbox import stack, upstream_api
from runbook_lib.traces import schema
from runbook_lib.traces.store import ClickHouseHttpStore

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]


def processes_in_sessions(sessions: set[int]) -> list[tuple[int, str]]:
    """Live processes whose session or process group is one of ``sessions`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()
        state, pgid, sid = fields[0], int(fields[2]), int(fields[3])
        if state not in ("Z", "X") and (pgid in sessions or sid in sessions):
            found.append((int(stat.parent.name), text.split(" ", 2)[1]))
    return found


def sessions_of(state: dict) -> set[int]:
    pids = {svc["pid"] for svc in state["services"].values()}
    if state["postgres"].get("pid"):
        pids.add(state["postgres"]["pid"])
    return pids


def fake_checkout(root: Path) -> Path:
    (root / upstream_api.API_DIR / "agentops").mkdir(parents=True)
    (root / upstream_api.LOCK_FILE).write_text("version = 1\n")
    (root / "app" / "clickhouse" / "migrations").mkdir(parents=True)
    return root


# --- refusals before anything starts --------------------------------------------------------------


def test_a_folder_that_is_not_a_checkout_is_a_usage_error(tmp_path, capsys):
    state_dir = tmp_path / "sb"
    assert main(["sandbox", "up", "--state-dir", str(state_dir), "--agentops-src", str(tmp_path / "nowhere")]) == 3
    assert "does not exist" in capsys.readouterr().err
    half = tmp_path / "half"
    (half / "app" / "api").mkdir(parents=True)
    assert main(["sandbox", "up", "--state-dir", str(state_dir), "--agentops-src", str(half)]) == 3
    err = capsys.readouterr().err
    assert "uv.lock" in err and "app/clickhouse/migrations" in err and "fix:" in err
    assert not state_dir.exists()  # nothing was started or written


def test_agentops_src_comes_from_the_environment(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AGENTOPS_SRC", str(tmp_path / "from-env"))
    assert main(["sandbox", "up", "--state-dir", str(tmp_path / "sb")]) == 3
    assert "from-env" in capsys.readouterr().err


def test_no_python_312_names_what_to_install_before_anything_starts(tmp_path, monkeypatch):
    import sys

    if sys.version_info[:2] == (3, 12):
        pytest.skip("this interpreter is a 3.12")
    monkeypatch.setenv("AGENTOPS_PYTHON", sys.executable)  # an explicit choice that is not 3.12
    state_dir = tmp_path / "sb"
    with pytest.raises(SandboxError) as caught:
        stack.up(state_dir, "current", agentops_src=fake_checkout(tmp_path / "co"))
    assert "Python 3.12" in caught.value.message
    for way in ("apt-get install python3.12", "pyenv install 3.12", "uv python install 3.12"):
        assert way in (caught.value.hint or "")
    assert not state_dir.exists()
    with pytest.raises(SandboxError, match="none was found"):
        upstream_api.find_python312([str(tmp_path / "no-python"), sys.executable])


def test_commit_is_known_for_a_git_checkout_only(tmp_path):
    import shutil
    import subprocess

    root = fake_checkout(tmp_path / "co")
    assert upstream_api.checkout_commit(root) is None
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid", "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "x"]):
        subprocess.run(["git", "-C", str(root), *cmd], check=True, env=env)
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True, env=env).stdout.strip()
    assert upstream_api.checkout_commit(root) == head and len(head) == 40


def test_unknown_store_level_is_refused(tmp_path):
    with pytest.raises(SandboxError, match="store level"):
        stack.up(tmp_path / "sb", "current", store_level="everything")
    assert not (tmp_path / "sb").exists()


# --- the build --------------------------------------------------------------------------------------


@pytest.mark.upstream
def test_venv_is_built_once_per_lock_file_even_when_two_ask_at_once(agentops_src, tmp_path):
    cache = tmp_path / "cache"
    results: list[Path] = []
    errors: list[BaseException] = []

    def build() -> None:
        try:
            results.append(upstream_api.build_venv(agentops_src, cache_dir=cache))
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    key = hashlib.sha256((agentops_src / upstream_api.LOCK_FILE).read_bytes()).hexdigest()[:16]
    assert results == [cache / key, cache / key]
    assert [p.name for p in cache.iterdir() if p.is_dir()] == [key]  # no temp build folder left
    mark = cache / key / ".complete"
    before = mark.stat().st_mtime_ns
    assert upstream_api.build_venv(agentops_src, cache_dir=cache) == cache / key
    assert mark.stat().st_mtime_ns == before  # cached: not rebuilt
    python = upstream_api.venv_python(cache / key)
    assert python.exists() and any((cache / key / "lib").glob("python3.12/site-packages/fastapi"))


# --- up, status, a second API, down ----------------------------------------------------------------


@pytest.mark.upstream
def test_real_mode_up_status_side_by_side_and_down_leave_no_process(agentops_src, tmp_path, capsys):
    state_dir = tmp_path / "sb"
    state = stack.up(state_dir, "current", agentops_src=agentops_src)
    sessions = sessions_of(state)
    extra: list[dict] = []
    try:
        api = state["services"]["agentops_api"]
        assert api["impl"] == "upstream" and api["src"] == str(agentops_src)
        assert api["commit"] == upstream_api.checkout_commit(agentops_src)
        assert state["store_level"] == "current"
        api_key = Path(state["secret_files"]["api_key"]).read_text().strip()

        info = stack.status(state_dir)
        assert info["services"]["agentops_api"]["impl"] == "upstream" and info["store_level"] == "current"
        assert all(s["answers"] for s in info["services"].values()), info
        assert main(["sandbox", "status", "--state-dir", str(state_dir)]) == 0
        out = capsys.readouterr().out
        commit = api["commit"] or "commit unknown"
        assert f"(upstream {commit}, {agentops_src})" in out and "store level current" in out

        with httpx.Client(trust_env=False, timeout=30) as http:
            assert http.get(api["url"] + "/health").status_code == 200
            token = http.post(api["url"] + "/v3/auth/token", json={"api_key": api_key})
            assert token.status_code == 200, token.text
            assert token.json()["token"].count(".") == 2
            wrong = http.post(api["url"] + "/v3/auth/token", json={"api_key": "00000000-0000-4000-8000-000000000000"})
            assert wrong.status_code in (401, 403)

            # a second API of each kind against the same database, JWT secret and store
            extra.append(stack.start_agentops_api(state, "standin", name="second_standin"))
            extra.append(stack.start_agentops_api(state, "upstream", src=agentops_src, name="second_upstream",
                                                  workers=2))
            for record in extra:
                sessions.add(record["pid"])
                again = http.post(record["url"] + "/v3/auth/token", json={"api_key": api_key})
                assert again.status_code == 200, (record["impl"], again.text)
        workers = [p for p in processes_in_sessions({extra[1]["pid"]}) if p[0] != extra[1]["pid"]]
        assert len(workers) >= 2, workers  # uvicorn's worker processes
        for record in extra:
            assert stack.stop_service(record)
        assert processes_in_sessions({r["pid"] for r in extra}) == []

        objects = set(state["store_objects"])
        assert {schema.QUALIFIED, "otel_2.model_costs_dict", "calculate_prompt_cost"} <= objects
        text = (state_dir / "state.json").read_text() + (state_dir / "params.yaml").read_text()
        for name in ("api_key", "jwt_secret", "store_password", "database_url"):
            assert Path(state["secret_files"][name]).read_text().strip() not in text
    finally:
        for record in extra:
            stack.stop_service(record)
        stopped = stack.down(state_dir)
    assert {"agentops_api", "trace_store", "litellm", "egress_trap", "postgres"} <= set(stopped)
    assert processes_in_sessions(sessions) == []
    assert json.loads((state_dir / "state.json").read_text())["status"] == "down"


def test_standin_mode_bare_store_and_down_leave_no_process(tmp_path):
    state_dir = tmp_path / "sb"
    state = stack.up(state_dir, "current", store_level="bare")
    sessions = sessions_of(state)
    try:
        assert state["services"]["agentops_api"]["impl"] == "standin"
        assert state["store_objects"] == [schema.QUALIFIED]
        assert stack.status(state_dir)["store_level"] == "bare"
        svc = state["services"]["trace_store"]
        store = ClickHouseHttpStore(svc["url"], "default", f"file:{state['secret_files']['store_password']}")
        try:
            frame = store.query_df("SELECT name FROM system.tables WHERE database = 'otel_2'")
            functions = store.query_df("SELECT name FROM system.functions WHERE origin = 'SQLUserDefined'")
        finally:
            store.close()
        assert list(frame["name"]) == ["otel_traces"] and functions.empty
    finally:
        stack.down(state_dir)
    assert processes_in_sessions(sessions) == []
