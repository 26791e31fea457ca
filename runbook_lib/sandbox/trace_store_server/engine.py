"""Query execution: :class:`TraceStore`, one embedded chDB session holding ``otel_2.otel_traces``.

Writes (the collector) and reads (HTTP queries) share the one session under a lock; a request's settings and
database apply to its one statement and are undone afterwards. Engine errors become :class:`QueryFailed`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import SandboxError
from ...traces import schema
from ...traces.schema import quote_identifier, quote_string
from .failures import from_engine_text

__all__ = ["QueryResult", "TraceStore"]

_FORMAT_CLAUSE = re.compile(r"\bFORMAT\s+([A-Za-z][A-Za-z0-9_]*)\s*;?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class QueryResult:
    """What a query returned: the formatted bytes, the effective format and counters."""

    data: bytes
    format: str
    rows_read: int = 0
    bytes_read: int = 0
    elapsed_s: float = 0.0
    rows_written: int = 0
    bytes_written: int = 0


class TraceStore:
    """An embedded ClickHouse session at ``path`` with ``otel_2.otel_traces``; thread-safe.

    ``create_schema=False`` leaves a fresh store without the table (like a ClickHouse whose
    migrations were never applied; the collector then fails to write, as upstream).
    """

    def __init__(self, path: str | os.PathLike[str], *, create_schema: bool = True) -> None:
        import chdb.session  # imported here: it loads a 500 MB engine

        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(self.path / ".trace_store.lock", "a+")  # noqa: SIM115 (held for life)
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise SandboxError(
                f"another trace store is already using {self.path}",
                hint="stop it (runbook sandbox down) or give this one another --data folder",
            ) from None
        self._lock = threading.Lock()
        self._session = chdb.session.Session(str(self.path / "chdb"))
        self.version = self._run("SELECT version()", "TabSeparated").data.decode().strip()
        if create_schema:
            self._run(schema.create_database_sql(), "TabSeparated")
            self._run(schema.create_table_sql(), "TabSeparated")

    def close(self) -> None:
        with self._lock:
            with contextlib.suppress(Exception):
                self._session.close()
            self._lock_file.close()

    def insert_rows(self, rows: Iterable[Mapping[str, Any]], table: str = schema.QUALIFIED) -> int:
        """Insert rows (dicts keyed by column name, DateTime64 values as UTC text); returns the count."""
        lines = [json.dumps(row, separators=(",", ":")) for row in rows]
        if lines:
            sql = (f"INSERT INTO {table} SETTINGS session_timezone = 'UTC' FORMAT JSONEachRow\n"
                   + "\n".join(lines))
            self._run(sql, "TabSeparated")
        return len(lines)

    def query(self, sql: str, *, default_format: str = "TabSeparated", params: Mapping[str, str] | None = None,
              database: str | None = None, settings: Mapping[str, str] | None = None) -> QueryResult:
        """Run one statement; a trailing ``FORMAT`` clause overrides ``default_format``.

        ``settings`` (name -> value text, as ClickHouse takes them from the URL) apply to this statement only.
        """
        clause = _FORMAT_CLAUSE.search(sql)
        fmt = clause.group(1) if clause else default_format
        return self._run(sql, fmt, params=params, database=database, settings=settings)

    def setting(self, name: str) -> str:
        """The store's current value of a ClickHouse setting (``system.settings``), e.g. ``enable_http_compression``."""
        sql = f"SELECT value FROM system.settings WHERE name = {quote_string(name)}"
        return self._run(sql, "TabSeparatedRaw").data.decode().strip()

    def _run(self, sql: str, fmt: str, *, params: Mapping[str, str] | None = None,
             database: str | None = None, settings: Mapping[str, str] | None = None) -> QueryResult:
        with self._lock:
            changed: list[str] = []
            try:
                try:
                    for name, value in (settings or {}).items():  # one SET each: the failing name is reported
                        self._session.query(f"SET {quote_identifier(name)} = {quote_string(value)}", "TabSeparated")
                        changed.append(name)
                    if database:
                        self._session.query(f"USE {quote_identifier(database)}", "TabSeparated")
                    result = self._session.query(sql, fmt, params=dict(params) if params else None)
                finally:
                    if database:
                        self._session.query("USE default", "TabSeparated")
                    if changed:  # the session is shared: undo this request's settings
                        self._session.query("SET " + ", ".join(f"{quote_identifier(n)} = DEFAULT" for n in changed),
                                            "TabSeparated")
            except Exception as exc:  # chDB raises ChdbError/RuntimeError with ClickHouse's text
                raise from_engine_text(str(exc)) from None
        return QueryResult(
            data=result.bytes(),
            format=fmt,
            rows_read=_counter(result, "rows_read"),
            bytes_read=_counter(result, "bytes_read"),
            elapsed_s=float(_counter(result, "elapsed", float)),
            rows_written=_counter(result, "rows_written"),
            bytes_written=_counter(result, "bytes_written"),
        )


def _counter(result: Any, name: str, kind: type = int) -> Any:
    try:
        value = getattr(result, name)
        return kind(value() if callable(value) else value)
    except Exception:
        return kind(0)
