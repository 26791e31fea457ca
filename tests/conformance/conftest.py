"""The conformance suite: the AgentOps stand-in and the real upstream API, side by side.

``api_pair(level)`` builds one AgentOps database at a schema level on the session's PostgreSQL server and
starts **both** APIs over it (same JWT secret, same trace store), so one request sent to each must get the
same answer. The upstream API runs from the checkout named by ``AGENTOPS_SRC`` (see
``tests/plugins/upstream.py``: unset fails in CI and reports "not run" elsewhere).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runbook_lib.sandbox import processes
from tests.plugins.agentops_standin import StandinStore

API_MODULE = "runbook_lib.sandbox.agentops_api"
UPSTREAM_EXPECT = "agentops.app:app"

@dataclass
class ApiPair:
    """Both APIs over one database: base URLs, logs, the seed and the shared secrets."""

    standin: str
    upstream: str
    standin_log: Path
    upstream_log: Path
    dsn: str
    db_name: str
    seed: Any  # AgentOpsSeed
    jwt_secret: str
    level: str

    def upstream_log_text(self) -> str:
        return self.upstream_log.read_text(encoding="utf-8", errors="replace")

    def standin_log_text(self) -> str:
        return self.standin_log.read_text(encoding="utf-8", errors="replace")


def _private(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="session")
def conformance_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("conformance")


@pytest.fixture(scope="session")
def conformance_store(start_trace_store: Callable[..., StandinStore], agentops_src: Path) -> StandinStore:
    """A trace store at the ``current`` level, built from the checkout's own ClickHouse migrations."""
    from runbook_lib.traces import clickhouse_migrations as cm

    store = start_trace_store()

    def rows(sql: str) -> list[tuple[str, ...]]:
        return [tuple(line.split("\t")) for line in store.query(sql).splitlines() if line]

    cm.apply_plan(cm.read_plan(agentops_src), store.query, skip_existing=cm.existing_objects(rows),
                  transform=cm.point_dictionaries_at_local_store)
    return store


@pytest.fixture(scope="session")
def start_upstream_api(agentops_src: Path, upstream_venv: Path, conformance_dir: Path
                       ) -> Iterator[Callable[..., tuple[str, Path, int]]]:
    """Factory: start the real API over a DSN and a store; returns (url, log path, pid)."""
    from runbook_lib.sandbox.upstream_api import API_DIR, api_command, api_env

    started: list[int] = []

    def start(dsn: str, jwt_secret: str | None, store: StandinStore, *, wait: bool = True
              ) -> tuple[str, Path, int]:
        port = processes.free_port()
        env = api_env(port=port, database_url=dsn, jwt_secret=jwt_secret or "", store_url=store.query_url,
                      store_user=store.user, store_password=store.password)
        if jwt_secret is None:
            env["JWT_SECRET_KEY"] = ""
        python, args = api_command(upstream_venv, port)
        log = conformance_dir / f"upstream-{uuid.uuid4().hex[:8]}.log"
        proc = processes.spawn_module("uvicorn", args, log_path=log, env=env, cwd=agentops_src / API_DIR,
                                      python=python)
        started.append(proc.pid)
        if wait:
            processes.wait_for_http(f"http://127.0.0.1:{port}/health", process=proc, log_path=log,
                                    name="upstream AgentOps API", deadline_s=180)
        return f"http://127.0.0.1:{port}", log, proc.pid

    yield start
    for pid in started:
        processes.stop_pid(pid, grace_s=10)


@pytest.fixture(scope="session")
def api_pair(pg_server: Any, conformance_dir: Path, conformance_store: StandinStore,
             start_upstream_api: Callable[..., tuple[str, Path, int]]) -> Iterator[Callable[..., ApiPair]]:
    """Factory ``api_pair(level, *, prem_status="pro")``: a fresh database and both APIs over it."""
    from runbook_lib.sandbox.agentops_db import build_agentops_db

    started: list[int] = []
    databases: list[str] = []
    jwt_secret = "conformance-jwt-" + secrets.token_urlsafe(32)
    secret_file = _private(conformance_dir / "jwt_secret", jwt_secret)
    store_pw = _private(conformance_dir / "store_password", conformance_store.password)

    def make(level: str = "current", *, prem_status: str = "pro") -> ApiPair:
        name = f"conf_{level}_{uuid.uuid4().hex[:8]}"
        pg_server.create_database(name)
        databases.append(name)
        dsn = pg_server.dsn(name)
        seed = build_agentops_db(dsn, level, prem_status=prem_status)
        upstream_url, upstream_log, _ = start_upstream_api(dsn, jwt_secret, conformance_store)
        port = processes.free_port()
        log = conformance_dir / f"{name}.standin.log"
        args = ["--port", str(port), "--database-url-file", str(_private(conformance_dir / f"{name}.dsn", dsn)),
                "--jwt-secret-file", str(secret_file), "--trace-store-url", conformance_store.query_url,
                "--trace-store-user", conformance_store.user, "--trace-store-password-file", str(store_pw)]
        proc = processes.spawn_module(API_MODULE, args, log_path=log, env={"JWT_SECRET_KEY": ""})
        started.append(proc.pid)
        processes.wait_for_http(f"http://127.0.0.1:{port}/health", process=proc, log_path=log,
                                name="AgentOps API stand-in", deadline_s=60)
        return ApiPair(standin=f"http://127.0.0.1:{port}", upstream=upstream_url, standin_log=log,
                       upstream_log=upstream_log, dsn=dsn, db_name=name, seed=seed, jwt_secret=jwt_secret,
                       level=level)

    yield make
    for pid in started:
        processes.stop_pid(pid, expect=API_MODULE)
    for name in databases:
        pg_server.drop_database(name)
