"""Trace store clients against hostile input: a secret across the cut of an error body, a dump of the wrong shape."""

from __future__ import annotations

import json
import secrets
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from runbook_lib.errors import TraceStoreError
from runbook_lib.secrets import remember_secret
from runbook_lib.traces import schema
from runbook_lib.traces.store import DUMP_REQUIRED_COLUMNS, ChdbFileStore, ClickHouseHttpStore
from tests.plugins.attackers import AttackServer, read_request


def _serve_once(status: str, body: bytes) -> AttackServer:
    def handler(conn: socket.socket, stopping: threading.Event) -> None:
        if b"\r\n\r\n" not in read_request(conn):
            return
        conn.sendall(f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n".encode() + body)

    return AttackServer(handler)


@pytest.fixture
def known_secret() -> str:
    value = secrets.token_urlsafe(33)
    remember_secret(value)
    return value


@pytest.mark.parametrize(("status", "cut"), [("500 Internal Server Error", 600), ("200 OK", 120)])
def test_a_secret_across_the_cut_of_an_answer_leaves_no_fragment(known_secret, status, cut):
    """The error text and the not-a-result text are redacted first, then shortened."""
    offset = cut - 6 - secrets.randbelow(2)    # the cut leaves 6-7 characters: too short for the fragment scan
    body = (b"x" * offset + known_secret.encode() + b" trailing").replace(b"\n", b" ")
    server = _serve_once(status, body)
    try:
        store = ClickHouseHttpStore(server.url, "default", None, timeout_s=5)
        with pytest.raises(TraceStoreError) as caught:
            store.query_df("SELECT 1")
        store.close()
    finally:
        server.stop()
    text = str(caught.value)
    assert not any(known_secret[i:i + 6] in text for i in range(len(known_secret) - 5))


@pytest.fixture
def wrong_dumps(tmp_path: Path) -> Iterator[dict[str, Path]]:
    trace = secrets.token_hex(8)
    parquet = tmp_path / "wrong.parquet"
    pq.write_table(pa.table({"ts": ["2026-01-01 00:00:00"], "trace": [trace], "attrs": ["{}"]}), parquet)
    jsonl = tmp_path / "wrong.jsonl"
    jsonl.write_text(json.dumps({"time": "2026-01-01 00:00:00", "TraceId": trace, "name": "x"}) + "\n")
    yield {"parquet": parquet, "jsonl": jsonl}


@pytest.mark.parametrize("kind", ["parquet", "jsonl"])
def test_a_dump_with_the_wrong_columns_is_refused_naming_them(wrong_dumps, kind):
    with pytest.raises(TraceStoreError) as caught:
        ChdbFileStore(wrong_dumps[kind])
    message = str(caught.value)
    assert "is not an otel_traces export: it lacks Timestamp" in message
    assert "SpanAttributes" in message and "SELECT * FROM otel_2.otel_traces" in message


def test_the_required_columns_are_otel_traces_columns(parquet_dump):
    assert set(DUMP_REQUIRED_COLUMNS) <= {name for name, _ in schema.COLUMNS}
    store = ChdbFileStore(parquet_dump)                          # a real export still opens
    try:
        assert int(store.query_df("SELECT count() AS n FROM otel_2.otel_traces")["n"].iloc[0]) > 0
    finally:
        store.close()
