"""Three-way drift report of an AgentOps Supabase database.

(a) the live catalog against the expected schema, object by object; (b) the Supabase CLI ledger
``supabase_migrations.schema_migrations`` (an absent ledger is a finding, not an error); (c)
optionally a checkout's ``supabase/migrations`` directory: files missing from the ledger, ledger
rows without a file, statements that differ. Every discrepancy becomes a :class:`Check` with
evidence and a remedy, tagged with its migration version; :attr:`DriftReport.level_sentence`
states which migrations' effects are present.

Entry points: :func:`drift_report` (connects from a DSN reference) and :func:`analyse` (an open
connection; used inside the repair transaction).
"""

from __future__ import annotations

import contextlib
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from ..checks import Check, Severity, Status
from ..commands import repair_schema_command, run_command
from ..errors import DatabaseError
from ..secrets import SecretRef, redact
from .auth_query import AUTH_QUERY_COLUMNS
from .catalog import CatalogSnapshot, Table, snapshot
from .expected import FK_ACTIONS, ExpectedObject, ExpectedSchema, load_expected_schema
from .limits import SessionLimits, is_timeout, timeout_error
from .sqltext import normalise_statement, split_statements
from .words import Word

__all__ = [
    "DriftStatus",
    "Finding",
    "LedgerState",
    "MigrationFile",
    "DriftReport",
    "analyse",
    "compare",
    "drift_report",
    "read_ledger",
    "read_migrations_dir",
    "LEDGER_TABLE",
]

LEDGER_TABLE = ("supabase_migrations", "schema_migrations")


class DriftStatus(Word):
    """The state of an expected object, or (present / missing / partial) of a migration version."""

    PRESENT = "present"
    MISSING = "missing"
    DIFFERS = "differs"
    #: part of a missing table: creating the table creates it
    COVERED = "covered"
    #: a table a later migration drops, still there
    OBSOLETE = "obsolete"
    #: a version some of whose effects are present
    PARTIAL = "partial"


PRESENT = DriftStatus.PRESENT
MISSING = DriftStatus.MISSING
DIFFERS = DriftStatus.DIFFERS
COVERED = DriftStatus.COVERED
OBSOLETE = DriftStatus.OBSOLETE
PARTIAL = DriftStatus.PARTIAL

_AUTH_TABLES = {"projects": "projects", "projects_1": "projects", "orgs_1": "orgs", "user_orgs_1": "user_orgs",
                "org_invites_1": "org_invites"}
#: (table, column) pairs POST /v3/auth/token selects: drift there breaks SDK auth.
AUTH_COLUMNS = {(_AUTH_TABLES[alias], col) for alias, cols in AUTH_QUERY_COLUMNS.items() for col in cols}


@dataclass(frozen=True)
class Finding:
    """One expected object that is missing, different, or (for obsolete tables) still present."""

    object: ExpectedObject
    problem: DriftStatus  # missing | differs | covered | obsolete
    summary: str
    expected: dict[str, Any] = field(default_factory=dict)
    live: dict[str, Any] | None = None
    #: The older form found instead (a column before its rename, a table before its move...).
    legacy: dict[str, Any] | None = None
    #: Check id of a missing parent (a table) whose creation also creates this object.
    covered_by: str | None = None

    @property
    def version(self) -> str:
        return self.object.version

    @property
    def check_id(self) -> str:
        return self.object.check_id


@dataclass(frozen=True)
class LedgerState:
    """What the Supabase ledger says. ``rows``: version -> {name, statements}."""

    exists: bool
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    columns: tuple[str, ...] = ()
    error: str | None = None

    @property
    def versions(self) -> list[str]:
        return sorted(self.rows)


@dataclass(frozen=True)
class MigrationFile:
    version: str
    name: str
    path: str
    statements: tuple[str, ...]


@dataclass
class DriftReport:
    """The result of :func:`analyse`: findings, statuses, ledger/file checks and the level."""

    snapshot: CatalogSnapshot
    expected: ExpectedSchema
    statuses: dict[ExpectedObject, DriftStatus]
    findings: list[Finding]
    ledger: LedgerState
    files: list[MigrationFile] | None
    checks: list[Check]
    version_status: dict[str, DriftStatus]
    level_sentence: str

    @property
    def schema_findings(self) -> list[Finding]:
        return list(self.findings)

    @property
    def clean(self) -> bool:
        """True when the live schema has every expected object (ledger/file remarks aside)."""
        return not self.findings

    def present_versions(self) -> list[str]:
        return [v for v, s in self.version_status.items() if s == PRESENT]

    def missing_versions(self) -> list[str]:
        return [v for v, s in self.version_status.items() if s != PRESENT]

    def findings_by_version(self) -> dict[str, list[Finding]]:
        grouped: dict[str, list[Finding]] = defaultdict(list)
        for f in self.findings:
            grouped[f.version].append(f)
        return dict(sorted(grouped.items()))

    def finding(self, check_id: str) -> Finding | None:
        return next((f for f in self.findings if f.check_id == check_id), None)

    def rows(self) -> list[dict[str, Any]]:
        """One row per check (version, migration, status, check id, summary, remedy) for tables."""
        out = []
        for c in self.checks:
            ev = c.evidence if isinstance(c.evidence, dict) else {}
            version = ev.get("version", "")
            out.append({
                "version": version,
                "migration": self.expected.name_of(version) if version else "",
                "status": c.status.value,
                "severity": c.severity.value,
                "check": c.id,
                "summary": c.summary,
                "remedy": c.remedy,
            })
        return out

    def to_frame(self):  # -> pandas.DataFrame
        """The checks as a DataFrame sorted by version (import of pandas deferred)."""
        import pandas as pd

        frame = pd.DataFrame(self.rows(), columns=["version", "migration", "status", "severity", "check",
                                                   "summary", "remedy"])
        return frame.sort_values(["version", "check"], kind="stable").reset_index(drop=True)


# -- (a) live catalog vs expected ------------------------------------------------------------------

def _fk_words(code: str | None) -> str:
    return FK_ACTIONS.get(code or "a", "no action")


def _live_fk(con) -> dict[str, Any]:
    return {
        "name": con.name, "columns": list(con.columns),
        "references": f"{con.ref_table[0]}.{con.ref_table[1]}" if con.ref_table else None,
        "ref_columns": list(con.ref_columns), "on_update": _fk_words(con.on_update),
        "on_delete": _fk_words(con.on_delete),
    }


def _expected_fk(spec: dict[str, Any]) -> dict[str, Any]:
    ref = spec["references"] if "." in spec["references"] else f"public.{spec['references']}"
    return {
        "name": spec["name"], "columns": list(spec["columns"]), "references": ref,
        "ref_columns": list(spec["ref_columns"]), "on_update": spec.get("on_update", "no action"),
        "on_delete": spec.get("on_delete", "no action"),
    }


def _same_fk(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(a[k] == b[k] for k in ("columns", "references", "ref_columns", "on_update", "on_delete"))


def _column_def(col) -> dict[str, Any]:
    return {"name": col.name, "type": col.type, "not_null": col.not_null, "default": col.default}


def _check_object(obj: ExpectedObject, snap: CatalogSnapshot, expected: ExpectedSchema,
                  statuses: dict[ExpectedObject, DriftStatus]) -> Finding | None:
    spec = obj.spec
    if obj.kind == "schema":
        if obj.name in snap.schemas:
            return None
        return Finding(obj, MISSING, f"schema {obj.name} does not exist", {"schema": obj.name})
    if obj.kind == "enum":
        labels = snap.enums.get((obj.schema, obj.name))
        want = list(spec["labels"])
        if labels is None:
            return Finding(obj, MISSING, f"enum type {obj.schema}.{obj.name} does not exist", {"labels": want})
        missing = [x for x in want if x not in labels]
        if missing:
            return Finding(obj, DIFFERS, f"enum {obj.schema}.{obj.name} lacks value(s) {', '.join(missing)}",
                           {"labels": want}, {"labels": list(labels)})
        return None
    if obj.kind == "obsolete_table":
        table = snap.table(obj.schema, obj.name)
        if table is None:
            return None
        return Finding(obj, OBSOLETE,
                       f"table {obj.schema}.{obj.name} still exists; migration {obj.version} drops it",
                       {"table": None}, {"table": f"{obj.schema}.{obj.name}", "columns": list(table.columns)})
    if obj.kind == "table":
        if snap.table(obj.schema, obj.name) is not None:
            return None
        tspec = expected.tables[(obj.schema, obj.name)]
        legacy = None
        if tspec.moved_from and snap.table(*tspec.moved_from) is not None:
            legacy = {"kind": "table", "name": ".".join(tspec.moved_from), "version": tspec.moved_from_version}
        summary = f"table {obj.schema}.{obj.name} does not exist"
        if legacy:
            summary += f" (found {legacy['name']}, created there by {legacy['version']}; this migration moves it)"
        return Finding(obj, MISSING, summary, {"table": f"{obj.schema}.{obj.name}"}, legacy=legacy)

    # Parts of a table.
    table_obj = next(o for o in statuses if o.kind == "table" and o.schema == obj.schema and o.name == obj.table)
    table = snap.table(obj.schema, obj.table or "")
    if table is None:
        return Finding(obj, COVERED, f"{obj.label} is missing with its table", covered_by=table_obj.check_id)
    handler = {"column": _check_column, "primary_key": _check_pk, "unique": _check_unique,
               "foreign_key": _check_fk, "index": _check_index}[obj.kind]
    return handler(obj, table)


def _check_column(obj: ExpectedObject, table: Table) -> Finding | None:
    spec = obj.spec
    want = {"name": obj.name, "type": spec["type"], "not_null": bool(spec.get("not_null", False)),
            "default": spec.get("default")}
    col = table.columns.get(obj.name)
    if col is None:
        old = spec.get("renamed_from")
        if old and old in table.columns:
            legacy = {"kind": "column", "name": old, **_column_def(table.columns[old])}
            return Finding(obj, MISSING, f"column {obj.label} does not exist; its data is still in the old "
                           f"column {old} (renamed by {obj.version})", want, legacy=legacy)
        return Finding(obj, MISSING, f"column {obj.label} does not exist", want)
    live = _column_def(col)
    diffs = [k for k in ("type", "not_null", "default") if live[k] != want[k]]
    if not diffs:
        return None
    parts = []
    for k in diffs:
        parts.append(f"{k} is {live[k]!r}, expected {want[k]!r}")
    return Finding(obj, DIFFERS, f"column {obj.label}: " + "; ".join(parts), want, live)


def _check_pk(obj: ExpectedObject, table: Table) -> Finding | None:
    want = {"name": obj.name, "columns": list(obj.spec["columns"])}
    pk = table.primary_key
    if pk is None:
        return Finding(obj, MISSING, f"{obj.schema}.{obj.table} has no primary key (expected {obj.name} "
                       f"({', '.join(want['columns'])}))", want)
    live = {"name": pk.name, "columns": list(pk.columns)}
    if live == want:
        return None
    return Finding(obj, DIFFERS, f"primary key of {obj.schema}.{obj.table} is {pk.name} ({', '.join(pk.columns)}), "
                   f"expected {obj.name} ({', '.join(want['columns'])})", want, live)


def _check_unique(obj: ExpectedObject, table: Table) -> Finding | None:
    want = {"name": obj.name, "columns": list(obj.spec["columns"])}
    con = table.constraints.get(obj.name)
    if con is not None and con.kind == "u" and list(con.columns) == want["columns"]:
        return None
    same = next((c for c in table.constraints.values() if c.kind == "u" and list(c.columns) == want["columns"]), None)
    if same is not None:
        return Finding(obj, DIFFERS, f"unique key on ({', '.join(want['columns'])}) is named {same.name}, "
                       f"expected {obj.name}", want, {"name": same.name, "columns": list(same.columns)})
    return Finding(obj, MISSING, f"unique constraint {obj.label} ({', '.join(want['columns'])}) does not exist", want)


def _check_fk(obj: ExpectedObject, table: Table) -> Finding | None:
    want = _expected_fk(obj.spec)
    con = table.constraints.get(obj.name)
    if con is not None and con.kind == "f":
        live = _live_fk(con)
        if _same_fk(live, want):
            return None
        return Finding(obj, DIFFERS, f"foreign key {obj.label} is {con.definition}, expected "
                       f"({', '.join(want['columns'])}) -> {want['references']} ON UPDATE {want['on_update']} "
                       f"ON DELETE {want['on_delete']}", want, live)
    old_name = obj.spec.get("renamed_from")
    if old_name and old_name in table.constraints and table.constraints[old_name].kind == "f":
        legacy = {"kind": "foreign_key", **_live_fk(table.constraints[old_name])}
        return Finding(obj, MISSING, f"foreign key {obj.label} does not exist; the old constraint {old_name} "
                       f"is still there (replaced by {obj.version})", want, legacy=legacy)
    same = next((c for c in table.foreign_keys() if _same_fk(_live_fk(c), want)), None)
    if same is not None:
        return Finding(obj, DIFFERS, f"foreign key {obj.label} exists under the name {same.name}", want,
                       _live_fk(same))
    return Finding(obj, MISSING, f"foreign key {obj.label} ({', '.join(want['columns'])}) -> "
                   f"{want['references']} does not exist", want)


def _check_index(obj: ExpectedObject, table: Table) -> Finding | None:
    want = {"name": obj.name, "keys": obj.spec["keys"]}
    idx = table.indexes.get(obj.name)
    if idx is not None:
        if idx.keys == want["keys"]:
            return None
        return Finding(obj, DIFFERS, f"index {obj.label} is on {idx.keys}, expected {want['keys']}", want,
                       {"name": idx.name, "keys": idx.keys})
    same = next((i for i in table.indexes.values() if i.keys == want["keys"] and not i.primary), None)
    note = f" (an index with the same keys exists: {same.name})" if same else ""
    return Finding(obj, MISSING, f"index {obj.label} on {want['keys']} does not exist{note}", want)


def compare(snap: CatalogSnapshot, expected: ExpectedSchema | None = None
            ) -> tuple[dict[ExpectedObject, DriftStatus], list[Finding]]:
    """Status of every expected object and the findings (covered parts of missing tables included
    only when they belong to another migration version than their table)."""
    expected = expected or load_expected_schema()
    statuses: dict[ExpectedObject, DriftStatus] = {o: PRESENT for o in expected.objects}
    findings: list[Finding] = []
    for obj in expected.objects:
        finding = _check_object(obj, snap, expected, statuses)
        if finding is None:
            continue
        statuses[obj] = finding.problem
        if finding.problem == COVERED and obj.table is not None:  # covered objects are parts of a table
            table_version = expected.tables[(obj.schema, obj.table)].version
            if obj.version == table_version:
                continue
        findings.append(finding)
    return statuses, findings


# -- version level ------------------------------------------------------------------------------

def version_status(statuses: dict[ExpectedObject, DriftStatus], expected: ExpectedSchema) -> dict[str, DriftStatus]:
    """``present`` / ``missing`` / ``partial`` per version, oldest first."""
    per: dict[str, list[DriftStatus]] = defaultdict(list)
    for obj, status in statuses.items():
        per[obj.version].append(status)
    for m in expected.migrations:
        per.setdefault(m["version"], [])
    out: dict[str, DriftStatus] = {}
    vacuous: dict[str, DriftStatus] = {}  # versions whose only effect is removing what an unapplied one adds
    for version in sorted(per):
        states = per[version]
        ok = sum(1 for s in states if s == PRESENT)
        out[version] = PRESENT if ok == len(states) else (MISSING if ok == 0 else PARTIAL)
    for obj, status in statuses.items():
        if obj.kind == "obsolete_table" and status == PRESENT:
            introduced = str(obj.spec.get("introduced", ""))
            if introduced and out.get(introduced) != PRESENT:
                vacuous[obj.version] = MISSING
    for version, status in vacuous.items():
        if all(o.kind == "obsolete_table" for o in statuses if o.version == version):
            out[version] = status
    return out


def level_sentence(vstatus: dict[str, DriftStatus], expected: ExpectedSchema) -> str:
    upto = None
    for version, status in vstatus.items():
        if status != PRESENT:
            break
        upto = version
    missing = [v for v, s in vstatus.items() if s == MISSING]
    partial = [v for v, s in vstatus.items() if s == PARTIAL]
    later_present = [v for v, s in vstatus.items() if s == PRESENT and upto is not None and v > upto]
    if not missing and not partial:
        return f"Effects of every modeled migration up to {expected.describe(upto or '')} are present."
    head = (f"Effects of migrations up to {expected.describe(upto)} present" if upto
            else "Not even the base schema's effects are complete")
    parts = [head]
    if missing:
        parts.append(", ".join(expected.describe(v) for v in missing) + " missing")
    if partial:
        parts.append(", ".join(expected.describe(v) for v in partial) + " partly applied")
    if later_present:
        parts.append("later " + ", ".join(later_present) + " present")
    return "; ".join(parts) + "."


# -- (b) ledger ----------------------------------------------------------------------------------

def read_ledger(conn: psycopg.Connection[Any], snap: CatalogSnapshot) -> LedgerState:
    """Rows of ``supabase_migrations.schema_migrations`` (one query; none when the table is absent)."""
    table = snap.table(*LEDGER_TABLE)
    if table is None:
        return LedgerState(False)
    from psycopg import sql

    cols = [c for c in ("version", "name", "statements") if c in table.columns]
    if "version" not in cols:
        return LedgerState(True, {}, tuple(table.columns), error="the ledger table has no version column")
    query = sql.SQL("SELECT {} FROM {}.{}").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in cols), sql.Identifier(LEDGER_TABLE[0]),
        sql.Identifier(LEDGER_TABLE[1]))
    import psycopg

    try:
        with conn.transaction():
            fetched = conn.execute(query).fetchall()
    except psycopg.Error as exc:
        return LedgerState(True, {}, tuple(cols), error=f"{type(exc).__name__}: {exc.diag.message_primary or exc}")
    rows = {}
    for values in fetched:
        rec = dict(zip(cols, values, strict=True))
        rows[str(rec["version"])] = {"name": rec.get("name"), "statements": rec.get("statements")}
    return LedgerState(True, rows, tuple(cols))


# -- (c) migrations checkout ----------------------------------------------------------------------

_FILE = re.compile(r"^(?P<version>\d{14})_(?P<name>.+)\.sql$")


def read_migrations_dir(path: str | Path) -> list[MigrationFile]:
    """``<version>_<name>.sql`` files of a Supabase migrations directory, oldest first.

    Accepts the repository root, ``app/``, ``app/supabase`` or the migrations directory itself.
    """
    base = Path(path).expanduser()
    for candidate in (base, base / "migrations", base / "supabase" / "migrations",
                      base / "app" / "supabase" / "migrations"):
        if candidate.is_dir() and any(_FILE.match(p.name) for p in candidate.iterdir()):
            base = candidate
            break
    files = []
    for p in sorted(base.iterdir()) if base.is_dir() else []:
        match = _FILE.match(p.name)
        if match and p.is_file():
            text = p.read_text(encoding="utf-8", errors="replace")
            files.append(MigrationFile(match["version"], match["name"], str(p), tuple(split_statements(text))))
    return files


# -- checks ---------------------------------------------------------------------------------------

_ACTION_WORDS = {
    "schema": "creates schema {name}",
    "enum": "creates the enum type",
    "table": "creates table {label}",
    "column": "adds column {label}",
    "primary_key": "sets the primary key {name}",
    "unique": "adds unique constraint {name}",
    "foreign_key": "adds foreign key {name}",
    "index": "creates index {name}",
}


def _remedy(f: Finding, expected: ExpectedSchema) -> str:
    obj = f.object
    label = obj.label
    via = f"run `{repair_schema_command()}`: the repair plan {{}} as {expected.describe(obj.version)} does"
    if f.problem == COVERED:
        return f"created together with its table ({f.covered_by}) by the repair plan (`{repair_schema_command()}`)"
    if f.problem == OBSOLETE:
        return (f"harmless for the API; to drop it as {expected.describe(obj.version)} does, run "
                f"`{run_command('10_migration', apply=True, allow_destructive=True)}` (its rows are lost)")
    if f.legacy and f.legacy.get("kind") == "column":
        return via.format(f"renames column {f.legacy['name']} to {obj.name} (data kept)")
    if f.legacy and f.legacy.get("kind") == "foreign_key":
        return via.format(f"renames constraint {f.legacy['name']} to {obj.name}")
    if f.legacy and f.legacy.get("kind") == "table":
        return via.format(f"moves {f.legacy['name']} to {obj.schema}.{obj.name} (rows kept)")
    if f.problem == DIFFERS:
        if obj.kind == "column" and f.live and f.live["type"] != f.expected["type"]:
            return (f"manual: the type of {label} differs; convert it with ALTER TABLE ... ALTER COLUMN ... TYPE "
                    "after checking the data (the runbook does not change column types)")
        if obj.kind == "primary_key":
            return via.format(f"replaces the primary key with {obj.name} ({', '.join(obj.spec['columns'])})")
        if obj.kind == "enum":
            return "manual: ALTER TYPE ... ADD VALUE for the missing labels"
        return via.format(f"aligns {label} with the expected definition")
    return via.format(_ACTION_WORDS[obj.kind].format(name=obj.name, label=label))


def _severity(f: Finding) -> Severity:
    obj = f.object
    if f.problem == OBSOLETE:
        return Severity.MINOR
    table = obj.table or obj.name
    if obj.schema == "public" and (
        (obj.kind == "column" and (table, obj.name) in AUTH_COLUMNS)
        or (obj.kind == "table" and table in _AUTH_TABLES.values())
    ):
        return Severity.CRITICAL
    return Severity.MAJOR


def _finding_check(f: Finding, expected: ExpectedSchema) -> Check:
    title = f"{f.object.label} [{expected.describe(f.version)}]"
    evidence = {"version": f.version, "migration": expected.name_of(f.version), "object": f.object.label,
                "kind": f.object.kind, "problem": f.problem.value, "expected": f.expected, "live": f.live,
                "legacy": f.legacy, "covered_by": f.covered_by}
    status = Status.WARN if f.problem == OBSOLETE else Status.FAIL
    return Check(f.check_id, title, status, _severity(f), f.summary, evidence, _remedy(f, expected))


def _ledger_checks(report_statuses: dict[str, DriftStatus], ledger: LedgerState, expected: ExpectedSchema,
                   missing_objects: dict[str, list[str]]) -> list[Check]:
    checks: list[Check] = []
    if not ledger.exists:
        return [Check.warned(
            "drift.ledger", "Supabase migration ledger",
            "supabase_migrations.schema_migrations does not exist: the schema was migrated by hand (or not "
            "with the Supabase CLI), so the ledger cannot tell which migrations ran",
            "nothing needed for the API; before any later `supabase db push`, record applied versions with "
            "`supabase migration repair --status applied VERSION` (non-idempotent files must not re-run)",
            severity=Severity.MINOR, evidence={"version": "", "ledger": None},
        )]
    if ledger.error:
        return [Check.errored("drift.ledger", "Supabase migration ledger", f"cannot read the ledger: {ledger.error}",
                              "grant SELECT on supabase_migrations.schema_migrations to this role",
                              evidence={"version": ""})]
    recorded = set(ledger.rows)
    for m in expected.migrations:
        version = m["version"]
        status = report_statuses.get(version, MISSING)
        title = f"ledger row {expected.describe(version)}"
        if version in recorded and status != PRESENT:
            checks.append(Check.failed(
                f"drift.ledger.{version}", title,
                f"the ledger records {version} as applied but its effects are {status}: "
                + ", ".join(missing_objects.get(version, [])[:8]),
                f"apply the repair (`{repair_schema_command()}`) to add the missing effects; the ledger row stays",
                evidence={"version": version, "ledger": "recorded", "effects": status.value,
                          "missing": missing_objects.get(version, [])},
            ))
        elif version not in recorded and status == PRESENT:
            checks.append(Check.warned(
                f"drift.ledger.{version}", title,
                f"the effects of {version} are present but the ledger does not record it: `supabase db push` "
                "would run the (non-idempotent) file again and fail or half-apply",
                f"`{repair_schema_command()}` records it after a successful repair; or "
                f"`supabase migration repair --status "
                f"applied {version}`",
                severity=Severity.MAJOR, evidence={"version": version, "ledger": "absent", "effects": status.value},
            ))
    if not checks:
        latest = max(recorded) if recorded else "none"
        checks.append(Check.passed("drift.ledger", "Supabase migration ledger",
                                   f"the ledger agrees with the live schema ({len(recorded)} rows, latest {latest})",
                                   evidence={"version": "", "rows": len(recorded), "latest": latest}))
    return checks


def _file_checks(files: list[MigrationFile], ledger: LedgerState, expected: ExpectedSchema,
                 already: set[str | None], path: str) -> list[Check]:
    checks: list[Check] = []
    by_version = {f.version: f for f in files}
    modeled = {m["version"] for m in expected.migrations}
    if not files:
        return [Check.failed("drift.files", "Migrations checkout",
                             f"no <version>_<name>.sql files found under {path}",
                             "point migrations_dir at app/supabase/migrations of your AgentOps checkout",
                             severity=Severity.MINOR, evidence={"version": "", "path": path})]
    for f in files:
        if f.version <= expected.base_version or f.version in modeled:
            continue
        checks.append(Check.warned(
            f"drift.files.{f.version}.unmodeled", f"migration file {f.version}_{f.name}.sql",
            f"the checkout has migration {f.version} ({f.name}) that this runbook does not model",
            "review the file and apply it with `supabase db push` (or by hand, once) after the repair",
            evidence={"version": f.version, "file": f.path},
        ))
    if ledger.exists and not ledger.error:
        for f in files:
            if f.version not in ledger.rows and f.version not in already and f.version in modeled:
                checks.append(Check.warned(
                    f"drift.files.{f.version}.unrecorded", f"migration file {f.version}_{f.name}.sql",
                    f"{f.version}_{f.name}.sql is not in the ledger: `supabase db push` would run it",
                    f"let the repair add its effects (`{repair_schema_command()}`), which then records the version",
                    severity=Severity.MINOR, evidence={"version": f.version, "file": f.path},
                ))
        for version in ledger.versions:
            if version not in by_version:
                checks.append(Check.warned(
                    f"drift.files.{version}.no_file", f"ledger row {version}",
                    f"the ledger records {version} but the checkout has no such file: the checkout is older "
                    "than the database or from another branch",
                    "update the checkout (git pull) or point migrations_dir at the branch that migrated this database",
                    severity=Severity.MINOR, evidence={"version": version, "name": ledger.rows[version].get("name")},
                ))
                continue
            recorded = ledger.rows[version].get("statements")
            if not recorded:
                continue
            want = [normalise_statement(s) for s in by_version[version].statements]
            have = [normalise_statement(s) for s in recorded]
            if want != have:
                first = next((i for i, (a, b) in enumerate(zip(want, have, strict=False)) if a != b),
                             min(len(want), len(have)))
                checks.append(Check.warned(
                    f"drift.files.{version}.statements", f"statements of {version}",
                    f"the ledger's statements for {version} differ from {Path(by_version[version].path).name} "
                    f"(first difference at statement {first + 1}; {len(have)} recorded, {len(want)} in the file)",
                    "the file changed after it was applied: review the difference; the ledger shows what ran",
                    severity=Severity.MINOR,
                    evidence={"version": version, "index": first + 1,
                              "recorded": have[first][:300] if first < len(have) else None,
                              "file": want[first][:300] if first < len(want) else None},
                ))
    if not checks:
        checks.append(Check.passed("drift.files", "Migrations checkout",
                                   f"{len(files)} migration files agree with the ledger and the model",
                                   evidence={"version": "", "path": path, "files": len(files)}))
    return checks


def _prerequisite_checks(snap: CatalogSnapshot) -> list[Check]:
    if snap.table("auth", "users") is None:
        return [Check.failed(
            "drift.prerequisites", "Supabase auth schema",
            "auth.users does not exist: this is not a Supabase database (or the role cannot see it)",
            "point database_url at the Supabase Postgres that AgentOps uses (default database 'postgres')",
            severity=Severity.CRITICAL, evidence={"version": "", "schemas": sorted(snap.schemas)},
        )]
    return []


def analyse(conn: psycopg.Connection[Any], *, migrations_dir: str | Path | None = None,
            expected: ExpectedSchema | None = None) -> DriftReport:
    """Build the drift report through an open connection (read-only; constant number of queries)."""
    expected = expected or load_expected_schema()
    snap = snapshot(conn, expected.schemas)
    statuses, findings = compare(snap, expected)
    vstatus = version_status(statuses, expected)
    sentence = level_sentence(vstatus, expected)
    ledger = read_ledger(conn, snap)

    missing_objects: dict[str, list[str]] = defaultdict(list)
    for obj, state in statuses.items():
        if state != PRESENT:
            missing_objects[obj.version].append(obj.label)

    checks = _prerequisite_checks(snap)
    checks += [_finding_check(f, expected) for f in findings]
    ledger_checks = _ledger_checks(vstatus, ledger, expected, missing_objects)
    checks += ledger_checks
    files = None
    if migrations_dir:
        path = str(migrations_dir)
        if not Path(path).expanduser().is_dir():
            checks.append(Check.failed("drift.files", "Migrations checkout", f"{path} is not a directory",
                                       "pass the path of app/supabase/migrations in your AgentOps checkout",
                                       severity=Severity.MINOR, evidence={"version": "", "path": path}))
        else:
            files = read_migrations_dir(path)
            already = {c.evidence.get("version") for c in ledger_checks if isinstance(c.evidence, dict)}
            checks += _file_checks(files, ledger, expected, already, path)
    status = Status.PASS if not findings else Status.FAIL
    checks.append(Check(
        "drift.level", "Inferred schema level", status, Severity.CRITICAL if findings else Severity.MAJOR,
        sentence + ("" if not findings else f" {len(findings)} object(s) differ from the expected schema."),
        {"version": "", "versions": {v: s.value for v, s in vstatus.items()}},
        "" if not findings else f"review the repair plan below, then run `{repair_schema_command()}`",
    ))
    checks.sort(key=lambda c: (c.evidence.get("version", "") if isinstance(c.evidence, dict) else "", c.id))
    return DriftReport(snap, expected, statuses, findings, ledger, files, checks, vstatus, sentence)


def drift_report(database_url: str | SecretRef, *, migrations_dir: str | Path | None = None,
                 connect_timeout: int = 10, limits: SessionLimits | None = None) -> DriftReport:
    """Connect (DSN reference), build the drift report in a read-only transaction, disconnect.

    Every statement runs under ``limits``; a lock or statement timeout raises
    :class:`~runbook_lib.errors.DatabaseError` naming the session that holds the lock."""
    from .connection import connect

    limits = limits or SessionLimits()
    conn = connect(database_url, connect_timeout=connect_timeout, limits=limits)
    try:
        try:
            with conn.transaction():
                conn.execute("SET TRANSACTION READ ONLY")
                return analyse(conn, migrations_dir=migrations_dir)
        except psycopg.Error as exc:
            if is_timeout(exc):
                raise timeout_error(exc, limits, "reading the catalog", conn) from None
            raise DatabaseError(redact(f"reading the catalog failed: "
                                       f"{getattr(exc.diag, 'message_primary', None) or type(exc).__name__}"),
                                hint="check the role's privileges (it must see pg_catalog and the AgentOps "
                                     "schemas) and the server's log") from None
    finally:
        with contextlib.suppress(Exception):
            conn.close()
