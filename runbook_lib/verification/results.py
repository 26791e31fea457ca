"""What a verification run sends and finds: requests, spans, and the preflight's findings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..checks import Check

__all__ = ["KINDS", "NEW_TOKEN_NAMES", "PROMPT_TOKEN_NAMES", "UNKNOWN_MODEL", "Preflight", "RoundTrip", "SentRequest",
           "SpanSeen"]

KINDS = ("plain", "stream", "failing")
#: The token attribute names the AgentOps API reads (``agentops-selfhosted.md`` section 9).
PROMPT_TOKEN_NAMES = ("gen_ai.usage.prompt_tokens", "gen_ai.usage.completion_tokens")
NEW_TOKEN_NAMES = ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens")
#: A model name no proxy serves: a request for it fails and records an ERROR span.
UNKNOWN_MODEL = "runbook-verify-unknown-model"


@dataclass
class Preflight:
    """What the preflight learnt, next to its checks (no secrets)."""

    checks: list[Check] = field(default_factory=list)
    logger_kind: str = "unknown"  # selfhosted | builtin_agentops | otel | none | unknown
    logger_names: list[str] = field(default_factory=list)
    handler_status: dict[str, Any] | None = None
    project_id: str | None = None
    prem_status: str | None = None
    token_expires_at: str | None = None
    failing_model: str | None = None
    proxy_ok: bool = False
    store_ok: bool = False


@dataclass
class SentRequest:
    """One request sent through the proxy."""

    kind: str
    index: int
    tag: str
    model: str
    started_at: float
    finished_at: float
    status_code: int | None
    call_id: str | None
    response_id: str | None
    error: str | None = None

    @property
    def expected_ok(self) -> bool:
        return self.kind != "failing"

    @property
    def behaved(self) -> bool:
        """Answered as its kind should: 2xx for plain/stream, an error status for failing."""
        if self.status_code is None:
            return False
        return (200 <= self.status_code < 300 and not self.error) if self.expected_ok else self.status_code >= 400


@dataclass
class SpanSeen:
    """The span found for one request."""

    call_id: str
    trace_id: str
    span_id: str
    span_name: str
    service_name: str
    status_code: str
    status_message: str
    project_id: str
    attributes: dict[str, str]
    first_seen_at: float


@dataclass
class RoundTrip:
    """Requests sent and what the trace store showed for them."""

    run_id: str
    requests: list[SentRequest]
    spans: dict[str, SpanSeen] = field(default_factory=dict)  # by call id
    deadline_s: float = 0.0
    waited_s: float = 0.0
    polls: int = 0
    store_error: str | None = None
    extra_spans_by_tag: int = 0

    def span_for(self, req: SentRequest) -> SpanSeen | None:
        return self.spans.get(req.call_id or "")

    @property
    def missing(self) -> list[SentRequest]:
        return [r for r in self.requests if r.call_id and self.span_for(r) is None]
