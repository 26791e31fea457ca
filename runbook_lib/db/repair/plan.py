"""Planning: the findings of a drift report as ordered repair steps (oldest migration first).

What counts as destructive (only planned with ``allow_destructive=True``): dropping a table,
dropping a column, or any statement that deletes rows or values. Structural changes that keep
every row and value are not destructive: renaming a column, table or constraint, moving a table
to another schema, and *replacing* a key or index within the same step (for example the
``org_invites`` fix: the old primary key ``(user_id, org_id)`` is dropped and the new one
``(org_id, invitee_email)`` added in one step, after a preflight proved the rows satisfy it; the
old foreign key ``org_invites_users_id_fkey`` is renamed to ``org_invites_inviter_id_fkey``).
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from ...checks import Check, Severity
from ...commands import run_command
from ..drift import COVERED, DIFFERS, MISSING, OBSOLETE, DriftReport, Finding
from ..expected import TableSpec, short_table
from .model import Preflight, RepairPlan, RepairStep, StepAction
from .sql_parts import (
    MAX_ROWS,
    column_exists,
    column_sql,
    constraint_exists,
    fk_clause,
    ident_list,
    index_exists,
    index_sql,
    literal,
    negate,
    normalise_fk,
    qualified,
    rows_query,
    schema_exists,
    select,
    table_exists,
)

__all__ = ["plan_repair", "skipped_checks"]

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
        self.steps.sort(key=lambda s: (s.version, s.action.rank, s.id))
        return RepairPlan(self.steps, self.skipped, self.allow_destructive, self.expected)

    # schema / enum / tables ---------------------------------------------------------------------
    def _on_schema(self, f: Finding) -> None:
        name = f.object.name
        self.add(RepairStep(
            f"{f.version}.schema.{name}", f.version, StepAction.CREATE_SCHEMA, f"create schema {name}",
            [sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name))],
            select(negate(schema_exists(name))), select(schema_exists(name)), covers=[f.check_id]))

    def _on_enum(self, f: Finding) -> None:
        if f.problem != MISSING:
            self.skip(f, "enum labels differ: add them by hand with ALTER TYPE ... ADD VALUE")
            return
        o = f.object
        labels = sql.SQL(", ").join(literal(x) for x in o.spec["labels"])
        exists = sql.SQL(
            "EXISTS (SELECT 1 FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace "
            "WHERE n.nspname = {} AND t.typname = {})").format(literal(o.schema), literal(o.name))
        self.add(RepairStep(
            f"{f.version}.enum.{o.name}", f.version, StepAction.CREATE_ENUM, f"create enum {o.schema}.{o.name}",
            [sql.SQL("CREATE TYPE {} AS ENUM ({})").format(qualified(o.schema, o.name), labels)],
            select(negate(exists)), select(exists), covers=[f.check_id]))

    def _on_table(self, f: Finding) -> None:
        o = f.object
        spec = self.expected.tables[(o.schema, o.name)]
        covers = [f.check_id] + [x.check_id for x in self.report.findings
                                 if x.covered_by == f.check_id and x.problem == COVERED]
        if f.legacy and f.legacy.get("kind") == "table" and spec.moved_from:
            old_schema, old_name = spec.moved_from
            self.add(RepairStep(
                f"{f.version}.{short_table(o.schema, o.name)}.move", f.version, StepAction.MOVE_TABLE,
                f"move {old_schema}.{old_name} to schema {o.schema} (rows kept)",
                [sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(qualified(old_schema, old_name),
                                                                sql.Identifier(o.schema))],
                select(sql.SQL("{} AND NOT {}").format(table_exists(old_schema, old_name),
                                                       table_exists(o.schema, o.name))),
                select(table_exists(o.schema, o.name)), table=(o.schema, o.name),
                table_before=(old_schema, old_name), covers=covers))
            return
        self.add(RepairStep(
            f"{f.version}.{short_table(o.schema, o.name)}.create", f.version, StepAction.CREATE_TABLE,
            f"create table {o.schema}.{o.name}", _create_table(spec),
            select(negate(table_exists(o.schema, o.name))), select(table_exists(o.schema, o.name)),
            table=(o.schema, o.name), covers=covers))

    def _on_obsolete_table(self, f: Finding) -> None:
        o = f.object
        if not self.allow_destructive:
            drop = run_command("10_migration", apply=True, allow_destructive=True)
            self.skip(f, f"dropping a table is destructive: to drop it, run `{drop}`")
            return
        self.add(RepairStep(
            f"{f.version}.{short_table(o.schema, o.name)}.drop", f.version, StepAction.DROP_TABLE,
            f"drop obsolete table {o.schema}.{o.name} (DESTRUCTIVE: its rows are lost)",
            [sql.SQL("DROP TABLE {}").format(qualified(o.schema, o.name))],
            select(table_exists(o.schema, o.name)), select(negate(table_exists(o.schema, o.name))),
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
                f"{f.version}.{tid}.{o.name}.rename", f.version, StepAction.RENAME_COLUMN,
                f"rename column {o.schema}.{o.table}.{old} to {o.name} (data kept)",
                [sql.SQL("ALTER TABLE {} RENAME COLUMN {} TO {}").format(
                    qualified(*key), sql.Identifier(old), sql.Identifier(o.name))],
                select(sql.SQL("{} AND NOT {}").format(column_exists(*key, old), column_exists(*key, o.name))),
                select(column_exists(*key, o.name)), table=key, renames={old: o.name}, covers=[f.check_id]))
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
                    rows_query(*key, sql.SQL("true")),
                    "add the column by hand with a default, fill it, then run the repair again"))
            self.add(RepairStep(
                step_id, f.version, StepAction.ADD_COLUMN, f"add column {o.label}",
                [sql.SQL("ALTER TABLE {} ADD COLUMN {}").format(qualified(*key), column_sql(spec))],
                select(negate(column_exists(*key, o.name))), select(column_exists(*key, o.name, spec)),
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
        statements: list[sql.Composed] = []
        pre: list[Preflight] = []
        step_id = f"{f.version}.{short_table(*key)}.{o.name}.{step_suffix}"
        want_nn = bool(spec.get("not_null"))
        if live["default"] != spec.get("default"):
            if spec.get("default") is None:
                statements.append(sql.SQL("ALTER TABLE {} ALTER COLUMN {} DROP DEFAULT").format(
                    qualified(*key), sql.Identifier(o.name)))
            else:
                statements.append(sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}").format(
                    qualified(*key), sql.Identifier(o.name), sql.SQL(spec["default"])))
        if live["not_null"] != want_nn:
            statements.append(sql.SQL("ALTER TABLE {} ALTER COLUMN {} {}").format(
                qualified(*key), sql.Identifier(o.name), sql.SQL("SET NOT NULL" if want_nn else "DROP NOT NULL")))
            if want_nn:
                current = self.current_name(key, o.name)
                pre.append(Preflight(
                    step_id, f"rows of {key[0]}.{key[1]} with NULL in {current} block NOT NULL on {o.name}",
                    rows_query(*key, sql.SQL("{} IS NULL").format(sql.Identifier(current))),
                    f"fill or delete these rows (NULL {current}), then run the repair again"))
        if not statements:
            return
        self.add(RepairStep(
            step_id, f.version, StepAction.ALTER_COLUMN, f"align {o.label} (default / NOT NULL)", statements,
            select(negate(column_exists(*key, o.name, spec))), select(column_exists(*key, o.name, spec)),
            table=key, covers=[f.check_id], preflight=pre))

    # keys and indexes ---------------------------------------------------------------------------
    def _dup_preflight(self, step_id: str, key: tuple[str, str], columns: list[str], what: str) -> list[Preflight]:
        if any(c in self.added.get(key, set()) for c in columns):
            return []
        current = [self.current_name(key, c) for c in columns]
        cols = ident_list(current)
        nulls = sql.SQL(" OR ").join(sql.SQL("{} IS NULL").format(sql.Identifier(c)) for c in current)
        dup_where = sql.SQL("({}) IN (SELECT {} FROM {} GROUP BY {} HAVING count(*) > 1)").format(
            cols, cols, qualified(*key), cols)
        renamed = ", ".join(f"{c} (now {p})" if c != p else c for c, p in zip(columns, current, strict=True))
        return [
            Preflight(step_id, f"rows of {key[0]}.{key[1]} that collide on the new {what} ({renamed})",
                      rows_query(*key, dup_where),
                      f"resolve the duplicates (keep one row per {', '.join(columns)}), then run the repair again"),
            Preflight(step_id, f"rows of {key[0]}.{key[1]} with NULL in the new {what} ({renamed})",
                      rows_query(*key, nulls), "fill or delete these rows, then run the repair again"),
        ]

    def _on_primary_key(self, f: Finding) -> None:
        o = f.object
        key = (o.schema, o.table or "")
        columns = list(o.spec["columns"])
        step_id = f"{f.version}.{short_table(*key)}.{o.name}"
        statements: list[sql.Composed] = []
        pre = self._dup_preflight(step_id, key, columns, "primary key")
        table = self.snap.table(*key)
        old = table.primary_key if table is not None else None
        if old is not None:
            statements.append(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                qualified(*key), sql.Identifier(old.name)))
            pre.append(Preflight(
                step_id, f"foreign keys of other tables that depend on the old primary key {old.name}",
                sql.SQL(
                    "SELECT json_build_object('constraint', con.conname, 'table', con.conrelid::regclass::text) "
                    "FROM pg_catalog.pg_constraint con JOIN pg_catalog.pg_class i ON i.oid = con.conindid "
                    "JOIN pg_catalog.pg_namespace n ON n.oid = i.relnamespace "
                    "WHERE con.contype = 'f' AND n.nspname = {} AND i.relname = {} LIMIT {}").format(
                    literal(key[0]), literal(old.name), literal(MAX_ROWS)),
                "these foreign keys must be moved by hand before the key can be replaced"))
        statements.append(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({})").format(
            qualified(*key), sql.Identifier(o.name), ident_list(columns)))
        title = (f"replace primary key {old.name} ({', '.join(old.columns)}) of {key[0]}.{key[1]} with "
                 f"{o.name} ({', '.join(columns)})" if old else f"add primary key {o.name} ({', '.join(columns)})")
        want = constraint_exists(*key, o.name, "p", columns)
        self.add(RepairStep(step_id, f.version, StepAction.PRIMARY_KEY, title, statements, select(negate(want)),
                            select(want), table=key, covers=[f.check_id], preflight=pre))

    def _on_unique(self, f: Finding) -> None:
        o = f.object
        key = (o.schema, o.table or "")
        columns = list(o.spec["columns"])
        step_id = f"{f.version}.{short_table(*key)}.{o.name}"
        want = constraint_exists(*key, o.name, "u", columns)
        if f.problem == DIFFERS and f.live:
            stmt = sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
                qualified(*key), sql.Identifier(f.live["name"]), sql.Identifier(o.name))
            self.add(RepairStep(step_id, f.version, StepAction.RENAME_CONSTRAINT,
                                f"rename unique constraint {f.live['name']} to {o.name}", [stmt],
                                select(negate(want)), select(want), table=key, covers=[f.check_id]))
            return
        stmt = sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} UNIQUE ({})").format(
            qualified(*key), sql.Identifier(o.name), ident_list(columns))
        self.add(RepairStep(step_id, f.version, StepAction.UNIQUE, f"add unique constraint {o.name}", [stmt],
                            select(negate(want)), select(want), table=key, covers=[f.check_id],
                            preflight=self._dup_preflight(step_id, key, columns, "unique key")))

    def _on_foreign_key(self, f: Finding) -> None:
        o = f.object
        key = (o.schema, o.table or "")
        fk = normalise_fk(o.spec)
        step_id = f"{f.version}.{short_table(*key)}.{o.name}"
        want = constraint_exists(*key, o.name, "f", fk["columns"], fk)
        renames = {v: k for k, v in self.renamed.get(key, {}).items()}  # current -> final
        old = f.legacy if f.legacy and f.legacy.get("kind") == "foreign_key" else None
        if old is None and f.problem == DIFFERS and f.live and f.live["name"] != o.name:
            old = {"kind": "foreign_key", **f.live}
        if old is not None:
            same = ([renames.get(c, c) for c in old["columns"]] == fk["columns"]
                    and all(old[k] == fk[k] for k in ("references", "ref_columns", "on_update", "on_delete")))
            if same:
                stmt = sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
                    qualified(*key), sql.Identifier(old["name"]), sql.Identifier(o.name))
                self.add(RepairStep(step_id, f.version, StepAction.RENAME_CONSTRAINT,
                                    f"rename foreign key {old['name']} to {o.name} (same definition)", [stmt],
                                    select(negate(want)), select(want), table=key, covers=[f.check_id]))
                return
        statements: list[sql.Composed] = []
        replaced = old["name"] if old else (o.name if f.problem == DIFFERS else None)
        if replaced:
            statements.append(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                qualified(*key), sql.Identifier(replaced)))
        statements.append(sql.SQL("ALTER TABLE {} ADD {}").format(qualified(*key), fk_clause(fk)))
        ref_schema, ref_table = fk["references"].split(".", 1)
        current = [self.current_name(key, c) for c in fk["columns"]]
        match = sql.SQL(" AND ").join(
            sql.SQL("r.{} = t.{}").format(sql.Identifier(rc), sql.Identifier(c))
            for rc, c in zip(fk["ref_columns"], current, strict=True))
        not_null = sql.SQL(" AND ").join(sql.SQL("t.{} IS NOT NULL").format(sql.Identifier(c)) for c in current)
        pre = [] if any(c in self.added.get(key, set()) for c in fk["columns"]) else [Preflight(
            step_id, f"rows of {key[0]}.{key[1]} whose {', '.join(current)} has no match in {fk['references']}",
            rows_query(*key, sql.SQL("{} AND NOT EXISTS (SELECT 1 FROM {} AS r WHERE {})").format(
                not_null, qualified(ref_schema, ref_table), match)),
            f"delete these orphan rows or create the missing {fk['references']} rows, then run the repair again")]
        title = (f"replace foreign key {replaced} with {o.name}" if replaced else f"add foreign key {o.name}")
        self.add(RepairStep(step_id, f.version, StepAction.FOREIGN_KEY, title, statements, select(negate(want)),
                            select(want), table=key, covers=[f.check_id], preflight=pre))

    def _on_index(self, f: Finding) -> None:
        o = f.object
        key = (o.schema, o.table or "")
        statements: list[sql.Composed] = []
        if f.problem == DIFFERS:
            statements.append(sql.SQL("DROP INDEX {}").format(qualified(key[0], o.name)))
        statements.append(index_sql(*key, o.spec))
        want = index_exists(*key, o.name, o.spec["keys"])
        self.add(RepairStep(
            f"{f.version}.{short_table(*key)}.{o.name}", f.version, StepAction.INDEX,
            f"{'re' if f.problem == DIFFERS else ''}create index {o.name} on {o.spec['keys']}", statements,
            select(negate(want)), select(want), table=key, covers=[f.check_id]))


def _kind_rank(f: Finding) -> int:
    kinds = {"schema": 0, "enum": 1, "table": 3, "column": 4, "primary_key": 8, "unique": 9, "foreign_key": 10,
             "index": 11, "obsolete_table": 12}
    return kinds.get(f.object.kind, 20)


def _create_table(spec: TableSpec) -> list[sql.Composed]:
    parts: list[sql.Composable] = [column_sql(c) for c in spec.columns]
    if spec.primary_key:
        parts.append(sql.SQL("CONSTRAINT {} PRIMARY KEY ({})").format(
            sql.Identifier(spec.primary_key["name"]), ident_list(spec.primary_key["columns"])))
    for u in spec.unique:
        parts.append(sql.SQL("CONSTRAINT {} UNIQUE ({})").format(sql.Identifier(u["name"]), ident_list(u["columns"])))
    for fk in spec.foreign_keys:
        parts.append(fk_clause(normalise_fk(fk)))
    statements: list[sql.Composed] = [sql.SQL("CREATE TABLE {} (\n    {}\n)").format(
        qualified(spec.schema, spec.name), sql.SQL(",\n    ").join(parts))]
    statements += [index_sql(spec.schema, spec.name, idx) for idx in spec.indexes]
    if spec.row_level_security:
        statements.append(sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(qualified(spec.schema, spec.name)))
    return statements


def _paid_seats_step(version: str, key: tuple[str, str]) -> RepairStep:
    """Upstream 20250711231118 marks owners (else the first admin) of pro orgs as paid seats."""
    t = qualified(*key)
    orgs = qualified("public", "orgs")
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
        f"{version}.{short_table(*key)}.is_paid.backfill", version, StepAction.BACKFILL,
        "mark owners (or the first admin) of pro orgs as paid seats, as the migration does",
        [owners, admins], select(unpaid), select(negate(unpaid)), table=key)


def plan_repair(report: DriftReport, *, allow_destructive: bool = False) -> RepairPlan:
    """Ordered steps that bring the live schema of ``report`` to the expected schema."""
    return _Planner(report, allow_destructive).plan()



def skipped_checks(plan: RepairPlan) -> list[Check]:
    """One warning per finding the plan leaves alone, saying why."""
    out = []
    for finding, reason in plan.skipped:
        out.append(Check.warned(
            f"repair.skipped.{finding.check_id.removeprefix('drift.')}", f"Not repaired: {finding.object.label}",
            f"{finding.summary}; {reason}", reason,
            severity=Severity.MINOR if finding.problem == OBSOLETE else Severity.MAJOR,
            evidence={"version": finding.version, "finding": finding.check_id}))
    return out

