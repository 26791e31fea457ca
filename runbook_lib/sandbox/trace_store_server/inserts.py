"""Insert formats: ``INSERT INTO t [(cols)] FORMAT F`` followed by data in any format the engine reads.

Clients put the statement in the URL or in front of the body; the data may be binary (Native, RowBinary,
Parquet, Arrow), so it is matched as bytes and handed to the engine through a temporary file
(``INSERT … FROM INFILE``) instead of being decoded as text.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass

from .engine import QueryResult, TraceStore

__all__ = ["InsertWithData", "insert_with_data", "split_insert"]

#: ``INSERT INTO t [(cols)] FORMAT F`` + newline + data, over the URL query + ``\\n`` + body.
_INSERT_WITH_DATA = re.compile(
    rb"\A\s*(INSERT\s+INTO\s+[^;]+?)\s+FORMAT\s+([A-Za-z][A-Za-z0-9_]*)[ \t]*;?[ \t]*(?:\r?\n|\Z)",
    re.IGNORECASE | re.S)
_STARTS_WITH_INSERT = re.compile(rb"\A\s*INSERT\s", re.IGNORECASE)


@dataclass(frozen=True)
class InsertWithData:
    """An insert statement's head (``INSERT INTO t (cols)``), its data format and the data bytes."""

    head: str
    format: str
    data: bytes


def split_insert(url_query: str, body: bytes) -> InsertWithData | None:
    """The insert carried by the URL's query and the body, or None when they are not ``INSERT … FORMAT F`` + data.

    An insert with its own ``SETTINGS`` clause is left to the engine as one statement.
    """
    whole = url_query.encode() + b"\n" + body if url_query else body
    insert = _INSERT_WITH_DATA.match(whole) if _STARTS_WITH_INSERT.match(whole) else None
    if insert and b"SETTINGS" not in insert.group(1).upper():
        return InsertWithData(insert.group(1).decode("utf-8", errors="replace"), insert.group(2).decode(),
                              whole[insert.end():])
    return None


def insert_with_data(store: TraceStore, insert: InsertWithData, *, database: str | None,
                     settings: Mapping[str, str]) -> QueryResult:
    """Run ``insert`` on ``store`` via a temporary file in the store's folder; raises QueryFailed."""
    with tempfile.NamedTemporaryFile(prefix="insert-", dir=store.path) as data:
        data.write(insert.data)
        data.flush()
        return store.query(f"{insert.head} FROM INFILE '{data.name}' FORMAT {insert.format}", database=database,
                           settings=settings)
