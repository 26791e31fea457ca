"""SQL fragments the repair is built from: catalog existence predicates, DDL pieces, row probes.

Every identifier and value is composed with :mod:`psycopg.sql` (never by string formatting);
the predicates read ``pg_catalog`` only, so they hold under ``search_path = pg_catalog``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

__all__ = [
    "MAX_ROWS",
    "column_exists",
    "column_sql",
    "constraint_exists",
    "fk_clause",
    "ident_list",
    "index_exists",
    "index_sql",
    "literal",
    "negate",
    "one_row",
    "normalise_fk",
    "qualified",
    "rows_query",
    "schema_exists",
    "select",
    "set_local_limits",
    "table_exists",
]

_FK_SQL = {"no action": "NO ACTION", "restrict": "RESTRICT", "cascade": "CASCADE", "set null": "SET NULL",
           "set default": "SET DEFAULT"}
#: A preflight probe returns at most this many offending rows.
MAX_ROWS = 20


def qualified(schema: str, name: str) -> sql.Identifier:
    """The identifier ``schema.name``."""
    return sql.Identifier(schema, name)


def literal(value: Any) -> sql.Literal:
    """``value`` as a SQL literal."""
    return sql.Literal(value)


def _rel_filter(schema: str, table: str) -> sql.Composed:
    return sql.SQL("n.nspname = {} AND c.relname = {}").format(literal(schema), literal(table))


def select(cond: sql.Composable) -> sql.Composed:
    """``SELECT cond`` (a probe or verify query returning one boolean)."""
    return sql.SQL("SELECT ") + cond


def negate(cond: sql.Composable) -> sql.Composed:
    """``NOT (cond)``."""
    return sql.SQL("NOT (") + cond + sql.SQL(")")


def schema_exists(schema: str) -> sql.Composed:
    """True when the schema exists."""
    return sql.SQL("EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = {})").format(literal(schema))


def table_exists(schema: str, table: str) -> sql.Composed:
    """True when the table (plain or partitioned) exists."""
    return sql.SQL(
        "EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE {} AND c.relkind IN ('r', 'p'))").format(_rel_filter(schema, table))


def column_exists(schema: str, table: str, column: str, spec: dict[str, Any] | None = None) -> sql.Composed:
    """True when the column exists; with ``spec``, only with its type, NOT NULL and default."""
    extra: sql.Composable = sql.SQL("")
    if spec is not None:
        extra = sql.SQL(
            " AND pg_catalog.format_type(a.atttypid, a.atttypmod) = {} AND a.attnotnull = {}"
            " AND pg_catalog.pg_get_expr(d.adbin, d.adrelid) IS NOT DISTINCT FROM {}").format(
            literal(spec["type"]), literal(bool(spec.get("not_null", False))), literal(spec.get("default")))
    return sql.SQL(
        "EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE {} AND a.attname = {} AND a.attnum > 0 AND NOT a.attisdropped{})").format(
        _rel_filter(schema, table), literal(column), extra)


def constraint_exists(schema: str, table: str, name: str, kind: str, columns: list[str] | None = None,
                       fk: dict[str, Any] | None = None) -> sql.Composed:
    """True when the constraint exists with this kind (and, if given, these columns and foreign key)."""
    cond = sql.SQL("{} AND con.conname = {} AND con.contype = {}").format(
        _rel_filter(schema, table), literal(name), literal(kind))
    if columns is not None:
        cond += sql.SQL(
            " AND ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord) "
            "JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum "
            "ORDER BY k.ord) = {}::text[]").format(literal(list(columns)))
    if fk is not None:
        ref_schema, ref_table = fk["references"].split(".", 1)
        cond += sql.SQL(
            " AND con.confrelid = (SELECT rc.oid FROM pg_catalog.pg_class rc JOIN pg_catalog.pg_namespace rn "
            "ON rn.oid = rc.relnamespace WHERE rn.nspname = {} AND rc.relname = {})"
            " AND con.confupdtype = {} AND con.confdeltype = {}").format(
            literal(ref_schema), literal(ref_table), literal(_fk_code(fk["on_update"])),
            literal(_fk_code(fk["on_delete"])))
    return sql.SQL(
        "EXISTS (SELECT 1 FROM pg_catalog.pg_constraint con JOIN pg_catalog.pg_class c ON c.oid = con.conrelid "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE {})").format(cond)


def _fk_code(words: str) -> str:
    return {"no action": "a", "restrict": "r", "cascade": "c", "set null": "n", "set default": "d"}[words]


def index_exists(schema: str, table: str, name: str, keys: str | None = None) -> sql.Composed:
    """True when the index exists on the table (and, if given, with these keys)."""
    cond = sql.SQL("{} AND i.relname = {}").format(_rel_filter(schema, table), literal(name))
    if keys is not None:
        cond += sql.SQL(" AND regexp_replace(pg_catalog.pg_get_indexdef(ix.indexrelid), '^.* USING ', '') = {}"
                        ).format(literal(keys))
    return sql.SQL(
        "EXISTS (SELECT 1 FROM pg_catalog.pg_index ix JOIN pg_catalog.pg_class i ON i.oid = ix.indexrelid "
        "JOIN pg_catalog.pg_class c ON c.oid = ix.indrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE {})").format(cond)


def column_sql(col: dict[str, Any]) -> sql.Composed:
    """A column definition: name, type, default, NOT NULL."""
    out = sql.SQL("{} {}").format(sql.Identifier(col["name"]), sql.SQL(col["type"]))
    if col.get("default") is not None:
        out += sql.SQL(" DEFAULT ") + sql.SQL(col["default"])
    if col.get("not_null"):
        out += sql.SQL(" NOT NULL")
    return out


def ident_list(names: Sequence[str]) -> sql.Composed:
    """Comma-separated identifiers."""
    return sql.SQL(", ").join(sql.Identifier(n) for n in names)


def fk_clause(fk: dict[str, Any]) -> sql.Composed:
    """A ``CONSTRAINT ... FOREIGN KEY ... REFERENCES ...`` clause of a normalised spec."""
    ref_schema, ref_table = fk["references"].split(".", 1)
    return sql.SQL("CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON UPDATE {} ON DELETE {}").format(
        sql.Identifier(fk["name"]), ident_list(fk["columns"]), qualified(ref_schema, ref_table),
        ident_list(fk["ref_columns"]), sql.SQL(_FK_SQL[fk["on_update"]]), sql.SQL(_FK_SQL[fk["on_delete"]]))


def normalise_fk(spec: dict[str, Any]) -> dict[str, Any]:
    """A foreign-key spec with a schema-qualified target and explicit ON UPDATE / ON DELETE."""
    ref = spec["references"] if "." in spec["references"] else f"public.{spec['references']}"
    return {**spec, "references": ref, "on_update": spec.get("on_update", "no action"),
            "on_delete": spec.get("on_delete", "no action")}


def index_sql(schema: str, table: str, idx: dict[str, Any]) -> sql.Composed:
    """``CREATE INDEX`` for an index spec."""
    return sql.SQL("CREATE INDEX {} ON {} USING {}").format(sql.Identifier(idx["name"]), qualified(schema, table),
                                                            sql.SQL(idx["keys"]))


def rows_query(schema: str, table: str, where: sql.Composable) -> sql.Composed:
    """At most :data:`MAX_ROWS` rows of the table matching ``where``, as JSON objects."""
    return sql.SQL("SELECT row_to_json(t) FROM {} AS t WHERE {} LIMIT {}").format(
        qualified(schema, table), where, literal(MAX_ROWS))



def set_local_limits(conn: psycopg.Connection[Any], lock_timeout_ms: int, statement_timeout_ms: int) -> None:
    """Transaction-local lock and statement timeouts, and ``search_path = pg_catalog``."""
    conn.execute("SELECT set_config('lock_timeout', %s, true), set_config('statement_timeout', %s, true), "
                 "set_config('search_path', 'pg_catalog', true)",
                 (f"{int(lock_timeout_ms)}ms", f"{int(statement_timeout_ms)}ms"))


def one_row(conn: psycopg.Connection[Any], query: str | sql.Composed, params: Sequence[Any] | None = None) -> Any:
    """The row of a query that always returns exactly one (a SELECT of expressions or of aggregates)."""
    row = conn.execute(query, params).fetchone()
    assert row is not None, "a SELECT of expressions or aggregates returns one row"
    return row
