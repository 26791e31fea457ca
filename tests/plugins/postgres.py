"""Pytest fixtures for a real PostgreSQL 15: one server per test session, a fresh database per test.

- ``pg_server`` (session): a :class:`runbook_lib.sandbox.postgres.PostgresServer` started once and stopped
  at the end of the session.
- ``pg_admin_dsn``: the superuser DSN of the ``postgres`` database (a plain string; a secret).
- ``agentops_db``: factory ``agentops_db(level="current", *, ledger=False, prem_status="pro")``
  creating a new database with :func:`runbook_lib.sandbox.agentops_db.build_agentops_db` and
  returning an :class:`AgentOpsTestDb` whose ``dsn_ref`` / ``api_key_ref`` are ``env:`` references
  (set for the test via monkeypatch). Databases are dropped after the test.
- ``pg_role``: factory ``pg_role(password=None, *, superuser=False) -> (name, password)`` creating
  a login role that owns nothing.
- ``pg_dsn_ref``: helper ``pg_dsn_ref(dsn) -> "env:NAME"`` putting any DSN behind a reference.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from runbook_lib.sandbox.agentops_db import AgentOpsSeed, build_agentops_db
from runbook_lib.sandbox.postgres import PostgresServer


@dataclass
class AgentOpsTestDb:
    """One freshly built AgentOps database of the test session's server."""

    name: str
    dsn: str
    dsn_ref: str
    api_key_ref: str
    seed: AgentOpsSeed
    server: PostgresServer

    def dsn_for(self, user: str, password: str) -> str:
        return self.server.dsn(self.name, user, password)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_admin_dsn(pg_server: PostgresServer) -> str:
    return pg_server.dsn()


@pytest.fixture
def pg_dsn_ref(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], str]:
    def make(value: str) -> str:
        name = f"RUNBOOK_TEST_SECRET_{uuid.uuid4().hex[:8].upper()}"
        monkeypatch.setenv(name, value)
        return f"env:{name}"

    return make


@pytest.fixture
def agentops_db(pg_server: PostgresServer, pg_dsn_ref: Callable[[str], str]) -> Iterator[Callable[..., AgentOpsTestDb]]:
    created: list[str] = []

    def make(level: str = "current", *, ledger: bool = False, prem_status: str = "pro") -> AgentOpsTestDb:
        name = f"agentops_{level}_{uuid.uuid4().hex[:8]}"
        pg_server.create_database(name)
        created.append(name)
        dsn = pg_server.dsn(name)
        seed = build_agentops_db(dsn, level, ledger=ledger, prem_status=prem_status)
        return AgentOpsTestDb(name, dsn, pg_dsn_ref(dsn), pg_dsn_ref(seed.api_key), seed, pg_server)

    yield make
    for name in created:
        pg_server.drop_database(name)


@pytest.fixture
def pg_role(pg_server: PostgresServer) -> Callable[..., tuple[str, str]]:
    def make(password: str | None = None, *, superuser: bool = False) -> tuple[str, str]:
        name = f"role_{uuid.uuid4().hex[:8]}"
        password = password or secrets.token_urlsafe(12)
        pg_server.create_role(name, password, superuser=superuser)
        return name, password

    return make
