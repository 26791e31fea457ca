"""Benchmark: catalog snapshot and drift report of 10_migration, flat in queries, linear in objects.

Starts its own throwaway PostgreSQL, builds the full (current) AgentOps schema, measures the
snapshot and the full drift report, then pads the database with 2,000
unrelated tables and measures again. Beside it, in the same run, a baseline that asks
``information_schema`` per table (columns, constraints, indexes: three queries per table), the
way a naive drift probe does. Prints query counts, medians and ratios.

    python benchmarks/bench_migration.py [--pad 2000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402

from runbook_lib.db.catalog import DEFAULT_SCHEMAS, snapshot  # noqa: E402
from runbook_lib.db.drift import analyse  # noqa: E402
from runbook_lib.sandbox.agentops_db import build_agentops_db  # noqa: E402
from runbook_lib.sandbox.postgres import PostgresServer  # noqa: E402


class CountingConnection:
    """Wraps a psycopg connection and counts the statements sent through ``execute``."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn
        self.count = 0

    def execute(self, *args: Any, **kwargs: Any):
        self.count += 1
        return self._conn.execute(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def baseline(conn: psycopg.Connection[Any]) -> int:
    """Per-table information_schema probing; returns the number of queries sent."""
    tables = conn.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_schema = ANY(%s) AND table_type = 'BASE TABLE'", (list(DEFAULT_SCHEMAS),)).fetchall()
    count = 1
    for schema, name in tables:
        conn.execute("SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns "
                     "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position", (schema, name)).fetchall()
        conn.execute("SELECT constraint_name, constraint_type FROM information_schema.table_constraints "
                     "WHERE table_schema = %s AND table_name = %s", (schema, name)).fetchall()
        conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
                     (schema, name)).fetchall()
        count += 3
    return count


def timed(fn, repeat: int) -> tuple[float, Any]:
    runs, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs), result


def measure(dsn: str, repeat: int) -> dict[str, Any]:
    with psycopg.connect(dsn, autocommit=True) as raw:
        counting = CountingConnection(raw)
        snap_ms, snap = timed(lambda: snapshot(counting, DEFAULT_SCHEMAS), repeat)
        snap_queries = counting.count // repeat
        counting.count = 0
        drift_ms, report = timed(lambda: analyse(counting), repeat)
        drift_queries = counting.count // repeat
        base_ms, base_queries = timed(lambda: baseline(raw), max(1, repeat // 2))
    objects = sum(len(t.columns) + len(t.constraints) + len(t.indexes) for t in snap.tables.values())
    return {"server": snap.server_version, "tables": len(snap.tables), "objects": objects,
            "snap_ms": snap_ms, "snap_queries": snap_queries,
            "reported_queries": snap.queries, "drift_ms": drift_ms, "drift_queries": drift_queries,
            "findings": len(report.findings), "base_ms": base_ms, "base_queries": base_queries}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pad", type=int, default=2000, help="unrelated tables to add (default 2000)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median; default 5)")
    args = parser.parse_args(argv)

    server = PostgresServer().start()
    try:
        server.create_database("bench")
        dsn = server.dsn("bench")
        build_agentops_db(dsn, "current", ledger=True)
        full = measure(dsn, args.repeat)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                "DO $$ BEGIN FOR i IN 1.." + str(int(args.pad)) + " LOOP EXECUTE format("
                "'CREATE TABLE public.unrelated_%s (id bigint PRIMARY KEY, name text NOT NULL, "
                "created timestamptz DEFAULT now(), ref bigint)', i); "
                "EXECUTE format('CREATE INDEX ON public.unrelated_%s (ref)', i); END LOOP; END $$")
            conn.execute("ANALYZE")
        padded = measure(dsn, args.repeat)
    finally:
        server.stop()

    print(f"PostgreSQL server_version_num={full['server']} | repeat={args.repeat} (medians) | pad={args.pad}")
    header = (f"{'case':<14}{'tables':>8}{'objects':>9}{'snap q':>8}{'snap ms':>10}{'drift q':>9}"
              f"{'drift ms':>10}{'base q':>8}{'base ms':>10}{'base/snap':>11}")
    print(header)
    for name, m in (("full schema", full), (f"+{args.pad} tables", padded)):
        print(f"{name:<14}{m['tables']:>8}{m['objects']:>9}{m['snap_queries']:>8}{m['snap_ms']:>10.1f}"
              f"{m['drift_queries']:>9}{m['drift_ms']:>10.1f}{m['base_queries']:>8}{m['base_ms']:>10.1f}"
              f"{m['base_ms'] / m['snap_ms']:>10.1f}x")
    obj_ratio = padded["objects"] / full["objects"]
    print(f"objects grew {obj_ratio:.1f}x; snapshot time grew {padded['snap_ms'] / full['snap_ms']:.1f}x "
          f"(queries {full['snap_queries']} -> {padded['snap_queries']}); baseline time grew "
          f"{padded['base_ms'] / full['base_ms']:.1f}x (queries {full['base_queries']} -> {padded['base_queries']})")
    ok = full["snap_queries"] == padded["snap_queries"] == full["reported_queries"]
    print("snapshot queries flat:", "yes" if ok else "NO")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
