"""The request and response framing of ClickHouse's HTTP interface, without the socket.

What one request says (:class:`QueryRequest`: URL parameters, settings, database, format, statement text), how
its body is read (Content-Length or chunked, then decoded), and the response headers a finished query gets
(content type by format, ``X-ClickHouse-Summary``).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .compression import decode_body
from .engine import QueryResult

__all__ = ["QueryRequest", "content_type", "is_read_only_statement", "read_body", "summary_header"]

_READ_ONLY_START = re.compile(r"^\s*(\(|SELECT|WITH|SHOW|DESC|DESCRIBE|EXISTS|EXPLAIN|CHECK)\b", re.IGNORECASE)
#: URL parameters that are not settings (ClickHouse's HTTPHandler reserved names, plus query/database/format);
#: every other parameter except ``param_<name>`` is a setting, applied to that one query.
_CLIENT_PARAMS = {"query", "database", "default_format", "user", "password", "quota_key", "query_id", "stacktrace",
                  "session_id", "session_timeout", "session_check", "close_session", "compress", "decompress",
                  "buffer_size", "wait_end_of_query", "client_protocol_version", "role"}

_CONTENT_TYPES = (
    ("JSONEachRow", "application/x-ndjson; charset=UTF-8"),
    ("JSONStringsEachRow", "application/x-ndjson; charset=UTF-8"),
    ("JSONCompactEachRow", "application/x-ndjson; charset=UTF-8"),
    ("JSON", "application/json; charset=UTF-8"),
    ("TabSeparated", "text/tab-separated-values; charset=UTF-8"),
    ("TSV", "text/tab-separated-values; charset=UTF-8"),
    ("CSVWithNames", "text/csv; charset=UTF-8; header=present"),
    ("CSV", "text/csv; charset=UTF-8; header=absent"),
    ("Parquet", "application/octet-stream"),
    ("Arrow", "application/octet-stream"),
    ("Native", "application/octet-stream"),
    ("RowBinary", "application/octet-stream"),
)


@dataclass(frozen=True)
class QueryRequest:
    """What one HTTP request asks, read from its URL and headers (the body is read separately)."""

    path: str
    params: dict[str, str]
    query_id: str
    headers: Any  # the request's message headers (case-insensitive ``get``)

    @classmethod
    def parse(cls, target: str, headers: Any) -> QueryRequest:
        parts = urlsplit(target)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        return cls(parts.path, params, params.get("query_id") or str(uuid.uuid4()), headers)

    def is_ping(self, *, read_only: bool) -> bool:
        """``GET /ping``, or ``GET /`` without a query: answered ``Ok.``."""
        return self.path == "/ping" or (self.path == "/" and read_only and "query" not in self.params)

    @property
    def asks_block_compression(self) -> bool:
        return any(self.params.get(flag, "0").strip().lower() not in ("", "0", "false")
                   for flag in ("compress", "decompress"))

    def settings(self) -> tuple[dict[str, str], bool]:
        """The URL's ClickHouse settings for this query, and whether they ask for ``readonly`` (> 0).

        ``readonly`` is taken out: the handler enforces it (the shared session could not leave readonly mode).
        """
        settings = {k: v for k, v in self.params.items()
                    if k and k not in _CLIENT_PARAMS and not k.startswith("param_")}
        return settings, settings.pop("readonly", "0").strip() not in ("", "0")

    @property
    def database(self) -> str | None:
        return self.headers.get("X-ClickHouse-Database") or self.params.get("database") or None

    @property
    def default_format(self) -> str:
        return self.headers.get("X-ClickHouse-Format") or self.params.get("default_format") or "TabSeparated"

    @property
    def query_params(self) -> dict[str, str]:
        """``param_<name>`` values for the statement's ``{name:Type}`` placeholders."""
        return {k[len("param_"):]: v for k, v in self.params.items() if k.startswith("param_")}

    def statement(self, body: bytes) -> str:
        """The statement: the URL's ``query``, the body, or both (URL text + newline + body)."""
        text = self.params.get("query", "")
        if body:
            decoded = body.decode("utf-8", errors="replace")
            text = f"{text}\n{decoded}" if text else decoded
        return text


def is_read_only_statement(text: str) -> bool:
    """True for the statements ClickHouse runs in readonly mode (SELECT, WITH, SHOW, DESCRIBE, …)."""
    return _READ_ONLY_START.match(text) is not None


def read_body(rfile: Any, headers: Any) -> bytes:
    """The request body: Content-Length or chunked, decoded by its Content-Encoding as ClickHouse does."""
    if (headers.get("Transfer-Encoding") or "").lower() == "chunked":
        parts = []
        while True:
            size = int(rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                break
            parts.append(rfile.read(size))
            rfile.readline()
        body = b"".join(parts)
    else:
        length = int(headers.get("Content-Length") or 0)
        body = rfile.read(length) if length else b""
    return decode_body(body, headers.get("Content-Encoding") or "")


def summary_header(result: QueryResult) -> str:
    """The ``X-ClickHouse-Summary`` header ClickHouse sends with a finished query."""
    summary = {"read_rows": result.rows_read, "read_bytes": result.bytes_read, "written_rows": result.rows_written,
               "written_bytes": result.bytes_written, "elapsed_ns": int(result.elapsed_s * 1e9)}
    return json.dumps({k: str(v) for k, v in summary.items()}, separators=(",", ":"))


def content_type(fmt: str) -> str:
    """The ``Content-Type`` ClickHouse sends for output format ``fmt``."""
    for prefix, ctype in _CONTENT_TYPES:
        if fmt.lower().startswith(prefix.lower()):
            return ctype
    return "text/plain; charset=UTF-8"
