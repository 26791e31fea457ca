"""Shared HTTP plumbing: bounded clients, retries for reads, and failures explained.

Every call made through :func:`request` has one **total deadline** of ``timeout_s`` for connect,
TLS, headers and body together (retries share it): httpx bounds each socket read, so a server that
drips one byte a second would otherwise never time out; here a watchdog shuts the request's socket
at the deadline whatever phase it is in. Bodies are read up to ``max_body_bytes``. Either limit ends
the call with a :class:`~runbook_lib.errors.ServiceError` saying which limit was hit and in which
phase; other transport failures name the likely cause (a TLS handshake to a plain-HTTP port is a TLS
failure, not a firewall). Messages never contain request headers, URL credentials or known secrets.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx

from .errors import ServiceError
from .secrets import redact, redact_and_cut_known

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "IDEMPOTENT_METHODS",
    "RETRY_STATUSES",
    "container_host_note",
    "display_url",
    "explain_status",
    "make_client",
    "read_json",
    "request",
    "shape_mismatch",
    "stream",
    "transport_error",
]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD"})
#: Answers worth retrying for a read: a gateway or a server that is (re)starting.
RETRY_STATUSES = frozenset({502, 503, 504})
_SNIPPET = 160
#: Largest body :func:`request` reads (JSON answers of these services are far smaller).
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
_SKIPPED_HEADERS = {"content-encoding", "transfer-encoding", "content-length"}

StatusExplainer = Callable[[httpx.Response], "tuple[str, str] | None"]


def make_client(
    base_url: str = "",
    *,
    timeout_s: float,
    headers: Mapping[str, str] | None = None,
    verify: bool | ssl.SSLContext = True,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """An ``httpx.Client`` whose connect/read/write/pool timeouts are all ``timeout_s``.

    Environment proxies are ignored (``trust_env=False``): these are direct service checks, and a
    stray ``HTTP_PROXY`` would otherwise turn a local call into a call through another host.
    Redirects are not followed, so a login redirect counts as an answer of the server itself.
    ``transport`` replaces the network (e.g. ``httpx.MockTransport`` in unit tests); by default a fresh
    socket per call.
    """
    if timeout_s <= 0:
        raise ValueError("timeout_s must be positive")
    return httpx.Client(
        base_url=base_url,
        timeout=httpx.Timeout(timeout_s),
        headers=dict(headers or {}),
        verify=verify,
        trust_env=False,
        follow_redirects=False,
        limits=httpx.Limits(max_keepalive_connections=0),  # a fresh socket per call: the watchdog can shut it
        transport=transport,
    )


def display_url(url: str | httpx.URL) -> str:
    """The URL without user info, query or fragment: safe to show in a message."""
    try:
        u = httpx.URL(str(url))
    except Exception:
        return "<malformed URL>"
    if not u.host:
        return redact(str(u.copy_with(query=None, fragment=None)))
    port = f":{u.port}" if u.port else ""
    return redact(f"{u.scheme}://{u.host}{port}{u.path}")


class _Watchdog:
    """Follows one request through httpcore's trace events and shuts its socket at the deadline."""

    _PHASES = {
        "connection.connect_tcp.started": "connect",
        "connection.start_tls.started": "tls",
        "http11.send_request_headers.started": "send",
        "http11.receive_response_headers.started": "headers",
        "http11.receive_response_body.started": "body",
    }

    def __init__(self, seconds: float) -> None:
        self.phase = "connect"
        self.tcp_connected = False
        self.fired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True

    def trace(self, name: str, info: Mapping[str, Any]) -> None:
        self.phase = self._PHASES.get(name, self.phase)
        if name == "connection.connect_tcp.complete":
            self.tcp_connected = True
            stream = info.get("return_value")
            with self._lock:
                self._sock = stream.get_extra_info("socket") if stream is not None else None
                if self.fired:
                    self._shutdown()

    def _shutdown(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            self._shutdown()

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


_DEADLINE_PHASES = {
    "connect": "no TCP connection within {limit}",
    "tls": "a TCP connection was made, but the TLS handshake failed to complete within {limit}",
    "send": "the server accepted the connection but did not answer within {limit} (the request could not be sent)",
    "headers": "the server accepted the connection but did not answer within {limit} (no complete response"
               " headers)",
    "body": "the server accepted the connection but did not answer within {limit} (the body was still arriving)",
}


def _deadline_error(service: str, url: str | httpx.URL, budget: float, phase: str) -> ServiceError:
    what = _DEADLINE_PHASES[phase].format(limit=f"{budget:g} s")
    hint = {
        "tls": "the port likely speaks plain HTTP (use http://) or another protocol; check the URL scheme and port",
        "connect": "the host is down or a firewall drops the traffic; check the address, port and firewall rules",
    }.get(phase, f"{service} is hung, overloaded or sends very slowly (or the port belongs to a non-HTTP"
                 " service); check its log, restart it, or raise timeout_s if it is merely slow")
    return ServiceError(redact(f"{service} at {display_url(url)}: {what}; total deadline hit (connect, TLS,"
                               " headers and body share one deadline)"), hint=redact(hint))


def _read_bounded(response: httpx.Response, *, service: str, max_body_bytes: int) -> httpx.Response:
    """Read the body up to ``max_body_bytes`` (decoded); return an equivalent, fully read response."""
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_body_bytes:
            response.close()
            raise ServiceError(
                f"{service} at {display_url(response.request.url)}: body limit hit (more than"
                f" {max_body_bytes:,} bytes in the answer to {response.request.method})",
                hint="the URL likely points at something other than the service (a file server, a stream);"
                     " check it",
                status_code=response.status_code,
            )
        chunks.append(chunk)
    response.close()
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _SKIPPED_HEADERS]
    return httpx.Response(response.status_code, headers=headers, content=b"".join(chunks),
                          request=response.request, extensions=response.extensions)


def request(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    service: str,
    timeout_s: float | None = None,
    retries: int = 2,
    backoff_s: float = 0.2,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    **kwargs: Any,
) -> httpx.Response:
    """Send one request; GET/HEAD are retried on refused connections, dropped connections and
    502/503/504, with exponential backoff, all within one total deadline of ``timeout_s`` (connect,
    TLS, headers and body included), reading at most ``max_body_bytes`` of body.

    Timeouts and DNS failures are never retried (another try would only take as long again).
    Raises :class:`ServiceError` for transport failures and for either limit (the message says which);
    HTTP error statuses are returned.
    """
    budget = timeout_s if timeout_s is not None else _client_timeout(client)
    deadline = time.monotonic() + budget
    attempts = 1 + (max(retries, 0) if method.upper() in IDEMPOTENT_METHODS else 0)
    try:
        full_url = client.build_request(method, url).url
    except httpx.HTTPError as exc:
        raise transport_error(exc, url, service=service, timeout_s=budget) from None
    last: ServiceError | None = None
    final: httpx.Response | None = None
    for attempt in range(attempts):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        with _Watchdog(remaining) as watchdog:
            try:
                sent = client.build_request(method, url, timeout=httpx.Timeout(min(budget, remaining)),
                                            extensions={"trace": watchdog.trace}, **kwargs)
                response = _read_bounded(client.send(sent, stream=True), service=service,
                                         max_body_bytes=max_body_bytes)
            except httpx.HTTPError as exc:
                if watchdog.fired or (isinstance(exc, httpx.TimeoutException) and watchdog.phase in ("tls", "body")):
                    raise _deadline_error(service, full_url, budget, watchdog.phase) from None
                last = transport_error(exc, full_url, service=service, timeout_s=budget)
                if not _retryable(exc) or attempt == attempts - 1:
                    raise last from None
            else:
                if response.status_code not in RETRY_STATUSES or attempt == attempts - 1:
                    return response
                last, final = None, response
        pause = min(backoff_s * (2**attempt), deadline - time.monotonic())
        if pause <= 0:
            break
        time.sleep(pause)
    if final is not None:
        return final  # the last 502/503/504 answer once the budget ran out
    if last is not None:
        raise last from None
    raise ServiceError(
        f"{service} at {display_url(full_url)}: no answer within {budget:g} s",
        hint=f"{service} is slow or unreachable; check it, or raise timeout_s",
    )


@contextlib.contextmanager
def stream(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    service: str,
    timeout_s: float | None = None,
    **kwargs: Any,
) -> Iterator[httpx.Response]:
    """Send one request and yield its streamed response; the whole exchange (connect, TLS, headers and
    every chunk the caller reads inside the ``with``) shares one total deadline of ``timeout_s``.

    Transport failures, the deadline included, raise :class:`ServiceError` naming the phase. Not retried.
    """
    budget = timeout_s if timeout_s is not None else _client_timeout(client)
    with _Watchdog(budget) as watchdog:
        full_url: str | httpx.URL = url
        try:
            sent = client.build_request(method, url, timeout=httpx.Timeout(budget),
                                        extensions={"trace": watchdog.trace}, **kwargs)
            full_url = sent.url
            response = client.send(sent, stream=True)
            try:
                yield response
            finally:
                response.close()
        except httpx.HTTPError as exc:
            if watchdog.fired or (isinstance(exc, httpx.TimeoutException) and watchdog.phase in ("tls", "body")):
                raise _deadline_error(service, full_url, budget, watchdog.phase) from None
            raise transport_error(exc, full_url, service=service, timeout_s=budget) from None


def _client_timeout(client: httpx.Client) -> float:
    t = client.timeout
    values = [v for v in (t.connect, t.read, t.write, t.pool) if v is not None]
    return max(values) if values else 10.0


def _retryable(exc: httpx.HTTPError) -> bool:
    if isinstance(exc, httpx.TimeoutException):
        return False
    if isinstance(exc, httpx.ConnectError):
        return _cause(exc) == "refused"
    return isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError))


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


def _cause(exc: BaseException) -> str:
    """Classify a transport failure: refused, dns, tls, timeout, reset, protocol, url or other."""
    chain = _chain(exc)
    text = " ".join(str(e) for e in chain).lower()
    if any(isinstance(e, (httpx.InvalidURL, httpx.UnsupportedProtocol)) for e in chain):
        return "url"
    if any(isinstance(e, httpx.TimeoutException) for e in chain):
        return "connect_timeout" if isinstance(exc, httpx.ConnectTimeout) else "timeout"
    if any(isinstance(e, socket.gaierror) for e in chain) or any(
        s in text
        for s in (
            "name or service not known",
            "temporary failure in name resolution",
            "no address associated",
            "nodename nor servname",
            "errno -2]",
            "errno -3]",
            "errno -5]",
        )
    ):
        return "dns"
    if any(isinstance(e, ssl.SSLError) for e in chain) or "[ssl" in text or "certificate" in text:
        return "tls"
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "connection refused" in text:
        return "refused"
    if any(isinstance(e, ConnectionResetError) for e in chain) or "reset by peer" in text:
        return "reset"
    if isinstance(exc, httpx.RemoteProtocolError) or "disconnected without" in text:
        return "protocol"
    return "other"


def transport_error(
    exc: BaseException, url: str | httpx.URL, *, service: str, timeout_s: float | None = None
) -> ServiceError:
    """Turn an httpx transport failure into a ServiceError with the likely cause and the fix."""
    shown = display_url(url)
    try:
        u = httpx.URL(str(url))
        host, port = u.host, u.port or (443 if u.scheme == "https" else 80)
    except Exception:
        host, port = "", None
    limit = f"{timeout_s:g} s" if timeout_s else "the timeout"
    cause = _cause(exc)
    if cause == "refused":
        message = f"{service} at {shown}: connection refused (nothing listens on port {port} of {host})"
        hint = (
            f"is {service} running, and on port {port}? Start it or correct the port in the URL"
            " (a published Docker port must be mapped, e.g. `ports: [\"{0}:{0}\"]`)".format(port)
        )
    elif cause == "dns":
        message = f"{service} at {shown}: the host name {host!r} does not resolve (DNS failure)"
        note = container_host_note(host) or "Use an IP address or a name this machine can resolve."
        hint = f"check the spelling. {note}"
    elif cause == "connect_timeout":
        message = f"{service} at {shown}: no TCP connection within {limit}"
        hint = "the host is down or a firewall drops the traffic; check the address, port and firewall rules"
    elif cause == "timeout":
        message = (
            f"{service} at {shown}: the server accepted the connection but did not answer within {limit}"
        )
        hint = (
            f"{service} is hung, overloaded or still starting (or the port belongs to a non-HTTP service);"
            " check its log, restart it, or raise timeout_s if it is merely slow"
        )
    elif cause == "tls":
        message = f"{service} at {shown}: the TLS handshake failed"
        hint = (
            "use http:// if the service does not speak TLS on this port; for https, make its certificate"
            " trusted (a CA the client knows, or SSL_CERT_FILE) or fix the host name it is issued for"
        )
    elif cause in ("reset", "protocol"):
        message = f"{service} at {shown}: the server closed the connection without an HTTP answer"
        hint = (
            "the port may belong to another protocol (https vs http, a database, gRPC on 4317 instead of"
            " OTLP/HTTP on 4318), or the service crashed mid-request: check the URL scheme/port and its log"
        )
    elif cause == "url":
        message = f"{service}: the URL {shown} is not a usable http(s) URL"
        hint = "write it as http://host:port or https://host:port"
    else:
        message = f"{service} at {shown}: request failed ({exc.__class__.__name__})"
        hint = f"check that {service} is reachable from this machine"
    return ServiceError(redact(message), hint=redact(hint))


def explain_status(response: httpx.Response, *, service: str) -> tuple[str, str]:
    """A generic (message, hint) for an HTTP error status."""
    code = response.status_code
    shown = display_url(response.request.url)
    body = body_snippet(response)
    message = f"{service} at {shown} answered HTTP {code}" + (f": {body}" if body else "")
    if code == 401:
        hint = "the credentials were refused: check the key reference points at the right value"
    elif code == 403:
        hint = "the credentials are valid but not allowed here: check the key's permissions"
    elif code == 404:
        hint = "this path does not exist: check the base URL (and the service version)"
    elif code == 405:
        hint = "the server does not allow this method here: check the URL points at the right service"
    elif code >= 500:
        hint = f"{service} failed internally: its log has the traceback"
    else:
        hint = f"check the request matches what {service} expects"
    return message, hint


def raise_for_status(
    response: httpx.Response, *, service: str, explain: StatusExplainer | None = None
) -> httpx.Response:
    """Return the response when 2xx/3xx, else raise ServiceError(status_code=...) with a hint."""
    if response.status_code < 400:
        return response
    explained = explain(response) if explain else None
    message, hint = explained or explain_status(response, service=service)
    raise ServiceError(redact(message), hint=redact(hint), status_code=response.status_code)


def body_snippet(response: httpx.Response, limit: int = _SNIPPET) -> str:
    """The start of a (read) response body on one line, secrets redacted."""
    try:
        text = response.text
    except Exception:
        return ""
    return redact_and_cut_known(text, limit)


Shape = Any  # a type, a tuple of types, {"key": Shape} (keys required), or [Shape] (a list of them)


def shape_mismatch(value: Any, shape: Shape, where: str = "the answer") -> str | None:
    """Where ``value`` differs from ``shape`` (first difference), or None when it fits."""
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return f"{where} should be an object, got {type(value).__name__}"
        for key, sub in shape.items():
            if key not in value:
                return f"{where} has no {key!r}"
            if (problem := shape_mismatch(value[key], sub, f"{where}[{key!r}]")) is not None:
                return problem
        return None
    if isinstance(shape, list):
        if not isinstance(value, list):
            return f"{where} should be a list, got {type(value).__name__}"
        for i, item in enumerate(value):
            if (problem := shape_mismatch(item, shape[0], f"{where}[{i}]")) is not None:
                return problem
        return None
    return None if isinstance(value, shape) else f"{where} should be {_type_names(shape)}, got {type(value).__name__}"


def _type_names(shape: Shape) -> str:
    types = shape if isinstance(shape, tuple) else (shape,)
    return " or ".join(t.__name__ for t in types)


def read_json(response: httpx.Response, *, service: str, shape: Shape | None = None) -> Any:
    """Parse a JSON body; anything else, or JSON not of ``shape``, is a ServiceError saying what
    answered instead (naming the endpoint)."""
    try:
        data = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        ctype = response.headers.get("content-type", "no content-type")
        raise ServiceError(
            f"{service} at {display_url(response.request.url)} answered HTTP {response.status_code} with"
            f" a non-JSON body ({ctype}): {body_snippet(response, 80) or '<empty>'}",
            hint=(
                f"the URL likely points at something other than {service} (a dashboard, a reverse proxy"
                " error page, another port): check the base URL"
            ),
            status_code=response.status_code,
        ) from None
    if shape is not None and (problem := shape_mismatch(data, shape)) is not None:
        raise ServiceError(
            f"{service} at {display_url(response.request.url)} answered JSON of an unexpected shape: {problem}",
            hint=f"the URL likely points at something other than {service}, or at a version this runbook does"
                 " not know: check the base URL and the service version",
            status_code=response.status_code,
        )
    return data


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def in_container() -> bool:
    """Best guess whether this process runs inside a container."""
    if os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv"):
        return True
    try:
        with open("/proc/1/cgroup", encoding="utf-8") as fh:
            text = fh.read()
    except OSError:
        return False
    return any(s in text for s in ("docker", "kubepods", "containerd", "libpod"))


def container_host_note(host: str) -> str | None:
    """For ``localhost``/loopback, ``host.docker.internal`` and bare service names, explain where
    the name resolves; None for other hosts (FQDNs, non-loopback IPs)."""
    h = (host or "").strip("[]").lower()
    if not h:
        return None
    if h == "localhost" or h.endswith(".localhost") or (_is_ip(h) and ipaddress.ip_address(h).is_loopback):
        return (
            f"{host!r} means 'this machine' wherever the caller runs: inside a container it is the"
            " container itself. A proxy in a container reaches a service on the Docker host via"
            " host.docker.internal (Docker Desktop; on Linux add `extra_hosts:"
            " [\"host.docker.internal:host-gateway\"]`), and a sibling container via its compose"
            " service name."
        )
    if h == "host.docker.internal":
        return (
            "host.docker.internal resolves only inside containers (Docker Desktop, or Linux with"
            " `extra_hosts: [\"host.docker.internal:host-gateway\"]`); from the Docker host itself"
            " use localhost/127.0.0.1 with the published port."
        )
    if "." not in h and not _is_ip(h):
        return (
            f"{host!r} looks like a Docker compose service name: it resolves only inside the same"
            " compose network. From the Docker host use localhost with the published port; for a"
            " service outside Docker use host.docker.internal from inside the container."
        )
    return None
