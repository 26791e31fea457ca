"""Step 1: the proxy answers, has an AgentOps/OTel logger built, the AgentOps token works, the store answers."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..checks import Check, Severity, Status
from ..clients.agentops import AgentOpsClient
from ..clients.litellm import LiteLLMClient
from ..commands import run_command
from ..errors import RunbookError, ServiceError
from ..http import display_url, make_client, raise_for_status, read_json, request
from ..secrets import SecretRef
from ..wiring import HANDLER_CLASS_NAME, render_wiring_snippet
from .deadline import Deadline
from .results import UNKNOWN_MODEL, Preflight

__all__ = ["classify_logger", "handler_status_from_active", "preflight"]

_BUILTIN_NAMES = {"AgentOps", "agentops"}
_OTEL_NAMES = {"OpenTelemetry", "otel", "OpenTelemetryV2", "arize", "langfuse_otel"}


def classify_logger(names: Sequence[str]) -> str:
    """Which AgentOps path the running proxy has built, from its callback names."""
    found = set(names)
    if found & _BUILTIN_NAMES:
        return "builtin_agentops"
    if HANDLER_CLASS_NAME in found:
        return "selfhosted"
    if found & _OTEL_NAMES:
        return "otel"
    return "none"


def handler_status_from_active(active: Mapping[str, Any]) -> dict[str, Any] | None:
    """The self-hosted handler's delivery status, read from ``/active/callbacks`` (it prints it as JSON)."""
    prefix = f"{HANDLER_CLASS_NAME} "
    for value in active.values():
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, str) and item.startswith(prefix + "{"):
                try:
                    status = json.loads(item[len(prefix):])
                except ValueError:
                    continue
                if isinstance(status, dict):
                    return status
    return None


def _failing_model(litellm_url: str, master_key: SecretRef, timeout_s: float) -> str:
    """A model of this proxy whose ``mock_response`` raises an error; else a model name it does not serve.

    Both make the proxy answer with an error and record a failed call (an ERROR span)."""
    try:
        with make_client(litellm_url.rstrip("/"), timeout_s=timeout_s) as client:
            response = request(client, "GET", "/v1/model/info", service="LiteLLM proxy",
                               headers={"Authorization": f"Bearer {master_key.resolve()}"})
            raise_for_status(response, service="LiteLLM proxy")
            data = read_json(response, service="LiteLLM proxy")
    except RunbookError:
        return UNKNOWN_MODEL
    candidates = []
    for entry in (data or {}).get("data", []) if isinstance(data, dict) else []:
        mock = ((entry or {}).get("litellm_params") or {}).get("mock_response")
        if isinstance(mock, str) and mock.startswith("litellm.") and mock.endswith("Error"):
            candidates.append((0 if "RateLimit" in mock else 1, str(entry.get("model_name"))))
    return sorted(candidates)[0][1] if candidates else UNKNOWN_MODEL


def preflight(
    litellm_url: str,
    litellm_master_key: str | SecretRef,
    model: str,
    *,
    agentops_api_url: str | None = None,
    agentops_api_key: str | SecretRef | None = None,
    store: Any = None,
    timeout_s: float = 10.0,
    deadline: Deadline | None = None,
) -> Preflight:
    """Check the proxy, its logger, the AgentOps token and the trace store; never raises for a failure.

    Each client's timeout is ``timeout_s`` or what is left of ``deadline``, whichever is shorter; once
    the deadline has passed, the trace store is not asked (a skip saying so)."""
    result = Preflight()
    key = SecretRef.parse(litellm_master_key, name="litellm_master_key")
    snippet = render_wiring_snippet(agentops_api_url)
    deadline = deadline or Deadline(float("inf"))
    with LiteLLMClient(litellm_url, key, timeout_s=deadline.timeout(timeout_s)) as proxy:
        try:
            proxy.liveliness()
            result.checks.append(Check.passed("proxy.reachable", "LiteLLM proxy answers",
                                              f"{display_url(litellm_url).rstrip('/')}/health/liveliness answered"))
            result.proxy_ok = True
        except ServiceError as exc:
            result.checks.append(Check.from_error("proxy.reachable", "LiteLLM proxy answers", exc,
                                                  severity=Severity.CRITICAL))
        if result.proxy_ok:
            _logger_checks(proxy, result, snippet)
            _model_check(proxy, model, result)
            result.failing_model = _failing_model(litellm_url, key, deadline.timeout(timeout_s))
    result.checks.append(_token_check(agentops_api_url, agentops_api_key, result, deadline.timeout(timeout_s)))
    if deadline.passed:
        result.checks.append(Check.skipped(
            "trace_store.reachable", "The trace store answers",
            f"deadline_s={deadline.total_s:g} passed before the trace store was asked",
            evidence={"deadline_s": deadline.total_s}))
    else:
        result.checks.append(_store_check(store, result))
    return result


def _logger_checks(proxy: LiteLLMClient, result: Preflight, snippet: str) -> None:
    title = "The running proxy has an AgentOps logger built"
    try:
        details = proxy.readiness_details()
        listed = proxy.callbacks_list()
    except ServiceError as exc:
        result.checks.append(Check.from_error("proxy.logger", title, exc, status=Status.ERROR))
        return
    names = [str(n) for n in details.get("success_callbacks") or [] if isinstance(n, str)]
    for group in ("success", "failure", "success_and_failure"):
        names += [str(n) for n in listed.get(group) or []]
    names = sorted(set(names))
    result.logger_names = names
    result.logger_kind = classify_logger(names)
    relevant = [n for n in names if n in _BUILTIN_NAMES | _OTEL_NAMES | {HANDLER_CLASS_NAME}]
    evidence: dict[str, Any] = {"logger_kind": result.logger_kind, "agentops_or_otel_callbacks": relevant,
                                "litellm_version": details.get("litellm_version")}
    if result.logger_kind in ("selfhosted", "builtin_agentops"):
        try:
            result.handler_status = handler_status_from_active(proxy.active_callbacks())
        except ServiceError:
            result.handler_status = None
        evidence["handler_status"] = result.handler_status
    kind = result.logger_kind
    if kind == "selfhosted" and HANDLER_CLASS_NAME in names:
        where = (result.handler_status or {}).get("exporter", "?")
        result.checks.append(Check.passed(
            "proxy.logger", title, f"{HANDLER_CLASS_NAME} is built and exports to {where}", evidence=evidence))
    elif kind == "builtin_agentops":
        result.checks.append(Check.failed(
            "proxy.logger", title,
            "the proxy runs LiteLLM's built-in 'agentops' callback: it sends the API key to api.agentops.ai and "
            "spans to AgentOps' cloud (URLs hard-coded), never to a self-hosted collector",
            "replace it with the self-hosted handler:\n" + snippet, severity=Severity.CRITICAL, evidence=evidence))
    elif kind == "otel":
        result.checks.append(Check.warned(
            "proxy.logger", title,
            "a generic OpenTelemetry logger is built: spans may arrive, but its token names "
            "(input_tokens/output_tokens) give zero prompt/completion tokens and cost in AgentOps, and its "
            "JWT header is never refreshed",
            "use the self-hosted handler instead:\n" + snippet, evidence=evidence))
    else:
        result.checks.append(Check.failed(
            "proxy.logger", title,
            "no AgentOps or OpenTelemetry logger is built in the running proxy: a callback listed under "
            "general_settings is ignored (only litellm_settings is read), or none is configured",
            "put the callback under litellm_settings.callbacks and restart the proxy:\n" + snippet,
            severity=Severity.CRITICAL, evidence=evidence))


def _model_check(proxy: LiteLLMClient, model: str, result: Preflight) -> None:
    title = f"The proxy serves model {model!r}"
    try:
        models = proxy.models()
    except ServiceError as exc:
        result.checks.append(Check.from_error("proxy.model", title, exc, status=Status.ERROR))
        return
    if model in models:
        result.checks.append(Check.passed("proxy.model", title, f"{model!r} is listed by /v1/models"))
    else:
        remedy = (f"use one of the proxy's models: `{run_command('20_callback_verification', model=models[0])}`"
                  if models else "the proxy serves no model: add one to model_list in its config.yaml and restart it")
        result.checks.append(Check.failed("proxy.model", title, f"{model!r} is not among {models[:10]}", remedy,
                                          evidence={"models": models[:50]}))


def _token_check(api_url: str | None, api_key: str | SecretRef | None, result: Preflight,
                 timeout_s: float) -> Check:
    title = "AgentOps issues a token for the API key"
    if not api_url or not api_key:
        return Check.skipped("agentops.token", title, "agentops_api_url / agentops_api_key not given")
    try:
        with AgentOpsClient(api_url, api_key, timeout_s=timeout_s) as client:
            info = client.issue_token()
    except ServiceError as exc:
        return Check.from_error("agentops.token", title, exc, severity=Severity.CRITICAL)
    facts = info.to_dict()
    result.project_id, result.prem_status, result.token_expires_at = (
        info.project_id, info.prem_status, facts.get("expires_at"))
    summary = (f"project {info.project_id}, plan {info.prem_status}, expires {facts.get('expires_at')} "
               f"(in {facts.get('expires_in_days')} days)")
    if info.prem_status == "free":
        return Check.warned("agentops.token", title, summary + "; the free plan hides traces older than 3 days "
                            "and blanks span attributes in the dashboard",
                            "set orgs.prem_status='enterprise' for a self-hosted org", evidence=facts)
    return Check.passed("agentops.token", title, summary, evidence=facts)


def _store_check(store: Any, result: Preflight) -> Check:
    title = "The trace store answers"
    if store is None:
        return Check.skipped("trace_store.reachable", title, "no trace store given")
    try:
        store.ping()
        frame = store.query_df("SELECT count() AS n FROM otel_2.otel_traces")
    except RunbookError as exc:
        return Check.from_error("trace_store.reachable", title, exc, severity=Severity.CRITICAL)
    result.store_ok = True
    return Check.passed("trace_store.reachable", title,
                        f"{getattr(store, 'description', 'store')}: {int(frame['n'].iloc[0])} spans stored")
