"""The Supabase migration ledger: rows for the versions a repair brought in place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from ..drift import PRESENT, DriftReport, read_migrations_dir
from .sql_parts import ident_list, qualified

__all__ = ["record_ledger"]


def _ledger_statements(migrations_dir: str | Path | None) -> dict[str, list[str]]:
    if not migrations_dir or not Path(migrations_dir).expanduser().is_dir():
        return {}
    return {f.version: list(f.statements) for f in read_migrations_dir(migrations_dir)}


def record_ledger(conn: psycopg.Connection[Any], report: DriftReport, migrations_dir: str | Path | None) -> list[str]:
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
            qualified("supabase_migrations", "schema_migrations"), ident_list(cols),
            sql.SQL(", ").join(sql.Literal(values[c]) for c in cols),
            qualified("supabase_migrations", "schema_migrations"), sql.Literal(version)))
        recorded.append(version)
    return recorded

