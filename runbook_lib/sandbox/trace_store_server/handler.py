"""The query port's HTTP handler: one request in, ClickHouse's answer out.

The order of checks is ClickHouse's: read and decode the body, ``/ping``, the path, credentials, block
compression, then the statement (an insert with data, or one statement run with the URL's settings, database,
format and parameters). Results are compressed as ClickHouse would (``enable_http_compression``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

from . import failures
from .auth import authentication_failed, credentials, same_secret
from .compression import response_compression
from .engine import TraceStore
from .failures import QueryFailed
from .inserts import insert_with_data, split_insert
from .protocol import QueryRequest, content_type, is_read_only_statement, read_body, summary_header

__all__ = ["QueryEndpoint", "QueryHandler", "make_query_handler"]

log = logging.getLogger("runbook_lib.sandbox.trace_store")


@dataclass(frozen=True)
class QueryEndpoint:
    """What a handler serves: the store, its one user and password, and its HTTP compression defaults."""

    store: TraceStore
    user: str
    password: str
    default_compression: bool
    default_zlib_level: int

    @classmethod
    def over(cls, store: TraceStore, *, user: str, password: str) -> QueryEndpoint:
        return cls(store, user, password,
                   default_compression=store.setting("enable_http_compression") not in ("", "0", "false"),
                   default_zlib_level=int(store.setting("http_zlib_compression_level") or 3))


def make_query_handler(store: TraceStore, *, user: str = "default", password: str = ""
                       ) -> type[BaseHTTPRequestHandler]:
    """An HTTP handler class speaking the ClickHouse HTTP query interface subset over ``store``."""
    bound = QueryEndpoint.over(store, user=user, password=password)

    class ClickHouseHandler(QueryHandler):
        endpoint = bound

    return ClickHouseHandler


class QueryHandler(BaseHTTPRequestHandler):
    """Serves :attr:`endpoint`; :func:`make_query_handler` makes the subclass that sets it."""

    endpoint: ClassVar[QueryEndpoint]
    protocol_version = "HTTP/1.1"
    server_version = "ClickHouse-standin"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        log.debug("%s %s", self.address_string(), format % args)

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        self._handle(read_only=True)

    def do_POST(self) -> None:  # noqa: N802
        self._handle(read_only=False)

    def _handle(self, *, read_only: bool) -> None:
        request = QueryRequest.parse(self.path, self.headers)
        try:
            body = read_body(self.rfile, self.headers)
        except QueryFailed as error:
            self.close_connection = True
            self._fail(error, request.query_id)
            return
        if request.is_ping(read_only=read_only):
            self._send(200, b"Ok.\n", "text/html; charset=UTF-8")
            return
        if request.path not in ("/", ""):
            self._send(404, b"There is no handle " + request.path.encode() + b"\n\nUse / or /ping\n",
                       "text/plain; charset=UTF-8")
            return
        try:
            self._authenticate(request)
            if request.asks_block_compression:
                raise failures.block_compression_refused()
            self._run(request, body, read_only=read_only)
        except QueryFailed as error:
            self._fail(error, request.query_id)

    def _authenticate(self, request: QueryRequest) -> None:
        given_user, given_password = credentials(self.headers, request.params)
        if given_user == self.endpoint.user and same_secret(given_password, self.endpoint.password):
            return
        log.warning("authentication failed for user %r from %s", given_user, self.address_string())
        raise authentication_failed(given_user)

    def _run(self, request: QueryRequest, body: bytes, *, read_only: bool) -> None:
        """Run the request's statement (every other URL parameter is a setting for it, as in ClickHouse).

        ``readonly`` is enforced here (the shared session could not leave readonly mode again); GET implies it.
        """
        store = self.endpoint.store
        settings, asks_readonly = request.settings()
        read_only = read_only or asks_readonly
        if body and not read_only:
            insert = split_insert(request.params.get("query", ""), body)
            if insert:
                result = insert_with_data(store, insert, database=request.database, settings=settings)
                self._send(200, b"", "text/plain; charset=UTF-8", {"X-ClickHouse-Query-Id": request.query_id,
                                                                    "X-ClickHouse-Summary": summary_header(result)})
                return
        text = request.statement(body)
        if not text.strip():
            raise failures.empty_query()
        if read_only and not is_read_only_statement(text):
            raise failures.readonly_refused()
        result = store.query(text, default_format=request.default_format, params=request.query_params or None,
                             database=request.database, settings=settings)
        data, encoding = self._compressed(result.data, request.params)
        self._send(200, data, content_type(result.format), {
            "X-ClickHouse-Format": result.format,
            "X-ClickHouse-Query-Id": request.query_id,
            "X-ClickHouse-Summary": summary_header(result),
            **encoding,
        })

    def _compressed(self, body: bytes, params: Mapping[str, str]) -> tuple[bytes, dict[str, str]]:
        """The body as ClickHouse sends it: compressed when the client accepts it and
        ``enable_http_compression`` is on (the server default, or the URL's value)."""
        accept = self.headers.get("Accept-Encoding") or ""
        enabled = params.get("enable_http_compression")
        if not body or not accept or not (self.endpoint.default_compression if enabled is None
                                          else enabled.strip().lower() not in ("0", "false")):
            return body, {}
        chosen = response_compression(accept)
        if chosen is None:
            return body, {}
        method, codec = chosen
        level = int(params.get("http_zlib_compression_level") or self.endpoint.default_zlib_level)
        return codec.compress(body, level), {"Content-Encoding": method}

    def _send(self, status: int, body: bytes, ctype: str, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-ClickHouse-Server-Display-Name", "sandbox")
        self.send_header("X-ClickHouse-Timezone", "UTC")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _fail(self, error: QueryFailed, query_id: str) -> None:
        body = f"{error.text} (version {self.endpoint.store.version})\n".encode()
        self._send(error.http_status, body, "text/plain; charset=UTF-8", {
            "X-ClickHouse-Exception-Code": str(error.code),
            "X-ClickHouse-Query-Id": query_id,
        })
