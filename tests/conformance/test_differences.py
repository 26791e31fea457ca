"""The differences between the stand-in and the real API that remain, each pinned against both: when one
disappears (upstream changed, or the stand-in caught up) its test fails and the row in
``docs/conformance.md`` must go. The last test keeps that table and these tests in step."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from runbook_lib.sandbox import upstream_api
from runbook_lib.sandbox.processes import free_port
from tests.conformance.conftest import ApiPair

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "conformance.md"


def _start_briefly(cmd: list[str], env: dict[str, str], cwd: Path | None, url: str) -> bool:
    """Start a server, report whether it answered ``url`` within 120 s, and stop it."""
    import time

    proc = subprocess.Popen(cmd, env={**os.environ, **env}, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                return httpx.get(url, timeout=2).status_code < 500
            except httpx.TransportError:
                time.sleep(0.2)
        return False
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


@pytest.mark.upstream
@pytest.mark.postgres
def test_empty_jwt_secret_upstream_starts_the_standin_refuses(agentops_src: Path, upstream_venv: Path, pg_server,
                                                               tmp_path: Path) -> None:
    dsn = pg_server.dsn()
    port = free_port()
    env = upstream_api.api_env(venv=upstream_venv, port=port, database_url=dsn, jwt_secret="",
                               store_url="http://127.0.0.1:9", store_user="default", store_password="")
    python, args = upstream_api.api_command(upstream_venv, port)
    assert _start_briefly([python, "-m", "uvicorn", *args], env, agentops_src / upstream_api.API_DIR,
                          f"http://127.0.0.1:{port}/health")
    (tmp_path / "dsn").write_text(dsn)
    standin_port = free_port()
    assert not _start_briefly([sys.executable, "-m", "runbook_lib.sandbox.agentops_api", "--port",
                               str(standin_port), "--database-url-file", str(tmp_path / "dsn")],
                              {"JWT_SECRET_KEY": ""}, None, f"http://127.0.0.1:{standin_port}/health")


@pytest.mark.upstream
@pytest.mark.postgres
@pytest.mark.sandbox
def test_routes_the_standin_does_not_have(api_pair: Callable[..., ApiPair]) -> None:
    pair = api_pair("current")
    for method, path in (("POST", "/auth/login"), ("GET", "/opsboard/orgs"), ("GET", "/v2/sessions/x/stats")):
        standin = httpx.request(method, pair.standin + path, json={}, timeout=60)
        upstream = httpx.request(method, pair.upstream + path, json={}, timeout=60)
        assert standin.status_code == 404 and upstream.status_code != 404, (path, upstream.status_code)


def test_the_doc_lists_exactly_the_pinned_differences() -> None:
    """Every row of both tables in docs/conformance.md names a test that exists."""
    text = DOC.read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| ")
            and not line.startswith(("| Difference", "| Scenario")) and not set(line) <= {"|", "-", " "}]
    assert rows, "docs/conformance.md has no difference table"
    for row in rows:
        pins = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", row)
        assert pins, f"row without a pinning test: {row}"
        for path, name in pins:
            source = (ROOT / path).read_text(encoding="utf-8")
            assert re.search(rf"^def {name}\(", source, re.MULTILINE), f"{path}::{name} does not exist"
