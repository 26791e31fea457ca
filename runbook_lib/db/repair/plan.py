"""Repair plan derived from a drift report, and its safe, verified application.

:func:`plan_repair` turns the findings of a :class:`~runbook_lib.db.drift.DriftReport` into
ordered :class:`RepairStep` items (oldest migration first). Each step carries its SQL (identifiers
composed with :mod:`psycopg.sql`), a precondition probe (``SELECT`` true while the step is still
needed), a verify query (true once the desired state holds) and preflight probes that find rows
which would make it fail (duplicate keys, NULLs, orphan references).

:func:`run_repair` is the one entry point for the notebook: without ``apply`` it reads, plans and
probes in a READ ONLY transaction and returns the plan as SQL ("dry run"). With ``apply=True`` it
runs everything in ONE transaction: ``SET LOCAL lock_timeout/statement_timeout``,
``pg_advisory_xact_lock`` (works behind a transaction-mode pooler), re-reads the catalog and
re-plans under the lock (so a second, concurrent run finds nothing to do), runs the preflight
probes, takes row counts and checksums of every touched table, runs the steps (probe, SQL,
verify), compares the checksums, re-reads the drift, records the now-present versions in the
Supabase ledger (when it exists) and commits. Any failure rolls everything back.

What counts as destructive (only done with ``allow_destructive=True``): dropping a table, dropping
a column, or any statement that deletes rows or values. Structural changes that keep every row
and value are not destructive: renaming a column, table or constraint, moving a table to
another schema, and *replacing* a key or index within the same step (for example the
``org_invites`` fix: the old primary key ``(user_id, org_id)`` is dropped and the new one
``(org_id, invitee_email)`` added in one step, after a preflight proved the rows satisfy it;
the old foreign key ``org_invites_users_id_fkey`` is renamed to ``org_invites_inviter_id_fkey``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from ..checks import Check, Severity
from ..commands import REPAIR_SCHEMA
from ..errors import DatabaseError, RunbookError
from ..secrets import SecretRef, redact
from .drift import COVERED, DIFFERS, MISSING, OBSOLETE, PRESENT, DriftReport, Finding, analyse, read_migrations_dir
from .expected import ExpectedSchema, TableSpec, short_table
from .limits import SessionLimits, is_timeout, timeout_error

__all__ = [
    "ADVISORY_LOCK_KEY",
    "Preflight",
    "RepairStep",
    "RepairPlan",
    "RepairResult",
    "StepOutcome",
    "plan_repair",
    "run_repair",
    "preflight",
    "table_checksums",
]

#: Key of the transaction-level advisory lock every 10_migration repair takes.
ADVISORY_LOCK_KEY = 0x41_4F_52_42_00_10  # "AORB" + 10_migration

_RANK = {"create_schema": 0, "create_enum": 1, "move_table": 2, "create_table": 3, "rename_column": 4,
         "add_column": 5, "alter_column": 6, "backfill": 7, "primary_key": 8, "unique": 9,
         "rename_constraint": 10, "foreign_key": 10, "index": 11, "drop_table": 12}

_FK_SQL = {"no action": "NO ACTION", "restrict": "RESTRICT", "cascade": "CASCADE", "set null": "SET NULL",
           "set default": "SET DEFAULT"}
_MAX_ROWS = 20


# -- data model -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Preflight:
    """A read-only probe returning offending rows (JSON objects); any row blocks the plan."""

    step_id: str
    description: str
    query: sql.Composable
    remedy: str


@dataclass
class RepairStep:
    """One ordered repair step."""

    id: str
    version: str
    action: str
    title: str
    statements: list[sql.Composable]
    probe: sql.Composable
    verify: sql.Composable
    table: tuple[str, str] | None = None
    table_before: tuple[str, str] | None = None
    renames: dict[str, str] = field(default_factory=dict)
    destructive: bool = False
    covers: list[str] = field(default_factory=list)
    preflight: list[Preflight] = field(default_factory=list)

    def render(self, conn: Any) -> str:
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

    def sql_text(self, conn: Any, lock_timeout_ms: int = 5000, statement_timeout_ms: int = 60000) -> str:
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

    def rows(self, conn: Any) -> list[dict[str, Any]]:
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


# -- SQL helpers ----------------------------------------------------------------------------------

def _q(schema: str, name: str) -> sql.Identifier:
    return sql.Identifier(schema, name)


def _lit(value: Any) -> sql.Literal:
    return sql.Literal(value)


def _rel_filter(schema: str, table: str) -> sql.Composed:
    return sql.SQL("n.nspname = {} AND c.relname = {}").format(_lit(schema), _lit(table))


def _sel(cond: sql.Composable) -> sql.Composed:
    return sql.SQL("SELECT ") + cond


def _not(cond: sql.Composable) -> sql.Composed:
    return sql.SQL("NOT (") + cond + sql.SQL(")")


def _schema_exists(schema: str) -> sql.Composed:
    return sql.SQL("EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = {})").format(_lit(schema))


def _table_exists(schema: str, table: str) -> sql.Composed:
    return sql.SQL(
        "EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE {} AND c.relkind IN ('r', 'p'))").format(_rel_filter(schema, table))


def _column_exists(schema: str, table: str, column: str, spec: dict[str, Any] | None = None) -> sql.Composed:
    extra: sql.Composable = sql.SQL("")
    if spec is not None:
        extra = sql.SQL(
            " AND pg_catalog.format_type(a.atttypid, a.atttypmod) = {} AND a.attnotnull = {}"
            " AND pg_catalog.pg_get_expr(d.adbin, d.adrelid) IS NOT DISTINCT FROM {}").format(
            _lit(spec["type"]), _lit(bool(spec.get("not_null", False))), _lit(spec.get("default")))
    return sql.SQL(
        "EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE {} AND a.attname = {} AND a.attnum > 0 AND NOT a.attisdropped{})").format(
        _rel_filter(schema, table), _lit(column), extra)


def _constraint_exists(schema: str, table: str, name: str, kind: str, columns: list[str] | None = None,
                       fk: dict[str, Any] | None = None) -> sql.Composed:
    cond = sql.SQL("{} AND con.conname = {} AND con.contype = {}").format(
        _rel_filter(schema, table), _lit(name), _lit(kind))
    if columns is not None:
        cond += sql.SQL(
            " AND ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord) "
            "JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum "
            "ORDER BY k.ord) = {}::text[]").format(_lit(list(columns)))
    if fk is not None:
        ref_schema, ref_table = fk["references"].split(".", 1)
        cond += sql.SQL(
            " AND con.confrelid = (SELECT rc.oid FROM pg_catalog.pg_class rc JOIN pg_catalog.pg_namespace rn "
            "ON rn.oid = rc.relnamespace WHERE rn.nspname = {} AND rc.relname = {})"
            " AND con.confupdtype = {} AND con.confdeltype = {}").format(
            _lit(ref_schema), _lit(ref_table), _lit(_fk_code(fk["on_update"])), _lit(_fk_code(fk["on_delete"])))
    return sql.SQL(
        "EXISTS (SELECT 1 FROM pg_catalog.pg_constraint con JOIN pg_catalog.pg_class c ON c.oid = con.conrelid "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE {})").format(cond)


def _fk_code(words: str) -> str:
    return {"no action": "a", "restrict": "r", "cascade": "c", "set null": "n", "set default": "d"}[words]


def _index_exists(schema: str, table: str, name: str, keys: str | None = None) -> sql.Composed:
    cond = sql.SQL("{} AND i.relname = {}").format(_rel_filter(schema, table), _lit(name))
    if keys is not None:
        cond += sql.SQL(" AND regexp_replace(pg_catalog.pg_get_indexdef(ix.indexrelid), '^.* USING ', '') = {}"
                        ).format(_lit(keys))
    return sql.SQL(
        "EXISTS (SELECT 1 FROM pg_catalog.pg_index ix JOIN pg_catalog.pg_class i ON i.oid = ix.indexrelid "
        "JOIN pg_catalog.pg_class c ON c.oid = ix.indrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE {})").format(cond)


def _column_sql(col: dict[str, Any]) -> sql.Composed:
    out = sql.SQL("{} {}").format(sql.Identifier(col["name"]), sql.SQL(col["type"]))
    if col.get("default") is not None:
        out += sql.SQL(" DEFAULT ") + sql.SQL(col["default"])
    if col.get("not_null"):
        out += sql.SQL(" NOT NULL")
    return out


def _ident_list(names: Sequence[str]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(n) for n in names)


def _fk_clause(fk: dict[str, Any]) -> sql.Composed:
    ref_schema, ref_table = fk["references"].split(".", 1)
    return sql.SQL("CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON UPDATE {} ON DELETE {}").format(
        sql.Identifier(fk["name"]), _ident_list(fk["columns"]), _q(ref_schema, ref_table),
        _ident_list(fk["ref_columns"]), sql.SQL(_FK_SQL[fk["on_update"]]), sql.SQL(_FK_SQL[fk["on_delete"]]))


def _norm_fk(spec: dict[str, Any]) -> dict[str, Any]:
    ref = spec["references"] if "." in spec["references"] else f"public.{spec['references']}"
    return {**spec, "references": ref, "on_update": spec.get("on_update", "no action"),
            "on_delete": spec.get("on_delete", "no action")}


def _index_sql(schema: str, table: str, idx: dict[str, Any]) -> sql.Composed:
    return sql.SQL("CREATE INDEX {} ON {} USING {}").format(sql.Identifier(idx["name"]), _q(schema, table),
                                                            sql.SQL(idx["keys"]))


def _rows_query(schema: str, table: str, where: sql.Composable) -> sql.Composed:
    return sql.SQL("SELECT row_to_json(t) FROM {} AS t WHERE {} LIMIT {}").format(
        _q(schema, table), where, _lit(_MAX_ROWS))


# -- planning -------------------------------------------------------------------------------------

class _Planner:
    def __init__(self, report: DriftReport, allow_destructive: bool) -> None:
        self.report = report
        self.expected = report.expected
        self.snap = report.snapshot
        self.allow_destructive = allow_destructive
        self.steps: list[RepairStep] = []
        self.skipped: list[tuple[Finding, str]] = []
        # (schema, table) -> {final column name: current column name} for renames planned here.
        self.renamed: dict[tuple[str, str], dict[str, str]] = {}
        self.added: dict[tuple[str, str], set[str]] = {}

    def current_name(self, key: tuple[str, str], column: str) -> str:
        return self.renamed.get(key, {}).get(column, column)

    def add(self, step: RepairStep) -> None:
        self.steps.append(step)

    def skip(self, finding: Finding, reason: str) -> None:
        self.skipped.append((finding, reason))

    def plan(self) -> RepairPlan:
        findings = sorted(self.report.findings, key=lambda f: (f.version, _kind_rank(f), f.check_id))
        # Renames first (within the whole plan) so later preflights can map names.
        for f in findings:
            if f.object.kind == "column" and f.problem == MISSING and f.legacy:
                key = (f.object.schema, f.object.table or "")
                self.renamed.setdefault(key, {})[f.object.name] = f.legacy["name"]
        for f in findings:
            handler = getattr(self, f"_on_{f.object.kind}", None)
            if f.problem == COVERED:
                continue
            if handler is None:
                self.skip(f, "no automatic repair for this kind of object")
                continue
            handler(f)
        self.steps.sort(key=lambda s: (s.version, _RANK[s.action], s.id))
        return RepairPlan(self.steps, self.skipped, self.allow_destructive, self.expected)

    # schema / enum / tables ---------------------------------------------------------------------
    def _on_schema(self, f: Finding) -> None:
        name = f.object.name
        self.add(RepairStep(
            f"{f.version}.schema.{name}", f.version, "create_schema", f"create schema {name}",
            [sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name))],
            _sel(_not(_schema_exists(name))), _sel(_schema_exists(name)), covers=[f.check_id]))

    def _on_enum(self, f: Finding) -> None:
        if f.problem != MISSING:
            self.skip(f, "enum labels differ: add them by hand with ALTER TYPE ... ADD VALUE")
            return
        o = f.object
        labels = sql.SQL(", ").join(_lit(x) for x in o.spec["labels"])
        exists = sql.SQL(
            "EXISTS (SELECT 1 FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace "
            "WHERE n.nspname = {} AND t.typname = {})").format(_lit(o.schema), _lit(o.name))
        self.add(RepairStep(
            f"{f.version}.enum.{o.name}", f.version, "create_enum", f"create enum {o.schema}.{o.name}",
            [sql.SQL("CREATE TYPE {} AS ENUM ({})").format(_q(o.schema, o.name), labels)],
            _sel(_not(exists)), _sel(exists), covers=[f.check_id]))

    def _on_table(self, f: Finding) -> None:
        o = f.object
        spec = self.expected.tables[(o.schema, o.name)]
        covers = [f.check_id] + [x.check_id for x in self.report.findings
                                 if x.covered_by == f.check_id and x.problem == COVERED]
        if f.legacy and f.legacy.get("kind") == "table" and spec.moved_from:
            old_schema, old_name = spec.moved_from
            self.add(RepairStep(
                f"{f.version}.{short_table(o.schema, o.name)}.move", f.version, "move_table",
                f"move {old_schema}.{old_name} to schema {o.schema} (rows kept)",
                [sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(_q(old_schema, old_name), sql.Identifier(o.schema))],
                _sel(sql.SQL("{} AND NOT {}").format(_table_exists(old_schema, old_name),
                                                      _table_exists(o.schema, o.name))),
                _sel(_table_exists(o.schema, o.name)), table=(o.schema, o.name),
                table_before=(old_schema, old_name), covers=covers))
            return
        self.add(RepairStep(
            f"{f.version}.{short_table(o.schema, o.name)}.create", f.version, "create_table",
            f"create table {o.schema}.{o.name}", _create_table(spec),
            _sel(_not(_table_exists(o.schema, o.name))), _sel(_table_exists(o.schema, o.name)),
            table=(o.schema, o.name), covers=covers))

    def _on_obsolete_table(self, f: Finding) -> None:
        o = f.object
        if not self.allow_destructive:
            self.skip(f, "dropping a table is destructive: run with allow_destructive=True to drop it")
            return
        self.add(RepairStep(
            f"{f.version}.{short_table(o.schema, o.name)}.drop", f.version, "drop_table",
            f"drop obsolete table {o.schema}.{o.name} (DESTRUCTIVE: its rows are lost)",
            [sql.SQL("DROP TABLE {}").format(_q(o.schema, o.name))],
            _sel(_table_exists(o.schema, o.name)), _sel(_not(_table_exists(o.schema, o.name))),
            table=(o.schema, o.name), destructive=True, covers=[f.check_id]))

    # columns ------------------------------------------------------------------------------------
    def _on_column(self, f: Finding) -> None:
        o = f.object
        key = (o.schema, o.table or "")
        table = self.snap.table(*key)
        spec = o.spec
        tid = short_table(*key)
        if f.problem == MISSING and f.legacy:
            old = f.legacy["name"]
            self.add(RepairStep(
                f"{f.version}.{tid}.{o.name}.rename", f.version, "rename_column",
                f"rename column {o.schema}.{o.table}.{old} to {o.name} (data kept)",
                [sql.SQL("ALTER TABLE {} RENAME COLUMN {} TO {}").format(
                    _q(*key), sql.Identifier(old), sql.Identifier(o.name))],
                _sel(sql.SQL("{} AND NOT {}").format(_column_exists(*key, old), _column_exists(*key, o.name))),
                _sel(_column_exists(*key, o.name)), table=key, renames={old: o.name}, covers=[f.check_id]))
            live = {"type": f.legacy["type"], "not_null": f.legacy["not_null"], "default": f.legacy["default"]}
            if live["type"] != spec["type"]:
                self.skip(f, f"the old column {old} has type {live['type']}, expected {spec['type']}: convert by hand")
            else:
                self._align_column(f, key, live, step_suffix="after-rename")
            return
        if f.problem == MISSING:
            not_null = bool(spec.get("not_null"))
            pre: list[Preflight] = []
            step_id = f"{f.version}.{tid}.{o.name}.add"
            if not_null and spec.get("default") is None and table is not None:
                pre.append(Preflight(
                    step_id, f"{o.schema}.{o.table} has rows, so a NOT NULL column without default cannot be added",
                    _rows_query(*key, sql.SQL("true")),
                    "add the column by hand with a default, fill it, then run the repair again"))
            self.add(RepairStep(
                step_id, f.version, "add_column", f"add column {o.label}",
                [sql.SQL("ALTER TABLE {} ADD COLUMN {}").format(_q(*key), _column_sql(spec))],
                _sel(_not(_column_exists(*key, o.name))), _sel(_column_exists(*key, o.name, spec)),
                table=key, covers=[f.check_id], preflight=pre))
            self.added.setdefault(key, set()).add(o.name)
            tspec = self.expected.tables[key]
            for backfill in tspec.backfills:
                if backfill["column"] == o.name and backfill["kind"] == "paid_seats":
                    self.add(_paid_seats_step(str(backfill["version"]), key))
            return
        if f.problem == DIFFERS and f.live is not None:
            if f.live["type"] != spec["type"]:
                self.skip(f, f"column type is {f.live['type']}, expected {spec['type']}: convert it by hand")
                return
            self._align_column(f, key, f.live, step_suffix="alter")

    def _align_column(self, f: Finding, key: tuple[str, str], live: dict[str, Any], step_suffix: str) -> None:
        o = f.object
        spec = o.spec
        statements: list[sql.Composable] = []
        pre: list[Preflight] = []
        step_id = f"{f.version}.{short_table(*key)}.{o.name}.{step_suffix}"
        want_nn = bool(spec.get("not_null"))
        if live["default"] != spec.get("default"):
            if spec.get("default") is None:
                statements.append(sql.SQL("ALTER TABLE {} ALTER COLUMN {} DROP DEFAULT").format(
                    _q(*key), sql.Identifier(o.name)))
            else:
                statements.append(sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}").format(
                    _q(*key), sql.Identifier(o.name), sql.SQL(spec["default"])))
        if live["not_null"] != want_nn:
            statements.append(sql.SQL("ALTER TABLE {} ALTER COLUMN {} {}").format(
                _q(*key), sql.Identifier(o.name), sql.SQL("SET NOT NULL" if want_nn else "DROP NOT NULL")))
            if want_nn:
                current = self.current_name(key, o.name)
                pre.append(Preflight(
                    step_id, f"rows of {key[0]}.{key[1]} with NULL in {current} block NOT NULL on {o.name}",
                    _rows_query(*key, sql.SQL("{} IS NULL").format(sql.Identifier(current))),
                    f"fill or delete these rows (NULL {current}), then run the repair again"))
        if not statements:
            return
        self.add(RepairStep(
            step_id, f.version, "alter_column", f"align {o.label} (default / NOT NULL)", statements,
            _sel(_not(_column_exists(*key, o.name, spec))), _sel(_column_exists(*key, o.name, spec)),
            table=key, covers=[f.check_id], preflight=pre))

    # keys and indexes ---------------------------------------------------------------------------
    def _dup_preflight(self, step_id: str, key: tuple[str, str], columns: list[str], what: str) -> list[Preflight]:
        if any(c in self.added.get(key, set()) for c in columns):
            return []
        current = [self.current_name(key, c) for c in columns]
        cols = _ident_list(current)
        nulls = sql.SQL(" OR ").join(sql.SQL("{} IS NULL").format(sql.Identifier(c)) for c in current)
        dup_where = sql.SQL("({}) IN (SELECT {} FROM {} GROUP BY {} HAVING count(*) > 1)").format(
            cols, cols, _q(*key), cols)
        renamed = ", ".join(f"{c} (now {p})" if c != p else c for c, p in zip(columns, current, strict=True))
        return [
            Preflight(step_id, f"rows of {key[0]}.{key[1]} that collide on the new {what} ({renamed})",
                      _rows_query(*key, dup_where),
                      f"resolve the duplicates (keep one row per {', '.join(columns)}), then run the repair again"),
            Preflight(step_id, f"rows of {key[0]}.{key[1]} with NULL in the new {what} ({renamed})",
                      _rows_query(*key, nulls), "fill or delete these rows, then run the repair again"),
        ]

    def _on_primary_key(self, f: Finding) -> None:
        o = f.object
        key = (o.schema, o.table or "")
        columns = list(o.spec["columns"])
        step_id = f"{f.version}.{short_table(*key)}.{o.name}"
        statements: list[sql.Composable] = []
        pre = self._dup_preflight(step_id, key, columns, "primary key")
        table = self.snap.table(*key)
        old = table.primary_key if table is not None else None
        if old is not None:
            statements.append(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(_q(*key), sql.Identifier(old.name)))
            pre.append(Preflight(
                step_id, f"foreign keys of other tables that depend on the old primary key {old.name}",
                sql.SQL(
                    "SELECT json_build_object('constraint', con.conname, 'table', con.conrelid::regclass::text) "
                    "FROM pg_catalog.pg_constraint con JOIN pg_catalog.pg_class i ON i.oid = con.conindid "
                    "JOIN pg_catalog.pg_namespace n ON n.oid = i.relnamespace "
                    "WHERE con.contype = 'f' AND n.nspname = {} AND i.relname = {} LIMIT {}").format(
                    _lit(key[0]), _lit(old.name), _lit(_MAX_ROWS)),
                "these foreign keys must be moved by hand before the key can be replaced"))
        statements.append(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({})").format(
            _q(*key), sql.Identifier(o.name), _ident_list(columns)))
        title = (f"replace primary key {old.name} ({', '.join(old.columns)}) of {key[0]}.{key[1]} with "
                 f"{o.name} ({', '.join(columns)})" if old else f"add primary key {o.name} ({', '.join(columns)})")
        want = _constraint_exists(*key, o.name, "p", columns)
        self.add(RepairStep(step_id, f.version, "primary_key", title, statements, _sel(_not(want)), _sel(want),
                            table=key, covers=[f.check_id], preflight=pre))

    def _on_unique(self, f: Finding) -> None:
        o = f.object
        key = (o.schema, o.table or "")
        columns = list(o.spec["columns"])
        step_id = f"{f.version}.{short_table(*key)}.{o.name}"
        want = _constraint_exists(*key, o.name, "u", columns)
        if f.problem == DIFFERS and f.live:
            stmt = sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
                _q(*key), sql.Identifier(f.live["name"]), sql.Identifier(o.name))
            self.add(RepairStep(step_id, f.version, "rename_constraint",
                                f"rename unique constraint {f.live['name']} to {o.name}", [stmt],
                                _sel(_not(want)), _sel(want), table=key, covers=[f.check_id]))
            return
        stmt = sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} UNIQUE ({})").format(
            _q(*key), sql.Identifier(o.name), _ident_list(columns))
        self.add(RepairStep(step_id, f.version, "unique", f"add unique constraint {o.name}", [stmt],
                            _sel(_not(want)), _sel(want), table=key, covers=[f.check_id],
                            preflight=self._dup_preflight(step_id, key, columns, "unique key")))

    def _on_foreign_key(self, f: Finding) -> None:
        o = f.object
        key = (o.schema, o.table or "")
        fk = _norm_fk(o.spec)
        step_id = f"{f.version}.{short_table(*key)}.{o.name}"
        want = _constraint_exists(*key, o.name, "f", fk["columns"], fk)
        renames = {v: k for k, v in self.renamed.get(key, {}).items()}  # current -> final
        old = f.legacy if f.legacy and f.legacy.get("kind") == "foreign_key" else None
        if old is None and f.problem == DIFFERS and f.live and f.live["name"] != o.name:
            old = {"kind": "foreign_key", **f.live}
        if old is not None:
            same = ([renames.get(c, c) for c in old["columns"]] == fk["columns"]
                    and all(old[k] == fk[k] for k in ("references", "ref_columns", "on_update", "on_delete")))
            if same:
                stmt = sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
                    _q(*key), sql.Identifier(old["name"]), sql.Identifier(o.name))
                self.add(RepairStep(step_id, f.version, "rename_constraint",
                                    f"rename foreign key {old['name']} to {o.name} (same definition)", [stmt],
                                    _sel(_not(want)), _sel(want), table=key, covers=[f.check_id]))
                return
        statements: list[sql.Composable] = []
        replaced = old["name"] if old else (o.name if f.problem == DIFFERS else None)
        if replaced:
            statements.append(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(_q(*key), sql.Identifier(replaced)))
        statements.append(sql.SQL("ALTER TABLE {} ADD {}").format(_q(*key), _fk_clause(fk)))
        ref_schema, ref_table = fk["references"].split(".", 1)
        current = [self.current_name(key, c) for c in fk["columns"]]
        match = sql.SQL(" AND ").join(
            sql.SQL("r.{} = t.{}").format(sql.Identifier(rc), sql.Identifier(c))
            for rc, c in zip(fk["ref_columns"], current, strict=True))
        not_null = sql.SQL(" AND ").join(sql.SQL("t.{} IS NOT NULL").format(sql.Identifier(c)) for c in current)
        pre = [] if any(c in self.added.get(key, set()) for c in fk["columns"]) else [Preflight(
            step_id, f"rows of {key[0]}.{key[1]} whose {', '.join(current)} has no match in {fk['references']}",
            _rows_query(*key, sql.SQL("{} AND NOT EXISTS (SELECT 1 FROM {} AS r WHERE {})").format(
                not_null, _q(ref_schema, ref_table), match)),
            f"delete these orphan rows or create the missing {fk['references']} rows, then run the repair again")]
        title = (f"replace foreign key {replaced} with {o.name}" if replaced else f"add foreign key {o.name}")
        self.add(RepairStep(step_id, f.version, "foreign_key", title, statements, _sel(_not(want)), _sel(want),
                            table=key, covers=[f.check_id], preflight=pre))

    def _on_index(self, f: Finding) -> None:
        o = f.object
        key = (o.schema, o.table or "")
        statements: list[sql.Composable] = []
        if f.problem == DIFFERS:
            statements.append(sql.SQL("DROP INDEX {}").format(_q(key[0], o.name)))
        statements.append(_index_sql(*key, o.spec))
        want = _index_exists(*key, o.name, o.spec["keys"])
        self.add(RepairStep(
            f"{f.version}.{short_table(*key)}.{o.name}", f.version, "index",
            f"{'re' if f.problem == DIFFERS else ''}create index {o.name} on {o.spec['keys']}", statements,
            _sel(_not(want)), _sel(want), table=key, covers=[f.check_id]))


def _kind_rank(f: Finding) -> int:
    kinds = {"schema": 0, "enum": 1, "table": 3, "column": 4, "primary_key": 8, "unique": 9, "foreign_key": 10,
             "index": 11, "obsolete_table": 12}
    return kinds.get(f.object.kind, 20)


def _create_table(spec: TableSpec) -> list[sql.Composable]:
    parts: list[sql.Composable] = [_column_sql(c) for c in spec.columns]
    if spec.primary_key:
        parts.append(sql.SQL("CONSTRAINT {} PRIMARY KEY ({})").format(
            sql.Identifier(spec.primary_key["name"]), _ident_list(spec.primary_key["columns"])))
    for u in spec.unique:
        parts.append(sql.SQL("CONSTRAINT {} UNIQUE ({})").format(sql.Identifier(u["name"]), _ident_list(u["columns"])))
    for fk in spec.foreign_keys:
        parts.append(_fk_clause(_norm_fk(fk)))
    statements: list[sql.Composable] = [sql.SQL("CREATE TABLE {} (\n    {}\n)").format(
        _q(spec.schema, spec.name), sql.SQL(",\n    ").join(parts))]
    statements += [_index_sql(spec.schema, spec.name, idx) for idx in spec.indexes]
    if spec.row_level_security:
        statements.append(sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(_q(spec.schema, spec.name)))
    return statements


def _paid_seats_step(version: str, key: tuple[str, str]) -> RepairStep:
    """Upstream 20250711231118 marks owners (else the first admin) of pro orgs as paid seats."""
    t = _q(*key)
    orgs = _q("public", "orgs")
    owners = sql.SQL(
        "UPDATE {t} AS m SET is_paid = true FROM {orgs} AS o "
        "WHERE m.org_id = o.id AND o.prem_status = 'pro' AND m.role = 'owner' AND m.is_paid IS NOT TRUE"
    ).format(t=t, orgs=orgs)
    admins = sql.SQL(
        "UPDATE {t} AS m SET is_paid = true FROM (SELECT DISTINCT ON (a.org_id) a.org_id, a.user_id "
        "FROM {t} AS a JOIN {orgs} AS o ON o.id = a.org_id WHERE a.role = 'admin' AND o.prem_status = 'pro' "
        "AND NOT EXISTS (SELECT 1 FROM {t} AS w WHERE w.org_id = a.org_id AND w.role = 'owner') "
        "ORDER BY a.org_id, a.user_id) AS first_admin "
        "WHERE m.org_id = first_admin.org_id AND m.user_id = first_admin.user_id AND m.is_paid IS NOT TRUE"
    ).format(t=t, orgs=orgs)
    unpaid = sql.SQL(
        "EXISTS (SELECT 1 FROM {t} AS m JOIN {orgs} AS o ON o.id = m.org_id WHERE o.prem_status = 'pro' "
        "AND m.role = 'owner' AND m.is_paid IS NOT TRUE)").format(t=t, orgs=orgs)
    return RepairStep(
        f"{version}.{short_table(*key)}.is_paid.backfill", version, "backfill",
        "mark owners (or the first admin) of pro orgs as paid seats, as the migration does",
        [owners, admins], _sel(unpaid), _sel(_not(unpaid)), table=key)


def plan_repair(report: DriftReport, *, allow_destructive: bool = False) -> RepairPlan:
    """Ordered steps that bring the live schema of ``report`` to the expected schema."""
    return _Planner(report, allow_destructive).plan()


# -- probes against a connection ------------------------------------------------------------------

def preflight(conn: Any, plan: RepairPlan) -> list[Check]:
    """Run every preflight probe; one failed check per probe that found rows (read-only)."""
    checks = []
    for step in plan.steps:
        for probe in step.preflight:
            rows = [r[0] for r in conn.execute(probe.query).fetchall()]
            if rows:
                checks.append(Check.failed(
                    f"repair.preflight.{step.id}", f"Preflight for {step.id}",
                    f"{probe.description}: {len(rows)}{'+' if len(rows) >= _MAX_ROWS else ''} row(s); "
                    "nothing was changed",
                    probe.remedy, severity=Severity.CRITICAL,
                    evidence={"version": step.version, "step": step.id, "rows": rows},
                ))
    return checks


def _privilege_checks(conn: Any, plan: RepairPlan, record_ledger: bool) -> list[Check]:
    """Ownership/CREATE/REFERENCES the plan needs, checked before anything changes."""
    problems: list[str] = []
    user = conn.execute("SELECT current_user::text, (SELECT rolsuper FROM pg_catalog.pg_roles "
                        "WHERE rolname = current_user)").fetchone()
    if user[1]:
        return []
    seen: set[tuple[str, str]] = set()
    for step in plan.steps:
        if step.action == "create_schema":
            ok = conn.execute("SELECT has_database_privilege(current_database(), 'CREATE')").fetchone()[0]
            if not ok:
                problems.append(f"CREATE on the database (for {step.id})")
            continue
        target = step.table_before or step.table
        if target is None:
            continue
        if step.action == "create_table":
            ok = conn.execute("SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = %s) "
                              "OR has_schema_privilege(%s, 'CREATE')", (target[0], target[0])).fetchone()[0]
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
        ok = conn.execute("SELECT has_table_privilege('supabase_migrations.schema_migrations', 'INSERT')").fetchone()[0]
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


def table_checksums(conn: Any, plan: RepairPlan, before: dict[str, dict[str, Any]] | None = None
                    ) -> dict[str, dict[str, Any]]:
    """Row count and md5 of every touched existing table, over its pre-existing columns.

    Without ``before``: the tables and columns as they are now. With ``before`` (the result of
    the first call): the same columns under their new names, in the table's new place. Columns
    a step adds are therefore outside the checksum by construction.
    """
    out: dict[str, dict[str, Any]] = {}
    for old, new, renames in plan.touched_tables():
        label = f"{old[0]}.{old[1]}"
        if before is None:
            target, columns = old, _table_columns(conn, old)
        else:
            if new is None:
                out[label] = {"dropped": True}
                continue
            target = new
            columns = [renames.get(c, c) for c in before.get(label, {}).get("columns", [])] or None
        if columns is None:
            out[label] = {"missing": True}
            continue
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        count, digest = conn.execute(sql.SQL(
            "SELECT count(*), md5(coalesce(string_agg(r, E'\\n' ORDER BY r), '')) "
            "FROM (SELECT ROW({})::text AS r FROM {}) AS s").format(cols, _q(*target))).fetchone()
        out[label] = {"table": f"{target[0]}.{target[1]}", "rows": int(count), "md5": digest, "columns": columns}
    return out


def _table_columns(conn: Any, key: tuple[str, str] | None) -> list[str] | None:
    if key is None:
        return None
    rows = conn.execute(
        "SELECT a.attname::text FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s "
        "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum", key).fetchall()
    return [r[0] for r in rows] if rows else None


# -- running ---------------------------------------------------------------------------------------

class _Abort(Exception):
    """Internal: stop inside the transaction (rolls back) with checks to report."""

    def __init__(self, checks: list[Check], failed_step: str | None = None) -> None:
        super().__init__(checks[0].summary if checks else "aborted")
        self.checks = checks
        self.failed_step = failed_step


def _set_local(conn: Any, lock_timeout_ms: int, statement_timeout_ms: int) -> None:
    conn.execute("SELECT set_config('lock_timeout', %s, true), set_config('statement_timeout', %s, true), "
                 "set_config('search_path', 'pg_catalog', true)",
                 (f"{int(lock_timeout_ms)}ms", f"{int(statement_timeout_ms)}ms"))


def _ledger_statements(migrations_dir: str | Path | None) -> dict[str, list[str]]:
    if not migrations_dir or not Path(migrations_dir).expanduser().is_dir():
        return {}
    return {f.version: list(f.statements) for f in read_migrations_dir(migrations_dir)}


def _record_ledger(conn: Any, report: DriftReport, migrations_dir: str | Path | None) -> list[str]:
    """Insert ledger rows for modeled versions whose effects are present and are not recorded."""
    if not report.ledger.exists or report.ledger.error:
        return []
    statements = _ledger_statements(migrations_dir)
    columns = set(report.ledger.columns)
    recorded = []
    for m in report.expected.migrations:
        version = m["version"]
        if not m.get("modeled") or version in report.ledger.rows or report.version_status.get(version) != PRESENT:
            continue
        values = {"version": version, "name": m["name"], "statements": statements.get(version, [])}
        cols = [c for c in ("version", "statements", "name") if c in columns]
        conn.execute(sql.SQL(
            "INSERT INTO {} ({}) SELECT {} WHERE NOT EXISTS (SELECT 1 FROM {} WHERE version = {})").format(
            _q("supabase_migrations", "schema_migrations"), _ident_list(cols),
            sql.SQL(", ").join(sql.Literal(values[c]) for c in cols),
            _q("supabase_migrations", "schema_migrations"), sql.Literal(version)))
        recorded.append(version)
    return recorded


def _skipped_checks(plan: RepairPlan) -> list[Check]:
    out = []
    for finding, reason in plan.skipped:
        out.append(Check.warned(
            f"repair.skipped.{finding.check_id.removeprefix('drift.')}", f"Not repaired: {finding.object.label}",
            f"{finding.summary}; {reason}", reason,
            severity=Severity.MINOR if finding.problem == OBSOLETE else Severity.MAJOR,
            evidence={"version": finding.version, "finding": finding.check_id}))
    return out


def _error_check(exc: BaseException, step: RepairStep | None, phase: str, lock_timeout_ms: int,
                 statement_timeout_ms: int) -> Check:
    where = f"step {step.id} ({step.title})" if step else phase
    evidence = {"version": step.version if step else "", "step": step.id if step else None, "phase": phase,
                "error": type(exc).__name__, "sqlstate": getattr(getattr(exc, "diag", None), "sqlstate", None)}
    primary = getattr(getattr(exc, "diag", None), "message_primary", None) or str(exc).splitlines()[0:1]
    primary = redact(primary if isinstance(primary, str) else (primary[0] if primary else type(exc).__name__))
    if isinstance(exc, pg_errors.LockNotAvailable):
        if phase == "advisory lock":
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
        if phase == "commit":
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
    from .connection import connect

    mode = "apply" if apply else "dry_run"
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
        return _apply(conn, allow_destructive=allow_destructive, lock_timeout_ms=lock_timeout_ms,
                      statement_timeout_ms=statement_timeout_ms, migrations_dir=migrations_dir)
    finally:
        with contextlib.suppress(Exception):
            conn.close()


def _dry_run(conn: Any, *, allow_destructive: bool, lock_timeout_ms: int, statement_timeout_ms: int,
             migrations_dir: str | Path | None) -> RepairResult:
    with conn.transaction(force_rollback=True):
        conn.execute("SET TRANSACTION READ ONLY")
        _set_local(conn, lock_timeout_ms, statement_timeout_ms)
        report = analyse(conn, migrations_dir=migrations_dir)
        plan = plan_repair(report, allow_destructive=allow_destructive)
        problems = preflight(conn, plan)
        problems += _privilege_checks(conn, plan, record_ledger=report.ledger.exists)
        text = plan.sql_text(conn, lock_timeout_ms, statement_timeout_ms)
        rows = plan.rows(conn)
    checks = list(problems) + _skipped_checks(plan)
    if plan.empty:
        head = Check.passed("repair.plan", "Repair plan", "nothing to do: the live schema has every expected object",
                            evidence={"version": "", "steps": 0})
    elif problems:
        head = Check.failed("repair.plan", "Repair plan",
                            f"{len(plan.steps)} step(s) planned, but {len(problems)} preflight/privilege problem(s) "
                            "would stop the apply; dry run: nothing changed",
                            f"fix the rows or privileges listed below, then run `{REPAIR_SCHEMA}`",
                            severity=Severity.CRITICAL, evidence={"version": "", "steps": len(plan.steps)})
    else:
        head = Check.warned("repair.plan", "Repair plan",
                            f"dry run: nothing changed; {len(plan.steps)} step(s) planned "
                            f"({', '.join(sorted({s.version for s in plan.steps}))})",
                            f"review the SQL, then run `{REPAIR_SCHEMA}`",
                            evidence={"version": "", "steps": len(plan.steps),
                                      "step_ids": [s.id for s in plan.steps]})
    return RepairResult("dry_run", not problems, False, plan, text, [head, *checks], report_before=report,
                        plan_rows=rows)


def _apply(conn: Any, *, allow_destructive: bool, lock_timeout_ms: int, statement_timeout_ms: int,
           migrations_dir: str | Path | None) -> RepairResult:
    phase = "setup"
    current: RepairStep | None = None
    outcomes: list[StepOutcome] = []
    plan: RepairPlan | None = None
    report: DriftReport | None = None
    state: dict[str, Any] = {}
    try:
        with conn.transaction():
            _set_local(conn, lock_timeout_ms, statement_timeout_ms)
            phase = "advisory lock"
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
            phase = "planning"
            report = analyse(conn, migrations_dir=migrations_dir)
            plan = plan_repair(report, allow_destructive=allow_destructive)
            state["sql"] = plan.sql_text(conn, lock_timeout_ms, statement_timeout_ms)
            state["rows"] = plan.rows(conn)
            phase = "preflight"
            problems = _privilege_checks(conn, plan, record_ledger=report.ledger.exists)
            problems += preflight(conn, plan)
            if problems:
                raise _Abort(problems)
            phase = "checksums"
            state["before"] = table_checksums(conn, plan)
            for step in plan.steps:
                current = step
                phase = "step"
                started = time.perf_counter()
                if not conn.execute(step.probe).fetchone()[0]:
                    outcomes.append(StepOutcome(step.id, "already done"))
                    continue
                for statement in step.statements:
                    conn.execute(statement)
                if not conn.execute(step.verify).fetchone()[0]:
                    raise _Abort([Check.failed(
                        "repair.apply", "Apply the repair",
                        f"step {step.id} ran but its verify query does not see the expected state; rolled back, "
                        "nothing was changed", "report this; the step's SQL is shown in the plan",
                        severity=Severity.CRITICAL, evidence={"version": step.version, "step": step.id})], step.id)
                outcomes.append(StepOutcome(step.id, "applied", (time.perf_counter() - started) * 1000))
            current = None
            phase = "checksums"
            state["after"] = table_checksums(conn, plan, state["before"])
            differing = [t for t, b in state["before"].items() if not _same_rows(b, state["after"].get(t, {}))]
            if differing:
                raise _Abort([Check.failed(
                    "repair.rows", "Rows preserved",
                    f"row count or checksum changed in {', '.join(differing)}; rolled back, nothing was changed",
                    "report this: a step changed existing data", severity=Severity.CRITICAL,
                    evidence={"version": "", "before": state["before"], "after": state["after"]})])
            phase = "verification"
            after_report = analyse(conn, migrations_dir=migrations_dir)
            still = sorted({c for s in plan.steps for c in s.covers} & {f.check_id for f in after_report.findings})
            if still:
                raise _Abort([Check.failed(
                    "repair.apply", "Apply the repair",
                    f"after all steps these objects still differ: {', '.join(still)}; rolled back, nothing changed",
                    "report this together with the drift report", severity=Severity.CRITICAL,
                    evidence={"version": "", "still": still})])
            state["report_after"] = after_report
            phase = "ledger"
            state["ledger"] = _record_ledger(conn, after_report, migrations_dir)
            phase = "commit"
        phase = "done"
    except _Abort as abort:
        return RepairResult("apply", False, False, plan, state.get("sql", ""),
                            abort.checks + (_skipped_checks(plan) if plan else []), outcomes,
                            failed_step=abort.failed_step, report_before=report, plan_rows=state.get("rows", []),
                            checksums_before=state.get("before", {}))
    except psycopg.Error as exc:
        check = _error_check(exc, current, phase, lock_timeout_ms, statement_timeout_ms)
        return RepairResult("apply", False, False, plan, state.get("sql", ""), [check], outcomes,
                            failed_step=current.id if current else None, report_before=report,
                            plan_rows=state.get("rows", []), checksums_before=state.get("before", {}))
    assert plan is not None
    applied = [o for o in outcomes if o.status == "applied"]
    checks: list[Check] = []
    if not plan.steps:
        checks.append(Check.passed("repair.apply", "Apply the repair",
                                   "nothing to do: the live schema already has every expected object; nothing changed",
                                   evidence={"version": "", "steps": 0}))
    else:
        checks.append(Check.passed(
            "repair.apply", "Apply the repair",
            f"applied {len(applied)} step(s) in one transaction "
            f"({len(outcomes) - len(applied)} already in place); verified and committed",
            evidence={"version": "", "steps": [o.__dict__ for o in outcomes]}))
        for label, before in state.get("before", {}).items():
            after = state["after"].get(label, {})
            if after.get("dropped"):
                checks.append(Check.warned(f"repair.rows.{label}", f"Rows of {label}",
                                           f"table dropped (allow_destructive): {before.get('rows')} row(s) removed",
                                           "", evidence={"version": "", "before": before}))
                continue
            checks.append(Check.passed(
                f"repair.rows.{label}", f"Rows of {label}",
                f"{before['rows']} row(s) before and after, checksum equal over {len(before['columns'])} column(s)"
                + (f" (now {after['table']})" if after.get("table") != before.get("table") else ""),
                evidence={"version": "", "before": before, "after": after}))
    recorded = state.get("ledger", [])
    if recorded:
        checks.append(Check.passed("repair.ledger", "Ledger updated",
                                   f"recorded {', '.join(recorded)} in supabase_migrations.schema_migrations",
                                   evidence={"version": "", "recorded": recorded}))
    elif report is not None and not report.ledger.exists:
        checks.append(Check.skipped("repair.ledger", "Ledger updated",
                                    "no supabase_migrations.schema_migrations table: nothing recorded",
                                    evidence={"version": ""}))
    checks += _skipped_checks(plan)
    return RepairResult("apply", True, bool(applied) or bool(recorded), plan, state.get("sql", ""), checks, outcomes,
                        ledger_recorded=recorded, checksums_before=state.get("before", {}),
                        checksums_after=state.get("after", {}), report_before=report,
                        report_after=state.get("report_after"), plan_rows=state.get("rows", []))


def _same_rows(before: dict[str, Any], after: dict[str, Any]) -> bool:
    if after.get("dropped"):
        return True
    return before.get("rows") == after.get("rows") and before.get("md5") == after.get("md5")
