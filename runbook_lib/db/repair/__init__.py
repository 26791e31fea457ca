"""Repair plan derived from a drift report, and its safe, verified application.

:func:`plan_repair` turns the findings of a :class:`~runbook_lib.db.drift.DriftReport` into
ordered :class:`RepairStep` items (oldest migration first). Each step carries its SQL, a
precondition probe, a verify query and preflight probes that find rows which would make it fail.

:func:`run_repair` is the one entry point for the notebook: a dry run (READ ONLY, the plan as
SQL) or, with ``apply=True``, everything in ONE transaction under an advisory lock, verified
(checksums of every touched table, the drift re-read) and recorded in the ledger before it
commits. Any failure rolls everything back.

The parts, in the order a run uses them:

- :mod:`.model`: modes, step actions and statuses, steps, plan, outcomes, result;
- :mod:`.sql_parts`: the catalog predicates and DDL fragments steps are built from;
- :mod:`.plan`: findings to ordered steps (what is destructive is defined there);
- :mod:`.probes`: preflight row probes and privileges, read-only, before anything changes;
- :mod:`.apply`: the one-transaction apply, phase by phase;
- :mod:`.verify`: row counts and checksums before and after;
- :mod:`.ledger`: the Supabase migration ledger rows;
- :mod:`.run`: :func:`run_repair`, connecting and choosing dry run or apply.
"""

from __future__ import annotations

from .model import (
    ADVISORY_LOCK_KEY,
    Preflight,
    RepairMode,
    RepairPlan,
    RepairResult,
    RepairStep,
    StepAction,
    StepOutcome,
    StepStatus,
)
from .plan import plan_repair
from .probes import preflight
from .run import run_repair
from .verify import table_checksums

__all__ = [
    "ADVISORY_LOCK_KEY",
    "Preflight",
    "RepairMode",
    "RepairStep",
    "RepairPlan",
    "RepairResult",
    "StepAction",
    "StepOutcome",
    "StepStatus",
    "plan_repair",
    "run_repair",
    "preflight",
    "table_checksums",
]
