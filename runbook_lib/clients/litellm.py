"""A small client for the LiteLLM proxy's health, inspection and chat endpoints.

The master key is held as a :class:`~runbook_lib.secrets.SecretRef` and resolved only when a
request needs it; it never appears in a message, a repr or a result.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..http import (
    body_snippet,
    display_url,
    make_client,
    raise_for_status,
    read_json,
    request,
    stream,
)
from ..secrets import SecretRef, redact_and_cut_known

__all__ = ["ChatResult", "LiteLLMClient", "CALL_ID_HEADER"]

SERVICE = "LiteLLM proxy"
CALL_ID_HEADER = "x-litellm-call-id"


@dataclass(frozen=True)
class ChatResult:
    """What one chat completion returned. ``ok`` is False for an HTTP error (``error`` says why)."""

    status_code: int
    response_id: str | None
    call_id: str | None
    model: str | None = None
    usage: dict[str, Any] | None = None
    content: str = ""
    streamed: bool = False
    chunks: int = 0
    error: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300 and self.error is None


class LiteLLMClient:
    """Talks to one LiteLLM proxy. Every call is bounded by ``timeout_s``; ``transport`` replaces the network
    (see :func:`~runbook_lib.http.make_client`)."""

    def __init__(
        self, base_url: str, master_key: SecretRef | str | None = None, timeout_s: float = 10.0, *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.master_key = SecretRef.parse(master_key, name="litellm_master_key") if master_key else None
        self.timeout_s = float(timeout_s)
        self._client = make_client(self.base_url, timeout_s=self.timeout_s, transport=transport)

    def __repr__(self) -> str:
        key = str(self.master_key) if self.master_key else "none"
        return f"LiteLLMClient({display_url(self.base_url)!r}, master_key={key!r}, timeout_s={self.timeout_s})"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> LiteLLMClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------------------

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.master_key.resolve()}"} if self.master_key else {}

    def _explain(self, response: httpx.Response) -> tuple[str, str] | None:
        code, path = response.status_code, response.request.url.path
        body = body_snippet(response)
        where = f"{SERVICE} {path}"
        if code == 401 or (code == 403 and self.master_key):
            return (
                f"{where}: the master key was refused (HTTP {code})",
                "litellm_master_key must reference the proxy's general_settings.master_key (or an admin key)",
            )
        if code == 500 and not self.master_key and "prisma" in body.lower():
            return (
                f"{where}: HTTP 500 for a protected endpoint called without a key",
                "pass litellm_master_key (a reference to the proxy's master key)",
            )
        if code == 400 and path.endswith("/health/services"):
            return (
                f"{where}: the service is not registered as a callback: {body}",
                "add it to litellm_settings.callbacks and restart the proxy",
            )
        if code == 404:
            return (
                f"{where}: not found (HTTP 404)",
                "check litellm_url points at the proxy itself (no extra path) and the proxy is LiteLLM >= 1.70",
            )
        return None

    def _get(self, path: str, *, auth: bool, params: Mapping[str, str] | None = None, shape: Any = None) -> Any:
        response = request(
            self._client, "GET", path, service=SERVICE, headers=self._auth() if auth else None, params=params
        )
        raise_for_status(response, service=SERVICE, explain=self._explain)
        return read_json(response, service=SERVICE, shape=shape)

    # -- health and inspection --------------------------------------------------------------------

    def liveliness(self) -> Any:
        """GET /health/liveliness (no key): ``"I'm alive!"`` when the process serves requests."""
        return self._get("/health/liveliness", auth=False)

    def readiness(self) -> dict[str, Any]:
        """GET /health/readiness (no key): ``{"status": "healthy", "db": ...}``."""
        return self._get("/health/readiness", auth=False, shape=dict)

    def readiness_details(self) -> dict[str, Any]:
        """GET /health/readiness/details (key): includes ``success_callbacks`` (logger class names)."""
        return self._get("/health/readiness/details", auth=True, shape=dict)

    def callbacks_list(self) -> dict[str, list[str]]:
        """GET /callbacks/list (key): ``{"success": [...], "failure": [...], "success_and_failure": [...]}``."""
        return self._get("/callbacks/list", auth=True, shape=dict)

    def active_callbacks(self) -> dict[str, Any]:
        """GET /active/callbacks (key): ``str()`` of every callback object the proxy holds."""
        return self._get("/active/callbacks", auth=True, shape=dict)

    def service_health(self, service: str) -> dict[str, Any]:
        """GET /health/services?service=NAME (key). Fires a mock request; does not check delivery.
        A service that is not a registered callback raises ServiceError(status_code=400)."""
        return self._get("/health/services", auth=True, params={"service": service}, shape=dict)

    def models(self) -> list[str]:
        """GET /v1/models (key): the model names the proxy serves."""
        data = self._get("/v1/models", auth=True, shape={"data": [{"id": str}]})
        return [m["id"] for m in data["data"]]

    def model_info(self) -> list[dict[str, Any]]:
        """GET /v1/model/info (key): each deployment with its ``litellm_params`` (credentials removed)."""
        data = self._get("/v1/model/info", auth=True, shape=dict)
        return [entry for entry in data.get("data") or [] if isinstance(entry, dict)]

    # -- completions ------------------------------------------------------------------------------

    @staticmethod
    def _body(
        model: str,
        messages: Sequence[Mapping[str, Any]] | str,
        metadata: Mapping[str, Any] | None,
        tags: Sequence[str] | None,
        extra: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        body: dict[str, Any] = {"model": model, "messages": list(messages), **dict(extra or {})}
        meta = dict(metadata or {})
        if tags:
            meta["tags"] = list(tags)
        if meta:
            body["metadata"] = meta
        return body

    @staticmethod
    def _error_text(response: httpx.Response) -> str:
        try:
            data = response.json()
            err = data.get("error", data) if isinstance(data, dict) else data
            msg = err.get("message") if isinstance(err, dict) else err
            return redact_and_cut_known(str(msg), 300)
        except (ValueError, UnicodeDecodeError):
            return body_snippet(response, 300)

    def chat(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]] | str,
        *,
        metadata: Mapping[str, Any] | None = None,
        tags: Sequence[str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> ChatResult:
        """POST /chat/completions. ``metadata``/``tags`` travel in the request ``metadata`` (tags
        under ``metadata.tags``) for correlation. HTTP errors come back as a result with ``error``;
        transport failures raise ServiceError. Never retried (not idempotent)."""
        body = self._body(model, messages, metadata, tags, extra)
        response = request(self._client, "POST", "/chat/completions", service=SERVICE, json=body,
                           headers=self._auth())
        call_id = response.headers.get(CALL_ID_HEADER)
        headers = {k: v for k, v in response.headers.items() if k.lower().startswith("x-litellm")}
        if response.status_code >= 400:
            return ChatResult(response.status_code, None, call_id, error=self._error_text(response),
                              headers=headers)
        data = read_json(response, service=SERVICE)
        choices = data.get("choices") or [{}]
        content = ((choices[0] or {}).get("message") or {}).get("content") or ""
        return ChatResult(response.status_code, data.get("id"), call_id, data.get("model"),
                          data.get("usage"), content, headers=headers)

    def chat_stream(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]] | str,
        *,
        metadata: Mapping[str, Any] | None = None,
        tags: Sequence[str] | None = None,
        include_usage: bool = True,
        extra: Mapping[str, Any] | None = None,
    ) -> ChatResult:
        """POST /chat/completions with ``stream: true``; collects the SSE chunks into one result
        (id from the chunks, usage when the proxy sends a usage chunk, errors sent mid-stream).
        The whole stream, from connect to the last chunk, is within one total deadline of ``timeout_s``."""
        body = self._body(model, messages, metadata, tags, extra)
        body["stream"] = True
        if include_usage:
            body.setdefault("stream_options", {"include_usage": True})
        with stream(self._client, "POST", "/chat/completions", service=SERVICE, timeout_s=self.timeout_s,
                    json=body, headers=self._auth()) as response:
            call_id = response.headers.get(CALL_ID_HEADER)
            headers = {k: v for k, v in response.headers.items() if k.lower().startswith("x-litellm")}
            if response.status_code >= 400:
                response.read()
                return ChatResult(response.status_code, None, call_id, error=self._error_text(response),
                                  streamed=True, headers=headers)
            return self._collect(response, call_id, headers)

    @staticmethod
    def _collect(response: httpx.Response, call_id: str | None, headers: dict[str, str]) -> ChatResult:
        response_id = model = error = None
        usage: dict[str, Any] | None = None
        parts: list[str] = []
        chunks = 0
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue
            payload = line[5:].strip()
            if payload == "[DONE]":
                break
            try:
                chunk = json.loads(payload)
            except ValueError:
                error = f"malformed stream chunk: {redact_and_cut_known(payload, 80)}"
                continue
            if "error" in chunk:
                err = chunk["error"]
                error = redact_and_cut_known(str(err.get("message", err) if isinstance(err, dict) else err), 300)
                continue
            chunks += 1
            response_id = response_id or chunk.get("id")
            model = model or chunk.get("model")
            if chunk.get("usage"):
                usage = chunk["usage"]
            for choice in chunk.get("choices") or []:
                delta = (choice or {}).get("delta") or {}
                if delta.get("content"):
                    parts.append(delta["content"])
        return ChatResult(response.status_code, response_id, call_id, model, usage, "".join(parts),
                          streamed=True, chunks=chunks, error=error, headers=headers)

