"""The throwaway PostgreSQL cluster used by the sandbox, the tests and the benchmarks."""

from __future__ import annotations

import os
import signal

import psycopg
import pytest

from runbook_lib.errors import SandboxError
from runbook_lib.sandbox import postgres as pg_server
from runbook_lib.sandbox.postgres import PostgresServer, find_pg_bindir
from runbook_lib.secrets import redact

pytestmark = pytest.mark.postgres


def test_lifecycle_auth_and_idempotent_stop():
    server = PostgresServer()
    try:
        server.start()
        assert server.running and server.pid and server.port
        assert server.start() is server                                  # already running: no-op
        with psycopg.connect(server.dsn(), connect_timeout=5) as conn:
            assert conn.execute("SELECT current_setting('listen_addresses'), current_setting('fsync')").fetchone() \
                == ("127.0.0.1", "off")
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(server.dsn(password="wrong-password"), connect_timeout=5)
        name, password = server.create_role("reader_role", "reader-Secret-1"), "reader-Secret-1"
        server.create_database("owned_by_postgres")
        with psycopg.connect(server.dsn("owned_by_postgres", name, password), connect_timeout=5) as conn:
            assert conn.execute("SELECT current_user").fetchone()[0] == "reader_role"
        assert redact(server.dsn()) != server.dsn()                        # the password is registered
    finally:
        server.stop()
        server.stop()
    assert not server.running and not server.data_dir.exists()           # temp dir removed


def test_stop_falls_back_to_the_pid_when_pg_ctl_fails(monkeypatch):
    server = PostgresServer().start()
    pid = server.pid
    try:
        monkeypatch.setattr(server, "_bindir", server.bindir / "does-not-exist")
        server.stop()
        assert not server.running
        assert not pg_server.is_running(pid)          # gone (a reaped or zombie postmaster counts as gone)
    finally:
        if server.pid:
            os.kill(server.pid, signal.SIGKILL)


def test_missing_binaries_name_the_install_command(monkeypatch):
    monkeypatch.setattr(pg_server.shutil, "which", lambda name: None)
    monkeypatch.setattr(pg_server.glob, "glob", lambda pattern: [])
    with pytest.raises(SandboxError) as raised:
        find_pg_bindir()
    assert "apt-get install" in str(raised.value) and "postgresql" in str(raised.value)


def test_taken_port_is_refused_clearly():
    server = PostgresServer()
    try:
        server.start()
        port = server.port
        other = PostgresServer(port=port)                                  # the port is taken
        with pytest.raises(SandboxError, match=f"port {port}"):
            other.start()
        other.stop()
    finally:
        server.stop()
