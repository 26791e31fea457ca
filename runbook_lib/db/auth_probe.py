"""Probe of the AgentOps API's own auth query (``POST /v3/auth/token``) against the database.

Runs :data:`~runbook_lib.db.auth_query.AUTH_QUERY` for an API key (a secret reference) in a
read-only transaction and reports, as checks: pass/fail (with the missing column PostgreSQL names),
the project id and the org's ``prem_status``. A ``free`` org hides traces older than 3 days in the
dashboard: a warning with the remedy. ``set_prem_status`` changes the org's plan, only with
``apply=True`` (tokens issued before the change are then refused with 401 by the real API).
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from ..checks import Check, Severity, Status
from ..commands import repair_schema_command, run_command
from ..errors import RunbookError
from ..secrets import SecretRef, redact
from .auth_query import AUTH_QUERY
from .limits import SessionLimits, is_timeout, timeout_error

__all__ = ["AuthProbeResult", "probe_auth_query", "PREM_STATUSES"]

PREM_STATUSES = ("free", "pro", "enterprise")


@dataclass
class AuthProbeResult:
    ok: bool
    checks: list[Check]
    project_id: str | None = None
    org_id: str | None = None
    prem_status: str | None = None
    missing_column: str | None = None
    rows: int = 0
    details: dict[str, Any] = field(default_factory=dict)


def probe_auth_query(
    database_url: str | SecretRef,
    api_key: str | SecretRef,
    *,
    set_prem_status: str | None = None,
    apply: bool = False,
    statement_timeout_ms: int = 15000,
    connect_timeout: int = 10,
    lock_timeout_ms: int = 5000,
) -> AuthProbeResult:
    """Run the API's auth query for ``api_key``; optionally change the org's plan (``apply=True``)."""
    from .connection import connect

    title = "API auth query (POST /v3/auth/token)"
    try:
        key = SecretRef.parse(api_key, name="agentops_api_key").resolve()
    except RunbookError as exc:
        return AuthProbeResult(False, [Check.from_error("auth.query", title, exc, severity=Severity.CRITICAL)])
    try:
        uuid.UUID(key)
    except ValueError:
        return AuthProbeResult(False, [Check.failed(
            "auth.query", title, f"the API key behind {api_key} is not a UUID, so no project can match it",
            "copy the project's API key (a UUID) from the AgentOps dashboard into that secret",
            severity=Severity.CRITICAL)])
    try:
        limits = SessionLimits(lock_timeout_ms, statement_timeout_ms)
        conn = connect(database_url, autocommit=False, connect_timeout=connect_timeout, limits=limits)
    except RunbookError as exc:
        return AuthProbeResult(False, [Check.from_error("auth.query", title, exc, severity=Severity.CRITICAL)])
    try:
        return _probe(conn, key, set_prem_status, apply, limits, title)
    finally:
        with contextlib.suppress(Exception):
            conn.close()


def _probe(conn: psycopg.Connection[Any], key: str, set_prem_status: str | None, apply: bool, limits: SessionLimits,
           title: str) -> AuthProbeResult:
    statement_timeout_ms = limits.statement_timeout_ms
    try:
        with conn.transaction(force_rollback=True):
            conn.execute("SET TRANSACTION READ ONLY")
            conn.execute("SELECT set_config('statement_timeout', %s, true)", (f"{int(statement_timeout_ms)}ms",))
            cur = conn.execute(AUTH_QUERY, {"api_key": key})
            assert cur.description is not None  # a SELECT always describes its columns
            names = [d.name for d in cur.description]
            rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    except pg_errors.UndefinedColumn as exc:
        message = exc.diag.message_primary or str(exc)
        column = message.removeprefix("column ").removesuffix(" does not exist")
        return AuthProbeResult(False, [Check.failed(
            "auth.query", title,
            f"the API's auth query fails with UndefinedColumn: {message}; SDK auth, dashboard and public API all "
            "return 500 'Authentication failed'",
            f"repair the schema (`{repair_schema_command()}`), then run the probe again",
            severity=Severity.CRITICAL, evidence={"error": "UndefinedColumn", "column": column},
        )], missing_column=column)
    except pg_errors.UndefinedTable as exc:
        return AuthProbeResult(False, [Check.failed(
            "auth.query", title, f"the API's auth query fails: {exc.diag.message_primary}",
            "point database_url at the AgentOps Supabase database", severity=Severity.CRITICAL,
            evidence={"error": "UndefinedTable"})])
    except psycopg.Error as exc:
        if is_timeout(exc):
            return AuthProbeResult(False, [Check.from_error(
                "auth.query", title, timeout_error(exc, limits, "the auth query", conn),
                severity=Severity.CRITICAL, evidence={"error": type(exc).__name__})])
        return AuthProbeResult(False, [Check.failed(
            "auth.query", title,
            f"the auth query failed: {redact(exc.diag.message_primary or type(exc).__name__)}",
            "check the role's SELECT privileges on projects, orgs, user_orgs and org_invites",
            severity=Severity.CRITICAL, evidence={"error": type(exc).__name__})])
    if not rows:
        return AuthProbeResult(False, [Check.failed(
            "auth.query", title, "the auth query runs, but no project has this API key: the API answers 401",
            "check the API key secret (it must be a project's key in this database)",
            severity=Severity.CRITICAL, evidence={"rows": 0})])
    first = rows[0]
    project_id, org_id = str(first["projects_id"]), str(first["orgs_1_id"])
    status = first["orgs_1_prem_status"]
    evidence = {"project_id": project_id, "project_name": first["projects_name"], "org_id": org_id,
                "org_name": first["orgs_1_name"], "prem_status": status, "rows": len(rows),
                "members": len({r["user_orgs_1_user_id"] for r in rows if r["user_orgs_1_user_id"]}),
                "invites": len({(r["org_invites_1_org_id"], r["org_invites_1_invitee_email"])
                                for r in rows if r["org_invites_1_invitee_email"]})}
    checks = [Check.passed("auth.query", title,
                           f"the auth query succeeds: project {project_id} in org {first['orgs_1_name']} "
                           f"({len(rows)} joined rows)", evidence=evidence)]
    result = AuthProbeResult(True, checks, project_id, org_id, status, rows=len(rows), details=evidence)
    checks.append(_plan_check(status, set_prem_status, apply, org_id))
    if set_prem_status and set_prem_status != status:
        checks[-1] = _set_plan(conn, org_id, status, set_prem_status, apply, statement_timeout_ms)
        if apply and checks[-1].status is Status.PASS:
            result.prem_status = set_prem_status
    return result


def _plan_check(status: str, wanted: str | None, apply: bool, org_id: str) -> Check:
    title = "Org plan (prem_status)"
    if status == "free":
        return Check.warned(
            "auth.prem_status", title,
            "the org is on the 'free' plan: the dashboard hides traces older than 3 days",
            f"run `{run_command('10_migration', set_prem_status='enterprise', apply=True)}` (tokens issued before "
            "the change get 401 and must be re-issued: restart long-running SDK clients)",
            severity=Severity.MINOR, evidence={"org_id": org_id, "prem_status": status})
    return Check.passed("auth.prem_status", title, f"the org's plan is {status!r}",
                        evidence={"org_id": org_id, "prem_status": status})


def _set_plan(conn: psycopg.Connection[Any], org_id: str, current: str, wanted: str, apply: bool,
              statement_timeout_ms: int) -> Check:
    title = "Org plan (prem_status)"
    if wanted not in PREM_STATUSES:
        return Check.failed("auth.prem_status", title, f"set_prem_status={wanted!r} is not a plan",
                            f"use one of {', '.join(PREM_STATUSES)}", evidence={"prem_status": current})
    if not apply:
        return Check.warned(
            "auth.prem_status", title,
            f"the org's plan is {current!r}; dry run: it would become {wanted!r} (nothing changed)",
            f"run `{run_command('10_migration', set_prem_status=wanted, apply=True)}` to change it",
            severity=Severity.MINOR,
            evidence={"org_id": org_id, "prem_status": current, "planned": wanted})
    try:
        with conn.transaction():
            conn.execute("SELECT set_config('statement_timeout', %s, true)", (f"{int(statement_timeout_ms)}ms",))
            conn.execute("UPDATE public.orgs SET prem_status = %s::public.prem_status WHERE id = %s::uuid",
                         (wanted, org_id))
    except psycopg.Error as exc:
        return Check.failed("auth.prem_status", title,
                            f"changing the plan failed: {redact(exc.diag.message_primary or type(exc).__name__)}",
                            "connect as the owner of public.orgs", evidence={"org_id": org_id})
    return Check.passed("auth.prem_status", title,
                        f"the org's plan changed from {current!r} to {wanted!r}; "
                        "re-issue SDK tokens (older ones get 401)",
                        evidence={"org_id": org_id, "prem_status": wanted, "previous": current})
