"""Catalog snapshot: tables, columns, keys, indexes and enums of chosen schemas.

:func:`snapshot` reads everything in a constant number of queries (seven), whatever the number of
tables, by asking ``pg_catalog`` for all rows of the given schemas at once. Types and defaults are
rendered with ``search_path = pg_catalog`` so every non-catalog name comes schema-qualified.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

__all__ = ["Column", "Constraint", "Index", "Table", "CatalogSnapshot", "snapshot", "DEFAULT_SCHEMAS"]

DEFAULT_SCHEMAS = ("public", "auth", "deploy", "supabase_migrations")

_Q_SCHEMAS = "SELECT nspname::text FROM pg_catalog.pg_namespace WHERE nspname = ANY(%(schemas)s)"

_Q_TABLES = """
SELECT n.nspname::text, c.relname::text, c.relrowsecurity, c.reltuples::bigint
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('r', 'p')"""

_Q_COLUMNS = """
SELECT n.nspname::text, c.relname::text, a.attname::text, a.attnum,
       pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_catalog.pg_get_expr(d.adbin, d.adrelid)
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY 1, 2, a.attnum"""

_Q_CONSTRAINTS = """
SELECT n.nspname::text, c.relname::text, con.conname::text, con.contype::text,
       ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
              ORDER BY k.ord),
       rn.nspname::text, rc.relname::text,
       ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
              ORDER BY k.ord),
       con.confupdtype::text, con.confdeltype::text, pg_catalog.pg_get_constraintdef(con.oid)
  FROM pg_catalog.pg_constraint con
  JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_class rc ON rc.oid = con.confrelid
  LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
 WHERE n.nspname = ANY(%(schemas)s) AND con.contype IN ('p', 'u', 'f')"""

_Q_INDEXES = """
SELECT n.nspname::text, t.relname::text, i.relname::text, ix.indisunique, ix.indisprimary,
       pg_catalog.pg_get_indexdef(ix.indexrelid), con.conname::text
  FROM pg_catalog.pg_index ix
  JOIN pg_catalog.pg_class i ON i.oid = ix.indexrelid
  JOIN pg_catalog.pg_class t ON t.oid = ix.indrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
  LEFT JOIN pg_catalog.pg_constraint con ON con.conindid = ix.indexrelid AND con.contype IN ('p', 'u', 'x')
 WHERE n.nspname = ANY(%(schemas)s)"""

_Q_ENUMS = """
SELECT n.nspname::text, t.typname::text, array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
  FROM pg_catalog.pg_type t
  JOIN pg_catalog.pg_enum e ON e.enumtypid = t.oid
  JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
 WHERE n.nspname = ANY(%(schemas)s)
 GROUP BY 1, 2"""

_USING = re.compile(r" USING (?P<keys>.+)$", re.S)


@dataclass(frozen=True)
class Column:
    name: str
    position: int
    type: str
    not_null: bool
    default: str | None


@dataclass(frozen=True)
class Constraint:
    """A primary key (``p``), unique (``u``) or foreign key (``f``) constraint."""

    name: str
    kind: str
    columns: tuple[str, ...]
    ref_table: tuple[str, str] | None = None
    ref_columns: tuple[str, ...] = ()
    on_update: str | None = None
    on_delete: str | None = None
    definition: str = ""


@dataclass(frozen=True)
class Index:
    name: str
    keys: str  # "btree (org_id, period_end DESC)" -- pg_get_indexdef after "USING"
    unique: bool
    primary: bool
    constraint: str | None
    definition: str


@dataclass
class Table:
    schema: str
    name: str
    row_level_security: bool = False
    estimated_rows: int = 0
    columns: dict[str, Column] = field(default_factory=dict)
    constraints: dict[str, Constraint] = field(default_factory=dict)
    indexes: dict[str, Index] = field(default_factory=dict)

    @property
    def primary_key(self) -> Constraint | None:
        return next((c for c in self.constraints.values() if c.kind == "p"), None)

    def foreign_keys(self) -> list[Constraint]:
        return [c for c in self.constraints.values() if c.kind == "f"]


@dataclass
class CatalogSnapshot:
    """The catalog of some schemas at one moment. ``queries`` = statements it took to read."""

    server_version: int
    schemas: set[str]
    tables: dict[tuple[str, str], Table]
    enums: dict[tuple[str, str], tuple[str, ...]]
    queries: int = 0

    def table(self, schema: str, name: str) -> Table | None:
        return self.tables.get((schema, name))

    def to_dict(self) -> dict[str, Any]:
        """A plain, order-independent structure (for equality checks in tests and reports)."""
        return {
            "schemas": sorted(self.schemas),
            "enums": {f"{s}.{n}": list(v) for (s, n), v in sorted(self.enums.items())},
            "tables": {
                f"{s}.{n}": {
                    "rls": t.row_level_security,
                    "columns": [asdict(c) | {"position": i} for i, c in enumerate(t.columns.values())],
                    "constraints": {k: asdict(v) for k, v in sorted(t.constraints.items())},
                    "indexes": {k: asdict(v) for k, v in sorted(t.indexes.items())},
                }
                for (s, n), t in sorted(self.tables.items())
            },
        }


def snapshot(conn: psycopg.Connection[Any], schemas: tuple[str, ...] | list[str] = DEFAULT_SCHEMAS) -> CatalogSnapshot:
    """Read the catalog of ``schemas`` through ``conn`` (a psycopg connection) in seven queries.

    Runs inside ``conn.transaction()`` (a savepoint when a transaction is already open) so the
    local ``search_path`` setting does not leak into the session.
    """
    params = {"schemas": list(schemas)}
    count = 0

    def run(query: str, args: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        nonlocal count
        count += 1
        return conn.execute(query, args).fetchall()

    with conn.transaction():
        run("SELECT pg_catalog.set_config('search_path', 'pg_catalog', true)")
        present = {r[0] for r in run(_Q_SCHEMAS, params)}
        tables: dict[tuple[str, str], Table] = {
            (s, n): Table(s, n, bool(rls), max(int(est or 0), 0)) for s, n, rls, est in run(_Q_TABLES, params)
        }
        for s, n, col, pos, typ, notnull, default in run(_Q_COLUMNS, params):
            t = tables.get((s, n))
            if t is not None:
                t.columns[col] = Column(col, int(pos), typ, bool(notnull), default)
        for s, n, name, kind, cols, rs, rn, rcols, upd, dele, definition in run(_Q_CONSTRAINTS, params):
            t = tables.get((s, n))
            if t is not None:
                t.constraints[name] = Constraint(
                    name, kind, tuple(cols or ()), (rs, rn) if rn else None, tuple(rcols or ()),
                    upd.strip() or None if kind == "f" else None, dele.strip() or None if kind == "f" else None,
                    definition,
                )
        for s, n, name, unique, primary, definition, conname in run(_Q_INDEXES, params):
            t = tables.get((s, n))
            if t is not None:
                match = _USING.search(definition)
                t.indexes[name] = Index(name, match["keys"] if match else definition, bool(unique), bool(primary),
                                        conname, definition)
        enums = {(s, n): tuple(labels) for s, n, labels in run(_Q_ENUMS, params)}
    return CatalogSnapshot(conn.info.server_version, present, tables, enums, queries=count)
