"""Step 5: why spans are missing or incomplete, from evidence gathered in the proxy and the collector."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..checks import Check, Severity
from ..clients.agentops import AgentOpsClient, collector_status_error
from ..clients.litellm import LiteLLMClient
from ..commands import repair_schema_command
from ..errors import ServiceError
from ..http import display_url, make_client, request
from ..secrets import SecretRef
from ..wiring import render_wiring_snippet
from .preflight import handler_status_from_active
from .results import Preflight, RoundTrip

__all__ = ["diagnose"]


def _probe_collector(exporter_url: str, api_url: str | None, api_key: str | SecretRef | None,
                     timeout_s: float = 5.0) -> dict[str, Any]:
    """POST an empty OTLP export with a fresh token: what the collector says about that token."""
    out: dict[str, Any] = {"collector": display_url(exporter_url)}
    token = None
    if api_url and api_key:
        try:
            with AgentOpsClient(api_url, api_key, timeout_s=timeout_s) as client:
                token = client.issue_token()
        except ServiceError as exc:
            out["token_error"] = exc.message
    headers = {"Content-Type": "application/x-protobuf"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token.bearer()}"
    try:
        with make_client(timeout_s=timeout_s) as client:
            response = request(client, "POST", exporter_url, service="collector", content=b"", headers=headers)
        out["status_code"] = response.status_code
        err = collector_status_error(response.status_code, exporter_url) if token is not None else None
        if err is not None:
            out["explained"] = err.message
    except ServiceError as exc:  # transport failures and the deadline: described, not raised
        out["unreachable"] = exc.message
    return out


def diagnose(
    pre: Preflight,
    trip: RoundTrip,
    *,
    litellm_url: str | None = None,
    litellm_master_key: str | SecretRef | None = None,
    agentops_api_url: str | None = None,
    agentops_api_key: str | SecretRef | None = None,
    verification: Sequence[Check] = (),
    timeout_s: float = 10.0,
) -> list[Check]:
    """Why spans are missing or incomplete, from evidence; a single passed check when nothing is wrong.
    Each probe it sends (proxy, API, collector) is bounded by ``timeout_s``."""
    missing = trip.missing
    token_check = next((c for c in verification if c.id == "roundtrip.tokens"), None)
    snippet = render_wiring_snippet(agentops_api_url)
    findings: list[Check] = []
    if not missing and (token_check is None or token_check.ok):
        return [Check.passed("diagnosis", "Diagnosis", "nothing to diagnose: every span arrived complete")]

    status = pre.handler_status
    if litellm_url and litellm_master_key and pre.logger_kind == "selfhosted":
        try:  # fresh delivery status, after the exporter had its go at these spans
            with LiteLLMClient(litellm_url, litellm_master_key, timeout_s=timeout_s) as proxy:
                status = handler_status_from_active(proxy.active_callbacks()) or status
        except ServiceError:
            pass
    evidence: dict[str, Any] = {"logger_kind": pre.logger_kind, "handler_status": status,
                                "missing": len(missing), "store_error": trip.store_error}
    if missing:
        if pre.logger_kind == "none":
            findings.append(Check.failed(
                "diagnosis.no_logger", "Cause: no logger is built in the proxy",
                "the proxy has no AgentOps/OpenTelemetry logger, so it exports nothing: a callback under "
                "general_settings is ignored, or none is configured (a callback whose OpenTelemetry packages are "
                "missing stops the proxy at start-up instead)",
                "move the callback to litellm_settings.callbacks:\n" + snippet,
                severity=Severity.CRITICAL, evidence=evidence))
        elif pre.logger_kind == "builtin_agentops":
            findings.append(Check.failed(
                "diagnosis.builtin_agentops_callback", "Cause: the built-in agentops callback",
                "LiteLLM's built-in 'agentops' callback exports to https://otlp.agentops.cloud/v1/traces and "
                "authenticates at https://api.agentops.ai (hard-coded), so the self-hosted collector never sees a "
                "span (and the API key is offered to the cloud)",
                "replace it with the self-hosted handler:\n" + snippet, severity=Severity.CRITICAL,
                evidence=evidence))
        elif pre.logger_kind == "selfhosted" and status:
            findings += _diagnose_handler(status, evidence, agentops_api_url, agentops_api_key, trip,
                                          timeout_s=timeout_s)
        elif pre.logger_kind == "otel":
            findings.append(Check.failed(
                "diagnosis.otel_logger", "Cause: generic OpenTelemetry logger",
                "a generic OTel logger is built but its spans did not reach this store: check OTEL_ENDPOINT and its "
                "Authorization header (a JWT that expires after 30 days)",
                "use the self-hosted handler:\n" + snippet, evidence=evidence))
        if trip.store_error and not findings:
            findings.append(Check.failed(
                "diagnosis.trace_store", "Cause: the trace store cannot be queried", trip.store_error,
                "check trace_store_url and its credentials", evidence=evidence))
    if token_check is not None and not token_check.ok:
        ev = token_check.evidence if isinstance(token_check.evidence, dict) else {}
        if ev.get("new_names_only"):
            findings.append(Check.failed(
                "diagnosis.token_names", "Cause: spans carry only the new token attribute names",
                "spans arrive with gen_ai.usage.input_tokens/output_tokens but without prompt_tokens/"
                "completion_tokens, which the AgentOps API reads: the dashboard shows 0 tokens and cost",
                "export with the self-hosted handler, which writes both:\n" + snippet, evidence=ev))
    if not findings:
        findings.append(Check.failed(
            "diagnosis.unknown", "Cause not determined", "spans are missing, and the proxy shows no export problem",
            "read the proxy log for 'Failed to export' and the collector log; check that trace_store_url is the "
            "ClickHouse the collector writes to", evidence=evidence))
    return findings


def _diagnose_handler(status: Mapping[str, Any], evidence: dict[str, Any], api_url: str | None,
                      api_key: str | SecretRef | None, trip: RoundTrip, *, timeout_s: float = 5.0) -> list[Check]:
    problem = str(status.get("last_problem") or "")
    kind = problem.split(":", 1)[0]
    problem_after_send = (status.get("last_problem_at") or 0) >= min(r.started_at for r in trip.requests) - 1
    exporter = status.get("exporter")
    if exporter and kind in ("rejected_401", "unreachable", "http_401", ""):
        evidence["collector_probe"] = _probe_collector(str(exporter), api_url, api_key, min(timeout_s, 5.0))
    probe = evidence.get("collector_probe") or {}
    if kind == "rejected_401" or probe.get("status_code") == 401:
        return [Check.failed(
            "diagnosis.collector_rejects_token", "Cause: the collector refuses AgentOps tokens",
            f"the collector at {exporter} answers 401 even to a freshly issued token: the API signs JWTs with a "
            "different secret than the collector checks",
            "give the collector's JWT_SECRET the same value as the API's JWT_SECRET_KEY (and Supabase's), restart "
            "the collector", severity=Severity.CRITICAL, evidence=evidence)]
    if kind == "unreachable" or probe.get("unreachable"):
        earlier = int(status.get("delivered") or 0) > 0
        what = ("the collector stopped answering during the run (earlier batches were delivered)" if earlier
                else "the proxy cannot reach the collector")
        return [Check.failed(
            "diagnosis.collector_unreachable", "Cause: the collector is unreachable",
            f"{what}: {problem or probe.get('unreachable')}",
            "start the collector (or fix AGENTOPS_EXPORTER_ENDPOINT, as seen from the proxy's host/container); "
            "spans of the failed batches are lost", severity=Severity.CRITICAL, evidence=evidence)]
    if kind == "no_token" and problem_after_send:
        return [Check.failed(
            "diagnosis.no_token", "Cause: the proxy's handler cannot get an AgentOps token",
            problem.split(":", 1)[1].strip() if ":" in problem else problem,
            f"a 500 from /v3/auth/token is schema drift in most cases: run `{repair_schema_command()}`; "
            "a 403 means the proxy's "
            "AGENTOPS_API_KEY is not a key of this AgentOps", severity=Severity.CRITICAL, evidence=evidence)]
    if kind.startswith("http_"):
        return [Check.failed(
            "diagnosis.collector_error", "Cause: the collector refuses the exports", problem,
            "read the collector log", evidence=evidence)]
    if int(status.get("delivered") or 0) > 0:
        return [Check.failed(
            "diagnosis.store_mismatch", "Cause: spans were delivered but are not in this store",
            "the collector accepted the proxy's exports, yet the spans are not in the trace store queried here",
            "check that trace_store_url is the ClickHouse the collector writes to (database otel_2) and that "
            "the collector's ClickHouse exporter works (collector log)", evidence=evidence)]
    return []
