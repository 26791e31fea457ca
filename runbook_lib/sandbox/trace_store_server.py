"""The sandbox trace store: one process holding an embedded ClickHouse (chDB) behind two HTTP ports.

- the **collector** port answers ``POST /v1/traces`` (see :mod:`runbook_lib.sandbox.collector`);
- the **query** port speaks the subset of the ClickHouse HTTP interface that clients use:
  ``GET|POST /?query=…`` (query in the URL, the body, or both: URL text + ``\\n`` + body, which is how
  ``INSERT … FORMAT X`` carries its data), ``default_format`` or a ``FORMAT`` clause (chDB returns the
  bytes: JSONEachRow, JSON, TabSeparated*, CSVWithNames, Parquet, Arrow, Native, …), query parameters
  ``param_<name>`` for ``{name:Type}`` placeholders (parsed by the engine, never spliced into SQL),
  ``database``, credentials by HTTP Basic auth, ``X-ClickHouse-User``/``X-ClickHouse-Key`` or the
  ``user``/``password`` parameters; ``GET /ping`` and ``GET /`` answer ``Ok.``. Errors come back as
  ClickHouse sends them: ``Code: N. DB::Exception: … (NAME) (version …)`` with the HTTP status ClickHouse
  maps that code to and an ``X-ClickHouse-Exception-Code`` header. ``GET`` requests are read-only, as in
  ClickHouse. Other URL parameters (ClickHouse settings) are accepted and ignored.

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

__all__ = ["QueryFailed", "QueryResult", "TraceStore", "main", "make_query_handler", "serve"]

log = logging.getLogger("runbook_lib.sandbox.trace_store")

_CODE = re.compile(r"Code: (\d+)\. ")
_NAME = re.compile(r"\(([A-Z][A-Z0-9_]+)\)\s*$")
_FORMAT_CLAUSE = re.compile(r"\bFORMAT\s+([A-Za-z][A-Za-z0-9_]*)\s*;?\s*$", re.IGNORECASE)
#: ``INSERT INTO t [(cols)] FORMAT F`` in the URL with the data in the body (how clients send binary rows).
_INSERT_WITH_DATA = re.compile(r"^\s*(INSERT\s+INTO\s+[^;]+?)\s+FORMAT\s+([A-Za-z][A-Za-z0-9_]*)\s*;?\s*$",
                               re.IGNORECASE | re.S)
_READ_ONLY_START = re.compile(r"^\s*(\(|SELECT|WITH|SHOW|DESC|DESCRIBE|EXISTS|EXPLAIN|CHECK)\b", re.IGNORECASE)
_CLIENT_PARAMS = {"query", "database", "default_format", "user", "password", "query_id", "session_id",
                  "session_timeout", "session_check", "compress", "decompress", "quota_key", "buffer_size",
                  "wait_end_of_query", "enable_http_compression", "client_protocol_version"}

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
              database: str | None = None) -> QueryResult:
        """Run one statement; a trailing ``FORMAT`` clause overrides ``default_format``."""
        clause = _FORMAT_CLAUSE.search(sql)
        fmt = clause.group(1) if clause else default_format
        return self._run(sql, fmt, params=params, database=database)

    def _run(self, sql: str, fmt: str, *, params: Mapping[str, str] | None = None,
             database: str | None = None) -> QueryResult:
        with self._lock:
            try:
                if database:
                    self._session.query(f"USE {_quote_identifier(database)}", "TabSeparated")
                try:
                    result = self._session.query(sql, fmt, params=dict(params) if params else None)
                finally:
                    if database:
                        self._session.query("USE default", "TabSeparated")
            except Exception as exc:  # chDB raises ChdbError/RuntimeError with ClickHouse's text
                raise _query_failed(str(exc)) from None
        return QueryResult(
            data=result.bytes(),
            format=fmt,
            rows_read=_counter(result, "rows_read"),
            bytes_read=_counter(result, "bytes_read"),
            elapsed_s=float(_counter(result, "elapsed", float)),
        )


def _counter(result: Any, name: str, kind: type = int) -> Any:
    try:
        value = getattr(result, name)
        return kind(value() if callable(value) else value)
    except Exception:
        return kind(0)


def _quote_identifier(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


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


def _content_type(fmt: str) -> str:
    for prefix, ctype in _CONTENT_TYPES:
        if fmt.lower().startswith(prefix.lower()):
            return ctype
    return "text/plain; charset=UTF-8"


def make_query_handler(store: TraceStore, *, user: str = "default", password: str = ""
                       ) -> type[BaseHTTPRequestHandler]:
    """An HTTP handler class speaking the ClickHouse HTTP query interface subset over ``store``."""

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

        def _insert_body(self, head: str, fmt: str, body: bytes, query_id: str) -> None:
            """Insert a body in any format, binary ones (Parquet, Arrow, Native) included, via a temp file."""
            import tempfile

            with tempfile.NamedTemporaryFile(prefix="insert-", dir=store.path) as data:
                data.write(body)
                data.flush()
                try:
                    store.query(f"{head} FROM INFILE '{data.name}' FORMAT {fmt}")
                except QueryFailed as error:
                    self._fail(error, query_id)
                    return
            self._send(200, b"", "text/plain; charset=UTF-8", {"X-ClickHouse-Query-Id": query_id})

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
            text = params.get("query", "")
            insert = _INSERT_WITH_DATA.match(text) if body else None
            if insert and not read_only and "SETTINGS" not in insert.group(1).upper():
                self._insert_body(insert.group(1), insert.group(2), body, query_id)
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
                result = store.query(text, default_format=params.get("default_format") or "TabSeparated",
                                     params=query_params or None, database=params.get("database") or None)
            except QueryFailed as error:
                self._fail(error, query_id)
                return
            summary = {"read_rows": str(result.rows_read), "read_bytes": str(result.bytes_read),
                       "elapsed_ns": str(int(result.elapsed_s * 1e9))}
            self._send(200, result.data, _content_type(result.format), {
                "X-ClickHouse-Format": result.format,
                "X-ClickHouse-Query-Id": query_id,
                "X-ClickHouse-Summary": json.dumps(summary, separators=(",", ":")),
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
    """The request body: Content-Length or chunked, decompressed when Content-Encoding is gzip/deflate."""
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
    encoding = (headers.get("Content-Encoding") or "").lower().strip()
    if not body or encoding in ("", "identity"):
        return body
    import gzip
    import zlib

    try:
        if encoding == "gzip":
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
    except (OSError, EOFError, zlib.error) as exc:
        raise QueryFailed(354, "CANNOT_DECOMPRESS",
                          f"Code: 354. DB::Exception: Cannot decompress the request body: {exc}. "
                          "(CANNOT_DECOMPRESS)") from None
    raise QueryFailed(36, "BAD_ARGUMENTS",
                      f"Code: 36. DB::Exception: Unknown HTTP compression method {encoding!r} (the sandbox "
                      "store reads gzip and deflate). (BAD_ARGUMENTS)")


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
