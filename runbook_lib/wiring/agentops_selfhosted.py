"""LiteLLM proxy -> self-hosted AgentOps: one OpenTelemetry span per LLM call, sent with a live JWT.

Copy this file next to the proxy's ``config.yaml`` and reference it from ``litellm_settings``::

    litellm_settings:
      callbacks: ["agentops_selfhosted.handler"]

LiteLLM loads ``agentops_selfhosted.py`` from the config file's directory and reads ``handler``;
building it reads the environment and fails the proxy start-up loudly when something is missing:

=============================  ===================================================================
``AGENTOPS_API_KEY``           project API key (required; never exported without a JWT for it)
``AGENTOPS_API_ENDPOINT``      self-hosted AgentOps API base URL, e.g. ``http://agentops-api:8000``
``AGENTOPS_EXPORTER_ENDPOINT`` collector OTLP/HTTP URL, e.g. ``http://otelcollector:4318/v1/traces``
``AGENTOPS_SERVICE_NAME``      resource ``service.name`` (default ``litellm-proxy``)
``AGENTOPS_ENVIRONMENT``       resource ``deployment.environment`` (optional)
``AGENTOPS_EXPORT_DELAY_MS``   batch delay before spans are sent (default 1000)
``AGENTOPS_CAPTURE_CONTENT``   ``true`` to include prompt and completion text (default off)
=============================  ===================================================================

Why not the built-in ``agentops`` callback: its auth and export URLs point at AgentOps' cloud and
cannot be changed, it fetches the JWT once and never again (self-hosted JWTs expire), and it names
token counts ``gen_ai.usage.input_tokens``/``output_tokens`` while the AgentOps API reads
``gen_ai.usage.prompt_tokens``/``completion_tokens``. This handler:

- gets a JWT from ``POST {AGENTOPS_API_ENDPOINT}/v3/auth/token`` and refreshes it shortly before its
  ``exp`` claim; when the collector still answers 401 it re-authenticates and retries the batch once;
- never sends a span without a JWT, and refuses AgentOps cloud hosts (``agentops.ai``,
  ``agentops.cloud``) at start-up;
- writes token counts under both the names the AgentOps API reads and the current semantic-convention
  names, ``gen_ai.usage.total_cost`` when LiteLLM priced the call, and status ERROR for failed calls;
- uses its own TracerProvider (not the global one), so only LLM calls are exported, not every HTTP
  route of the proxy.

It needs only what the proxy's OpenTelemetry callbacks need: ``litellm``, ``opentelemetry-sdk`` and
``opentelemetry-exporter-otlp-proto-http`` (which brings ``requests``).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from litellm.integrations.custom_logger import CustomLogger

try:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as _exc:  # pragma: no cover - exercised only in a broken install
    raise ImportError(
        "agentops_selfhosted needs opentelemetry-sdk and opentelemetry-exporter-otlp-proto-http in the "
        f"proxy's Python environment ({_exc}); install them next to litellm"
    ) from _exc

__all__ = [
    "AgentOpsSelfHosted",
    "AuthorizingSession",
    "DeliveryState",
    "Settings",
    "TokenSource",
    "WiringError",
    "span_attributes",
    "CLOUD_DOMAINS",
]

logger = logging.getLogger("agentops_selfhosted")

CLOUD_DOMAINS = ("agentops.ai", "agentops.cloud")
AUTH_PATH = "/v3/auth/token"
TRACES_PATH = "/v1/traces"
_AUTH_RETRY_PAUSE_S = 2.0
# requests.Session.request's parameters after method and url, in order: positional arguments get their names
_SESSION_REQUEST_ARGS = ("params", "data", "headers", "cookies", "files", "auth", "timeout", "allow_redirects",
                         "proxies", "hooks", "stream", "verify", "cert", "json")


class WiringError(RuntimeError):
    """The handler cannot be built from this environment; the message says what to set."""


class AuthUnavailable(RuntimeError):
    """No JWT could be obtained; the span batch is not sent (never unauthenticated)."""


# --------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------


def _is_cloud_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    return any(host == d or host.endswith("." + d) for d in CLOUD_DOMAINS)


def _checked_url(name: str, value: str | None) -> str:
    if not value or not value.strip():
        raise WiringError(
            f"agentops_selfhosted: {name} is not set. Set it in the proxy's environment (or in "
            "config.yaml's environment_variables block) to your self-hosted AgentOps URL."
        )
    url = value.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WiringError(f"agentops_selfhosted: {name} must be an http(s) URL with a host, got {url!r}")
    if _is_cloud_host(parts.hostname):
        raise WiringError(
            f"agentops_selfhosted: {name} points at an AgentOps cloud host ({parts.hostname}). This "
            "handler only sends to a self-hosted AgentOps; set it to your own deployment's URL (for the "
            "cloud service use LiteLLM's built-in 'agentops' callback instead)."
        )
    return url


class Settings:
    """What the handler needs, read from the environment and checked."""

    def __init__(
        self,
        *,
        api_key: str,
        api_endpoint: str,
        exporter_endpoint: str,
        service_name: str = "litellm-proxy",
        environment: str | None = None,
        export_delay_ms: int = 1000,
        capture_content: bool = False,
    ) -> None:
        if not api_key or not api_key.strip():
            raise WiringError(
                "agentops_selfhosted: AGENTOPS_API_KEY is not set. Set it to the project's API key; "
                "spans are never exported without a token."
            )
        self.api_key = api_key.strip()
        self.api_endpoint = _checked_url("AGENTOPS_API_ENDPOINT", api_endpoint).rstrip("/")
        exporter = _checked_url("AGENTOPS_EXPORTER_ENDPOINT", exporter_endpoint)
        if urlsplit(exporter).path in ("", "/"):
            exporter = exporter.rstrip("/") + TRACES_PATH
        self.exporter_endpoint = exporter
        self.service_name = service_name
        self.environment = environment
        self.export_delay_ms = export_delay_ms
        self.capture_content = capture_content

    @property
    def auth_url(self) -> str:
        return self.api_endpoint + AUTH_PATH

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        delay = env.get("AGENTOPS_EXPORT_DELAY_MS", "1000").strip() or "1000"
        try:
            delay_ms = int(delay)
        except ValueError:
            raise WiringError(
                f"agentops_selfhosted: AGENTOPS_EXPORT_DELAY_MS must be an integer, got {delay!r}"
            ) from None
        return cls(
            api_key=env.get("AGENTOPS_API_KEY", ""),
            api_endpoint=env.get("AGENTOPS_API_ENDPOINT", ""),
            exporter_endpoint=env.get("AGENTOPS_EXPORTER_ENDPOINT", ""),
            service_name=env.get("AGENTOPS_SERVICE_NAME") or env.get("OTEL_SERVICE_NAME") or "litellm-proxy",
            environment=env.get("AGENTOPS_ENVIRONMENT") or None,
            export_delay_ms=max(delay_ms, 1),
            capture_content=env.get("AGENTOPS_CAPTURE_CONTENT", "").strip().lower() in ("1", "true", "yes", "on"),
        )


# --------------------------------------------------------------------------------------------
# JWT source and the authorising session
# --------------------------------------------------------------------------------------------


def jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, read without verifying the signature (the issuer is trusted)."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


class TokenSource:
    """Hands out a valid JWT for the project key, fetching a new one shortly before ``exp``.

    Thread-safe. The refresh margin is a fifth of the token's lifetime, between 0.5 s and 300 s, so a
    30-day token is renewed 5 minutes early and a 5-second test token 1 s early.
    """

    def __init__(self, auth_url: str, api_key: str, *, timeout_s: float = 10.0,
                 session: requests.Session | None = None, clock: Any = time.time) -> None:
        self.auth_url = auth_url
        self._api_key = api_key
        self._timeout_s = timeout_s
        self._session = session or requests.Session()
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self._last_failure: tuple[float, str] | None = None
        self.claims: dict[str, Any] = {}
        self.fetch_count = 0

    def bearer(self) -> str:
        """A token that is not about to expire; raises :class:`AuthUnavailable` when none can be had."""
        with self._lock:
            now = self._clock()
            if self._token is not None and now < self._refresh_at:
                return self._token
            if self._last_failure and now - self._last_failure[0] < _AUTH_RETRY_PAUSE_S:
                raise AuthUnavailable(self._last_failure[1])
            try:
                return self._fetch(now)
            except AuthUnavailable as exc:
                self._last_failure = (now, str(exc))
                raise

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (the collector refused it) so the next :meth:`bearer` fetches a new one."""
        with self._lock:
            if self._token == token:
                self._token = None
                self._refresh_at = 0.0
                self._last_failure = None

    def _fetch(self, now: float) -> str:
        try:
            response = self._session.post(
                self.auth_url, json={"api_key": self._api_key}, timeout=self._timeout_s,
                headers={"Content-Type": "application/json"},
            )
        except requests.RequestException as exc:
            raise AuthUnavailable(
                f"cannot reach the AgentOps API at {self.auth_url} ({exc.__class__.__name__}); spans are "
                "held back until a token can be fetched"
            ) from None
        if response.status_code != 200:
            raise AuthUnavailable(
                f"POST {self.auth_url} answered {response.status_code} {_error_text(response)}"
                f"{_auth_hint(response.status_code)}"
            )
        try:
            token = response.json()["token"]
        except (ValueError, KeyError, TypeError):
            raise AuthUnavailable(f"POST {self.auth_url} answered 200 without a token") from None
        claims = jwt_claims(token)
        exp = claims.get("exp")
        if isinstance(exp, (int, float)):
            lifetime = max(float(exp) - now, 0.0)
            margin = min(300.0, max(0.5, lifetime / 5))
            self._refresh_at = float(exp) - margin
        else:
            self._refresh_at = float("inf")  # no expiry known: renew only when the collector says 401
        self._token = token
        self._last_failure = None
        self.claims = {k: v for k, v in claims.items() if k != "api_key"}
        self.fetch_count += 1
        return token


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        message = body.get("error") or body.get("detail") or body.get("message")
        if isinstance(message, str):
            return f"({message[:200]})"
    return ""


def _auth_hint(status: int) -> str:
    return {
        400: ": the API key is not a UUID",
        403: ": the API key is not in the projects table",
        500: ": AgentOps failed its project lookup (schema drift or JWT secret unset on the API)",
    }.get(status, "")


class DeliveryState:
    """What happened to the export requests so far (counts and the last problem, never a secret)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.delivered = 0
        self.failed = 0
        self.last_ok_at: float | None = None
        self.last_problem: str | None = None
        self.last_problem_at: float | None = None

    def ok(self) -> None:
        with self._lock:
            self.delivered += 1
            self.last_ok_at = time.time()

    def problem(self, kind: str, detail: str) -> None:
        with self._lock:
            self.failed += 1
            self.last_problem = f"{kind}: {detail}"[:300]
            self.last_problem_at = time.time()

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "delivered": self.delivered,
                "failed": self.failed,
                "last_ok_at": self.last_ok_at,
                "last_problem": self.last_problem,
                "last_problem_at": self.last_problem_at,
            }


class AuthorizingSession(requests.Session):
    """A requests session that puts a fresh ``Authorization: Bearer`` on every request.

    A 401 answer makes it drop the token, fetch a new one and retry the request once. Every outcome is
    counted in :attr:`state` (problem kinds: ``no_token``, ``unreachable``, ``rejected_401``, ``http_<code>``).
    """

    def __init__(self, tokens: TokenSource) -> None:
        super().__init__()
        self._tokens = tokens
        self.reauth_count = 0
        self.state = DeliveryState()

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if len(args) > len(_SESSION_REQUEST_ARGS):
            raise TypeError(f"request() takes at most {2 + len(_SESSION_REQUEST_ARGS)} positional arguments")
        kwargs.update(zip(_SESSION_REQUEST_ARGS, args, strict=False))  # a positional headers dict merges too
        headers = dict(kwargs.pop("headers", None) or {})
        token = self._bearer()
        headers["Authorization"] = f"Bearer {token}"
        response = self._send(method, url, headers, kwargs)
        if response.status_code == 401:
            response.close()
            self._tokens.invalidate(token)
            self.reauth_count += 1
            headers["Authorization"] = f"Bearer {self._bearer()}"
            response = self._send(method, url, headers, kwargs)
            if response.status_code == 401:
                logger.warning(
                    "agentops_selfhosted: the collector at %s refused a freshly issued token (401); the API "
                    "and the collector most likely use different JWT secrets", _shown(url),
                )
        if 200 <= response.status_code < 300:
            self.state.ok()
        elif response.status_code == 401:
            self.state.problem("rejected_401", f"the collector refused a fresh token at {_shown(url)}")
        else:
            self.state.problem(f"http_{response.status_code}", f"the collector at {_shown(url)} answered "
                               f"{response.status_code}")
        return response

    def _send(self, method: str, url: str, headers: dict[str, str], kwargs: dict[str, Any]) -> requests.Response:
        try:
            return super().request(method, url, headers=headers, **kwargs)
        except requests.RequestException as exc:
            self.state.problem("unreachable", f"cannot reach the collector at {_shown(url)} "
                               f"({exc.__class__.__name__})")
            raise

    def _bearer(self) -> str:
        try:
            return self._tokens.bearer()
        except AuthUnavailable as exc:
            self.state.problem("no_token", str(exc))
            logger.warning("agentops_selfhosted: span batch not sent: %s", exc)
            raise


def _shown(url: str) -> str:
    """A URL without user info, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


# --------------------------------------------------------------------------------------------
# Span attributes
# --------------------------------------------------------------------------------------------

_CHAT_CALL_TYPES = {"completion", "acompletion", "text_completion", "atext_completion"}


def _get(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return value
    return None


def span_attributes(payload: Mapping[str, Any], response_obj: Any = None, *,
                    capture_content: bool = False) -> dict[str, Any]:
    """OpenTelemetry attributes for one call, from LiteLLM's ``standard_logging_object``.

    Token counts go under both ``gen_ai.usage.prompt_tokens``/``completion_tokens`` (what the
    AgentOps API reads) and ``gen_ai.usage.input_tokens``/``output_tokens`` (semantic conventions).
    """
    attrs: dict[str, Any] = {}

    def put(key: str, value: Any) -> None:
        if value is None or value == "":
            return
        if isinstance(value, (list, tuple)):
            value = [str(v) for v in value]
        elif not isinstance(value, (str, bool, int, float)):
            value = str(value)
        attrs[key] = value

    call_type = payload.get("call_type") or ""
    requested = payload.get("model_group") or payload.get("model")
    response_model = _get(response_obj, "model") or payload.get("model")
    provider = payload.get("custom_llm_provider")
    put("gen_ai.system", provider)
    put("gen_ai.provider.name", provider)
    put("gen_ai.operation.name", "chat" if call_type in _CHAT_CALL_TYPES else call_type)
    put("gen_ai.request.model", requested)
    put("gen_ai.response.model", response_model)
    put("llm.request.model", requested)
    put("gen_ai.response.id", _get(response_obj, "id"))
    put("litellm.call_id", payload.get("litellm_call_id") or payload.get("id"))
    put("litellm.trace_id", payload.get("trace_id"))
    put("litellm.call_type", call_type)
    put("litellm.model_group", payload.get("model_group"))
    put("litellm.provider_model", payload.get("model"))
    put("llm.is_streaming", bool(payload.get("stream")))
    put("gen_ai.request.streaming", bool(payload.get("stream")))

    prompt = _number(payload.get("prompt_tokens"))
    completion = _number(payload.get("completion_tokens"))
    total = _number(payload.get("total_tokens"))
    if total is None and prompt is not None and completion is not None:
        total = prompt + completion
    for old, new, value in (
        ("gen_ai.usage.prompt_tokens", "gen_ai.usage.input_tokens", prompt),
        ("gen_ai.usage.completion_tokens", "gen_ai.usage.output_tokens", completion),
        ("gen_ai.usage.total_tokens", None, total),
    ):
        if value is not None:
            attrs[old] = int(value)
            if new:
                attrs[new] = int(value)

    cost = _number(payload.get("response_cost"))
    if cost is not None and not payload.get("response_cost_failure_debug_info"):
        attrs["gen_ai.usage.total_cost"] = float(cost)
        breakdown = payload.get("cost_breakdown") or {}
        for key, name in (("input_cost", "gen_ai.usage.prompt_cost"), ("output_cost", "gen_ai.usage.completion_cost")):
            value = _number(_get(breakdown, key))
            if value is not None:
                attrs[name] = float(value)

    tags = [str(t) for t in (payload.get("request_tags") or [])]
    if tags:
        attrs["agentops.tags"] = json.dumps(tags)
        attrs["litellm.request_tags"] = tags
    put("gen_ai.request.user", payload.get("end_user"))

    if payload.get("status") == "failure":
        info = payload.get("error_information") or {}
        put("error.type", _get(info, "error_class") or "error")
        put("error.code", _get(info, "error_code"))
    else:
        reasons = [_get(c, "finish_reason") for c in (_get(response_obj, "choices") or [])]
        reasons = [r for r in reasons if r]
        if reasons:
            attrs["gen_ai.response.finish_reasons"] = [str(r) for r in reasons]

    if capture_content:
        messages = payload.get("messages")
        if isinstance(messages, list):
            for i, message in enumerate(messages):
                put(f"gen_ai.prompt.{i}.role", _get(message, "role"))
                content = _get(message, "content")
                put(f"gen_ai.prompt.{i}.content", content if isinstance(content, str) else json.dumps(content))
        for i, choice in enumerate(_get(response_obj, "choices") or []):
            message = _get(choice, "message")
            put(f"gen_ai.completion.{i}.role", _get(message, "role"))
            put(f"gen_ai.completion.{i}.content", _get(message, "content"))
    return attrs


def _ns(value: Any, fallback: float | None) -> int | None:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1e9)
    number = _number(value)
    if number is not None:
        return int(number * 1e9)
    return int(fallback * 1e9) if fallback is not None else None


# --------------------------------------------------------------------------------------------
# The LiteLLM callback
# --------------------------------------------------------------------------------------------


class AgentOpsSelfHosted(CustomLogger):
    """LiteLLM callback: records one CLIENT span per LLM call and exports it to a self-hosted AgentOps."""

    def __init__(self, settings: Settings, *, fetch_token_now: bool = True) -> None:
        super().__init__()
        self.settings = settings
        self.tokens = TokenSource(settings.auth_url, settings.api_key)
        self.session = AuthorizingSession(self.tokens)
        attrs: dict[str, Any] = {"service.name": settings.service_name}
        if settings.environment:
            attrs["deployment.environment"] = settings.environment
        self.provider = TracerProvider(resource=Resource.create(attrs))
        self.exporter = OTLPSpanExporter(endpoint=settings.exporter_endpoint, session=self.session)
        self.provider.add_span_processor(
            BatchSpanProcessor(self.exporter, schedule_delay_millis=settings.export_delay_ms)
        )
        self.tracer = self.provider.get_tracer("agentops_selfhosted")
        self._recorded: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._recorded_lock = threading.Lock()
        if fetch_token_now:
            self._announce()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kwargs: Any) -> AgentOpsSelfHosted:
        return cls(Settings.from_env(env), **kwargs)

    def _announce(self) -> None:
        s = self.settings
        try:
            self.tokens.bearer()
            claims = self.tokens.claims
            exp = claims.get("exp")
            when = datetime.fromtimestamp(exp).isoformat(timespec="seconds") if isinstance(exp, (int, float)) else "?"
            state = f"token ok (project {claims.get('project_id', '?')}, expires {when})"
        except AuthUnavailable as exc:
            state = f"no token yet ({exc}); will retry at each export"
        print(f"agentops_selfhosted: exporting LLM spans to {s.exporter_endpoint} as service.name="
              f"{s.service_name}; {state}", file=sys.stderr, flush=True)

    # LiteLLM hooks (async on the proxy, sync in the SDK). Never raise into LiteLLM.
    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):  # noqa: ANN001
        self._record(kwargs, response_obj, start_time, end_time, failed=False)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):  # noqa: ANN001
        self._record(kwargs, response_obj, start_time, end_time, failed=True)

    def log_success_event(self, kwargs, response_obj, start_time, end_time):  # noqa: ANN001
        self._record(kwargs, response_obj, start_time, end_time, failed=False)

    def log_failure_event(self, kwargs, response_obj, start_time, end_time):  # noqa: ANN001
        self._record(kwargs, response_obj, start_time, end_time, failed=True)

    def _first_time(self, key: tuple[str, str]) -> bool:
        with self._recorded_lock:
            if key in self._recorded:
                return False
            self._recorded[key] = None
            while len(self._recorded) > 4096:
                self._recorded.popitem(last=False)
            return True

    def _record(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any, *, failed: bool) -> None:
        try:
            payload = (kwargs or {}).get("standard_logging_object") or {}
            if not isinstance(payload, Mapping):
                payload = {}
            if failed and payload.get("status") != "failure":
                payload = {**payload, "status": "failure"}
            call_id = str(
                payload.get("litellm_call_id") or payload.get("id") or (kwargs or {}).get("litellm_call_id") or ""
            )
            if call_id and not self._first_time((call_id, "failure" if failed else "success")):
                return
            attrs = span_attributes(payload, response_obj, capture_content=self.settings.capture_content)
            if not attrs.get("gen_ai.request.model") and (kwargs or {}).get("model"):
                attrs["gen_ai.request.model"] = str(kwargs["model"])
            operation = attrs.get("gen_ai.operation.name", "llm")
            name = f"{operation} {attrs.get('gen_ai.request.model', '')}".strip()
            start_ns = _ns(start_time, _number(payload.get("startTime")))
            end_ns = _ns(end_time, _number(payload.get("endTime")))
            span = self.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attrs, start_time=start_ns)
            if failed:
                exception = (kwargs or {}).get("exception")
                message = payload.get("error_str") or (str(exception) if exception else "LLM call failed")
                if isinstance(exception, BaseException):
                    span.record_exception(exception)
                span.set_status(Status(StatusCode.ERROR, str(message)[:500]))
            else:
                span.set_status(Status(StatusCode.OK))
            span.end(end_time=end_ns)
        except Exception:  # a logging callback must never break the request
            logger.exception("agentops_selfhosted: could not record a span for this call")

    def status(self) -> dict[str, Any]:
        """Where spans go and how delivery went so far (no secrets): shown by the proxy's /active/callbacks."""
        return {
            "exporter": _shown(self.settings.exporter_endpoint),
            "api": _shown(self.settings.api_endpoint),
            "service_name": self.settings.service_name,
            "project_id": self.tokens.claims.get("project_id"),
            "token_expires_at": self.tokens.claims.get("exp"),
            "token_fetches": self.tokens.fetch_count,
            "reauth_on_401": self.session.reauth_count,
            **self.session.state.to_dict(),
        }

    def __repr__(self) -> str:
        return f"AgentOpsSelfHosted {json.dumps(self.status(), sort_keys=True)}"

    __str__ = __repr__

    def force_flush(self, timeout_ms: int = 30_000) -> bool:
        """Send every finished span now; True when the exporter took them all."""
        return self.provider.force_flush(timeout_ms)

    def shutdown(self) -> None:
        self.provider.shutdown()


_handler: AgentOpsSelfHosted | None = None
_handler_lock = threading.Lock()


def __getattr__(name: str) -> Any:
    """``handler`` is built on first access (when LiteLLM resolves ``agentops_selfhosted.handler``)."""
    global _handler
    if name != "handler":
        raise AttributeError(f"module 'agentops_selfhosted' has no attribute {name!r}")
    with _handler_lock:
        if _handler is None:
            _handler = AgentOpsSelfHosted.from_env()
        return _handler
