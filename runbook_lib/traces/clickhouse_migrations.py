"""Read and apply an AgentOps checkout's ClickHouse migrations (``app/clickhouse/migrations/*.sql``).

Reading and applying are separate steps, so a caller can inspect (or filter) what would run first:

- :func:`read_plan` lists the files in name order, splits each into statements (quotes, backquotes and
  comments respected) and says for each statement what it does (:class:`Statement`: ``action`` create,
  drop, insert, reload, alter or other; the ``kind`` of object and its ``name``, qualified with the
  database when the statement gives one);
- :meth:`MigrationPlan.only` keeps the statements that touch given objects (e.g. only ``otel_traces``);
- :func:`apply_plan` runs a plan through any store client's ``execute(sql)``, optionally skipping
  ``CREATE`` statements whose object already exists (:func:`existing_objects` lists them) and rewriting
  each statement on the way (:func:`point_dictionaries_at_local_store`).

Nothing here holds upstream SQL: every statement comes from the user's checkout at run time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import TraceStoreError

__all__ = [
    "MIGRATIONS_DIR",
    "AppliedStatement",
    "MigrationPlan",
    "Statement",
    "apply_plan",
    "classify",
    "existing_objects",
    "migration_files",
    "point_dictionaries_at_local_store",
    "read_plan",
    "split_statements",
    "strip_comments",
]

#: Where the migrations live inside an AgentOps checkout.
MIGRATIONS_DIR = Path("app") / "clickhouse" / "migrations"

Execute = Callable[[str], Any]
Query = Callable[[str], Iterable[tuple[str, ...]]]


@dataclass(frozen=True)
class Statement:
    """One statement of a migration file and the object it touches.

    ``action``: create, drop, insert, reload (``SYSTEM RELOAD DICTIONARY``), alter or other;
    ``kind``: database, table, view, materialized view, dictionary, function (empty when unknown);
    ``name``: the object as written, database-qualified when the statement qualifies it (functions
    are global and never qualified); ``guarded``: ``IF [NOT] EXISTS`` was given.
    """

    file: str
    index: int
    sql: str
    action: str
    kind: str = ""
    name: str | None = None
    guarded: bool = False

    @property
    def label(self) -> str:
        """``file#index action kind name`` for messages and reports."""
        what = " ".join(part for part in (self.action, self.kind, self.name or "") if part)
        return f"{self.file}#{self.index} {what}"


@dataclass(frozen=True)
class MigrationPlan:
    """The statements of a migrations folder, in the order they must run."""

    source: Path
    files: tuple[str, ...]
    statements: tuple[Statement, ...] = field(default_factory=tuple)

    def __iter__(self) -> Iterator[Statement]:
        return iter(self.statements)

    def __len__(self) -> int:
        return len(self.statements)

    def created(self) -> list[str]:
        """Names of the objects the plan creates, in order, once each."""
        seen: dict[str, None] = {}
        for stmt in self.statements:
            if stmt.action == "create" and stmt.name:
                seen.setdefault(stmt.name, None)
        return list(seen)

    def databases(self) -> list[str]:
        """Databases the plan's qualified names live in (which a plan may not create itself)."""
        seen: dict[str, None] = {}
        for stmt in self.statements:
            if stmt.name and stmt.kind != "function" and stmt.kind != "database" and "." in stmt.name:
                seen.setdefault(stmt.name.split(".", 1)[0], None)
        return list(seen)

    def only(self, names: Collection[str]) -> MigrationPlan:
        """The statements that touch one of ``names`` (every action: drop, create, insert, reload)."""
        wanted = set(names)
        return replace(self, statements=tuple(s for s in self.statements if s.name in wanted))


@dataclass(frozen=True)
class AppliedStatement:
    """What :func:`apply_plan` did with one statement: ``applied`` or ``skipped`` (object exists)."""

    statement: Statement
    outcome: str
    sql: str


def migration_files(checkout: str | os.PathLike[str]) -> list[Path]:
    """The ``*.sql`` files of ``<checkout>/app/clickhouse/migrations``, in name order (0000, 0001, …)."""
    folder = Path(checkout) / MIGRATIONS_DIR
    if not folder.is_dir():
        raise TraceStoreError(f"no ClickHouse migrations folder at {folder}",
                              hint="pass the root of an AgentOps checkout (it has app/clickhouse/migrations)")
    return sorted(folder.glob("*.sql"), key=lambda p: p.name)


# --- splitting ------------------------------------------------------------------------------------

_QUOTES = "'\"`"


def _scan(sql: str) -> Iterator[tuple[int, int, str]]:
    """Yield ``(start, end, kind)`` spans of ``sql``: kind is code, quoted, comment or semicolon."""
    i, n, start = 0, len(sql), 0
    while i < n:
        ch = sql[i]
        if ch in _QUOTES:
            j = i + 1
            while j < n:
                if sql[j] == "\\":
                    j += 2
                    continue
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:  # doubled quote inside the literal
                        j += 2
                        continue
                    break
                j += 1
            if start < i:
                yield start, i, "code"
            yield i, min(j + 1, n), "quoted"
            i = start = min(j + 1, n)
        elif sql.startswith("--", i) or ch == "#" and sql.startswith(("#!", "# "), i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            if start < i:
                yield start, i, "code"
            yield i, j, "comment"
            i = start = j
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            j = n if j < 0 else j + 2
            if start < i:
                yield start, i, "code"
            yield i, j, "comment"
            i = start = j
        elif ch == ";":
            if start < i:
                yield start, i, "code"
            yield i, i + 1, "semicolon"
            i = start = i + 1
        else:
            i += 1
    if start < n:
        yield start, n, "code"


def split_statements(sql: str) -> list[str]:
    """The statements of a SQL script, split at semicolons outside quotes and comments.

    Each is returned as written (comments inside kept), trimmed; a piece holding only comments or
    whitespace is dropped.
    """
    out: list[str] = []
    current: list[str] = []
    meaningful = False
    for start, end, kind in _scan(sql):
        if kind == "semicolon":
            if meaningful:
                out.append(_trim("".join(current)))
            current, meaningful = [], False
            continue
        current.append(sql[start:end])
        if kind == "quoted" or (kind == "code" and sql[start:end].strip()):
            meaningful = True
    if meaningful:
        out.append(_trim("".join(current)))
    return out


def strip_comments(sql: str) -> str:
    """``sql`` without its comments (quoted text untouched)."""
    return "".join(sql[s:e] for s, e, kind in _scan(sql) if kind != "comment")


def _trim(statement: str) -> str:
    """A statement without its leading comments and surrounding whitespace."""
    for start, end, kind in _scan(statement):
        if kind == "quoted" or (kind == "code" and statement[start:end].strip()):
            return statement[start:].strip()
    return ""


# --- classification -------------------------------------------------------------------------------

_IDENT = r"(?:`(?:[^`\\]|\\.)+`|\"(?:[^\"\\]|\\.)+\"|[A-Za-z_][A-Za-z0-9_$]*)"
_NAME = rf"(?P<name>{_IDENT}(?:\s*\.\s*{_IDENT})?)"
_KINDS = r"(?P<kind>MATERIALIZED\s+VIEW|LIVE\s+VIEW|WINDOW\s+VIEW|VIEW|TABLE|DICTIONARY|DATABASE|FUNCTION)"
_CREATE = re.compile(
    rf"^\s*(?:CREATE|ATTACH)\s+(?:OR\s+REPLACE\s+)?(?:TEMPORARY\s+)?{_KINDS}\s+(?P<guard>IF\s+NOT\s+EXISTS\s+)?{_NAME}",
    re.IGNORECASE)
_REPLACE = re.compile(rf"^\s*REPLACE\s+(?:TEMPORARY\s+)?{_KINDS}\s+{_NAME}", re.IGNORECASE)
_DROP = re.compile(
    rf"^\s*(?:DROP|DETACH)\s+(?:TEMPORARY\s+)?{_KINDS}\s+(?P<guard>IF\s+EXISTS\s+)?{_NAME}", re.IGNORECASE)
_INSERT = re.compile(rf"^\s*INSERT\s+INTO\s+(?:TABLE\s+)?(?:FUNCTION\s+)?{_NAME}", re.IGNORECASE)
_RELOAD = re.compile(rf"^\s*SYSTEM\s+RELOAD\s+DICTIONARY\s+{_NAME}", re.IGNORECASE)
_ALTER = re.compile(rf"^\s*ALTER\s+(?P<kind>TABLE|DICTIONARY)\s+(?P<guard>IF\s+EXISTS\s+)?{_NAME}", re.IGNORECASE)


def _unquote(name: str) -> str:
    parts = re.findall(_IDENT, name)
    return ".".join(p[1:-1] if p[:1] in "`\"" else p for p in parts)


def classify(sql: str) -> tuple[str, str, str | None, bool]:
    """``(action, kind, name, guarded)`` of one statement (see :class:`Statement`)."""
    body = strip_comments(sql)
    for action, pattern in (("create", _CREATE), ("create", _REPLACE), ("drop", _DROP), ("alter", _ALTER)):
        match = pattern.match(body)
        if match:
            kind = " ".join(match.group("kind").lower().split())
            guarded = bool(match.groupdict().get("guard"))
            return action, kind, _unquote(match.group("name")), guarded
    match = _INSERT.match(body)
    if match:
        return "insert", "table", _unquote(match.group("name")), False
    match = _RELOAD.match(body)
    if match:
        return "reload", "dictionary", _unquote(match.group("name")), False
    return "other", "", None, False


def read_plan(checkout: str | os.PathLike[str]) -> MigrationPlan:
    """Every statement of the checkout's ClickHouse migrations, in order, with what each touches."""
    files = migration_files(checkout)
    statements: list[Statement] = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise TraceStoreError(f"cannot read {path} ({exc.strerror})", hint="check the file's permissions") from None
        for index, sql in enumerate(split_statements(text), start=1):
            action, kind, name, guarded = classify(sql)
            statements.append(Statement(path.name, index, sql, action, kind, name, guarded))
    return MigrationPlan(Path(checkout) / MIGRATIONS_DIR, tuple(p.name for p in files), tuple(statements))


# --- transformation and execution -----------------------------------------------------------------

_SOURCE_CLICKHOUSE = re.compile(r"\bSOURCE\s*\(\s*CLICKHOUSE\s*\((?P<args>(?:[^()']|'(?:[^'\\]|\\.)*')*)\)\s*\)",
                                re.IGNORECASE)
_REMOTE_KEYS = re.compile(r"\b(?:HOST|PORT|USER|PASSWORD|SECURE)\s+(?:'(?:[^'\\]|\\.)*'|\S+)\s*", re.IGNORECASE)


def point_dictionaries_at_local_store(sql: str) -> str:
    """``sql`` with any dictionary ``SOURCE(CLICKHOUSE(...))`` reading the store it is created in.

    HOST, PORT, USER, PASSWORD and SECURE are dropped, so ClickHouse reads the source table locally
    (as the same server and user) instead of connecting to wherever the file says.
    """
    def local(match: re.Match[str]) -> str:
        args = " ".join(_REMOTE_KEYS.sub("", match.group("args")).split())
        return f"SOURCE(CLICKHOUSE({args}))"

    return _SOURCE_CLICKHOUSE.sub(local, sql)


def existing_objects(query: Query) -> set[str]:
    """Names of the objects a store has: ``db.name`` for databases' tables, views and dictionaries,
    ``db`` for databases, bare names for SQL user-defined functions.

    ``query(sql)`` runs a SELECT and returns its rows as tuples of strings.
    """
    names = {row[0] for row in query("SELECT name FROM system.databases")}
    names |= {f"{db}.{name}" for db, name in query("SELECT database, name FROM system.tables")}
    names |= {f"{db}.{name}" for db, name in query("SELECT database, name FROM system.dictionaries")}
    names |= {row[0] for row in query("SELECT name FROM system.functions WHERE origin = 'SQLUserDefined'")}
    return names


def apply_plan(
    plan: MigrationPlan | Iterable[Statement],
    execute: Execute,
    *,
    skip_existing: Collection[str] = (),
    transform: Callable[[str], str] | None = None,
) -> list[AppliedStatement]:
    """Run the plan's statements in order through ``execute(sql)``; return what was done with each.

    A ``CREATE`` whose object is in ``skip_existing`` is skipped, and so is a ``DROP`` of it (so an
    existing object is never replaced). ``transform`` rewrites each statement before it runs. The
    first failing statement raises TraceStoreError naming the file and statement.
    """
    done: list[AppliedStatement] = []
    keep = set(skip_existing)
    for stmt in plan:
        sql = transform(stmt.sql) if transform else stmt.sql
        if stmt.name in keep and stmt.action in ("create", "drop"):
            done.append(AppliedStatement(stmt, "skipped", sql))
            continue
        try:
            execute(sql)
        except Exception as exc:
            message = getattr(exc, "message", None) or str(exc)
            raise TraceStoreError(f"migration {stmt.label} failed: {message.splitlines()[0] if message else exc}",
                                  hint="read the statement in that file; the objects before it were created") from None
        done.append(AppliedStatement(stmt, "applied", sql))
    return done
