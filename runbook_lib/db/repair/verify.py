"""Verification of an apply: row counts and checksums of every touched table, before and after."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from .model import RepairPlan
from .sql_parts import one_row, qualified

__all__ = ["same_rows", "table_checksums"]


def table_checksums(conn: psycopg.Connection[Any], plan: RepairPlan, before: dict[str, dict[str, Any]] | None = None
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
        count, digest = one_row(conn, sql.SQL(
            "SELECT count(*), md5(coalesce(string_agg(r, E'\\n' ORDER BY r), '')) "
            "FROM (SELECT ROW({})::text AS r FROM {}) AS s").format(cols, qualified(*target)))
        out[label] = {"table": f"{target[0]}.{target[1]}", "rows": int(count), "md5": digest, "columns": columns}
    return out


def _table_columns(conn: psycopg.Connection[Any], key: tuple[str, str] | None) -> list[str] | None:
    if key is None:
        return None
    rows = conn.execute(
        "SELECT a.attname::text FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s "
        "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum", key).fetchall()
    return [r[0] for r in rows] if rows else None


def same_rows(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """True when a table kept its row count and checksum (a table dropped on purpose counts as kept)."""
    if after.get("dropped"):
        return True
    return before.get("rows") == after.get("rows") and before.get("md5") == after.get("md5")
