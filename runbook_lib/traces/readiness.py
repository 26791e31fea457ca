"""Is a trace store ready for the AgentOps dashboard? Checks over any store client.

The dashboard's Traces tab and project metrics need more than ``otel_2.otel_traces``: the cost
functions, the price dictionary and the span-count view of
:data:`~runbook_lib.traces.dashboard_objects.OBJECTS`. Without them those routes answer 500 while
every span is stored. And with them, a span is priced only when the model string the dashboard
looks up (response model, else request model, through ``normalize_model_name``) has a row in the
dictionary; otherwise the dashboard shows cost 0 for it.

:func:`readiness_checks` returns one :class:`~runbook_lib.checks.Check` per object and per model
string over a window; :func:`inspect_store` returns the same plus the facts behind them
(:class:`StoreReadiness`), which :mod:`runbook_lib.traces.store_repair` plans from. Every query is
read-only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..checks import Check, Severity, Status
from ..commands import repair_store_command
from ..errors import RunbookError
from . import dashboard_objects as objects
from .schema import COLUMNS, DATABASE, TABLE

__all__ = [
    "DASHBOARD_MODEL_EXPRESSION",
    "repair_remedy",
    "ModelCoverage",
    "StoreReadiness",
    "coverage_checks",
    "inspect_store",
    "model_coverage",
    "normalize_rule_sql",
    "object_checks",
    "readiness_checks",
]

#: The model string the dashboard prices a span by: the response model, else the request model.
DASHBOARD_MODEL_EXPRESSION = ("coalesce(nullIf(SpanAttributes['gen_ai.response.model'], ''), "
                              "nullIf(SpanAttributes['gen_ai.request.model'], ''))")


def repair_remedy() -> str:
    """What to run when objects or prices are missing (the command names this run's params file)."""
    return (f"repair the store from your AgentOps checkout: {repair_store_command()} "
            "(without -p repair_store true: the plan)")


_TOKENS = ("toUInt64OrZero(SpanAttributes['gen_ai.usage.prompt_tokens'])",
           "toUInt64OrZero(SpanAttributes['gen_ai.usage.completion_tokens'])")
_COST_KEYS = ("gen_ai.usage.total_cost", "gen_ai.usage.prompt_cost", "gen_ai.usage.completion_cost")


def _by_kind(kind: str) -> list[objects.DashboardObject]:
    return [obj for obj in objects.OBJECTS if obj.kind == kind]


def normalize_rule_sql(column: str = "model") -> str:
    """The dictionary-key rule of ``normalize_model_name`` as a SQL expression over ``column``.

    Read from the registry's definition (its lambda body), for stores that lack the function.
    """
    (obj,) = [o for o in objects.OBJECTS if o.name == "normalize_model_name"]
    body = obj.sql.split("->", 1)[1].strip()
    return body if column == "model" else body.replace("model", column)


@dataclass(frozen=True)
class ModelCoverage:
    """One model string the dashboard looks up, over a window.

    ``key``: the dictionary key (``normalize_model_name(model)``); ``priced``: the dictionary has a
    non-zero price for it; ``spans_without_cost``: spans that carry no ``gen_ai.usage.*_cost``
    attribute, so the dashboard's figure for them comes from the dictionary alone.
    """

    model: str
    key: str
    spans: int
    prompt_tokens: int
    completion_tokens: int
    spans_without_cost: int
    priced: bool
    prompt_cost_per_1k: float = 0.0
    completion_cost_per_1k: float = 0.0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class StoreReadiness:
    """What :func:`inspect_store` found: present and missing objects, dictionary status, model coverage."""

    database: str
    database_exists: bool
    table_exists: bool
    column_problems: list[str]
    present: set[str]
    missing: list[str]
    dictionary_status: str | None
    dictionary_error: str
    price_rows: dict[str, tuple[float, float]]
    coverage: list[ModelCoverage]
    window: tuple[dt.datetime, dt.datetime]
    checks: list[Check] = field(default_factory=list)

    @property
    def unpriced(self) -> list[ModelCoverage]:
        return [m for m in self.coverage if not m.priced]

    @property
    def ready(self) -> bool:
        return all(c.status is not Status.FAIL and c.status is not Status.ERROR for c in self.checks)


def _rows(store: Any, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in store.query_df(sql, params or {}).itertuples(index=False)]


def _object_names(store: Any, database: str) -> tuple[set[str], str | None, str]:
    """Present objects (``db.name`` / function names), the dictionary's status and its last error."""
    params = {"db": database}
    present = {f"{database}.{n}" for (n,) in _rows(store, "SELECT name FROM system.tables WHERE database = {db:String}",
                                                    params)}
    dicts = _rows(store, "SELECT name, toString(status), last_exception FROM system.dictionaries "
                         "WHERE database = {db:String}", params)
    present |= {f"{database}.{name}" for name, _, _ in dicts}
    present |= {n for (n,) in _rows(store, "SELECT name FROM system.functions WHERE origin = 'SQLUserDefined'")}
    dictionary = next(((status, error) for name, status, error in dicts if name == _by_kind("dictionary")[0].name),
                      (None, ""))
    return present, dictionary[0], dictionary[1] or ""


def _column_problems(store: Any, database: str) -> list[str]:
    found = dict(_rows(store, "SELECT name, type FROM system.columns WHERE database = {db:String} "
                              "AND table = {t:String} ORDER BY position", {"db": database, "t": TABLE}))
    problems = [f"{name}: missing (upstream: {ctype})" for name, ctype in COLUMNS if name not in found]
    problems += [f"{name}: {found[name]} (upstream: {ctype})" for name, ctype in COLUMNS
                 if name in found and found[name] != ctype]
    if "project_id" not in found:
        problems.append("project_id: missing (upstream: String MATERIALIZED from ResourceAttributes)")
    return problems


def _price_rows(store: Any, database: str) -> dict[str, tuple[float, float]]:
    dictionary = _by_kind("dictionary")[0].name
    rows = _rows(store, f"SELECT model, prompt_cost_per_1k, completion_cost_per_1k FROM {database}.{dictionary}")
    return {str(m): (float(p), float(c)) for m, p, c in rows}


def model_coverage(store: Any, start: dt.datetime, end: dt.datetime, *, project_id: str | None = None,
                   database: str = DATABASE, use_store_function: bool = True,
                   price_rows: dict[str, tuple[float, float]] | None = None) -> list[ModelCoverage]:
    """Every model string the spans in ``[start, end)`` carry, resolved as the dashboard resolves it.

    The key comes from the store's own ``normalize_model_name`` when ``use_store_function``, else from
    the same rule in SQL (:func:`normalize_rule_sql`). ``price_rows`` (key → per-1k prices, default:
    none) decides ``priced``.
    """
    key_expr = "normalize_model_name(model)" if use_store_function else normalize_rule_sql("model")
    where = ["Timestamp >= {start:DateTime64(9)}", "Timestamp < {end:DateTime64(9)}"]
    params: dict[str, Any] = {"start": start, "end": end}
    if project_id:
        where.append("ResourceAttributes['agentops.project.id'] = {project:String}")
        params["project"] = project_id
    no_cost = " AND ".join(f"SpanAttributes['{k}'] = ''" for k in _COST_KEYS)
    sql = (f"SELECT model, {key_expr} AS key, count() AS spans, sum(pt) AS prompt_tokens, sum(ct) AS completion_tokens,"
           f" countIf(no_cost) AS spans_without_cost FROM (SELECT {DASHBOARD_MODEL_EXPRESSION} AS model, "
           f"{_TOKENS[0]} AS pt, {_TOKENS[1]} AS ct, ({no_cost}) AS no_cost FROM {database}.{TABLE} "
           f"WHERE {' AND '.join(where)}) WHERE model IS NOT NULL GROUP BY model ORDER BY spans DESC, model")
    prices = price_rows or {}
    out = []
    for model, key, spans, pt, ct, without in _rows(store, sql, params):
        p, c = prices.get(str(key), (0.0, 0.0))
        out.append(ModelCoverage(str(model), str(key), int(spans), int(pt), int(ct), int(without),
                                 priced=(p > 0 or c > 0), prompt_cost_per_1k=p, completion_cost_per_1k=c))
    return out


def object_checks(found: StoreReadiness) -> list[Check]:
    """Checks for the database, ``otel_traces`` (columns and types) and every registry object."""
    db = found.database
    checks = []
    if not found.database_exists:
        checks.append(Check.failed(
            "store.database", f"database {db}", f"the store has no database {db}",
            remedy=f"CREATE DATABASE {db}, then apply your AgentOps checkout's app/clickhouse/migrations "
                   f"(0000_init.sql first); {repair_remedy()}", severity=Severity.CRITICAL))
    else:
        checks.append(Check.passed("store.database", f"database {db}", f"database {db} exists"))
    title = f"{db}.{TABLE} with upstream's columns"
    if not found.table_exists:
        checks.append(Check.failed("store.otel_traces", title, f"the store has no {db}.{TABLE}: no span can be stored",
                                   remedy="apply 0000_init.sql of your AgentOps checkout's app/clickhouse/migrations",
                                   severity=Severity.CRITICAL))
    elif found.column_problems:
        checks.append(Check.failed("store.otel_traces", title,
                                   f"{len(found.column_problems)} column(s) differ from upstream's 0000_init.sql",
                                   evidence={"columns": found.column_problems},
                                   remedy="recreate the table from your checkout's 0000_init.sql (export the spans "
                                          "first) or point the store at a table built by it",
                                   severity=Severity.CRITICAL))
    else:
        checks.append(Check.passed("store.otel_traces", title,
                                   f"all {len(COLUMNS)} columns and project_id as upstream"))
    for obj in objects.OBJECTS:
        name = obj.qualified(db)
        check_id = f"store.{obj.kind}.{obj.name}"
        obj_title = f"{obj.kind} {name}"
        if name not in found.present:
            checks.append(Check.failed(
                check_id, obj_title, f"missing: {obj.purpose}; the dashboard's Traces tab and metrics answer 500 "
                                     "(UNKNOWN_FUNCTION / UNKNOWN_TABLE) without it",
                evidence={"object": name, "kind": obj.kind}, remedy=repair_remedy()))
        elif obj.kind == "dictionary" and found.dictionary_status != "LOADED":
            status = found.dictionary_status or "unknown"
            error = found.dictionary_error.splitlines()[0][:300] if found.dictionary_error else ""
            summary = f"status {status}" + (f": {error}" if error else "")
            remedy = (f"SYSTEM RELOAD DICTIONARY {name} (after fixing its source {db}.model_costs_source)"
                      if error or status != "NOT_LOADED" else f"SYSTEM RELOAD DICTIONARY {name}")
            checks.append(Check(check_id, obj_title, Status.WARN if status == "NOT_LOADED" and not error
                                else Status.FAIL, summary=summary,
                                evidence={"status": status, "last_exception": error}, remedy=remedy))
        elif obj.kind == "dictionary":
            checks.append(Check.passed(check_id, obj_title, f"LOADED, {len(found.price_rows)} price row(s)",
                                       evidence={"status": "LOADED", "rows": len(found.price_rows)}))
        else:
            checks.append(Check.passed(check_id, obj_title, f"present: {obj.purpose}"))
    return checks


def coverage_checks(coverage: Sequence[ModelCoverage], window: tuple[dt.datetime, dt.datetime],
                    *, dictionary_ready: bool = True) -> list[Check]:
    """One check per model string: its price row, or what the dashboard shows without one."""
    span = f"{window[0]:%Y-%m-%d %H:%M} – {window[1]:%Y-%m-%d %H:%M} UTC"
    if not coverage:
        return [Check.skipped("store.prices", "model prices", f"no span in {span} carries a model")]
    checks = []
    for m in coverage:
        evidence = {"model": m.model, "key": m.key, "spans": m.spans, "prompt_tokens": m.prompt_tokens,
                    "completion_tokens": m.completion_tokens, "spans_without_cost_attributes": m.spans_without_cost}
        title = f"price for {m.model}"
        check_id = f"store.price.{m.model}"
        if m.priced:
            checks.append(Check.passed(check_id, title, f"priced as {m.key!r}: {m.prompt_cost_per_1k:g} / "
                                       f"{m.completion_cost_per_1k:g} USD per 1k prompt/completion tokens "
                                       f"({m.spans} spans)", evidence={**evidence, "prompt_cost_per_1k":
                                       m.prompt_cost_per_1k, "completion_cost_per_1k": m.completion_cost_per_1k}))
            continue
        why = f"no price row for {m.key!r}" if dictionary_ready else "the price dictionary is missing or not loaded"
        if m.spans_without_cost:
            summary = (f"shows cost 0 in the dashboard: {m.spans_without_cost} spans, "
                       f"{m.tokens if m.spans_without_cost == m.spans else 'up to ' + str(m.tokens)} tokens ({why})")
            checks.append(Check.warned(check_id, title, summary, evidence=evidence, remedy=repair_remedy(),
                                       severity=Severity.MAJOR))
        else:
            checks.append(Check.warned(check_id, title, f"{why}; all {m.spans} spans carry cost attributes, so "
                                       "the dashboard's figures use those, but the price fallback would be 0",
                                       evidence=evidence, remedy=repair_remedy()))
    return checks


def inspect_store(store: Any, *, start: dt.datetime | None = None, end: dt.datetime | None = None,
                  days: float = 7.0, project_id: str | None = None, database: str = DATABASE) -> StoreReadiness:
    """Read the store's objects, dictionary status and model coverage over ``[start, end)`` (default:
    the last ``days`` days); return them with their checks. Read-only."""
    end = end or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    start = start or end - dt.timedelta(days=days)
    found = StoreReadiness(database, False, False, [], set(), [], None, "", {}, [], (start, end))
    try:
        found.database_exists = bool(_rows(store, "SELECT 1 FROM system.databases WHERE name = {db:String}",
                                           {"db": database}))
        found.present, found.dictionary_status, found.dictionary_error = _object_names(store, database)
        found.table_exists = f"{database}.{TABLE}" in found.present
        if found.table_exists:
            found.column_problems = _column_problems(store, database)
        found.missing = [o.qualified(database) for o in objects.OBJECTS if o.qualified(database) not in found.present]
        found.checks = object_checks(found)
        dictionary_ready = found.dictionary_status == "LOADED"
        if dictionary_ready:
            found.price_rows = _price_rows(store, database)
            found.checks = object_checks(found)  # the dictionary check names its row count
        if found.table_exists:
            found.coverage = model_coverage(store, start, end, project_id=project_id, database=database,
                                            use_store_function="normalize_model_name" in found.present,
                                            price_rows=found.price_rows)
            found.checks += coverage_checks(found.coverage, (start, end), dictionary_ready=dictionary_ready)
    except RunbookError as exc:
        found.checks.append(Check.from_error("store.readiness", "trace store readiness (could not inspect the store)",
                                             exc, status=Status.ERROR, severity=Severity.CRITICAL,
                                             more_remedy="" if exc.hint else
                                             "check trace_store_url and its credentials"))
    return found


def readiness_checks(store: Any, **kwargs: Any) -> list[Check]:
    """The checks of :func:`inspect_store` (same arguments)."""
    return inspect_store(store, **kwargs).checks
