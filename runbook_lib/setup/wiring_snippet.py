"""The remedy for a proxy that cannot reach a self-hosted AgentOps: our callback module plus env vars."""

from __future__ import annotations

import httpx

from ..http import container_host_note
from ..wiring import CALLBACK_REFERENCE, HANDLER_CLASS_NAME
from ..wiring import render_wiring_snippet as _render

__all__ = [
    "CALLBACK_REFERENCE",
    "HANDLER_CLASS_NAME",
    "DEFAULT_API_URL",
    "DEFAULT_OTLP_ENDPOINT",
    "otlp_traces_url",
    "render_wiring_snippet",
]

DEFAULT_API_URL = "http://agentops-api:8000"
DEFAULT_OTLP_ENDPOINT = "http://otelcollector:4318/v1/traces"


def otlp_traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL: a bare ``http://host:4318`` gets ``/v1/traces`` appended."""
    url = endpoint.strip()
    try:
        path = httpx.URL(url).path
    except Exception:
        return url
    return url.rstrip("/") + "/v1/traces" if path in ("", "/") else url


def render_wiring_snippet(api_url: str | None = None, otlp_endpoint: str | None = None) -> str:
    """config.yaml lines and proxy environment that send traces to a self-hosted AgentOps through
    ``agentops_selfhosted.handler``. Holds no secret (the API key is named, not shown). URLs on
    localhost or a bare service name get a comment on how they resolve from inside a container."""
    api = (api_url or DEFAULT_API_URL).strip().rstrip("/")
    otlp = otlp_traces_url(otlp_endpoint or DEFAULT_OTLP_ENDPOINT)
    text = _render(api, otlp)
    notes = []
    for label, url in (("AGENTOPS_API_ENDPOINT", api), ("AGENTOPS_EXPORTER_ENDPOINT", otlp)):
        try:
            note = container_host_note(httpx.URL(url).host)
        except Exception:
            note = None
        if note:
            notes.append(f"# {label}: {note}")
    if notes:
        text += "# These URLs are seen from the proxy process:\n" + "\n".join(notes) + "\n"
    return text
