"""Pytest fixtures: small HTTP servers on 127.0.0.1 (free ports, threads) standing in for the
services 00_setup talks to, plus a closed port and a server that accepts but never answers.

- ``fake_litellm``: the LiteLLM proxy's inspection endpoints and chat completions; set
  ``.loggers`` (``/health/readiness/details`` success_callbacks) and ``.callbacks``
  (``/callbacks/list``) to shape what the "running proxy" reports.
- ``fake_agentops``: ``/health``, ``/v3/auth/token`` (``.token_status`` 200 with a real HS256 JWT,
  or 400/403/500 like the real API), token validation and the public trace read.
- ``fake_dashboard``, ``fake_collector`` (OTLP/HTTP: 401 without a token signed with
  ``.jwt_secret``), ``closed_port_url``, ``hanging_url``.
- ``service_secrets``: a master key and an API key in environment variables, with their references.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

Reply = tuple[int, dict[str, str], "bytes | Iterable[bytes]"]
App = Callable[["Request"], Reply]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    @property
    def bearer(self) -> str | None:
        auth = self.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else None


def _json(status: int, data: Any, headers: dict[str, str] | None = None) -> Reply:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(data).encode()


class LocalServer:
    """A ThreadingHTTPServer on 127.0.0.1:<free port> that hands every request to ``app``."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.requests: list[Request] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = Request(self.command, parts.path, parse_qs(parts.query),
                              {k.lower(): v for k, v in self.headers.items()}, body)
                outer.requests.append(req)
                status, headers, payload = outer.app(req)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if isinstance(payload, bytes):
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                else:  # streamed: HTTP/1.0 style, the connection close ends the body
                    self.send_header("Connection", "close")
                    self.end_headers()
                    for chunk in payload:
                        self.wfile.write(chunk)
                        self.wfile.flush()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"fake-http-{self.port}", daemon=True)
        self._thread.start()

    def paths(self, method: str | None = None) -> list[str]:
        return [r.path for r in self.requests if method is None or r.method == method]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)


# -- fake LiteLLM proxy -----------------------------------------------------------------------------


@dataclass
class FakeLiteLLM:
    """State of the fake proxy. Defaults describe a correctly wired proxy."""

    master_key: str | None = None
    loggers: list[str] = field(default_factory=lambda: ["AgentOpsSelfHosted"])
    callbacks: dict[str, list[str]] = field(
        default_factory=lambda: {"success": [], "failure": [], "success_and_failure": ["AgentOpsSelfHosted"]})
    models: list[str] = field(default_factory=lambda: ["fake-gpt"])
    readiness_status: str = "healthy"
    readiness_http_status: int = 200
    chat_status: int = 200
    server: LocalServer | None = None

    @property
    def url(self) -> str:
        assert self.server
        return self.server.url

    def _authorized(self, req: Request) -> bool:
        return self.master_key is None or req.bearer == self.master_key

    def app(self, req: Request) -> Reply:
        path = req.path
        if path in ("/health/liveliness", "/health/liveness"):
            return _json(200, "I'm alive!")
        if path == "/health/readiness":
            return _json(self.readiness_http_status, {"status": self.readiness_status, "db": "Not connected"})
        protected = {"/health/readiness/details", "/callbacks/list", "/active/callbacks", "/health/services",
                     "/v1/models", "/models", "/chat/completions", "/v1/chat/completions"}
        if path not in protected:
            return _json(404, {"detail": "Not Found"})
        if not self._authorized(req):
            return _json(401, {"error": {"message": "Authentication Error, invalid proxy server token passed.",
                                         "type": "auth_error", "code": "401"}})
        if path == "/health/readiness/details":
            return _json(200, {"status": self.readiness_status, "db": "Not connected", "cache": None,
                               "litellm_version": "1.108.7", "success_callbacks": self.loggers})
        if path == "/callbacks/list":
            return _json(200, self.callbacks)
        if path == "/active/callbacks":
            return _json(200, {"litellm.callbacks": str(self.loggers), "num_callbacks": len(self.loggers)})
        if path == "/health/services":
            service = (req.query.get("service") or [""])[0]
            registered = {n.lower() for v in self.callbacks.values() for n in v}
            if service.lower() in registered or (service == "agentops" and "agentopsselfhosted" in registered):
                return _json(200, {"status": "success", "message": f"Mock LLM request made - check {service}."})
            return _json(400, {"error": {"message": f"{{'error': 'Service={service} is not configured as a"
                                         " callback, add it to litellm_settings.callbacks.'}", "code": "400"}})
        if path in ("/v1/models", "/models"):
            return _json(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in self.models]})
        return self._chat(req)

    def _chat(self, req: Request) -> Reply:
        body = req.json()
        call_id = str(uuid.uuid4())
        headers = {"x-litellm-call-id": call_id}
        if self.chat_status != 200:
            return _json(self.chat_status, {"error": {"message": "litellm.RateLimitError: mock", "code": "429"}},
                         headers)
        text = "Hello from the mock model"
        usage = {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}
        rid = f"chatcmpl-{uuid.uuid4()}"
        if not body.get("stream"):
            return _json(200, {"id": rid, "object": "chat.completion", "model": body.get("model"),
                               "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                            "finish_reason": "stop"}], "usage": usage}, headers)

        def chunks() -> Iterator[bytes]:
            for i in range(0, len(text), 3):
                chunk = {"id": rid, "object": "chat.completion.chunk", "model": body.get("model"),
                         "choices": [{"index": 0, "delta": {"content": text[i:i + 3]}}]}
                yield f"data: {json.dumps(chunk)}\n\n".encode()
            if (body.get("stream_options") or {}).get("include_usage"):
                yield f"data: {json.dumps({'id': rid, 'choices': [], 'usage': usage})}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return 200, {"Content-Type": "text/event-stream", **headers}, chunks()


# -- fake AgentOps API, dashboard, collector --------------------------------------------------------


@dataclass
class FakeAgentOps:
    """State of the fake AgentOps API: one project whose key is ``api_key``."""

    api_key: str = field(default_factory=lambda: str(uuid.uuid4()))
    project_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    prem_status: str = "enterprise"
    jwt_secret: str = "test-jwt-secret-with-at-least-32-characters"
    token_status: int = 200  # force 400/403/500 like the real API
    token_ttl_s: int = 30 * 86400
    tokens_issued: int = 0
    validation_secret: str | None = None  # GET /v3/auth/token verifies with this when set (a rotated secret)
    server: LocalServer | None = None

    @property
    def url(self) -> str:
        assert self.server
        return self.server.url

    def make_token(self, ttl_s: int | None = None) -> str:
        claims = {"exp": int(time.time()) + (self.token_ttl_s if ttl_s is None else ttl_s), "aud": "authenticated",
                  "project_id": self.project_id, "project_prem_status": self.prem_status, "api_key": self.api_key}
        return jwt.encode(claims, self.jwt_secret, algorithm="HS256")

    def _verify(self, token: str | None) -> dict[str, Any] | None:
        try:
            return jwt.decode(token or "", self.validation_secret or self.jwt_secret, algorithms=["HS256"],
                              audience="authenticated")
        except jwt.PyJWTError:
            return None

    def app(self, req: Request) -> Reply:
        if req.path == "/health":
            return _json(200, {"message": "Server Up"})
        if req.path == "/v3/auth/token" and req.method == "POST":
            if self.token_status == 500:
                return _json(500, {"error": "Authentication failed"})
            key = (req.json() or {}).get("api_key")
            try:
                uuid.UUID(str(key))
            except ValueError:
                return _json(400, {"error": "Invalid API key format"})
            if self.token_status == 403 or key != self.api_key:
                return _json(403, {"error": "Invalid API key"})
            self.tokens_issued += 1
            return _json(200, {"token": self.make_token(), "project_id": self.project_id,
                               "project_prem_status": self.prem_status})
        if req.path == "/v3/auth/token" and req.method == "GET":
            payload = self._verify(req.bearer)
            if payload is None:
                return _json(401, {"detail": "Invalid or expired token"})
            return _json(200, {"message": "JWT token is valid", "payload": payload,
                               "expires_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(payload["exp"]))})
        if req.path.startswith("/public/v1/traces/"):
            if self._verify(req.bearer) is None:
                return _json(400, {"detail": "Invalid Bearer token"})
            trace_id = req.path.rsplit("/", 1)[-1]
            if trace_id == "0" * 32:
                return _json(404, {"detail": "Trace not found"})
            return _json(200, {"trace_id": trace_id, "project_id": self.project_id, "tags": [], "spans": []})
        return _json(404, {"detail": "Not Found"})


@dataclass
class FakeCollector:
    """OTLP/HTTP traces receiver with the AgentOps fork's JWT check (HMAC with ``jwt_secret``)."""

    jwt_secret: str = "test-jwt-secret-with-at-least-32-characters"
    server: LocalServer | None = None

    @property
    def url(self) -> str:
        assert self.server
        return self.server.url + "/v1/traces"

    def app(self, req: Request) -> Reply:
        if req.path != "/v1/traces":
            return 404, {"Content-Type": "text/plain"}, b"404 page not found"
        if req.method != "POST":
            return 405, {"Content-Type": "text/plain"}, b"405 method not allowed, supported: [POST]"
        try:
            jwt.decode(req.bearer or "", self.jwt_secret, algorithms=["HS256"], options={"verify_aud": False})
        except jwt.PyJWTError:
            return 401, {"Content-Type": "text/plain"}, b"Unauthorized"
        return 200, {"Content-Type": "application/x-protobuf"}, b""


class HangingServer:
    """Accepts TCP connections and never sends a byte."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"hang-{self.port}", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted.append(conn)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self.accepted:
            conn.close()
        self.sock.close()


def free_closed_port() -> int:
    """A port on 127.0.0.1 that was just free and has nothing listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture
def service_secrets(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A master key and an AgentOps API key in env vars; returns values and their references."""
    master = f"sk-test-master-{uuid.uuid4().hex}"
    api_key = str(uuid.uuid4())
    monkeypatch.setenv("RB_TEST_LITELLM_MASTER_KEY", master)
    monkeypatch.setenv("RB_TEST_AGENTOPS_API_KEY", api_key)
    return {"master_key": master, "api_key": api_key, "master_ref": "env:RB_TEST_LITELLM_MASTER_KEY",
            "api_key_ref": "env:RB_TEST_AGENTOPS_API_KEY"}


@pytest.fixture
def fake_litellm(service_secrets: dict[str, str]) -> Iterator[FakeLiteLLM]:
    state = FakeLiteLLM(master_key=service_secrets["master_key"])
    state.server = LocalServer(state.app)
    yield state
    state.server.stop()


@pytest.fixture
def fake_agentops(service_secrets: dict[str, str]) -> Iterator[FakeAgentOps]:
    state = FakeAgentOps(api_key=service_secrets["api_key"])
    state.server = LocalServer(state.app)
    yield state
    state.server.stop()


@pytest.fixture
def fake_collector(fake_agentops: FakeAgentOps) -> Iterator[FakeCollector]:
    state = FakeCollector(jwt_secret=fake_agentops.jwt_secret)
    state.server = LocalServer(state.app)
    yield state
    state.server.stop()


@pytest.fixture
def fake_dashboard() -> Iterator[LocalServer]:
    def app(req: Request) -> Reply:
        if req.path == "/":
            return 307, {"Location": "/signin"}, b""
        return 200, {"Content-Type": "text/html"}, b"<html><body>AgentOps</body></html>"

    server = LocalServer(app)
    yield server
    server.stop()


@pytest.fixture
def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_closed_port()}"


@pytest.fixture
def hanging_url() -> Iterator[str]:
    server = HangingServer()
    yield server.url
    server.stop()


@pytest.fixture
def html_server() -> Iterator[LocalServer]:
    """Answers every path with HTTP 200 and an HTML page (a wrong port that is not the API)."""
    server = LocalServer(lambda req: (200, {"Content-Type": "text/html"}, b"<html>nginx welcome</html>"))
    yield server
    server.stop()


@pytest.fixture
def unresolvable_host(monkeypatch: pytest.MonkeyPatch) -> str:
    """A Docker-service-style host name whose lookup fails like a real DNS miss, without any DNS
    traffic: ``socket.getaddrinfo`` is patched in this process, and it also refuses every other
    non-local name so a test can never reach the network by accident."""
    import socket as _socket

    name = "agentops-api"
    real = _socket.getaddrinfo
    local = {"127.0.0.1", "localhost", "::1"}

    def fake_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        text = host.decode() if isinstance(host, bytes) else str(host)
        if text in local:
            return real(host, *args, **kwargs)
        raise _socket.gaierror(_socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(_socket, "getaddrinfo", fake_getaddrinfo)
    return name
