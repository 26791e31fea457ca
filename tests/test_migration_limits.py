"""10_migration under lock contention: every statement is bounded, and a killed client frees its locks.

Real PostgreSQL (tests/plugins/postgres.py); another session holds a table lock the runbook needs.
Elapsed times are measured against the timeout parameters, with slack for a loaded machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from runbook_lib.db.connection import connect
from runbook_lib.db.limits import SessionLimits
from runbook_lib.db.runbook import MigrationRunbook
from tests.migration_helpers import query

pytestmark = pytest.mark.postgres

SLACK_S = 8.0          # a loaded machine: connection set-up, Python work, scheduling
CEILING_S = 90.0       # only keeps a broken build from hanging the suite


def _wait_for(predicate, what: str) -> None:
    deadline = time.monotonic() + CEILING_S
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _our_backends(dsn: str, dbname: str) -> list[tuple[int, str | None]]:
    return [(r[0], r[1]) for r in query(
        dsn, "SELECT pid, wait_event_type FROM pg_stat_activity WHERE datname = %s AND application_name = "
             "'agentops-runbooks'", (dbname,))]


def _locks_of(dsn: str, pid: int) -> int:
    return query(dsn, "SELECT count(*) FROM pg_locks WHERE pid = %s AND granted", (pid,))[0][0]


def test_every_session_opens_with_its_bounds(agentops_db):
    db = agentops_db("current")
    limits = SessionLimits(lock_timeout_ms=1234, statement_timeout_ms=5678)
    conn = connect(db.dsn_ref, limits=limits)
    try:
        shown = {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in limits.settings()}
    finally:
        conn.close()
    assert shown["lock_timeout"] == "1234ms" and shown["statement_timeout"] == "5678ms"
    assert shown["idle_in_transaction_session_timeout"] == "5678ms"
    assert shown["client_connection_check_interval"] == "1s"


def test_dry_run_behind_an_exclusive_lock_fails_clearly_within_the_bound(agentops_db):
    """The catalog read before the repair and the auth probe each wait lock_timeout_ms at most, then say
    who holds the lock and what to do; the plan is skipped instead of waiting a third time."""
    db = agentops_db("early", ledger=True)
    lock_timeout_ms = 1000
    blocker = psycopg.connect(db.dsn, application_name="h9-blocker")
    blocker_pid = blocker.info.backend_pid
    try:
        blocker.execute("LOCK TABLE public.orgs IN ACCESS EXCLUSIVE MODE")
        rb = MigrationRunbook(database_url=db.dsn_ref, agentops_api_key=db.api_key_ref,
                              lock_timeout_ms=lock_timeout_ms, statement_timeout_ms=60_000)
        with ThreadPoolExecutor(1) as pool:
            started = time.monotonic()
            future = pool.submit(rb.run_all)
            try:
                checks = {c.id: c for c in future.result(timeout=CEILING_S)}
            finally:
                blocker.rollback()          # lets a broken build finish instead of hanging
            elapsed = time.monotonic() - started
    finally:
        blocker.close()

    assert elapsed <= 2 * lock_timeout_ms / 1000 + SLACK_S, elapsed
    read = checks["drift.read"]
    assert read.status.value == "fail"
    assert f"lock_timeout_ms={lock_timeout_ms}" in read.summary
    assert f"public.orgs is locked AccessExclusive by pid {blocker_pid} (h9-blocker" in read.summary
    assert "pg_terminate_backend" in read.remedy and f"pid {blocker_pid}" in read.remedy
    assert checks["auth.query"].status.value == "fail"
    assert f"lock_timeout_ms={lock_timeout_ms}" in checks["auth.query"].summary
    assert checks["repair.apply"].status.value == "skip" and "repair.plan" not in checks
    assert checks["migration.summary"].status.value == "fail"


_KILLED_CHILD = """
import sys
from runbook_lib.db.drift import drift_report
from runbook_lib.db.limits import SessionLimits
from runbook_lib.db.repair import run_repair
what, ref, lock_ms = sys.argv[1], sys.argv[2], int(sys.argv[3])
if what == "repair":
    run_repair(ref, apply=True, lock_timeout_ms=lock_ms, statement_timeout_ms=120_000)
else:
    drift_report(ref, limits=SessionLimits(lock_ms, 120_000))
"""


@pytest.mark.parametrize(("what", "mode"), [("repair", "SHARE"), ("catalog", "ACCESS EXCLUSIVE")])
def test_a_killed_process_frees_its_locks_long_before_the_timeouts(agentops_db, what, mode):
    """SIGKILL while a statement waits for a lock (the repair mid-way, holding the advisory lock and
    its earlier steps' locks; or the catalog read): the backend notices the dead client and ends,
    freeing every lock, well within lock_timeout_ms (it does not wait the timeout out)."""
    db = agentops_db("early", ledger=True)
    lock_timeout_ms = 30_000
    admin = db.server.dsn()
    blocker = psycopg.connect(db.dsn, application_name="h9-blocker")
    child = None
    try:
        blocker.execute(f"LOCK TABLE public.orgs IN {mode} MODE")
        child = subprocess.Popen([sys.executable, "-c", _KILLED_CHILD, what, db.dsn_ref, str(lock_timeout_ms)],
                                 env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for(lambda: any(w == "Lock" for _, w in _our_backends(admin, db.name)), "the child to block")
        (pid, _), = _our_backends(admin, db.name)
        assert _locks_of(admin, pid) > 0
        killed = time.monotonic()
        child.send_signal(signal.SIGKILL)
        child.wait()
        _wait_for(lambda: not _our_backends(admin, db.name) and _locks_of(admin, pid) == 0,
                  "the killed client's backend to end")
        held_s = time.monotonic() - killed
    finally:
        if child is not None and child.poll() is None:
            child.kill()
            child.wait()
        blocker.rollback()
        blocker.close()
    assert held_s < lock_timeout_ms / 1000 / 3, held_s
