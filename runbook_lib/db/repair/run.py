"""The one entry point for the notebook: plan (dry run) or plan and apply, over one connection.

Without ``apply`` it reads, plans and probes in a READ ONLY transaction that is rolled back and
returns the plan as SQL; with ``apply=True`` it hands over to :mod:`.apply`.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import psycopg

from ...checks import Check, Severity
from ...commands import repair_schema_command
from ...errors import DatabaseError, RunbookError
from ...secrets import SecretRef, redact
from ..connection import connect
from ..drift import analyse
from ..limits import SessionLimits, is_timeout, timeout_error
from .apply import apply_repair
from .model import RepairMode, RepairResult
from .plan import plan_repair, skipped_checks
from .probes import preflight, privilege_checks
from .sql_parts import set_local_limits

__all__ = ["run_repair"]


def run_repair(
    database_url: str | SecretRef,
    *,
    apply: bool = False,
    allow_destructive: bool = False,
    lock_timeout_ms: int = 5000,
    statement_timeout_ms: int = 60000,
    migrations_dir: str | Path | None = None,
    connect_timeout: int = 10,
) -> RepairResult:
    """Plan (and with ``apply=True`` apply) the repair; never raises for expected failures."""
    mode = RepairMode.APPLY if apply else RepairMode.DRY_RUN
    try:
        limits = SessionLimits(lock_timeout_ms, statement_timeout_ms)
        conn = connect(database_url, autocommit=False, connect_timeout=connect_timeout, limits=limits)
    except RunbookError as exc:
        return RepairResult(mode, False, False, None, "", [Check.from_error(
            "repair.connection", "Connect for the repair", exc, severity=Severity.CRITICAL, evidence={"version": ""})])
    try:
        if not apply:
            try:
                return _dry_run(conn, allow_destructive=allow_destructive, lock_timeout_ms=lock_timeout_ms,
                                statement_timeout_ms=statement_timeout_ms, migrations_dir=migrations_dir)
            except psycopg.Error as exc:
                error = (timeout_error(exc, limits, "the dry run", conn) if is_timeout(exc) else DatabaseError(
                    redact(f"the dry run failed: {getattr(exc.diag, 'message_primary', None) or type(exc).__name__}"),
                    hint="read the error; fix the cause and run again"))
                return RepairResult(mode, False, False, None, "", [Check.from_error(
                    "repair.plan", "Repair plan", error, severity=Severity.CRITICAL,
                    evidence={"version": "", "error": type(exc).__name__})])
        return apply_repair(conn, allow_destructive=allow_destructive, lock_timeout_ms=lock_timeout_ms,
                            statement_timeout_ms=statement_timeout_ms, migrations_dir=migrations_dir)
    finally:
        with contextlib.suppress(Exception):
            conn.close()


def _dry_run(conn: psycopg.Connection[Any], *, allow_destructive: bool, lock_timeout_ms: int, statement_timeout_ms: int,
             migrations_dir: str | Path | None) -> RepairResult:
    with conn.transaction(force_rollback=True):
        conn.execute("SET TRANSACTION READ ONLY")
        set_local_limits(conn, lock_timeout_ms, statement_timeout_ms)
        report = analyse(conn, migrations_dir=migrations_dir)
        plan = plan_repair(report, allow_destructive=allow_destructive)
        problems = preflight(conn, plan)
        problems += privilege_checks(conn, plan, record_ledger=report.ledger.exists)
        text = plan.sql_text(conn, lock_timeout_ms, statement_timeout_ms)
        rows = plan.rows(conn)
    checks = list(problems) + skipped_checks(plan)
    if plan.empty:
        head = Check.passed("repair.plan", "Repair plan", "nothing to do: the live schema has every expected object",
                            evidence={"version": "", "steps": 0})
    elif problems:
        head = Check.failed("repair.plan", "Repair plan",
                            f"{len(plan.steps)} step(s) planned, but {len(problems)} preflight/privilege problem(s) "
                            "would stop the apply; dry run: nothing changed",
                            f"fix the rows or privileges listed below, then run `{repair_schema_command()}`",
                            severity=Severity.CRITICAL, evidence={"version": "", "steps": len(plan.steps)})
    else:
        head = Check.warned("repair.plan", "Repair plan",
                            f"dry run: nothing changed; {len(plan.steps)} step(s) planned "
                            f"({', '.join(sorted({s.version for s in plan.steps}))})",
                            f"review the SQL, then run `{repair_schema_command()}`",
                            evidence={"version": "", "steps": len(plan.steps),
                                      "step_ids": [s.id for s in plan.steps]})
    return RepairResult(RepairMode.DRY_RUN, not problems, False, plan, text, [head, *checks], report_before=report,
                        plan_rows=rows)

