"""Live preflight of a LiteLLM proxy -> self-hosted AgentOps deployment.

Each function returns checks and never raises for an unreachable or misbehaving service; an empty
URL gives skipped checks with the reason. Every network call is bounded by ``timeout_s``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from ..checks import Check, Severity
from ..clients.agentops import AgentOpsClient, TokenInfo, collector_status_error
from ..clients.litellm import LiteLLMClient
from ..errors import SecretReferenceError, ServiceError
from ..http import container_host_note, display_url, in_container, make_client, request
from ..secrets import SecretRef
from ..wiring import CALLBACK_REFERENCE, HANDLER_CLASS_NAME, otlp_traces_url, render_wiring_snippet
from .config_lint import KNOWN_INTEGRATIONS, callback_entries

__all__ = [
    "check_agentops",
    "check_collector",
    "check_dashboard",
    "check_litellm",
    "expected_runtime_callbacks",
    "network_notes",
]

#: Logger class names in /health/readiness/details that export traces towards AgentOps/OTel.
EXPORTING_LOGGERS = frozenset({"AgentOps", "OpenTelemetry", HANDLER_CLASS_NAME})
_AGENTOPS_NAMES = frozenset({"agentops", HANDLER_CLASS_NAME.lower()})


def _key_ref(ref: str | SecretRef | None, name: str) -> tuple[SecretRef | None, str | None]:
    """(reference, reason it cannot be used) for an optional secret parameter."""
    if not ref:
        return None, f"no {name} given"
    try:
        parsed = SecretRef.parse(ref, name=name)
    except SecretReferenceError as exc:
        return None, exc.message
    if not parsed.exists():
        return None, f"{name} {parsed} does not resolve (variable unset or file missing)"
    return parsed, None


# -- LiteLLM ----------------------------------------------------------------------------------------


def _normalise(name: str) -> str:
    n = name.strip()
    if n == CALLBACK_REFERENCE or n.lower() == HANDLER_CLASS_NAME.lower():
        return "agentops_selfhosted"
    return n.lower()


def expected_runtime_callbacks(doc: Mapping[str, Any] | None) -> set[str]:
    """Normalised callback names a proxy started from ``doc`` should report (only names we can
    predict: known integrations and our handler; ``general_settings`` is ignored like the proxy)."""
    if not doc:
        return set()
    ls = callback_entries(doc).get("litellm_settings", {})
    names = {_normalise(e) for v in ls.values() for e in v}
    return {n for n in names if n in KNOWN_INTEGRATIONS or n == "agentops_selfhosted"}


def _running_callbacks(listing: Mapping[str, Any]) -> dict[str, list[str]]:
    return {k: [str(x) for x in listing.get(k) or []] for k in ("success", "failure", "success_and_failure")}


def check_litellm(
    url: str | None,
    master_key: str | SecretRef | None,
    *,
    timeout_s: float = 5.0,
    config_doc: Mapping[str, Any] | None = None,
) -> list[Check]:
    """Liveliness, readiness, the built logger, registered callbacks, drift from the local config
    file, and served models. Checks after an unreachable liveliness probe are skipped."""
    ids = ["litellm.liveliness", "litellm.readiness", "litellm.logger_built", "litellm.callbacks",
           "litellm.config_drift", "litellm.models"]
    titles = {
        "litellm.liveliness": "LiteLLM proxy is alive",
        "litellm.readiness": "LiteLLM proxy is ready",
        "litellm.logger_built": "The proxy built an AgentOps/OTel logger",
        "litellm.callbacks": "AgentOps callback is registered for success and failure",
        "litellm.config_drift": "Running proxy matches the local config file",
        "litellm.models": "The proxy serves models",
    }
    if not url:
        return [Check.skipped(i, titles[i], "litellm_url is empty") for i in ids]
    checks: list[Check] = []
    shown = display_url(url)
    with LiteLLMClient(url, None, timeout_s) as anon:
        try:
            alive = anon.liveliness()
            checks.append(Check.passed(ids[0], titles[ids[0]], f"{shown} answered {alive!r}"))
        except ServiceError as exc:
            checks.append(Check.from_error(ids[0], titles[ids[0]], exc, evidence={"url": shown},
                                           severity=Severity.CRITICAL))
            return checks + [Check.skipped(i, titles[i], "the proxy is unreachable (see litellm.liveliness)")
                             for i in ids[1:]]
        try:
            ready = anon.readiness()
            status = ready.get("status") if isinstance(ready, dict) else None
            evidence = {k: ready.get(k) for k in ("status", "db", "cache") if isinstance(ready, dict) and k in ready}
            if status == "healthy":
                checks.append(Check.passed(ids[1], titles[ids[1]], f"status healthy (db: {ready.get('db')})",
                                           evidence=evidence))
            else:
                checks.append(Check.warned(ids[1], titles[ids[1]], f"readiness status is {status!r}",
                                           remedy="check the proxy log (database or cache connection)",
                                           evidence=evidence))
        except ServiceError as exc:
            checks.append(Check.from_error(ids[1], titles[ids[1]], exc, severity=Severity.MAJOR))

    key, reason = _key_ref(master_key, "litellm_master_key")
    if key is None and master_key:
        return checks + [Check.skipped(i, titles[i], reason or "no key") for i in ids[2:]]
    expected = expected_runtime_callbacks(config_doc)
    gs_callbacks = callback_entries(config_doc or {}).get("general_settings", {})
    with LiteLLMClient(url, key, timeout_s) as client:
        checks.append(_logger_built(client, ids[2], titles[ids[2]], gs_callbacks))
        listing_check, running = _callbacks_registered(client, ids[3], titles[ids[3]])
        checks.append(listing_check)
        checks.append(_config_drift(ids[4], titles[ids[4]], config_doc, expected, running))
        try:
            models = client.models()
            if models:
                checks.append(Check.passed(ids[5], titles[ids[5]], f"{len(models)} model(s): {', '.join(models[:10])}",
                                           evidence={"models": models}))
            else:
                checks.append(Check.failed(ids[5], titles[ids[5]], "/v1/models lists no model",
                                           remedy="add model_list entries to the config and restart the proxy",
                                           severity=Severity.MAJOR))
        except ServiceError as exc:
            checks.append(Check.from_error(ids[5], titles[ids[5]], exc, severity=Severity.MAJOR))
    return checks


def _logger_built(client: LiteLLMClient, cid: str, title: str, gs_callbacks: Mapping[str, Any]) -> Check:
    try:
        details = client.readiness_details()
    except ServiceError as exc:
        return Check.from_error(cid, title, exc, severity=Severity.MAJOR)
    loggers = [str(x) for x in (details.get("success_callbacks") or [])] if isinstance(details, dict) else []
    exporting = sorted({x for x in loggers if x in EXPORTING_LOGGERS})
    evidence = {"success_callbacks": loggers, "litellm_version": details.get("litellm_version")
                if isinstance(details, dict) else None}
    if exporting:
        return Check.passed(cid, title, f"logger object(s) built: {', '.join(exporting)}", evidence=evidence)
    why = (
        "the config puts callbacks under general_settings, which the proxy ignores (see config.callbacks.placement)"
        if gs_callbacks else
        "no callback under litellm_settings reached the proxy, or building it failed (look for an ImportError"
        " about opentelemetry in the proxy log)"
    )
    return Check.failed(
        cid, title, "/health/readiness/details lists no AgentOps/OpenTelemetry logger: the proxy exports nothing",
        remedy=f"{why}. Wire the self-hosted handler and restart the proxy:\n{render_wiring_snippet()}",
        severity=Severity.CRITICAL, evidence=evidence)


def _callbacks_registered(client: LiteLLMClient, cid: str, title: str) -> tuple[Check, dict[str, list[str]] | None]:
    try:
        listing = client.callbacks_list()
    except ServiceError as exc:
        return Check.from_error(cid, title, exc, severity=Severity.MAJOR), None
    running = _running_callbacks(listing if isinstance(listing, dict) else {})
    both = [n for n in running["success_and_failure"] if _normalise(n) in ("agentops", "agentops_selfhosted")]
    success_only = [n for n in running["success"] if _normalise(n) in ("agentops", "agentops_selfhosted")]
    if both:
        return Check.passed(cid, title, f"{', '.join(both)} runs on success and failure", evidence=running), running
    if success_only:
        return Check.warned(
            cid, title, f"{', '.join(success_only)} runs on success only: failed calls get no litellm_request span",
            remedy="list it under litellm_settings.callbacks (not success_callback) and restart",
            severity=Severity.MINOR, evidence=running), running
    return Check.failed(
        cid, title, "/callbacks/list shows no AgentOps callback",
        remedy=f"add {CALLBACK_REFERENCE} to litellm_settings.callbacks and restart the proxy",
        severity=Severity.CRITICAL, evidence=running), running


def _config_drift(cid: str, title: str, doc: Mapping[str, Any] | None, expected: set[str],
                  running: dict[str, list[str]] | None) -> Check:
    if doc is None:
        return Check.skipped(cid, title, "no parsed local config to compare with")
    if running is None:
        return Check.skipped(cid, title, "the running callbacks could not be read (see litellm.callbacks)")
    names = {_normalise(n) for v in running.values() for n in v}
    live = {n for n in names if n in KNOWN_INTEGRATIONS or n == "agentops_selfhosted"}
    missing, extra = sorted(expected - live), sorted(live - expected)
    evidence = {"config": sorted(expected), "running": sorted(live), "missing_in_proxy": missing,
                "not_in_config": extra}
    if not missing and not extra:
        return Check.passed(cid, title, f"callbacks agree: {', '.join(sorted(expected)) or 'none'}", evidence=evidence)
    parts = []
    if missing:
        parts.append(f"in the config but not running: {', '.join(missing)}")
    if extra:
        parts.append(f"running but not in the config: {', '.join(extra)}")
    return Check.failed(
        cid, title, "config changed but proxy not restarted/rebuilt: " + "; ".join(parts),
        remedy="restart the proxy with this config. If the image bakes it in (`COPY config.yaml`), rebuild:"
        " `docker compose build --no-cache litellm && docker compose up -d litellm` (or mount the file as a"
        " volume instead). Callbacks added through the admin UI/DB also show up here",
        severity=Severity.MAJOR, evidence=evidence)


# -- AgentOps ---------------------------------------------------------------------------------------


def check_agentops(
    api_url: str | None,
    api_key: str | SecretRef | None,
    *,
    timeout_s: float = 5.0,
) -> tuple[list[Check], TokenInfo | None]:
    """API liveness, token issue (project, plan, expiry; never the token), plan and the API's own
    validation of the token. Returns the checks and the token for later collector checks."""
    titles = {
        "agentops.health": "AgentOps API is up",
        "agentops.auth_token": "The API key gets a token",
        "agentops.plan": "The project's plan shows all data",
        "agentops.token_valid": "The API accepts its own token",
    }
    ids = list(titles)
    if not api_url:
        return [Check.skipped(i, titles[i], "agentops_api_url is empty") for i in ids], None
    checks: list[Check] = []
    key, reason = _key_ref(api_key, "agentops_api_key")
    with AgentOpsClient(api_url, key, timeout_s) as client:
        try:
            body = client.health()
            message = body.get("message") if isinstance(body, dict) else body
            checks.append(Check.passed(ids[0], titles[ids[0]], f"{display_url(api_url)} answered {message!r}"
                                       " (liveness only: the database is checked by the token request)"))
        except ServiceError as exc:
            checks.append(Check.from_error(ids[0], titles[ids[0]], exc, severity=Severity.CRITICAL))
            return checks + [Check.skipped(i, titles[i], "the API is unreachable (see agentops.health)")
                             for i in ids[1:]], None
        if key is None:
            return checks + [Check.skipped(i, titles[i], reason or "no key") for i in ids[1:]], None
        try:
            token = client.issue_token()
        except ServiceError as exc:
            severity = Severity.CRITICAL
            checks.append(Check.from_error(ids[1], titles[ids[1]], exc, severity=severity))
            return checks + [Check.skipped(i, titles[i], "no token (see agentops.auth_token)") for i in ids[2:]], None
        facts = token.to_dict()
        days = facts["expires_in_days"]
        checks.append(Check.passed(
            ids[1], titles[ids[1]],
            f"project {facts['project_id']}, plan {facts['prem_status']}, token valid until {facts['expires_at']}"
            + (f" ({days:g} days)" if days is not None else ""), evidence=facts))
        checks.append(_plan_check(ids[2], titles[ids[2]], token))
        try:
            verdict = client.validate_token(token)
            checks.append(Check.passed(ids[3], titles[ids[3]], f"GET /v3/auth/token: {verdict.get('message')!r}",
                                       evidence={k: v for k, v in verdict.items() if k != "message"}))
        except ServiceError as exc:
            checks.append(Check.from_error(ids[3], titles[ids[3]], exc, severity=Severity.MAJOR))
    return checks, token


def _plan_check(cid: str, title: str, token: TokenInfo) -> Check:
    plan = token.prem_status
    if plan in ("enterprise", "pro"):
        return Check.passed(cid, title, f"plan {plan}", severity=Severity.MINOR, evidence={"prem_status": plan})
    return Check.warned(
        cid, title, f"plan {plan!r}: the dashboard hides traces older than 3 days (except the 3 newest),"
        " clamps metrics to 30 days and blanks span attributes",
        remedy="on a self-hosted install set the org's plan: UPDATE public.orgs SET prem_status = 'enterprise'"
        " WHERE id = (SELECT org_id FROM public.projects WHERE id = '<project id>'); then issue a new token",
        severity=Severity.MINOR, evidence={"prem_status": plan, "project_id": token.project_id})


def check_dashboard(app_url: str | None, *, timeout_s: float = 5.0) -> Check:
    """Any HTTP answer below 500 from the dashboard URL (a login redirect included) is a pass."""
    cid, title = "agentops.dashboard", "AgentOps dashboard answers"
    if not app_url:
        return Check.skipped(cid, title, "agentops_app_url is empty")
    service = "AgentOps dashboard"
    with make_client(timeout_s=timeout_s) as client:
        try:
            response = request(client, "GET", app_url, service=service)
        except ServiceError as exc:
            return Check.from_error(cid, title, exc, severity=Severity.MAJOR)
    evidence = {"status_code": response.status_code, "location": response.headers.get("location")}
    if response.status_code < 400:
        return Check.passed(cid, title, f"{display_url(app_url)} answered HTTP {response.status_code}",
                            severity=Severity.MAJOR, evidence=evidence)
    if response.status_code < 500:
        return Check.warned(cid, title, f"{display_url(app_url)} answered HTTP {response.status_code}",
                            remedy="the server runs; check the path of agentops_app_url",
                            severity=Severity.MINOR, evidence=evidence)
    return Check.failed(cid, title, f"{display_url(app_url)} answered HTTP {response.status_code}",
                        remedy="the dashboard failed: check its log (NEXT_PUBLIC_API_URL, build errors)",
                        severity=Severity.MAJOR, evidence=evidence)


def check_collector(
    otlp_endpoint: str | None, token: TokenInfo | None = None, *, timeout_s: float = 5.0
) -> list[Check]:
    """``collector.reachable``: any HTTP answer to an empty POST counts. ``collector.auth``: with a
    token, an empty OTLP export (zero spans, writes nothing) must be accepted; 401 means the
    collector's JWT secret differs from the API's."""
    ids = {"collector.reachable": "OTLP collector answers", "collector.auth": "Collector accepts the AgentOps token"}
    if not otlp_endpoint:
        return [Check.skipped(i, t, "otlp_endpoint is empty") for i, t in ids.items()]
    url = otlp_traces_url(otlp_endpoint)
    service = "OTLP collector"
    headers = {"Content-Type": "application/x-protobuf"}
    checks: list[Check] = []
    with make_client(timeout_s=timeout_s) as client:
        try:
            response = request(client, "POST", url, service=service, content=b"", headers=headers)
        except ServiceError as exc:
            checks.append(Check.from_error("collector.reachable", ids["collector.reachable"], exc,
                                           severity=Severity.CRITICAL))
            checks.append(Check.skipped("collector.auth", ids["collector.auth"], "the collector is unreachable"))
            return checks
        checks.append(Check.passed(
            "collector.reachable", ids["collector.reachable"],
            f"{display_url(url)} answered HTTP {response.status_code} to an empty request",
            evidence={"status_code": response.status_code}))
        if token is None:
            checks.append(Check.skipped("collector.auth", ids["collector.auth"],
                                        "no AgentOps token (needs agentops_api_url and agentops_api_key)"))
            return checks
        try:
            response = request(client, "POST", url, service=service, content=b"",
                               headers={**headers, "Authorization": f"Bearer {token.bearer()}"})
        except ServiceError as exc:
            checks.append(Check.from_error("collector.auth", ids["collector.auth"], exc, severity=Severity.CRITICAL))
            return checks
    error = collector_status_error(response.status_code, url)
    if error is None:
        checks.append(Check.passed("collector.auth", ids["collector.auth"],
                                   f"an empty export with the token was accepted (HTTP {response.status_code})",
                                   evidence={"status_code": response.status_code}))
    else:
        checks.append(Check.from_error("collector.auth", ids["collector.auth"], error, severity=Severity.CRITICAL))
    return checks


def network_notes(urls: Mapping[str, str | None]) -> Check:
    """Where ``localhost``, ``host.docker.internal`` and bare service names resolve, for each URL."""
    cid, title = "network.container_hosts", "URL host names work where they are used"
    notes: dict[str, str] = {}
    for name, url in urls.items():
        if not url:
            continue
        try:
            host = httpx.URL(url).host
        except Exception:
            continue
        note = container_host_note(host)
        if note:
            notes[name] = note
    inside = in_container()
    evidence = {"notes": notes, "this_process_in_container": inside}
    if not any(urls.values()):
        return Check.skipped(cid, title, "no URL given: nothing to look at", evidence=evidence)
    if not notes:
        return Check.passed(cid, title, "no URL uses localhost, host.docker.internal or a bare service name",
                            severity=Severity.MINOR, evidence=evidence)
    return Check.passed(
        cid, title, f"{', '.join(notes)}: reachable from here does not mean reachable from the proxy container."
        " " + " ".join(dict.fromkeys(notes.values())), severity=Severity.MINOR, evidence=evidence)
