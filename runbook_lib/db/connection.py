"""Connecting to the AgentOps Postgres from a secret DSN reference, with clear failures.

:func:`connect` resolves the reference at call time, sets ``connect_timeout`` and
``application_name='agentops-runbooks'`` and maps every psycopg failure to a
:class:`~runbook_lib.errors.DatabaseError` that names the likely cause and the fix. Messages never
contain the password: they are built from the host, port, database and user only, and passed
through :func:`~runbook_lib.secrets.redact` as a second guard.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import conninfo as _conninfo

from ..checks import Check, Severity
from ..errors import DatabaseError, RunbookError
from ..secrets import SecretRef, redact
from .limits import SessionLimits, apply_session_limits, is_timeout, timeout_error

__all__ = [
    "APPLICATION_NAME",
    "ServerInfo",
    "connect",
    "server_info",
    "connection_check",
    "describe_error",
    "target_of",
]

APPLICATION_NAME = "agentops-runbooks"


@dataclass(frozen=True)
class ServerInfo:
    """Where we are connected and as whom (no password)."""

    host: str
    port: str
    database: str
    user: str
    server_version: str
    server_version_num: int
    is_superuser: bool
    database_owner: str
    in_recovery: bool

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def target_of(dsn: str) -> dict[str, str]:
    """Host, port, database and user of a DSN (never the password); empty when unparsable."""
    try:
        params = _conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return {}
    return {
        "host": str(params.get("host") or "localhost"),
        "port": str(params.get("port") or "5432"),
        "database": str(params.get("dbname") or params.get("user") or ""),
        "user": str(params.get("user") or ""),
    }


def describe_error(exc: BaseException, target: dict[str, str]) -> tuple[str, str]:
    """(message, fix) for a psycopg error, from its text and SQLSTATE; secret-free."""
    text = str(exc)
    state = getattr(getattr(exc, "diag", None), "sqlstate", None) or getattr(exc, "sqlstate", None)
    host, port = target.get("host", "?"), target.get("port", "?")
    db, user = target.get("database", "?"), target.get("user", "?")
    where = f"{host}:{port}"
    low = text.lower()
    if "password authentication failed" in low or state == "28P01":
        return (f"PostgreSQL at {where} refused the password for user {user!r}",
                "check the password inside the database_url secret (and that the role may log in)")
    if "no password supplied" in low or "fe_sendauth" in low:
        return (f"PostgreSQL at {where} requires a password for user {user!r} and the DSN has none",
                "put the password into the DSN the database_url reference points at")
    if "connection refused" in low:
        return (f"nothing accepts connections at {where} (connection refused)",
                "check host and port in the DSN and that PostgreSQL (or the pooler) is running and listening there")
    if ("could not translate host name" in low or "name or service not known" in low
            or "temporary failure in name resolution" in low or "nodename nor servname" in low):
        return (f"the host name {host!r} cannot be resolved (DNS)",
                "check the host in the DSN, or use the server's IP address")
    if "timeout expired" in low or "timed out" in low:
        return (f"PostgreSQL at {where} did not answer within the connect timeout",
                "check that the host is reachable (firewall, VPN, security group) and the port is right")
    if (f'database "{db}" does not exist' in text) or state == "3D000":
        return (f"database {db!r} does not exist on {where}",
                "check the database name in the DSN (Supabase's is usually 'postgres')")
    if "role" in low and "does not exist" in low:
        return (f"user {user!r} does not exist on {where}", "check the user name in the DSN")
    if "permission denied" in low or state in ("42501", "28000"):
        return (f"user {user!r} is not allowed to connect to {db!r} on {where}",
                "grant CONNECT on the database to this role, or use the database owner's DSN")
    if "no pg_hba.conf entry" in low:
        return (f"{where} does not accept this client/user/database combination (pg_hba.conf)",
                "allow this client in pg_hba.conf, or enable SSL (sslmode=require) if only SSL is allowed")
    if "ssl" in low:
        return (f"SSL negotiation with {where} failed", "adjust sslmode in the DSN (require / disable)")
    if "too many connections" in low or state == "53300":
        return (f"PostgreSQL at {where} has no free connection slots", "retry later or use the pooler's DSN")
    first_line = redact(text.strip().splitlines()[0] if text.strip() else type(exc).__name__)
    return (f"connecting to {where} failed: {first_line}", "check the DSN and the server's log")


def connect(
    database_url: str | SecretRef,
    *,
    connect_timeout: int = 10,
    autocommit: bool = True,
    application_name: str = APPLICATION_NAME,
    limits: SessionLimits | None = None,
) -> psycopg.Connection[Any]:
    """Open a connection from a DSN reference (``env:NAME`` / ``file:PATH``) under ``limits``
    (default :class:`SessionLimits`: every later statement has a lock and a statement timeout).

    Raises :class:`DatabaseError` (cause + fix, no password) when the server cannot be reached
    or refuses the login.
    """
    dsn = SecretRef.parse(database_url, name="database_url").resolve()
    target = target_of(dsn)
    if not target:
        raise DatabaseError(f"the DSN behind {database_url} is not a valid PostgreSQL connection string",
                            hint="use postgresql://USER:PASSWORD@HOST:PORT/DBNAME")
    limits = limits or SessionLimits()
    keepalives: dict[str, Any] = limits.libpq_keepalives()  # libpq options, passed through psycopg's **kwargs
    try:
        conn = psycopg.connect(dsn, connect_timeout=connect_timeout, autocommit=autocommit,
                               application_name=application_name, **keepalives)
    except psycopg.Error as exc:
        message, fix = describe_error(exc, target)
        raise DatabaseError(redact(message), hint=redact(fix)) from None
    try:
        apply_session_limits(conn, limits)
    except psycopg.Error as exc:
        with contextlib.suppress(Exception):
            conn.close()
        raise DatabaseError(redact(f"setting the session's timeouts on {target['host']}:{target['port']} failed: "
                                   f"{getattr(exc.diag, 'message_primary', None) or type(exc).__name__}"),
                            hint="connect directly or through a session-mode pooler (transaction-mode poolers "
                                 "drop session settings)") from None
    return conn


_Q_INFO = """
SELECT current_setting('server_version'), current_setting('server_version_num')::int,
       (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user),
       pg_catalog.pg_get_userbyid(d.datdba), pg_catalog.pg_is_in_recovery(), current_user::text,
       current_database()::text
  FROM pg_catalog.pg_database d WHERE d.datname = current_database()"""


def server_info(conn: psycopg.Connection[Any]) -> ServerInfo:
    """Server version, user and database of an open connection."""
    row = conn.execute(_Q_INFO).fetchone()
    if row is None:
        raise DatabaseError("the server returned no row for its own version and database",
                            hint="check that the connection points at a PostgreSQL server")
    version, num, superuser, owner, recovery, user, database = row
    info = conn.info
    return ServerInfo(
        host=str(info.host), port=str(info.port), database=str(database), user=str(user),
        server_version=str(version), server_version_num=int(num), is_superuser=bool(superuser),
        database_owner=str(owner), in_recovery=bool(recovery),
    )


def connection_check(database_url: str | SecretRef, *, connect_timeout: int = 10,
                     limits: SessionLimits | None = None) -> tuple[ServerInfo | None, Check]:
    """Connect, read the server info, disconnect; the result as a check (never raises for failures)."""
    limits = limits or SessionLimits()
    try:
        with contextlib.closing(connect(database_url, connect_timeout=connect_timeout, limits=limits)) as conn:
            try:
                info = server_info(conn)
            except psycopg.Error as exc:
                if not is_timeout(exc):
                    raise DatabaseError(redact(f"reading the server info failed: {type(exc).__name__}"),
                                        hint="check the role's privileges and the server's log") from None
                raise timeout_error(exc, limits, "reading the server info", conn) from None
    except RunbookError as exc:
        return None, Check.from_error("db.connection", "Connect to the AgentOps database", exc,
                                      severity=Severity.CRITICAL, evidence={"reference": str(database_url)})
    problems = []
    if info.server_version_num < 140000:
        problems.append(f"server {info.server_version} is older than the PostgreSQL 15 Supabase ships")
    if info.in_recovery:
        problems.append("the server is a read-only replica (in recovery): repairs cannot be applied here")
    evidence = info.as_dict() | {"reference": str(database_url)}
    summary = (f"connected to {info.database} on {info.host}:{info.port} as {info.user} "
               f"(PostgreSQL {info.server_version})")
    if problems:
        return info, Check.warned("db.connection", "Connect to the AgentOps database",
                                  summary + "; " + "; ".join(problems),
                                  "connect to the primary server running PostgreSQL 15", evidence=evidence)
    return info, Check.passed("db.connection", "Connect to the AgentOps database", summary, evidence=evidence)
