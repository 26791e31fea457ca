"""The sandbox trace store: one process holding an embedded ClickHouse (chDB) behind two HTTP ports.

- the **collector** port answers ``POST /v1/traces`` (see :mod:`runbook_lib.sandbox.collector`);
- the **query** port speaks the subset of the ClickHouse HTTP interface that clients use (our httpx
  client and the official ``clickhouse-connect`` alike):
  ``GET|POST /?query=…`` (query in the URL, the body, or both: URL text + ``\\n`` + body, which is how
  ``INSERT … FORMAT X`` carries its data), ``default_format`` / ``X-ClickHouse-Format`` or a ``FORMAT``
  clause (chDB returns the bytes: JSONEachRow, JSON, TabSeparated*, CSVWithNames, Parquet, Arrow, Native,
  RowBinary, …), query parameters ``param_<name>`` for ``{name:Type}`` placeholders (parsed by the engine,
  never spliced into SQL), ``database`` / ``X-ClickHouse-Database`` (the current database of that one
  request, as in ClickHouse: names without a database, such as the dictionary upstream's cost functions
  look up, resolve in it; the next request starts from ``default`` again), credentials by HTTP Basic auth,
  ``X-ClickHouse-User``/``X-ClickHouse-Key`` or the ``user``/``password`` parameters; ``GET /ping`` and
  ``GET /`` answer ``Ok.``. Every other URL parameter is a ClickHouse setting applied to that one query
  (an unknown name fails with ``UNKNOWN_SETTING``, as in ClickHouse); ``readonly`` > 0 and ``GET`` make the
  request read-only. Request bodies are decoded by ``Content-Encoding`` (gzip, deflate, xz, bz2, and zstd,
  lz4, br when their Python package is installed: clickhouse-connect brings lz4 and zstd); results are
  compressed with the method ClickHouse would pick from ``Accept-Encoding`` when ``enable_http_compression``
  is on (the engine's default, or the URL's value). Errors come back as ClickHouse sends them:
  ``Code: N. DB::Exception: … (NAME) (version …)`` with the HTTP status ClickHouse maps that code to and an
  ``X-ClickHouse-Exception-Code`` header; ``X-ClickHouse-Summary`` carries read/written rows and bytes.
  Not implemented: sessions (``session_id`` is accepted, but ``SET``/``USE``/temporary tables sent as
  statements are not scoped to it) and ClickHouse's internal block compression (``compress=1`` /
  ``decompress=1`` get ``NOT_IMPLEMENTED``).

Writes (collector) and reads (queries) share the one chDB session under a lock, so a notebook kernel
may read over HTTP while spans arrive. The process runs in UTC like a ClickHouse container.

Run: ``python -m runbook_lib.sandbox.trace_store_server --otlp-port P --http-port Q --data DIR
--jwt-secret-file F [--password-file F] [--ready-file F]``. It prints ``READY {json}`` when both ports
answer and writes the same JSON to ``--ready-file``; SIGTERM stops it cleanly.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import json
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..errors import SandboxError
from ..traces import schema
from ..traces.schema import quote_identifier, quote_string

__all__ = ["QueryFailed", "QueryResult", "TraceStore", "main", "make_query_handler", "serve"]

log = logging.getLogger("runbook_lib.sandbox.trace_store")

_CODE = re.compile(r"Code: (\d+)\. ")
_NAME = re.compile(r"\(([A-Z][A-Z0-9_]+)\)\s*$")
_FORMAT_CLAUSE = re.compile(r"\bFORMAT\s+([A-Za-z][A-Za-z0-9_]*)\s*;?\s*$", re.IGNORECASE)
#: ``INSERT INTO t [(cols)] FORMAT F`` + newline + data, over the URL query + ``\\n`` + body (clients put the
#: statement in the URL or in front of the body). Bytes: the data may be binary (Native, RowBinary, Parquet).
_INSERT_WITH_DATA = re.compile(
    rb"\A\s*(INSERT\s+INTO\s+[^;]+?)\s+FORMAT\s+([A-Za-z][A-Za-z0-9_]*)[ \t]*;?[ \t]*(?:\r?\n|\Z)",
    re.IGNORECASE | re.S)
_STARTS_WITH_INSERT = re.compile(rb"\A\s*INSERT\s", re.IGNORECASE)
_READ_ONLY_START = re.compile(r"^\s*(\(|SELECT|WITH|SHOW|DESC|DESCRIBE|EXISTS|EXPLAIN|CHECK)\b", re.IGNORECASE)
#: URL parameters that are not settings (ClickHouse's HTTPHandler reserved names, plus query/database/format);
#: every other parameter except ``param_<name>`` is a setting, applied to that one query.
_CLIENT_PARAMS = {"query", "database", "default_format", "user", "password", "quota_key", "query_id", "stacktrace",
                  "session_id", "session_timeout", "session_check", "close_session", "compress", "decompress",
                  "buffer_size", "wait_end_of_query", "client_protocol_version", "role"}

#: ClickHouse's HTTPHandler status mapping (exceptionCodeToHTTPStatus), by error name.
_HTTP_STATUS: dict[str, int] = {"REQUIRED_PASSWORD": 401}
_HTTP_STATUS.update(dict.fromkeys(
    ("UNKNOWN_USER", "WRONG_PASSWORD", "AUTHENTICATION_FAILED", "SET_NON_GRANTED_ROLE", "READONLY",
     "ACCESS_DENIED"), 403))
_HTTP_STATUS.update(dict.fromkeys(
    ("BAD_ARGUMENTS", "CANNOT_COMPILE_REGEXP", "CANNOT_PARSE_TEXT", "CANNOT_PARSE_ESCAPE_SEQUENCE",
     "CANNOT_PARSE_QUOTED_STRING", "CANNOT_PARSE_DATE", "CANNOT_PARSE_DATETIME", "CANNOT_PARSE_NUMBER",
     "CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING", "CANNOT_PARSE_IPV4", "CANNOT_PARSE_IPV6",
     "CANNOT_PARSE_INPUT_ASSERTION_FAILED", "CANNOT_PARSE_UUID", "DUPLICATE_COLUMN", "ILLEGAL_COLUMN",
     "UNKNOWN_ELEMENT_IN_AST", "UNKNOWN_TYPE_OF_AST_NODE", "THERE_IS_NO_COLUMN", "TOO_DEEP_AST",
     "TOO_BIG_AST", "UNEXPECTED_AST_STRUCTURE", "SYNTAX_ERROR", "INCORRECT_DATA", "TYPE_MISMATCH",
     "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE", "UNKNOWN_QUERY_PARAMETER", "BAD_QUERY_PARAMETER"), 400))
_HTTP_STATUS.update(dict.fromkeys(
    ("UNKNOWN_TABLE", "UNKNOWN_FUNCTION", "UNKNOWN_IDENTIFIER", "UNKNOWN_TYPE", "UNKNOWN_STORAGE",
     "UNKNOWN_DATABASE", "UNKNOWN_SETTING", "UNKNOWN_DIRECTION_OF_SORTING", "UNKNOWN_AGGREGATE_FUNCTION",
     "UNKNOWN_FORMAT", "UNKNOWN_DATABASE_ENGINE", "UNKNOWN_TYPE_OF_QUERY", "UNKNOWN_ROLE"), 404))
_HTTP_STATUS.update({"QUERY_IS_TOO_LARGE": 413, "NOT_IMPLEMENTED": 501, "TIMEOUT_EXCEEDED": 408})

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
class QueryResult:
    """What a query returned: the formatted bytes, the effective format and counters."""

    data: bytes
    format: str
    rows_read: int = 0
    bytes_read: int = 0
    elapsed_s: float = 0.0
    rows_written: int = 0
    bytes_written: int = 0


class QueryFailed(Exception):
    """The engine refused a query; ``code``/``name`` are ClickHouse's, ``text`` its message."""

    def __init__(self, code: int, name: str, text: str) -> None:
        self.code, self.name, self.text = code, name, text
        super().__init__(text)

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS.get(self.name, 500)


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
                raise _query_failed(str(exc)) from None
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


def _query_failed(text: str) -> QueryFailed:
    """Parse chDB's exception text into ClickHouse's code, name and first message."""
    text = text.strip()
    if "Code: " in text and not text.startswith("Code: "):
        text = text[text.index("Code: "):]
    # chDB can nest the same exception ("Code: 73. DB::Exception: Code: 73. …"); keep the innermost.
    while True:
        inner = re.match(r"Code: (\d+)\. DB::Exception: (Code: \1\. DB::Exception: .*)$", text, re.DOTALL)
        if not inner:
            break
        text = inner.group(2)
    text = re.sub(r"(\(([A-Z][A-Z0-9_]+)\) \(version [^)]*\)\. )+\(\2\)$", r"(\2)", text)
    text = text.split("\nThe above exception", 1)[0].strip()
    code_match, name_match = _CODE.match(text), _NAME.search(text)
    code = int(code_match.group(1)) if code_match else 1001
    name = name_match.group(1) if name_match else "STD_EXCEPTION"
    if not code_match:
        text = f"Code: 1001. DB::Exception: {text}. (STD_EXCEPTION)"
    return QueryFailed(code, name, text)


def _summary(result: QueryResult) -> str:
    """The ``X-ClickHouse-Summary`` header ClickHouse sends with a finished query."""
    summary = {"read_rows": result.rows_read, "read_bytes": result.bytes_read, "written_rows": result.rows_written,
               "written_bytes": result.bytes_written, "elapsed_ns": int(result.elapsed_s * 1e9)}
    return json.dumps({k: str(v) for k, v in summary.items()}, separators=(",", ":"))


def _content_type(fmt: str) -> str:
    for prefix, ctype in _CONTENT_TYPES:
        if fmt.lower().startswith(prefix.lower()):
            return ctype
    return "text/plain; charset=UTF-8"


def make_query_handler(store: TraceStore, *, user: str = "default", password: str = ""
                       ) -> type[BaseHTTPRequestHandler]:
    """An HTTP handler class speaking the ClickHouse HTTP query interface subset over ``store``."""
    default_compression = store.setting("enable_http_compression") not in ("", "0", "false")
    default_zlib_level = int(store.setting("http_zlib_compression_level") or 3)

    class ClickHouseHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "ClickHouse-standin"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
            log.debug("%s %s", self.address_string(), format % args)

        def _send(self, status: int, body: bytes, content_type: str,
                  headers: Mapping[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-ClickHouse-Server-Display-Name", "sandbox")
            self.send_header("X-ClickHouse-Timezone", "UTC")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _fail(self, error: QueryFailed, query_id: str) -> None:
            body = f"{error.text} (version {store.version})\n".encode()
            self._send(error.http_status, body, "text/plain; charset=UTF-8", {
                "X-ClickHouse-Exception-Code": str(error.code),
                "X-ClickHouse-Query-Id": query_id,
            })

        def do_HEAD(self) -> None:  # noqa: N802
            self.do_GET()

        def do_GET(self) -> None:  # noqa: N802
            self._handle(read_only=True)

        def do_POST(self) -> None:  # noqa: N802
            self._handle(read_only=False)

        def _insert_body(self, head: str, fmt: str, body: bytes, query_id: str, *, database: str | None,
                         settings: Mapping[str, str]) -> None:
            """Insert a body in any format, binary ones (Parquet, Arrow, Native) included, via a temp file."""
            import tempfile

            with tempfile.NamedTemporaryFile(prefix="insert-", dir=store.path) as data:
                data.write(body)
                data.flush()
                try:
                    result = store.query(f"{head} FROM INFILE '{data.name}' FORMAT {fmt}", database=database,
                                         settings=settings)
                except QueryFailed as error:
                    self._fail(error, query_id)
                    return
            self._send(200, b"", "text/plain; charset=UTF-8", {"X-ClickHouse-Query-Id": query_id,
                                                                "X-ClickHouse-Summary": _summary(result)})

        def _compressed(self, body: bytes, params: Mapping[str, str]) -> tuple[bytes, dict[str, str]]:
            """The body as ClickHouse sends it: compressed when the client accepts it and
            ``enable_http_compression`` is on (the server default, or the URL's value)."""
            accept = self.headers.get("Accept-Encoding") or ""
            enabled = params.get("enable_http_compression")
            if not body or not accept or not (default_compression if enabled is None
                                              else enabled.strip().lower() not in ("0", "false")):
                return body, {}
            chosen = _response_compression(accept)
            if chosen is None:
                return body, {}
            method, codec = chosen
            level = int(params.get("http_zlib_compression_level") or default_zlib_level)
            return codec.compress(body, level), {"Content-Encoding": method}

        def _handle(self, *, read_only: bool) -> None:
            parts = urlsplit(self.path)
            params = dict(parse_qsl(parts.query, keep_blank_values=True))
            query_id = params.get("query_id") or str(uuid.uuid4())
            try:
                body = _read_body(self.rfile, self.headers)
            except QueryFailed as error:
                self.close_connection = True
                self._fail(error, query_id)
                return
            if parts.path == "/ping" or (parts.path == "/" and read_only and "query" not in params):
                self._send(200, b"Ok.\n", "text/html; charset=UTF-8")
                return
            if parts.path not in ("/", ""):
                self._send(404, b"There is no handle " + parts.path.encode() + b"\n\nUse / or /ping\n",
                           "text/plain; charset=UTF-8")
                return
            denied = self._authenticate(params)
            if denied:
                self._fail(denied, query_id)
                return
            if any(params.get(flag, "0").strip().lower() not in ("", "0", "false")
                   for flag in ("compress", "decompress")):
                self._fail(QueryFailed(48, "NOT_IMPLEMENTED",
                                       "Code: 48. DB::Exception: ClickHouse's internal block compression (compress=1 "
                                       "/ decompress=1) is not implemented by the sandbox store; use HTTP compression "
                                       "(Accept-Encoding / Content-Encoding). (NOT_IMPLEMENTED)"), query_id)
                return
            # Every other URL parameter is a setting for this query, as in ClickHouse. ``readonly`` is enforced
            # here (the shared session could not leave readonly mode again); GET implies readonly = 2.
            settings = {k: v for k, v in params.items()
                        if k and k not in _CLIENT_PARAMS and not k.startswith("param_")}
            if settings.pop("readonly", "0").strip() not in ("", "0"):
                read_only = True
            database = self.headers.get("X-ClickHouse-Database") or params.get("database") or None
            default_format = self.headers.get("X-ClickHouse-Format") or params.get("default_format") or "TabSeparated"
            text = params.get("query", "")
            if body and not read_only:
                whole = text.encode() + b"\n" + body if text else body
                insert = _INSERT_WITH_DATA.match(whole) if _STARTS_WITH_INSERT.match(whole) else None
                if insert and b"SETTINGS" not in insert.group(1).upper():
                    self._insert_body(insert.group(1).decode("utf-8", errors="replace"), insert.group(2).decode(),
                                      whole[insert.end():], query_id, database=database, settings=settings)
                    return
            if body:
                text = f"{text}\n{body.decode('utf-8', errors='replace')}" if text else body.decode(
                    "utf-8", errors="replace")
            if not text.strip():
                self._fail(QueryFailed(62, "SYNTAX_ERROR",
                                       "Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR)"), query_id)
                return
            if read_only and not _READ_ONLY_START.match(text):
                self._fail(QueryFailed(164, "READONLY",
                                       "Code: 164. DB::Exception: Cannot execute query in readonly mode. "
                                       "For queries over HTTP, method GET implies readonly. You should use "
                                       "method POST for modifying queries. (READONLY)"), query_id)
                return
            query_params = {k[len("param_"):]: v for k, v in params.items() if k.startswith("param_")}
            try:
                result = store.query(text, default_format=default_format, params=query_params or None,
                                     database=database, settings=settings)
            except QueryFailed as error:
                self._fail(error, query_id)
                return
            data, encoding = self._compressed(result.data, params)
            self._send(200, data, _content_type(result.format), {
                "X-ClickHouse-Format": result.format,
                "X-ClickHouse-Query-Id": query_id,
                "X-ClickHouse-Summary": _summary(result),
                **encoding,
            })

        def _authenticate(self, params: Mapping[str, str]) -> QueryFailed | None:
            given_user, given_password = "default", ""
            header = self.headers.get("Authorization") or ""
            if header.lower().startswith("basic "):
                try:
                    decoded = base64.b64decode(header[6:].strip()).decode()
                    given_user, _, given_password = decoded.partition(":")
                except (ValueError, UnicodeDecodeError):
                    given_user, given_password = "", ""
            elif self.headers.get("X-ClickHouse-User") is not None or self.headers.get("X-ClickHouse-Key"):
                given_user = self.headers.get("X-ClickHouse-User") or "default"
                given_password = self.headers.get("X-ClickHouse-Key") or ""
            elif "user" in params or "password" in params:
                given_user, given_password = params.get("user") or "default", params.get("password", "")
            if given_user == user and _same(given_password, password):
                return None
            log.warning("authentication failed for user %r from %s", given_user, self.address_string())
            return QueryFailed(516, "AUTHENTICATION_FAILED",
                               f"Code: 516. DB::Exception: {given_user}: Authentication failed: password is "
                               "incorrect, or there is no user with such name. (AUTHENTICATION_FAILED)")

    return ClickHouseHandler


def _read_body(rfile: Any, headers: Any) -> bytes:
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
    method = _request_compression(headers.get("Content-Encoding") or "")
    if method is None or not body:
        return body
    codec = _codec(method)
    if codec is None:  # what a ClickHouse built without that library answers
        raise QueryFailed(48, "NOT_IMPLEMENTED",
                          "Code: 48. DB::Exception: Unsupported compression method. (NOT_IMPLEMENTED)")
    try:
        return codec.decompress(body)
    except Exception as exc:  # each library raises its own error type for a corrupt stream
        code, name = _DECODE_ERRORS[method]
        raise QueryFailed(code, name, f"Code: {code}. DB::Exception: Cannot decode the request body as "
                                      f"{method}: {exc}. ({name})") from None


# --- HTTP compression (Content-Encoding of requests, Accept-Encoding of responses) ---------------

#: ``Content-Encoding`` spellings ClickHouse reads (chooseCompressionMethod), by method.
_ENCODING_NAMES = {"gzip": "gzip", "gz": "gzip", "deflate": "deflate", "brotli": "br", "br": "br", "lzma": "xz",
                   "xz": "xz", "zstd": "zstd", "zst": "zstd", "lz4": "lz4", "bz2": "bz2", "snappy": "snappy"}
#: The order ClickHouse picks a response method from ``Accept-Encoding`` (chooseHTTPCompressionMethod).
_RESPONSE_PREFERENCE = ("zstd", "br", "lz4", "snappy", "gzip", "deflate", "xz", "bz2")
#: The error ClickHouse raises when a request body does not decode, by method.
_DECODE_ERRORS = {"gzip": (354, "ZLIB_INFLATE_FAILED"), "deflate": (354, "ZLIB_INFLATE_FAILED"),
                  "br": (448, "BROTLI_READ_FAILED"), "xz": (554, "LZMA_STREAM_DECODER_FAILED"),
                  "zstd": (561, "ZSTD_DECODER_FAILED"), "lz4": (618, "LZ4_DECODER_FAILED"),
                  "bz2": (594, "BZIP2_STREAM_DECODER_FAILED"), "snappy": (271, "CANNOT_DECOMPRESS")}


@dataclass(frozen=True)
class _Codec:
    decompress: Any
    compress: Any  # (data, level) -> bytes


def _request_compression(header: str) -> str | None:
    """The method a request's ``Content-Encoding`` names; ClickHouse's error for one it does not know."""
    name = header.strip().lower()
    if name in ("", "auto", "none"):
        return None
    if name in _ENCODING_NAMES:
        return _ENCODING_NAMES[name]
    raise QueryFailed(48, "NOT_IMPLEMENTED",
                      f"Code: 48. DB::Exception: Unknown compression method '{header.strip()}'. Only 'auto', "
                      "'none', 'gzip', 'deflate', 'br', 'xz', 'zstd', 'lz4', 'bz2', 'snappy' are supported as "
                      "compression methods. (NOT_IMPLEMENTED)")


def _codec(method: str) -> _Codec | None:
    """The codec for ``method`` from the standard library or an installed package; None when missing."""
    import bz2
    import gzip
    import lzma
    import zlib

    if method == "gzip":
        return _Codec(gzip.decompress, lambda data, level: gzip.compress(data, compresslevel=level, mtime=0))
    if method == "deflate":
        return _Codec(zlib.decompress, lambda data, level: zlib.compress(data, level))
    if method == "xz":
        return _Codec(lzma.decompress, lambda data, level: lzma.compress(data, preset=level))
    if method == "bz2":
        return _Codec(bz2.decompress, lambda data, level: bz2.compress(data, compresslevel=level))
    try:
        if method == "zstd":
            return _zstd_codec()
        if method == "lz4":
            import lz4.frame

            return _Codec(lz4.frame.decompress,
                          lambda data, level: lz4.frame.compress(data, compression_level=level))
        if method == "br":
            import brotli

            return _Codec(brotli.decompress, lambda data, level: brotli.compress(data, quality=level))
    except ImportError:
        return None
    return None  # snappy: ClickHouse's Hadoop framing has no codec here


def _zstd_codec() -> _Codec:
    try:
        from compression import zstd  # Python 3.14+
    except ImportError:
        try:
            from backports import zstd
        except ImportError:
            import zstandard

            return _Codec(lambda data: zstandard.ZstdDecompressor().decompressobj().decompress(data),
                          lambda data, level: zstandard.ZstdCompressor(level=level).compress(data))
    return _Codec(zstd.decompress, lambda data, level: zstd.compress(data, level=level))


def _response_compression(accept_encoding: str) -> tuple[str, _Codec] | None:
    """The method ClickHouse would answer ``Accept-Encoding`` with, if this process can encode it."""
    for method in _RESPONSE_PREFERENCE:
        if method in accept_encoding:
            codec = _codec(method)
            if codec is not None:
                return method, codec
    return None


def _same(given: str, expected: str) -> bool:
    import hmac

    return hmac.compare_digest(given.encode(), expected.encode())


# --- process -------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def serve(
    *,
    data_dir: str | os.PathLike[str],
    jwt_secret: str,
    otlp_port: int = 4318,
    http_port: int = 8123,
    host: str = "127.0.0.1",
    user: str = "default",
    password: str = "",
    create_schema: bool = True,
    prices: Mapping[str, tuple[float, float]] | None = None,
    resource_defaults: Mapping[str, str] | None = None,
) -> tuple[TraceStore, ThreadingHTTPServer, ThreadingHTTPServer]:
    """Open the store and start both HTTP servers in daemon threads; the caller shuts them down."""
    from . import collector

    store = TraceStore(data_dir, create_schema=create_schema)
    try:
        otlp = _Server((host, otlp_port), collector.make_handler(
            jwt_secret=jwt_secret, write_rows=store.insert_rows, resource_defaults=resource_defaults,
            prices=prices))
        http = _Server((host, http_port), make_query_handler(store, user=user, password=password))
    except OSError as exc:
        store.close()
        raise SandboxError(
            f"cannot listen on {host} port {otlp_port} or {http_port} ({exc.strerror})",
            hint="another process holds the port; pick free ports (or 0 for any)",
        ) from None
    for server, name in ((otlp, "otlp"), (http, "query")):
        threading.Thread(target=server.serve_forever, name=f"trace-store-{name}", daemon=True).start()
    return store, otlp, http


def _read_secret_file(path: str | None, env: str, what: str, *, required: bool) -> str:
    if path:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SandboxError(f"cannot read the {what} file {path} ({exc.strerror})",
                               hint="check the path given on the command line") from None
        if value or not required:
            return value
        raise SandboxError(f"the {what} file {path} is empty", hint=f"write the {what} into it")
    value = os.environ.get(env, "")
    if required and not value:
        raise SandboxError(f"no {what} given", hint=f"pass --{what.replace(' ', '-')}-file or set {env}")
    return value


def _load_prices(path: str | None) -> dict[str, tuple[float, float]] | None:
    if not path:
        return None
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        return {str(model): (float(p["prompt"]), float(p["completion"])) for model, p in raw.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SandboxError(f"cannot read prices from {path} ({exc})",
                           hint='write JSON like {"gpt-4o-mini": {"prompt": 1.5e-7, "completion": 6e-7}}'
                           ) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m runbook_lib.sandbox.trace_store_server",
                                     description="Sandbox OTLP collector + ClickHouse-compatible query endpoint.")
    parser.add_argument("--otlp-port", type=int, default=4318, help="collector port (0: any free port)")
    parser.add_argument("--http-port", type=int, default=8123, help="ClickHouse HTTP port (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--data", required=True, help="folder for the chDB data")
    parser.add_argument("--jwt-secret-file", help="file holding the JWT secret (else env JWT_SECRET)")
    parser.add_argument("--user", default="default", help="ClickHouse user name")
    parser.add_argument("--password-file", help="file holding the ClickHouse password (else env "
                        "CLICKHOUSE_PASSWORD; empty: no password)")
    parser.add_argument("--prices-file", help="JSON {model: {prompt, completion}} USD per token")
    parser.add_argument("--no-create-schema", action="store_true", help="do not create otel_2.otel_traces")
    parser.add_argument("--ready-file", help="write {pid, otlp_port, http_port, ...} here when ready")
    parser.add_argument("--log-level", default="INFO")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ["TZ"] = "UTC"
    time.tzset()
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        secret = _read_secret_file(args.jwt_secret_file, "JWT_SECRET", "jwt secret", required=True)
        password = _read_secret_file(args.password_file, "CLICKHOUSE_PASSWORD", "password", required=False)
        store, otlp, http = serve(
            data_dir=args.data, jwt_secret=secret, otlp_port=args.otlp_port, http_port=args.http_port,
            host=args.host, user=args.user, password=password, create_schema=not args.no_create_schema,
            prices=_load_prices(args.prices_file),
            resource_defaults={"host.name": socket.gethostname(), "os.type": "linux"},
        )
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    ready = {"pid": os.getpid(), "otlp_port": otlp.server_address[1], "http_port": http.server_address[1],
             "otlp_url": f"http://{args.host}:{otlp.server_address[1]}/v1/traces",
             "query_url": f"http://{args.host}:{http.server_address[1]}", "engine_version": store.version}
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if args.ready_file:
        tmp = Path(args.ready_file).with_suffix(".tmp")
        tmp.write_text(json.dumps(ready))
        tmp.replace(args.ready_file)
    print("READY " + json.dumps(ready), flush=True)
    stop.wait()
    log.info("stopping")
    for server in (otlp, http):
        server.shutdown()
        server.server_close()
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
