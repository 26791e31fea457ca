"""Callback verification (notebook 20): prove that a request through LiteLLM reached self-hosted AgentOps.

Steps, each returning :class:`~runbook_lib.checks.Check` results:

1. :func:`preflight`: the proxy answers; the running proxy has an AgentOps/OpenTelemetry logger built
   (``/health/readiness/details`` and ``/callbacks/list``, plus the self-hosted handler's own delivery
   status from ``/active/callbacks``); the AgentOps token works (project, plan, expiry; never the token);
   the trace store answers.
2. :func:`send_requests`: tagged requests per kind (``plain``, ``stream``, ``failing``), each carrying a
   run-unique tag and identified by the proxy's call id (``x-litellm-call-id``) and response id.
3. :func:`wait_for_spans`: poll ``otel_2.otel_traces`` with backoff until each request's span arrived
   or the deadline passed, noting when each was first seen.
4. :func:`verify_spans`: per span, project id, model, token counts under the names the AgentOps API
   reads, status (the failing request must be ERROR), cost present or computable; arrival latency.
5. :func:`diagnose`: when spans are missing, say why from evidence (no logger built, built-in
   ``agentops`` callback, collector refusing tokens, collector unreachable, no token, store mismatch).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..checks import Check
from ..secrets import SecretRef
from .arrival import latency_frame, plot_latency, wait_for_spans
from .diagnosis import diagnose
from .preflight import classify_logger, handler_status_from_active, preflight
from .requests import new_run_id, requests_check, send_requests
from .results import KINDS, NEW_TOKEN_NAMES, PROMPT_TOKEN_NAMES, Preflight, RoundTrip, SentRequest, SpanSeen
from .runbook import VerificationRunbook
from .span_checks import verify_spans

__all__ = [
    "KINDS",
    "NEW_TOKEN_NAMES",
    "PROMPT_TOKEN_NAMES",
    "Preflight",
    "RoundTrip",
    "SentRequest",
    "SpanSeen",
    "Verification",
    "VerificationRunbook",
    "classify_logger",
    "diagnose",
    "handler_status_from_active",
    "latency_frame",
    "new_run_id",
    "plot_latency",
    "preflight",
    "requests_check",
    "run_verification",
    "send_requests",
    "verify_spans",
    "wait_for_spans",
]


@dataclass
class Verification:
    """Everything one verification run produced."""

    preflight: Preflight
    roundtrip: RoundTrip | None
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def summary(self) -> dict[str, Any]:
        return {"checks": [c.to_dict() for c in self.checks],
                "requests": [asdict(r) for r in (self.roundtrip.requests if self.roundtrip else [])]}


def run_verification(
    litellm_url: str,
    litellm_master_key: str | SecretRef,
    model: str,
    *,
    store: Any,
    agentops_api_url: str | None = None,
    agentops_api_key: str | SecretRef | None = None,
    requests_per_kind: int = 1,
    deadline_s: float = 30.0,
) -> Verification:
    """Every section of :class:`VerificationRunbook` (the notebook's path, without display) in one call."""
    rb = VerificationRunbook(litellm_url=litellm_url, litellm_master_key=litellm_master_key, model=model,
                             agentops_api_url=agentops_api_url,
                             agentops_api_key=agentops_api_key,
                             requests_per_kind=requests_per_kind, deadline_s=deadline_s, store=store)
    rb.run_all()
    assert rb.pre is not None, "run_all ran the preflight section, which always sets it"
    return Verification(rb.pre, rb.trip, rb.checks)
