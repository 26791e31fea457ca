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
def api_pair(pg_server: Any, conformance_dir: Path, conformance_store: StandinStore, agentops_src: Path,
             upstream_venv: Path) -> Iterator[Callable[..., ApiPair]]:
    """Factory ``api_pair(level, *, prem_status="pro", store=None)``: a fresh database and both APIs over it
    (and over ``store``, default the session's ``current`` store), started by the sandbox's own
    :func:`runbook_lib.sandbox.stack.start_agentops_api`."""
    from runbook_lib.sandbox.agentops_db import build_agentops_db
    from runbook_lib.sandbox.stack import start_agentops_api, stop_service

    started: list[dict[str, Any]] = []
    databases: list[str] = []
    jwt_secret = "conformance-jwt-" + secrets.token_urlsafe(32)
    secret_file = _private(conformance_dir / "jwt_secret", jwt_secret)

    def make(level: str = "current", *, prem_status: str = "pro", store: StandinStore | None = None) -> ApiPair:
        store = store or conformance_store
        name = f"conf_{level}_{uuid.uuid4().hex[:8]}"
        pg_server.create_database(name)
        databases.append(name)
        dsn = pg_server.dsn(name)
        seed = build_agentops_db(dsn, level, prem_status=prem_status)
        state = {"state_dir": str(conformance_dir),
                 "secret_files": {"database_url": str(_private(conformance_dir / f"{name}.dsn", dsn)),
                                  "jwt_secret": str(secret_file),
                                  "store_password": str(_private(conformance_dir / f"{name}.store",
                                                                 store.password))},
                 "services": {"trace_store": {"url": store.query_url, "user": store.user}}}
        records = {}
        for impl in ("upstream", "standin"):
            record = start_agentops_api(state, impl, src=agentops_src, venv=upstream_venv,
                                        logs_dir=conformance_dir, name=f"{name}.{impl}")
            started.append(record)
            records[impl] = record
        return ApiPair(standin=records["standin"]["url"], upstream=records["upstream"]["url"],
                       standin_log=Path(records["standin"]["log"]), upstream_log=Path(records["upstream"]["log"]),
                       dsn=dsn, db_name=name, seed=seed, jwt_secret=jwt_secret, level=level)

    yield make
    for record in started:
        stop_service(record)
    for name in databases:
        pg_server.drop_database(name)
