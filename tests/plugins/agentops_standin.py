"""Pytest fixtures for the AgentOps stand-in processes (API, collector + trace store).

- ``standin_jwt_secret`` (session): ``(secret, path)`` of the JWT secret shared by API and collector.
- ``start_trace_store`` (session factory): ``start_trace_store(*, jwt_secret_file=None, password=...,
  create_schema=True)`` -> :class:`StandinStore`, a running ``trace_store_server`` process.
- ``trace_store`` (session): one store with the shared secret and a ClickHouse password.
- ``dashboard_store`` (session): a store that also holds the dashboard's ClickHouse objects and prices
  (:func:`install_dashboard_objects`); ``trace_store`` stays bare, as a fresh self-hosted store is.
- ``start_agentops_api`` (session factory): ``start_agentops_api(level="current", *, lifetime_s=None,
  jwt_secret_file=<shared>, trace_store=None, prem_status="pro")`` -> :class:`StandinApi`, an
  ``agentops_api`` process over a freshly built AgentOps database (``pg_server`` from the postgres
  plugin) at that level. (The process refuses to start without a JWT secret, as upstream.)
- ``agentops_api`` (session): a ``current`` database, wired to ``trace_store``.
- ``otlp_request`` helpers: :func:`make_export_request`, :func:`to_otlp_json`; stored rows:
  :func:`span_row` + :func:`insert_spans` (one insert = one batch, as the collector writes them).
- dashboard sessions: :func:`session_headers` mints a Supabase-style token and opens a session.

Every process is stopped (by pid) and every database dropped at the end of the session.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from runbook_lib.sandbox import processes

STORE_MODULE = "runbook_lib.sandbox.trace_store_server"
API_MODULE = "runbook_lib.sandbox.agentops_api"


def _private_file(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


@dataclass
class StandinStore:
    """A running trace store process: collector URL, ClickHouse HTTP URL, credentials, log."""

    otlp_url: str
    query_url: str
    pid: int
    log_path: Path
    data_dir: Path
    jwt_secret: str
    user: str
    password: str

    def client(self) -> Any:
        """A :class:`~runbook_lib.traces.store.ClickHouseHttpStore` on this store, its password behind a
        private ``file:`` reference (as an operator passes it)."""
        from runbook_lib.traces.store import ClickHouseHttpStore

        password_file = _private_file(self.data_dir.with_name(self.data_dir.name + ".client-pw"), self.password)
        return ClickHouseHttpStore(self.query_url, self.user, f"file:{password_file}")

    def query(self, sql: str, params: dict[str, str] | None = None, *, fmt: str = "TabSeparated") -> str:
        """Run a query over HTTP like a ClickHouse client; raises on a non-200 answer."""
        response = httpx.post(self.query_url + "/", content=sql.encode(), auth=(self.user, self.password),
                              params={"default_format": fmt, **{f"param_{k}": v for k, v in (params or {}).items()}},
                              timeout=30)
        if response.status_code != 200:
            raise AssertionError(f"query failed: HTTP {response.status_code}: {response.text}")
        return response.text

    def count(self, where: str = "1", params: dict[str, str] | None = None) -> int:
        return int(self.query(f"SELECT count() FROM otel_2.otel_traces WHERE {where}", params).strip())

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@dataclass
class StandinApi:
    """A running AgentOps API stand-in over its own database."""

    url: str
    pid: int
    log_path: Path
    level: str
    dsn: str
    db_name: str
    seed: Any  # runbook_lib.sandbox.agentops_db.AgentOpsSeed
    jwt_secret: str | None
    extra: dict[str, Any] = field(default_factory=dict)

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@pytest.fixture(scope="session")
def standin_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("standin")


@pytest.fixture(scope="session")
def standin_jwt_secret(standin_workdir: Path) -> tuple[str, Path]:
    secret = "sandbox-jwt-" + secrets.token_urlsafe(32)
    return secret, _private_file(standin_workdir / "jwt_secret", secret)


@pytest.fixture(scope="session")
def start_trace_store(standin_workdir: Path, standin_jwt_secret: tuple[str, Path]
                      ) -> Iterator[Callable[..., StandinStore]]:
    started: list[int] = []

    def start(*, jwt_secret_file: Path | None = None, password: str | None = "store-" + secrets.token_hex(8),
              create_schema: bool = True, extra_args: tuple[str, ...] = ()) -> StandinStore:
        name = uuid.uuid4().hex[:8]
        secret_file = jwt_secret_file or standin_jwt_secret[1]
        args = ["--otlp-port", str(processes.free_port()), "--http-port", str(processes.free_port()),
                "--data", str(standin_workdir / f"store-{name}"), "--jwt-secret-file", str(secret_file),
                "--ready-file", str(standin_workdir / f"store-{name}.json"), *extra_args]
        if password:
            args += ["--password-file", str(_private_file(standin_workdir / f"store-{name}.pw", password))]
        if not create_schema:
            args.append("--no-create-schema")
        log = standin_workdir / f"store-{name}.log"
        proc = processes.spawn_module(STORE_MODULE, args, log_path=log)
        started.append(proc.pid)
        otlp_port, http_port = args[1], args[3]
        processes.wait_for_http(f"http://127.0.0.1:{http_port}/ping", process=proc, log_path=log,
                                name="trace store", deadline_s=60)
        processes.wait_for_http(f"http://127.0.0.1:{otlp_port}/", process=proc, log_path=log,
                                name="collector", deadline_s=10)
        return StandinStore(
            otlp_url=f"http://127.0.0.1:{otlp_port}/v1/traces", query_url=f"http://127.0.0.1:{http_port}",
            pid=proc.pid, log_path=log, data_dir=standin_workdir / f"store-{name}",
            jwt_secret=Path(secret_file).read_text().strip(), user="default", password=password or "")

    yield start
    for pid in started:
        processes.stop_pid(pid, expect=STORE_MODULE)


@pytest.fixture(scope="session")
def trace_store(start_trace_store: Callable[..., StandinStore]) -> StandinStore:
    return start_trace_store()


def install_dashboard_objects(store: StandinStore) -> None:
    """Create the dashboard's ClickHouse objects in ``store`` and seed the prices from LiteLLM's map."""
    from runbook_lib.traces.dashboard_objects import create_statements, price_statements

    for sql in create_statements() + price_statements():
        store.query(sql)


@pytest.fixture(scope="session")
def dashboard_store(start_trace_store: Callable[..., StandinStore]) -> StandinStore:
    store = start_trace_store()
    install_dashboard_objects(store)
    return store


@pytest.fixture(scope="session")
def start_agentops_api(pg_server: Any, standin_workdir: Path, standin_jwt_secret: tuple[str, Path]
                       ) -> Iterator[Callable[..., StandinApi]]:
    from runbook_lib.sandbox.agentops_db import build_agentops_db

    started: list[int] = []
    databases: list[str] = []
    default_secret = object()

    def start(level: str = "current", *, lifetime_s: float | None = None,
              jwt_secret_file: Any = default_secret, trace_store: StandinStore | None = None,
              prem_status: str = "pro") -> StandinApi:
        name = f"standin_{level}_{uuid.uuid4().hex[:8]}"
        pg_server.create_database(name)
        databases.append(name)
        dsn = pg_server.dsn(name)
        seed = build_agentops_db(dsn, level, prem_status=prem_status)
        port = processes.free_port()
        args = ["--port", str(port), "--database-url-file",
                str(_private_file(standin_workdir / f"{name}.dsn", dsn))]
        secret_file = standin_jwt_secret[1] if jwt_secret_file is default_secret else jwt_secret_file
        if secret_file is not None:
            args += ["--jwt-secret-file", str(secret_file)]
        if lifetime_s is not None:
            args += ["--token-lifetime-s", str(lifetime_s)]
        if trace_store is not None:
            args += ["--trace-store-url", trace_store.query_url, "--trace-store-user", trace_store.user,
                     "--trace-store-password-file",
                     str(_private_file(standin_workdir / f"{name}.store.pw", trace_store.password))]
        log = standin_workdir / f"{name}.log"
        env = {"JWT_SECRET_KEY": ""}  # never inherit a secret from the test environment
        proc = processes.spawn_module(API_MODULE, args, log_path=log, env=env)
        started.append(proc.pid)
        processes.wait_for_http(f"http://127.0.0.1:{port}/health", process=proc, log_path=log,
                                name="AgentOps API stand-in", deadline_s=60)
        return StandinApi(url=f"http://127.0.0.1:{port}", pid=proc.pid, log_path=log, level=level, dsn=dsn,
                          db_name=name, seed=seed,
                          jwt_secret=None if secret_file is None else Path(secret_file).read_text().strip())

    yield start
    for pid in started:
        processes.stop_pid(pid, expect=API_MODULE)
    for name in databases:
        pg_server.drop_database(name)


@pytest.fixture(scope="session")
def agentops_api(start_agentops_api: Callable[..., StandinApi], trace_store: StandinStore) -> StandinApi:
    return start_agentops_api("current", trace_store=trace_store)


# --- OTLP request builders -------------------------------------------------------------------------


def make_export_request(
    *,
    trace_id: str | None = None,
    spans: int = 1,
    client_project_id: str | None = "client-sent-project",
    service_name: str = "litellm",
    attributes: dict[str, Any] | None = None,
    start_ns: int = 1_795_813_200_123_456_789,
    error_on: int | None = None,
) -> Any:
    """An ``ExportTraceServiceRequest`` with ``spans`` spans of one trace (first is the root)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
    from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

    def value(v: Any) -> AnyValue:
        if isinstance(v, bool):
            return AnyValue(bool_value=v)
        if isinstance(v, int):
            return AnyValue(int_value=v)
        if isinstance(v, float):
            return AnyValue(double_value=v)
        if isinstance(v, bytes):
            return AnyValue(bytes_value=v)
        if isinstance(v, list):
            return AnyValue(array_value=ArrayValue(values=[value(x) for x in v]))
        if isinstance(v, dict):
            return AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key=k, value=value(x)) for k, x in v.items()]))
        return AnyValue(string_value=str(v))

    def kvs(d: dict[str, Any]) -> list[Any]:
        return [KeyValue(key=k, value=value(v)) for k, v in d.items()]

    trace = bytes.fromhex(trace_id) if trace_id else uuid.uuid4().bytes
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    resource = {"service.name": service_name, "deployment.environment": "sandbox"}
    if client_project_id is not None:
        resource["agentops.project.id"] = client_project_id
    rs.resource.attributes.extend(kvs(resource))
    ss = rs.scope_spans.add()
    ss.scope.name, ss.scope.version = "litellm", "1.108.7"
    root = b""
    for i in range(spans):
        span_id = secrets.token_bytes(8)
        span = Span(
            trace_id=trace, span_id=span_id, parent_span_id=root if i else b"", name=f"span-{i}",
            kind=Span.SPAN_KIND_CLIENT if i == 0 else Span.SPAN_KIND_INTERNAL,
            start_time_unix_nano=start_ns + i * 1000, end_time_unix_nano=start_ns + i * 1000 + 2_500_000,
            attributes=kvs({"gen_ai.request.model": "mock-gpt", "gen_ai.usage.prompt_tokens": 11 + i,
                            **(attributes or {})}),
            status=Status(code=Status.STATUS_CODE_ERROR if i == error_on else Status.STATUS_CODE_UNSET,
                          message="boom" if i == error_on else ""),
        )
        event = span.events.add()
        event.time_unix_nano, event.name = start_ns + i * 1000 + 5, "mark"
        event.attributes.extend(kvs({"n": i}))
        if i == 0:
            root = span_id
        ss.spans.append(span)
    return request


def to_otlp_json(request: Any) -> bytes:
    """OTLP/JSON encoding of a request: camelCase keys, hex ids, integer enums."""
    from google.protobuf import json_format

    document = json_format.MessageToDict(request, use_integers_for_enums=True)

    def hexify(obj: dict[str, Any]) -> None:
        for key in ("traceId", "spanId", "parentSpanId"):
            if key in obj:
                obj[key] = base64.b64decode(obj[key]).hex()

    for rs in document.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                hexify(span)
                for link in span.get("links", []):
                    hexify(link)
    return json.dumps(document).encode()


# --- stored spans and dashboard sessions -----------------------------------------------------------


def span_row(project_id: str, trace_id: str, span_id: str, *, start_ns: int, parent: str = "",
             name: str = "span", duration_ns: int = 1_000_000, status: str = "Ok",
             attributes: dict[str, str] | None = None, service: str = "svc") -> dict[str, Any]:
    """One ``otel_traces`` row (JSONEachRow) of ``project_id`` with the given attributes."""
    seconds, nanos = divmod(start_ns, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}"
    return {"Timestamp": stamp, "TraceId": trace_id, "SpanId": span_id, "ParentSpanId": parent,
            "SpanName": name, "SpanKind": "Internal", "ServiceName": service,
            "ResourceAttributes": {"agentops.project.id": project_id, "service.name": service},
            "SpanAttributes": attributes or {}, "Duration": duration_ns, "StatusCode": status,
            "StatusMessage": ""}


def insert_spans(store: StandinStore, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` in one statement (one stored batch)."""
    body = "\n".join(json.dumps(r) for r in rows)
    store.query("INSERT INTO otel_2.otel_traces FORMAT JSONEachRow\n" + body)


def session_headers(api: StandinApi, user_id: str) -> dict[str, str]:
    """A ``Cookie`` header for a dashboard session of ``user_id`` (token minted with the API's secret)."""
    from runbook_lib.clients.dashboard_session import SESSION_COOKIE, mint_access_token, open_session

    assert api.jwt_secret is not None
    cookie = open_session(api.url, mint_access_token(api.jwt_secret, user_id))
    return {"Cookie": f"{SESSION_COOKIE}={cookie}"}
