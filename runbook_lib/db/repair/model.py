"""Repair data model: steps, the plan, step outcomes and the result of a run.

A :class:`RepairStep` carries its SQL (identifiers composed with :mod:`psycopg.sql`), a probe
(``SELECT`` true while the step is still needed), a verify query (true once the desired state
holds) and :class:`Preflight` probes that find rows which would make it fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from ...checks import Check
from ..drift import DriftReport, Finding
from ..expected import ExpectedSchema

__all__ = ["ADVISORY_LOCK_KEY", "Preflight", "RepairPlan", "RepairResult", "RepairStep", "StepOutcome"]

#: Key of the transaction-level advisory lock every 10_migration repair takes.
ADVISORY_LOCK_KEY = 0x41_4F_52_42_00_10  # "AORB" + 10_migration


@dataclass(frozen=True)
class Preflight:
    """A read-only probe returning offending rows (JSON objects); any row blocks the plan."""

    step_id: str
    description: str
    query: sql.Composed
    remedy: str


@dataclass
class RepairStep:
    """One ordered repair step."""

    id: str
    version: str
    action: str
    title: str
    statements: list[sql.Composed]
    probe: sql.Composed
    verify: sql.Composed
    table: tuple[str, str] | None = None
    table_before: tuple[str, str] | None = None
    renames: dict[str, str] = field(default_factory=dict)
    destructive: bool = False
    covers: list[str] = field(default_factory=list)
    preflight: list[Preflight] = field(default_factory=list)

    def render(self, conn: psycopg.Connection[Any]) -> str:
        body = ";\n".join(s.as_string(conn) for s in self.statements)
        return f"-- [{self.version}] {self.id}: {self.title}\n{body};"


@dataclass
class RepairPlan:
    """Ordered steps plus the findings no step handles (manual, or destructive and not allowed)."""

    steps: list[RepairStep]
    skipped: list[tuple[Finding, str]]
    allow_destructive: bool
    expected: ExpectedSchema

    @property
    def empty(self) -> bool:
        return not self.steps

    def touched_tables(self) -> list[tuple[tuple[str, str], tuple[str, str] | None, dict[str, str]]]:
        """(table before, table after or None if dropped, column renames) of existing tables."""
        out: dict[tuple[str, str], list[Any]] = {}
        for step in self.steps:
            if step.action in ("create_table", "create_schema", "create_enum"):
                continue
            before = step.table_before or step.table
            if before is None:
                continue
            entry = out.setdefault(before, [before, {}])
            if step.action == "move_table":
                entry[0] = step.table
            if step.action == "drop_table":
                entry[0] = None
            entry[1].update(step.renames)
        return [(before, after, renames) for before, (after, renames) in out.items()]

    def sql_text(self, conn: psycopg.Connection[Any], lock_timeout_ms: int = 5000,
                 statement_timeout_ms: int = 60000) -> str:
        """The whole plan as one SQL script (what apply runs, inside one transaction)."""
        if not self.steps:
            return "-- nothing to do: the live schema already has every expected object"
        lines = ["BEGIN;",
                 f"SELECT set_config('lock_timeout', '{int(lock_timeout_ms)}ms', true), "
                 f"set_config('statement_timeout', '{int(statement_timeout_ms)}ms', true), "
                 "set_config('search_path', 'pg_catalog', true);",
                 f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY});"]
        lines += [s.render(conn) for s in self.steps]
        lines.append("COMMIT;")
        return "\n\n".join(lines)

    def rows(self, conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
        return [{"order": i + 1, "version": s.version, "step": s.id, "action": s.action, "title": s.title,
                 "destructive": s.destructive, "sql": ";\n".join(x.as_string(conn) for x in s.statements)}
                for i, s in enumerate(self.steps)]


@dataclass
class StepOutcome:
    step_id: str
    status: str  # applied | already done | not run
    duration_ms: float = 0.0


@dataclass
class RepairResult:
    """What :func:`run_repair` did. ``checks`` are ready for ``runbook_lib.display.show_checks``."""

    mode: str  # dry_run | apply
    ok: bool
    changed: bool
    plan: RepairPlan | None
    sql: str
    checks: list[Check]
    outcomes: list[StepOutcome] = field(default_factory=list)
    failed_step: str | None = None
    ledger_recorded: list[str] = field(default_factory=list)
    checksums_before: dict[str, Any] = field(default_factory=dict)
    checksums_after: dict[str, Any] = field(default_factory=dict)
    report_before: DriftReport | None = None
    report_after: DriftReport | None = None
    plan_rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def message(self) -> str:
        return self.checks[0].summary if self.checks else ""

