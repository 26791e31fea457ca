"""The ``otel_2.otel_traces`` table as the AgentOps ClickHouse migration ``0000_init.sql`` defines it.

Column names and types are the contract shared by the collector (writer) and every reader.
Codecs and skip indexes are left out; they do not change what queries return.
"""

from __future__ import annotations

DATABASE = "otel_2"
TABLE = "otel_traces"
QUALIFIED = f"{DATABASE}.{TABLE}"

#: (name, ClickHouse type) in physical order; ``project_id`` is MATERIALIZED (not in ``SELECT *``).
COLUMNS: tuple[tuple[str, str], ...] = (
    ("Timestamp", "DateTime64(9)"),
    ("TraceId", "String"),
    ("SpanId", "String"),
    ("ParentSpanId", "String"),
    ("TraceState", "String"),
    ("SpanName", "LowCardinality(String)"),
    ("SpanKind", "LowCardinality(String)"),
    ("ServiceName", "LowCardinality(String)"),
    ("ResourceAttributes", "Map(LowCardinality(String), String)"),
    ("ScopeName", "String"),
    ("ScopeVersion", "String"),
    ("SpanAttributes", "Map(LowCardinality(String), String)"),
    ("Duration", "UInt64"),
    ("StatusCode", "LowCardinality(String)"),
    ("StatusMessage", "String"),
    ("Events.Timestamp", "Array(DateTime64(9))"),
    ("Events.Name", "Array(LowCardinality(String))"),
    ("Events.Attributes", "Array(Map(LowCardinality(String), String))"),
    ("Links.TraceId", "Array(String)"),
    ("Links.SpanId", "Array(String)"),
    ("Links.TraceState", "Array(String)"),
    ("Links.Attributes", "Array(Map(LowCardinality(String), String))"),
)

PROJECT_ID_EXPRESSION = "ResourceAttributes['agentops.project.id']"


def create_table_sql(table: str = QUALIFIED) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for otel_traces with the upstream engine, partitioning and order."""
    cols = [f"    `{COLUMNS[0][0]}` {COLUMNS[0][1]}",
            f"    `project_id` String MATERIALIZED {PROJECT_ID_EXPRESSION}"]
    cols += [f"    `{name}` {ctype}" for name, ctype in COLUMNS[1:]]
    return (
        f"CREATE TABLE IF NOT EXISTS {table} (\n" + ",\n".join(cols) + "\n) ENGINE = MergeTree()\n"
        "PARTITION BY toYYYYMM(Timestamp)\nORDER BY (project_id, Timestamp)"
    )


def quote_string(text: str) -> str:
    """A ClickHouse string literal (backslash and quote escaped), for the few places a value cannot be bound."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote_identifier(name: str) -> str:
    """A ClickHouse identifier in backquotes."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def create_database_sql() -> str:
    return f"CREATE DATABASE IF NOT EXISTS {DATABASE}"
