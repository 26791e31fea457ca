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

One module per part; the package re-exports the public names below:

- ``engine``: :class:`TraceStore` (the chDB session, settings per statement) and :class:`QueryResult`;
- ``failures``: :class:`QueryFailed`, ClickHouse's HTTP status per error name, chDB's text parsed;
- ``protocol``: the HTTP framing (:class:`~.protocol.QueryRequest`, body reading, content types, summary);
- ``compression``: request ``Content-Encoding`` and response ``Accept-Encoding``;
- ``inserts``: ``INSERT … FORMAT F`` + data, binary formats included;
- ``auth``: credentials and their check;
- ``handler``: :func:`make_query_handler`, the query port's HTTP handler;
- ``process``: :func:`serve` (both ports over one store) and :func:`main` (the command line).
"""

from __future__ import annotations

from .engine import QueryResult, TraceStore
from .failures import QueryFailed
from .handler import make_query_handler
from .process import main, serve

__all__ = ["QueryFailed", "QueryResult", "TraceStore", "main", "make_query_handler", "serve"]
