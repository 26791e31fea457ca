"""Session limits: every statement 10_migration issues runs under its lock and statement timeouts.

:class:`SessionLimits` holds the two parameters of the notebook (``lock_timeout_ms``,
``statement_timeout_ms``) and derives the rest of a session's bounds from them, so a backend whose
client died (a killed kernel, a lost network) cannot hold locks longer than those bounds:

- ``lock_timeout`` and ``statement_timeout``: no lock wait and no statement outlives its parameter;
- ``idle_in_transaction_session_timeout``: an open transaction whose client went silent ends within
  the longer of the two;
- ``client_connection_check_interval`` (PostgreSQL 14+): a running statement notices a closed client
  socket within a second and stops, releasing its locks;
- server-side TCP keepalives and ``tcp_user_timeout``: a client machine that vanished without
  closing the connection is detected, and libpq keepalives do the same for a vanished server.

:func:`apply_session_limits` sets them once, when the connection opens (one statement, session
level, so it works through a session-mode pooler; the repair also re-sets the timeouts ``LOCAL`` in
its transaction). :func:`timeout_error` turns a lock or statement timeout into a
:class:`~runbook_lib.errors.DatabaseError` naming the session that holds the lock and the fix.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from ..errors import DatabaseError
from ..secrets import redact

__all__ = ["SessionLimits", "apply_session_limits", "lock_holders", "timeout_error", "is_timeout"]

#: settings that only exist from a server version on (server_version_num)
_SINCE = {"client_connection_check_interval": 140000, "tcp_user_timeout": 120000}


@dataclass(frozen=True)
class SessionLimits:
    """The bounds of one database session, derived from the notebook's two timeout parameters."""

    lock_timeout_ms: int = 5000
    statement_timeout_ms: int = 60000

    def __post_init__(self) -> None:
        for name in ("lock_timeout_ms", "statement_timeout_ms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise DatabaseError(f"{name}={value!r} is not a positive number of milliseconds",
                                    hint=f"pass {name} as a whole number above 0 (0 would mean: wait forever)")

    @property
    def bound_ms(self) -> int:
        """The longest a backend of ours may hold a lock after its client stopped talking."""
        return max(self.lock_timeout_ms, self.statement_timeout_ms)

    def settings(self, server_version_num: int = 150000) -> dict[str, str]:
        """The session settings (name → value) for a server of that version."""
        keepalive_idle_s = max(1, min(60, self.bound_ms // 3000))
        wanted = {
            "lock_timeout": f"{self.lock_timeout_ms}ms",
            "statement_timeout": f"{self.statement_timeout_ms}ms",
            "idle_in_transaction_session_timeout": f"{self.bound_ms}ms",
            "client_connection_check_interval": f"{min(1000, self.lock_timeout_ms)}ms",
            "tcp_keepalives_idle": str(keepalive_idle_s),
            "tcp_keepalives_interval": str(max(1, keepalive_idle_s // 3)),
            "tcp_keepalives_count": "3",
            "tcp_user_timeout": f"{self.bound_ms}ms",
        }
        return {k: v for k, v in wanted.items() if server_version_num >= _SINCE.get(k, 0)}

    def libpq_keepalives(self) -> dict[str, int]:
        """Client-side keepalives for ``psycopg.connect`` (a vanished server is noticed too)."""
        idle = max(1, min(60, self.bound_ms // 3000))
        return {"keepalives": 1, "keepalives_idle": idle, "keepalives_interval": max(1, idle // 3),
                "keepalives_count": 3}


def apply_session_limits(conn: psycopg.Connection[Any], limits: SessionLimits) -> None:
    """Set every bound of ``limits`` for the session of ``conn`` (in one statement, committed)."""
    settings = limits.settings(conn.info.server_version)
    calls = ", ".join("pg_catalog.set_config(%s, %s, false)" for _ in settings)
    args = [x for pair in settings.items() for x in pair]
    conn.execute(f"SELECT {calls}", args)
    if not conn.autocommit:
        conn.commit()


_Q_HOLDERS = """
SELECT l.pid, n.nspname::text || '.' || c.relname::text, l.mode, coalesce(a.application_name, ''),
       coalesce(a.state, ''), extract(epoch FROM now() - coalesce(a.xact_start, a.backend_start))::int
  FROM pg_catalog.pg_locks l
  JOIN pg_catalog.pg_class c ON c.oid = l.relation
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'relation' AND l.granted
   AND l.mode IN ('AccessExclusiveLock', 'ExclusiveLock', 'ShareRowExclusiveLock', 'ShareLock')
   AND l.pid <> pg_catalog.pg_backend_pid() AND l.database = (SELECT oid FROM pg_catalog.pg_database
                                                              WHERE datname = current_database())
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
 ORDER BY 6 DESC, 2
 LIMIT 5"""


def lock_holders(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """Other sessions holding strong table locks in this database (longest-running first); [] if unknown."""
    with contextlib.suppress(psycopg.Error):
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.rollback()
        rows = conn.execute(_Q_HOLDERS).fetchall()
        if not conn.autocommit:
            conn.rollback()
        return [{"pid": pid, "table": table, "mode": mode.removesuffix("Lock"), "application": app,
                 "state": state, "for_s": age} for pid, table, mode, app, state, age in rows]
    return []


def is_timeout(exc: BaseException) -> bool:
    """True for a lock timeout or a cancelled statement (statement timeout)."""
    return isinstance(exc, (pg_errors.LockNotAvailable, pg_errors.QueryCanceled))


def timeout_error(exc: BaseException, limits: SessionLimits, what: str,
                  conn: psycopg.Connection[Any] | None = None) -> DatabaseError:
    """The :class:`DatabaseError` for a timeout hit while doing ``what`` (cause, holder, fix)."""
    holders = lock_holders(conn) if conn is not None and not conn.closed else []
    held = ""
    if holders:
        h = holders[0]
        held = (f"; {h['table']} is locked {h['mode']} by pid {h['pid']}"
                + (f" ({h['application']}" if h["application"] else " (")
                + f"{', ' if h['application'] else ''}{h['state'] or 'unknown state'} for {h['for_s']} s)")
    if isinstance(exc, pg_errors.LockNotAvailable):
        message = f"{what} waited longer than lock_timeout_ms={limits.lock_timeout_ms} for a table lock{held}"
        pid = f"pid {holders[0]['pid']}" if holders else "the blocking session"
        hint = (f"let {pid} finish (or end it: SELECT pg_terminate_backend(<pid>)), then run again; "
                "raise lock_timeout_ms only if waiting is acceptable")
    else:
        message = f"{what} ran longer than statement_timeout_ms={limits.statement_timeout_ms}{held}"
        hint = "raise statement_timeout_ms (large catalogs and tables take longer), or run in a quiet moment"
    return DatabaseError(redact(message), hint=redact(hint))
