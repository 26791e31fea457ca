"""Start-up: without ``JWT_SECRET_KEY`` both APIs refuse to start (upstream exits at import with a
KeyError), instead of answering 500 later."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runbook_lib.sandbox import upstream_api
from runbook_lib.sandbox.processes import free_port

pytestmark = [pytest.mark.upstream, pytest.mark.postgres, pytest.mark.sandbox]


def _run_without_secret(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[int, str]:
    clean = {k: v for k, v in os.environ.items() if k != "JWT_SECRET_KEY"}
    clean.update({k: v for k, v in env.items() if k != "JWT_SECRET_KEY"})
    done = subprocess.run(cmd, env=clean, cwd=cwd, capture_output=True, text=True, timeout=180, check=False)
    return done.returncode, done.stdout + done.stderr


def test_unset_jwt_secret_stops_both_at_start(agentops_src: Path, upstream_venv: Path, pg_server,
                                              tmp_path: Path) -> None:
    dsn = pg_server.dsn()
    (tmp_path / "dsn").write_text(dsn)
    (tmp_path / "dsn").chmod(0o600)
    port = free_port()
    env = upstream_api.api_env(venv=upstream_venv, port=port, database_url=dsn, jwt_secret="unused",
                               store_url="http://127.0.0.1:9", store_user="default", store_password="")
    python, args = upstream_api.api_command(upstream_venv, port)
    upstream_code, upstream_out = _run_without_secret([python, "-m", "uvicorn", *args], env,
                                                      cwd=agentops_src / upstream_api.API_DIR)
    standin_code, standin_out = _run_without_secret(
        [sys.executable, "-m", "runbook_lib.sandbox.agentops_api", "--port", str(free_port()),
         "--database-url-file", str(tmp_path / "dsn")], {})
    assert upstream_code != 0 and "KeyError: 'JWT_SECRET_KEY'" in upstream_out
    assert standin_code != 0 and "KeyError: 'JWT_SECRET_KEY'" in standin_out
    assert "Uvicorn running" not in upstream_out + standin_out
