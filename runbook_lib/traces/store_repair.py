"""Repair a trace store for the dashboard: missing objects from the operator's checkout, missing prices.

Like ``10_migration``'s repair: :func:`repair_store` plans first and shows every statement; without
``apply`` it changes nothing (dry run). With ``apply=True`` it

1. creates the objects :mod:`~runbook_lib.traces.readiness` found missing, running the statements of the
   operator's AgentOps checkout (``app/clickhouse/migrations``, read by
   :mod:`~runbook_lib.traces.clickhouse_migrations`) that touch those objects only, so an existing
   object is never dropped or replaced, and its seed ``INSERT`` s only when it creates the price table;
2. inserts a price row for every model string the dashboard looks up over the window and finds no
   row for (prices from :mod:`~runbook_lib.traces.prices`, keyed by ``normalize_model_name`` of that
   string, the exact key the cost functions look up); an existing row is never changed or deleted;
3. reloads the price dictionary and re-runs the readiness checks to verify.

A second run finds nothing to do. A path that is not an AgentOps checkout, or a checkout that does
not create a missing object, is refused before any statement runs.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..checks import Check, Severity, Status
from ..commands import repair_store_command
from ..errors import RunbookError, TraceStoreError
from . import clickhouse_migrations as migrations
from . import dashboard_objects as objects
from . import prices as price_source
from . import readiness
from .schema import DATABASE, TABLE, quote_identifier

__all__ = [
    "PlannedStatement",
    "StoreRepairPlan",
    "StoreRepairResult",
    "plan_store_repair",
    "repair_store",
]

_PRICE_TABLE = next(o for o in objects.OBJECTS if o.kind == "table" and o.name == "model_costs_source")
_DICTIONARY = next(o for o in objects.OBJECTS if o.kind == "dictionary")
_SEED_MODEL = re.compile(r"\(\s*'((?:[^'\\]|\\.)*)'\s*,")


@dataclass(frozen=True)
class PlannedStatement:
    """One statement of the repair: ``origin`` is ``checkout`` (file#index), ``prices`` or ``reload``."""

    origin: str
    purpose: str
    sql: str


@dataclass
class StoreRepairPlan:
    """What the repair would run, what it leaves alone and why. ``price_rows[i]`` is priced by
    ``price_matches[i]``; ``no_price`` lists model strings no source prices."""

    checkout: Path | None
    database: str
    statements: list[PlannedStatement]
    price_rows: list[objects.PriceRow]
    price_matches: list[price_source.PriceMatch]
    no_price: list[str]
    existing_price_keys: set[str]
    source: str
    source_version: str
    skipped: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.statements

    def sql_text(self) -> str:
        """Every statement, each with a comment saying where it comes from and what it does."""
        return "\n\n".join(f"-- {s.origin}: {s.purpose}\n{s.sql.strip()};" for s in self.statements)


@dataclass
class StoreRepairResult:
    """What :func:`repair_store` did. ``checks`` are ready for ``display_checks``."""

    mode: str  # dry_run | apply
    ok: bool
    changed: bool
    plan: StoreRepairPlan | None
    sql: str
    checks: list[Check]
    executed: list[PlannedStatement] = field(default_factory=list)
    before: readiness.StoreReadiness | None = None
    after: readiness.StoreReadiness | None = None

    @property
    def source(self) -> str:
        return f"{self.plan.source} {self.plan.source_version}" if self.plan else ""


def _query(store: Any):  # noqa: ANN202 - the Query shape clickhouse_migrations expects
    def rows(sql: str) -> list[tuple[str, ...]]:
        return [tuple(str(v) for v in r) for r in store.query_df(sql).itertuples(index=False)]
    return rows


def _existing_price_keys(store: Any, database: str, present: set[str]) -> set[str]:
    if _PRICE_TABLE.qualified(database) not in present:
        return set()
    return {m for (m,) in _query(store)(f"SELECT DISTINCT model FROM {database}.{_PRICE_TABLE.name}")}


def plan_store_repair(store: Any, agentops_src: str | Path | None, *, start: dt.datetime | None = None,
                      end: dt.datetime | None = None, days: float = 7.0, project_id: str | None = None,
                      user_prices: Mapping[str, Any] | None = None,
                      source: price_source.PriceSource | str | None = None, database: str = DATABASE,
                      found: readiness.StoreReadiness | None = None) -> StoreRepairPlan:
    """Plan the repair (read-only). Raises :class:`~runbook_lib.errors.TraceStoreError` when the
    checkout cannot provide a missing object. Without ``agentops_src`` only price rows are planned, and
    a store that lacks objects is refused."""
    plan = migrations.read_plan(agentops_src) if agentops_src else None  # refuses a path that is no checkout
    found = found or readiness.inspect_store(store, start=start, end=end, days=days, project_id=project_id,
                                             database=database)
    errors = [c for c in found.checks if c.status is Status.ERROR]
    if errors:
        raise TraceStoreError(errors[0].summary, hint=errors[0].remedy)
    existing = migrations.existing_objects(_query(store))
    missing = ([] if found.table_exists else [f"{database}.{TABLE}"]) + list(found.missing)
    if missing and plan is None:
        raise TraceStoreError(f"the store lacks {', '.join(missing)}; the repair creates them from your AgentOps "
                              "checkout, never from SQL of its own",
                              hint="pass agentops_src=<root of your AgentOps checkout> (it has "
                                   "app/clickhouse/migrations)")
    if plan is None:
        plan = migrations.MigrationPlan(Path("."), (), ())
    if missing and database not in plan.databases():
        raise TraceStoreError(f"the checkout's migrations create objects in {', '.join(plan.databases())}, "
                              f"not in {database}", hint=f"repair database {', '.join(plan.databases())}")
    created = set(plan.created())
    not_in_checkout = [name for name in missing if name not in created]
    if not_in_checkout:
        raise TraceStoreError(f"the checkout at {agentops_src} does not create {', '.join(not_in_checkout)}",
                              hint="pass the root of an AgentOps checkout whose app/clickhouse/migrations "
                                   "create the dashboard's objects")

    statements: list[PlannedStatement] = []
    skipped = []
    if missing and not found.database_exists:
        statements.append(PlannedStatement("runbook", f"the checkout's migrations assume database {database}",
                                           f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database)}"))
    seeded: set[str] = set()
    wanted = set(missing)
    for stmt in plan:
        if stmt.name not in wanted:
            if stmt.name in existing and stmt.action in ("create", "drop"):
                skipped.append(f"{stmt.label}: exists, left as it is")
            continue
        if stmt.action == "insert":
            seeded |= {m.replace("\\'", "'") for m in _SEED_MODEL.findall(stmt.sql)}
        sql = migrations.point_dictionaries_at_local_store(stmt.sql)
        statements.append(PlannedStatement(f"{stmt.file}#{stmt.index}", f"{stmt.action} {stmt.kind} {stmt.name}",
                                           sql))

    source_keys = _existing_price_keys(store, database, found.present)
    existing_keys = source_keys | seeded
    stale = any(m.key in source_keys and m.key not in found.price_rows for m in found.coverage)
    book = price_source.price_book(user_prices, source=source)
    rows: list[objects.PriceRow] = []
    matches: list[price_source.PriceMatch] = []
    no_price: list[str] = []
    for m in found.coverage:
        if m.priced or m.key in existing_keys or any(r.model == m.key for r in rows):
            continue
        match = book.price_for(m.model) or book.price_for(m.key)
        if match is None:
            no_price.append(m.model)
            continue
        rows.append(objects.PriceRow(m.key, match.prompt_cost_per_1k, match.completion_cost_per_1k))
        matches.append(match)
    if rows:
        insert, _reload = objects.price_statements(database, rows)
        statements.append(PlannedStatement("prices", f"{len(rows)} price row(s) from {book.source.label}"
                                           + (" and your table" if book.user else ""), insert))
    dictionary = _DICTIONARY.qualified(database)
    if rows or seeded or stale or (dictionary in found.present and found.dictionary_status != "LOADED"):
        statements.append(PlannedStatement("reload", f"load {dictionary} with the price rows",
                                           f"SYSTEM RELOAD DICTIONARY {dictionary}"))
    return StoreRepairPlan(Path(agentops_src) if agentops_src else None, database, statements, rows, matches,
                           no_price, existing_keys, book.source.name, book.source.version, skipped)


def _plan_checks(plan: StoreRepairPlan, applied: bool) -> list[Check]:
    verb = "ran" if applied else "would run"
    checks = []
    n = len(plan.statements)
    evidence = {"statements": [f"{s.origin}: {s.purpose}" for s in plan.statements], "skipped": plan.skipped,
                "price_source": plan.source, "price_source_version": plan.source_version}
    if plan.empty:
        checks.append(Check.passed("store_repair.plan", "store repair", "nothing to do: every dashboard object "
                                   "exists and every priceable model string has a price row", evidence=evidence))
    elif applied:
        checks.append(Check.passed("store_repair.plan", "store repair", f"{verb} {n} statement(s)", evidence=evidence))
    else:
        checks.append(Check.warned("store_repair.plan", "store repair", f"{verb} {n} statement(s) (dry run: "
                                   "nothing changed)", remedy=f"apply it: {repair_store_command()}", evidence=evidence))
    for match in plan.price_matches:
        checks.append(Check.passed(f"store_repair.price.{match.model}", f"price for {match.model}",
                                   f"{verb} insert: " + match.describe(),
                                   evidence={"key": match.key, "rule": match.rule, "source": match.source,
                                             "version": match.version}))
    for model in plan.no_price:
        checks.append(Check.warned(f"store_repair.price.{model}", f"price for {model}",
                                   f"no price for {model!r} in {plan.source} {plan.source_version} or your table: "
                                   "the dashboard keeps showing cost 0 for its spans without cost attributes",
                                   remedy=f"add {model!r} to your price table (user_prices) and run the repair again"))
    return checks


def repair_store(store: Any, agentops_src: str | Path | None, *, apply: bool = False, start: dt.datetime | None = None,
                 end: dt.datetime | None = None, days: float = 7.0, project_id: str | None = None,
                 user_prices: Mapping[str, Any] | None = None,
                 source: price_source.PriceSource | str | None = None,
                 database: str = DATABASE) -> StoreRepairResult:
    """Plan (and with ``apply=True`` run and verify) the store repair; never raises for expected failures."""
    mode = "apply" if apply else "dry_run"
    window: dict[str, Any] = {"start": start, "end": end, "days": days, "project_id": project_id, "database": database}
    before = readiness.inspect_store(store, **window)
    lacking = before.missing + ([] if before.table_exists else [f"{database}.{TABLE}"])
    if not agentops_src and lacking and not apply:
        return StoreRepairResult(mode, True, False, None, "", [Check.skipped(
            "store_repair.plan", "store repair",
            f"not planned: the store lacks {len(lacking)} object(s) (see the readiness checks) and the repair "
            "creates them only from your AgentOps checkout", remedy="pass agentops_src=<root of your AgentOps "
                                                                     "checkout> to see the plan",
            severity=Severity.MAJOR)], before=before)
    try:
        plan = plan_store_repair(store, agentops_src, user_prices=user_prices, source=source, found=before,
                                 **window)
    except RunbookError as exc:
        refused = Check.from_error("store_repair.plan", "store repair", exc, severity=Severity.CRITICAL)
        refused = Check(refused.id, refused.title, refused.status, refused.severity,
                        f"refused, nothing changed: {refused.summary}", refused.evidence, refused.remedy)
        return StoreRepairResult(mode, False, False, None, "", [refused], before=before)
    if not apply or plan.empty:
        checks = _plan_checks(plan, applied=False) if not plan.empty else _plan_checks(plan, applied=True)
        return StoreRepairResult(mode, True, False, plan, plan.sql_text(), checks, before=before)
    executed: list[PlannedStatement] = []
    for stmt in plan.statements:
        try:
            store.execute(stmt.sql)
        except RunbookError as exc:
            failed = Check.from_error("store_repair.apply", f"store repair: {stmt.origin} ({stmt.purpose}) failed "
                                      f"after {len(executed)} statement(s)", exc, severity=Severity.CRITICAL,
                                      more_remedy="read the statement and the server log",
                                      evidence={"ran": [f"{s.origin}: {s.purpose}" for s in executed]})
            return StoreRepairResult(mode, False, bool(executed), plan, plan.sql_text(), [failed], executed,
                                     before=before)
        executed.append(stmt)
    after = readiness.inspect_store(store, **window)
    remaining = [c for c in after.checks if c.status in (Status.FAIL, Status.ERROR)]
    unpriced = [m.model for m in after.unpriced if m.spans_without_cost]
    priced = f"{sum(m.priced for m in after.coverage)} of {len(after.coverage)} model string(s) priced"
    if remaining:
        verify = Check.failed("store_repair.verify", "store readiness after the repair",
                              f"{len(remaining)} gap(s) remain: "
                              + "; ".join(f"{c.id}: {c.summary}" for c in remaining),
                              remedy="read each remaining readiness check",
                              evidence={"remaining": [c.id for c in remaining]}, severity=Severity.CRITICAL)
    elif unpriced:
        verify = Check.warned("store_repair.verify", "store readiness after the repair",
                              f"every dashboard object present, dictionary {after.dictionary_status}, {priced}; "
                              f"still shown at cost 0: {', '.join(unpriced)}",
                              remedy="add them to your price table (user_prices); an existing row is never changed",
                              evidence={"unpriced": unpriced})
    else:
        verify = Check.passed("store_repair.verify", "store readiness after the repair",
                              f"every dashboard object present, dictionary {after.dictionary_status}, {priced}")
    checks = _plan_checks(plan, applied=True) + [verify]
    return StoreRepairResult(mode, not remaining, True, plan, plan.sql_text(), checks, executed, before, after)

