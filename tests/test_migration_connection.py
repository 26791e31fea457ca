"""Connecting from a DSN reference: clear failures without the password anywhere."""

from __future__ import annotations

import pytest

from runbook_lib.db.auth_probe import probe_auth_query
from runbook_lib.db.connection import connect, connection_check, describe_error, target_of
from runbook_lib.db.repair import run_repair
from runbook_lib.errors import DatabaseError
from runbook_lib.sandbox.processes import free_port

pytestmark = pytest.mark.postgres

WRONG = "not-the-Password-4711"


def _texts(*checks) -> str:
    return repr([c.to_dict() for c in checks]) + repr([c for c in checks])


def test_connection_check_reports_server_info(agentops_db):
    db = agentops_db("current")
    info, check = connection_check(db.dsn_ref)
    assert check.status.value == "pass" and info.server_version_num >= 150000
    assert info.database == db.name and info.user == "postgres" and info.is_superuser
    with connect(db.dsn_ref) as conn:
        assert conn.execute("SELECT current_setting('application_name')").fetchone()[0] == "agentops-runbooks"
    assert db.server.password not in _texts(check)


def test_wrong_password_is_a_clear_failed_check(agentops_db, pg_dsn_ref):
    db = agentops_db("early")
    ref = pg_dsn_ref(db.dsn_for("postgres", WRONG))
    info, check = connection_check(ref)
    assert info is None and check.status.value == "fail"
    assert "refused the password for user 'postgres'" in check.summary and "password" in check.remedy
    with pytest.raises(DatabaseError) as raised:
        connect(ref)
    repair = run_repair(ref, apply=True)
    probe = probe_auth_query(ref, db.api_key_ref)
    assert not repair.ok and repair.checks[0].id == "repair.connection"
    assert not probe.ok
    for text in (_texts(check, *repair.checks, *probe.checks), str(raised.value), repr(raised.value)):
        assert WRONG not in text and db.server.password not in text
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_closed_port_is_a_clear_failed_check(pg_dsn_ref):
    port = free_port()
    ref = pg_dsn_ref(f"postgresql://postgres:{WRONG}@127.0.0.1:{port}/postgres")
    info, check = connection_check(ref, connect_timeout=5)
    assert info is None and check.status.value == "fail"
    assert f"nothing accepts connections at 127.0.0.1:{port}" in check.summary
    assert WRONG not in _texts(check)


def test_missing_database_is_named(agentops_db, pg_dsn_ref):
    db = agentops_db("current")
    ref = pg_dsn_ref(db.server.dsn("no_such_db"))
    _, check = connection_check(ref)
    assert "database 'no_such_db' does not exist" in check.summary


def test_malformed_and_unset_references():
    _, check = connection_check("env:RUNBOOK_TEST_SURELY_UNSET_VAR")
    assert check.status.value == "fail" and "unset environment variable" in check.summary


def test_error_texts_cover_dns_and_timeouts():
    target = target_of("postgresql://u:secretpw@db.internal:6543/app")
    assert target == {"host": "db.internal", "port": "6543", "database": "app", "user": "u"}
    msg, fix = describe_error(Exception('could not translate host name "db.internal" to address'), target)
    assert "cannot be resolved (DNS)" in msg and "secretpw" not in msg + fix
    msg, _ = describe_error(Exception("connection timeout expired"), target)
    assert "did not answer within the connect timeout" in msg
    msg, _ = describe_error(Exception('permission denied for database "app"'), target)
    assert "not allowed to connect" in msg
