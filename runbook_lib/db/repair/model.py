"""Repair data model: modes, step actions and statuses, steps, the plan, outcomes and the result of a run.

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
from ..words import Word

__all__ = [
    "ADVISORY_LOCK_KEY",
    "Preflight",
    "RepairMode",
    "RepairPlan",
    "RepairResult",
    "RepairStep",
    "StepAction",
    "StepOutcome",
    "StepStatus",
]

#: Key of the transaction-level advisory lock every 10_migration repair takes.
ADVISORY_LOCK_KEY = 0x41_4F_52_42_00_10  # "AORB" + 10_migration


class RepairMode(Word):
    """What a run does: plan and probe read-only, or plan and apply in one transaction.

    Destructive steps are a separate choice (``allow_destructive``): a dry run with it shows the
    drops an apply would run.
    """

    DRY_RUN = "dry_run"
    APPLY = "apply"


class StepAction(Word):
    """What a repair step does. Within one migration version, steps run in :attr:`rank` order."""

    CREATE_SCHEMA = "create_schema"
    CREATE_ENUM = "create_enum"
    MOVE_TABLE = "move_table"
    CREATE_TABLE = "create_table"
    RENAME_COLUMN = "rename_column"
    ADD_COLUMN = "add_column"
    ALTER_COLUMN = "alter_column"
    BACKFILL = "backfill"
    PRIMARY_KEY = "primary_key"
    UNIQUE = "unique"
    RENAME_CONSTRAINT = "rename_constraint"
    FOREIGN_KEY = "foreign_key"
    INDEX = "index"
    DROP_TABLE = "drop_table"

    @property
    def rank(self) -> int:
        """Order within a version: schemas and types, tables, columns, data, keys, indexes, drops."""
        return _ACTION_RANK[self]

    @property
    def creates(self) -> bool:
        """True for a new schema, type or table: no existing table (or row) is touched."""
        return self in (StepAction.CREATE_SCHEMA, StepAction.CREATE_ENUM, StepAction.CREATE_TABLE)


_ACTION_RANK = {StepAction.CREATE_SCHEMA: 0, StepAction.CREATE_ENUM: 1, StepAction.MOVE_TABLE: 2,
                StepAction.CREATE_TABLE: 3, StepAction.RENAME_COLUMN: 4, StepAction.ADD_COLUMN: 5,
                StepAction.ALTER_COLUMN: 6, StepAction.BACKFILL: 7, StepAction.PRIMARY_KEY: 8, StepAction.UNIQUE: 9,
                StepAction.RENAME_CONSTRAINT: 10, StepAction.FOREIGN_KEY: 10, StepAction.INDEX: 11,
                StepAction.DROP_TABLE: 12}


class StepStatus(Word):
    """What the apply did with a step: ran it, or found its effect already in place (its probe was false)."""

    APPLIED = "applied"
    ALREADY_DONE = "already done"


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
    action: StepAction
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

    def __post_init__(self) -> None:
        self.action = StepAction(self.action)

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
            if step.action.creates:
                continue
            before = step.table_before or step.table
            if before is None:
                continue
            entry = out.setdefault(before, [before, {}])
            if step.action is StepAction.MOVE_TABLE:
                entry[0] = step.table
            if step.action is StepAction.DROP_TABLE:
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
        return [{"order": i + 1, "version": s.version, "step": s.id, "action": s.action.value, "title": s.title,
                 "destructive": s.destructive, "sql": ";\n".join(x.as_string(conn) for x in s.statements)}
                for i, s in enumerate(self.steps)]


@dataclass
class StepOutcome:
    """One step of an apply: what happened to it and how long it took (0 when already done)."""

    step_id: str
    status: StepStatus
    duration_ms: float = 0.0

    def __post_init__(self) -> None:
        self.status = StepStatus(self.status)

    def as_row(self) -> dict[str, Any]:
        """Plain JSON-ready dict (the status as its value)."""
        return {"step_id": self.step_id, "status": self.status.value, "duration_ms": self.duration_ms}


@dataclass
class RepairResult:
    """What :func:`run_repair` did. ``checks`` are ready for ``runbook_lib.display.show_checks``."""

    mode: RepairMode
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

    def __post_init__(self) -> None:
        self.mode = RepairMode(self.mode)

    @property
    def message(self) -> str:
        return self.checks[0].summary if self.checks else ""

