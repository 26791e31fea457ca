"""Preflight probes: read-only checks that find what would make the apply fail, before anything changes.

:func:`preflight` runs each step's row probes (duplicate keys, NULLs, orphan references);
:func:`privilege_checks` checks the ownership and privileges the plan needs.
"""

from __future__ import annotations

from typing import Any

import psycopg

from ...checks import Check, Severity
from .model import RepairPlan, StepAction
from .sql_parts import MAX_ROWS, one_row

__all__ = ["preflight", "privilege_checks"]


def preflight(conn: psycopg.Connection[Any], plan: RepairPlan) -> list[Check]:
    """Run every preflight probe; one failed check per probe that found rows (read-only)."""
    checks = []
    for step in plan.steps:
        for probe in step.preflight:
            rows = [r[0] for r in conn.execute(probe.query).fetchall()]
            if rows:
                checks.append(Check.failed(
                    f"repair.preflight.{step.id}", f"Preflight for {step.id}",
                    f"{probe.description}: {len(rows)}{'+' if len(rows) >= MAX_ROWS else ''} row(s); "
                    "nothing was changed",
                    probe.remedy, severity=Severity.CRITICAL,
                    evidence={"version": step.version, "step": step.id, "rows": rows},
                ))
    return checks


def privilege_checks(conn: psycopg.Connection[Any], plan: RepairPlan, record_ledger: bool) -> list[Check]:
    """Ownership/CREATE/REFERENCES the plan needs, checked before anything changes."""
    problems: list[str] = []
    user = one_row(conn, "SELECT current_user::text, (SELECT rolsuper FROM pg_catalog.pg_roles "
                         "WHERE rolname = current_user)")
    if user[1]:
        return []
    seen: set[tuple[str, str]] = set()
    for step in plan.steps:
        if step.action is StepAction.CREATE_SCHEMA:
            ok = one_row(conn, "SELECT has_database_privilege(current_database(), 'CREATE')")[0]
            if not ok:
                problems.append(f"CREATE on the database (for {step.id})")
            continue
        target = step.table_before or step.table
        if target is None:
            continue
        if step.action is StepAction.CREATE_TABLE:
            ok = one_row(conn, "SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = %s) "
                               "OR has_schema_privilege(%s, 'CREATE')", (target[0], target[0]))[0]
            if not ok:
                problems.append(f"CREATE on schema {target[0]} (for {step.id})")
        elif target not in seen:
            seen.add(target)
            row = conn.execute(
                "SELECT pg_catalog.pg_get_userbyid(c.relowner), pg_has_role(current_user, c.relowner, 'USAGE') "
                "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relname = %s", target).fetchone()
            if row is not None and not row[1]:
                problems.append(f"ownership of {target[0]}.{target[1]} (owned by {row[0]})")
    if record_ledger:
        ok = one_row(conn, "SELECT has_table_privilege('supabase_migrations.schema_migrations', 'INSERT')")[0]
        if not ok:
            problems.append("INSERT on supabase_migrations.schema_migrations")
    if not problems:
        return []
    return [Check.failed(
        "repair.privileges", "Privileges for the repair",
        f"role {user[0]} lacks what the repair needs: " + "; ".join(problems[:8]) + "; nothing was changed",
        "connect as the owner of the AgentOps tables (on Supabase the 'postgres' role), or have the owner "
        "run the runbook", severity=Severity.CRITICAL, evidence={"version": "", "role": user[0], "missing": problems},
    )]

