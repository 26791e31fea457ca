"""Shared helpers of the 10_migration tests: catalog + data fingerprints of a database."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from runbook_lib.db.catalog import snapshot

SCHEMAS = ("public", "auth", "deploy", "supabase_migrations")


def catalog(dsn: str) -> dict[str, Any]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return snapshot(conn, SCHEMAS).to_dict()


def data(dsn: str) -> dict[str, list[str]]:
    """Every row of every table in the AgentOps schemas, as sorted text."""
    out: dict[str, list[str]] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ANY(%s) AND c.relkind = 'r' ORDER BY 1, 2", (list(SCHEMAS),)).fetchall()
        for schema, name in tables:
            rows = conn.execute(sql.SQL("SELECT t::text FROM {} AS t").format(sql.Identifier(schema, name))).fetchall()
            out[f"{schema}.{name}"] = sorted(r[0] for r in rows)
    return out


def state(dsn: str) -> tuple[dict[str, Any], dict[str, list[str]]]:
    return catalog(dsn), data(dsn)


def query(dsn: str, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []
