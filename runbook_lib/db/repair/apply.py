"""Apply: the whole repair in ONE transaction under the advisory lock, verified before it commits.

Inside the transaction, in this order: ``SET LOCAL lock_timeout/statement_timeout``,
``pg_advisory_xact_lock`` (works behind a transaction-mode pooler), re-read the catalog and
re-plan under the lock (so a second, concurrent run finds nothing to do), privileges and
preflight probes, row counts and checksums of every touched table, the steps (probe, SQL,
verify), the checksums again, the drift again, the ledger rows, commit. Any failure rolls
everything back and is reported as a check naming the phase or step it happened in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from ...checks import Check, Severity
from ...secrets import redact
from ..drift import DriftReport, analyse
from ..words import Word
from .ledger import record_ledger
from .model import ADVISORY_LOCK_KEY, RepairMode, RepairPlan, RepairResult, RepairStep, StepOutcome, StepStatus
from .plan import plan_repair, skipped_checks
from .probes import preflight, privilege_checks
from .sql_parts import one_row, set_local_limits
from .verify import same_rows, table_checksums

__all__ = ["ApplyPhase", "apply_error_check", "apply_repair"]


class ApplyPhase(Word):
    """Where an apply is; a failure names it (evidence ``phase``, and the summary when no step ran)."""

    SETUP = "setup"
    ADVISORY_LOCK = "advisory lock"
    PLANNING = "planning"
    PREFLIGHT = "preflight"
    CHECKSUMS = "checksums"
    STEP = "step"
    VERIFICATION = "verification"
    LEDGER = "ledger"
    COMMIT = "commit"
    DONE = "done"


class _Abort(Exception):
    """Internal: stop inside the transaction (rolls back) with checks to report."""

    def __init__(self, checks: list[Check], failed_step: str | None = None) -> None:
        super().__init__(checks[0].summary if checks else "aborted")
        self.checks = checks
        self.failed_step = failed_step


@dataclass
class _Progress:
    """How far an apply got: the phase (and step) it is in and what the phases before produced.

    The result is built from it whether the transaction commits, aborts or fails.
    """

    phase: ApplyPhase = ApplyPhase.SETUP
    step: RepairStep | None = None
    report: DriftReport | None = None
    plan: RepairPlan | None = None
    sql: str = ""
    rows: list[dict[str, Any]] = field(default_factory=list)
    before: dict[str, Any] = field(default_factory=dict)
    outcomes: list[StepOutcome] = field(default_factory=list)
    after: dict[str, Any] = field(default_factory=dict)
    report_after: DriftReport | None = None
    ledger: list[str] = field(default_factory=list)


class _Apply:
    """One apply over an open connection (autocommit off): explicit phases, one transaction."""

    def __init__(self, conn: psycopg.Connection[Any], *, allow_destructive: bool, lock_timeout_ms: int,
                 statement_timeout_ms: int, migrations_dir: str | Path | None) -> None:
        self.conn = conn
        self.allow_destructive = allow_destructive
        self.lock_timeout_ms = lock_timeout_ms
        self.statement_timeout_ms = statement_timeout_ms
        self.migrations_dir = migrations_dir
        self.progress = _Progress()

    def phases(self) -> list[tuple[ApplyPhase, Callable[[], None]]]:
        """The phases in the order they run inside the transaction."""
        return [(ApplyPhase.SETUP, self.set_limits), (ApplyPhase.ADVISORY_LOCK, self.lock),
                (ApplyPhase.PLANNING, self.plan), (ApplyPhase.PREFLIGHT, self.preflight),
                (ApplyPhase.CHECKSUMS, self.checksums_before), (ApplyPhase.STEP, self.run_steps),
                (ApplyPhase.CHECKSUMS, self.checksums_after), (ApplyPhase.VERIFICATION, self.verify),
                (ApplyPhase.LEDGER, self.record)]

    def run(self) -> RepairResult:
        progress = self.progress
        try:
            with self.conn.transaction():
                for phase, run_phase in self.phases():
                    progress.phase = phase
                    run_phase()
                progress.phase = ApplyPhase.COMMIT
            progress.phase = ApplyPhase.DONE
        except _Abort as abort:
            return self.aborted(abort)
        except psycopg.Error as exc:
            return self.failed(exc)
        return self.committed()

    # phases ---------------------------------------------------------------------------------------
    def set_limits(self) -> None:
        set_local_limits(self.conn, self.lock_timeout_ms, self.statement_timeout_ms)

    def lock(self) -> None:
        self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))

    def plan(self) -> None:
        """Re-read the catalog and re-plan under the lock."""
        progress = self.progress
        progress.report = analyse(self.conn, migrations_dir=self.migrations_dir)
        progress.plan = plan_repair(progress.report, allow_destructive=self.allow_destructive)
        progress.sql = progress.plan.sql_text(self.conn, self.lock_timeout_ms, self.statement_timeout_ms)
        progress.rows = progress.plan.rows(self.conn)

    def preflight(self) -> None:
        report, plan = self._planned()
        problems = privilege_checks(self.conn, plan, record_ledger=report.ledger.exists)
        problems += preflight(self.conn, plan)
        if problems:
            raise _Abort(problems)

    def checksums_before(self) -> None:
        self.progress.before = table_checksums(self.conn, self._planned()[1])

    def run_steps(self) -> None:
        """Each step: probe (skip when already in place), its statements, its verify query."""
        progress = self.progress
        for step in self._planned()[1].steps:
            progress.step = step
            started = time.perf_counter()
            if not one_row(self.conn, step.probe)[0]:
                progress.outcomes.append(StepOutcome(step.id, StepStatus.ALREADY_DONE))
                continue
            for statement in step.statements:
                self.conn.execute(statement)
            if not one_row(self.conn, step.verify)[0]:
                raise _Abort([Check.failed(
                    "repair.apply", "Apply the repair",
                    f"step {step.id} ran but its verify query does not see the expected state; rolled back, "
                    "nothing was changed", "report this; the step's SQL is shown in the plan",
                    severity=Severity.CRITICAL, evidence={"version": step.version, "step": step.id})], step.id)
            progress.outcomes.append(StepOutcome(step.id, StepStatus.APPLIED, (time.perf_counter() - started) * 1000))
        progress.step = None

    def checksums_after(self) -> None:
        progress = self.progress
        progress.after = table_checksums(self.conn, self._planned()[1], progress.before)
        differing = [t for t, b in progress.before.items() if not same_rows(b, progress.after.get(t, {}))]
        if differing:
            raise _Abort([Check.failed(
                "repair.rows", "Rows preserved",
                f"row count or checksum changed in {', '.join(differing)}; rolled back, nothing was changed",
                "report this: a step changed existing data", severity=Severity.CRITICAL,
                evidence={"version": "", "before": progress.before, "after": progress.after})])

    def verify(self) -> None:
        """Re-read the drift: every finding a step covers must be gone."""
        after_report = analyse(self.conn, migrations_dir=self.migrations_dir)
        plan = self._planned()[1]
        still = sorted({c for s in plan.steps for c in s.covers} & {f.check_id for f in after_report.findings})
        if still:
            raise _Abort([Check.failed(
                "repair.apply", "Apply the repair",
                f"after all steps these objects still differ: {', '.join(still)}; rolled back, nothing changed",
                "report this together with the drift report", severity=Severity.CRITICAL,
                evidence={"version": "", "still": still})])
        self.progress.report_after = after_report

    def record(self) -> None:
        assert self.progress.report_after is not None
        self.progress.ledger = record_ledger(self.conn, self.progress.report_after, self.migrations_dir)

    def _planned(self) -> tuple[DriftReport, RepairPlan]:
        assert self.progress.report is not None and self.progress.plan is not None, "runs after planning"
        return self.progress.report, self.progress.plan

    # results --------------------------------------------------------------------------------------
    def aborted(self, abort: _Abort) -> RepairResult:
        p = self.progress
        return RepairResult(RepairMode.APPLY, False, False, p.plan, p.sql,
                            abort.checks + (skipped_checks(p.plan) if p.plan else []), p.outcomes,
                            failed_step=abort.failed_step, report_before=p.report, plan_rows=p.rows,
                            checksums_before=p.before)

    def failed(self, exc: psycopg.Error) -> RepairResult:
        p = self.progress
        check = apply_error_check(exc, p.step, p.phase, self.lock_timeout_ms, self.statement_timeout_ms)
        return RepairResult(RepairMode.APPLY, False, False, p.plan, p.sql, [check], p.outcomes,
                            failed_step=p.step.id if p.step else None, report_before=p.report,
                            plan_rows=p.rows, checksums_before=p.before)

    def committed(self) -> RepairResult:
        p = self.progress
        plan, report = p.plan, p.report
        assert plan is not None
        applied = [o for o in p.outcomes if o.status is StepStatus.APPLIED]
        checks: list[Check] = []
        if not plan.steps:
            checks.append(Check.passed(
                "repair.apply", "Apply the repair",
                "nothing to do: the live schema already has every expected object; nothing changed",
                evidence={"version": "", "steps": 0}))
        else:
            checks.append(Check.passed(
                "repair.apply", "Apply the repair",
                f"applied {len(applied)} step(s) in one transaction "
                f"({len(p.outcomes) - len(applied)} already in place); verified and committed",
                evidence={"version": "", "steps": [o.as_row() for o in p.outcomes]}))
            checks += _row_checks(p.before, p.after)
        recorded = p.ledger
        if recorded:
            checks.append(Check.passed("repair.ledger", "Ledger updated",
                                       f"recorded {', '.join(recorded)} in supabase_migrations.schema_migrations",
                                       evidence={"version": "", "recorded": recorded}))
        elif report is not None and not report.ledger.exists:
            checks.append(Check.skipped("repair.ledger", "Ledger updated",
                                        "no supabase_migrations.schema_migrations table: nothing recorded",
                                        evidence={"version": ""}))
        checks += skipped_checks(plan)
        return RepairResult(RepairMode.APPLY, True, bool(applied) or bool(recorded), plan, p.sql, checks, p.outcomes,
                            ledger_recorded=recorded, checksums_before=p.before, checksums_after=p.after,
                            report_before=report, report_after=p.report_after, plan_rows=p.rows)


def _row_checks(before: dict[str, Any], after: dict[str, Any]) -> list[Check]:
    """One check per touched table: rows and checksum kept (or the table dropped on purpose)."""
    checks: list[Check] = []
    for label, was in before.items():
        now = after.get(label, {})
        if now.get("dropped"):
            checks.append(Check.warned(f"repair.rows.{label}", f"Rows of {label}",
                                       f"table dropped (allow_destructive): {was.get('rows')} row(s) removed",
                                       "", evidence={"version": "", "before": was}))
            continue
        checks.append(Check.passed(
            f"repair.rows.{label}", f"Rows of {label}",
            f"{was['rows']} row(s) before and after, checksum equal over {len(was['columns'])} column(s)"
            + (f" (now {now['table']})" if now.get("table") != was.get("table") else ""),
            evidence={"version": "", "before": was, "after": now}))
    return checks


def apply_repair(conn: psycopg.Connection[Any], *, allow_destructive: bool, lock_timeout_ms: int,
                 statement_timeout_ms: int, migrations_dir: str | Path | None) -> RepairResult:
    """Apply the repair over ``conn`` (autocommit off) in one transaction; failures come back as checks."""
    return _Apply(conn, allow_destructive=allow_destructive, lock_timeout_ms=lock_timeout_ms,
                  statement_timeout_ms=statement_timeout_ms, migrations_dir=migrations_dir).run()


def apply_error_check(exc: BaseException, step: RepairStep | None, phase: ApplyPhase, lock_timeout_ms: int,
                      statement_timeout_ms: int) -> Check:
    """The failed check (errored, for a connection lost while committing) for a database error in ``phase``."""
    where = f"step {step.id} ({step.title})" if step else phase.value
    evidence = {"version": step.version if step else "", "step": step.id if step else None, "phase": phase.value,
                "error": type(exc).__name__, "sqlstate": getattr(getattr(exc, "diag", None), "sqlstate", None)}
    primary = getattr(getattr(exc, "diag", None), "message_primary", None) or str(exc).splitlines()[0:1]
    primary = redact(primary if isinstance(primary, str) else (primary[0] if primary else type(exc).__name__))
    if isinstance(exc, pg_errors.LockNotAvailable):
        if phase is ApplyPhase.ADVISORY_LOCK:
            return Check.failed(
                "repair.apply", "Apply the repair",
                "another 10_migration repair holds the advisory lock; gave up after "
                f"lock_timeout_ms={lock_timeout_ms}; nothing was changed",
                "wait for the other run to finish (it may already have repaired everything), then run again",
                severity=Severity.CRITICAL, evidence=evidence)
        return Check.failed(
            "repair.apply", "Apply the repair",
            f"{where} waited longer than lock_timeout_ms={lock_timeout_ms} for a table lock ({primary}); "
            "the transaction was rolled back, nothing was changed",
            "a long transaction (or the API under load) holds the table: retry in a quiet moment or raise "
            "lock_timeout_ms", severity=Severity.CRITICAL, evidence=evidence)
    if isinstance(exc, pg_errors.QueryCanceled):
        return Check.failed(
            "repair.apply", "Apply the repair",
            f"{where} ran longer than statement_timeout_ms={statement_timeout_ms}; rolled back, nothing changed",
            "raise statement_timeout_ms (large tables take longer to check) and run again",
            severity=Severity.CRITICAL, evidence=evidence)
    if isinstance(exc, psycopg.OperationalError) or getattr(exc, "sqlstate", "") in ("57P01", "57P02", "57P03"):
        if phase is ApplyPhase.COMMIT:
            return Check.errored(
                "repair.apply", "Apply the repair",
                f"the connection was lost while committing ({primary}): the outcome is unknown",
                "run the runbook again: the drift report shows whether the repair is in place",
                severity=Severity.CRITICAL, evidence=evidence)
        return Check.failed(
            "repair.apply", "Apply the repair",
            f"the connection was lost during {where} ({primary}); PostgreSQL rolled the transaction back, "
            "nothing was changed", "check the server (restarts, killed sessions, pooler limits) and run again",
            severity=Severity.CRITICAL, evidence=evidence)
    return Check.failed(
        "repair.apply", "Apply the repair", f"{where} failed: {primary}; rolled back, nothing was changed",
        "read the error above; fix the cause and run again", severity=Severity.CRITICAL, evidence=evidence)
