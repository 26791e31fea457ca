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

import json
import re
import statistics
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .checks import Check, Severity
from .clients.agentops import AgentOpsClient, collector_status_error
from .clients.litellm import LiteLLMClient
from .errors import RunbookError, ServiceError
from .http import display_url, make_client, raise_for_status, read_json, request, transport_error
from .secrets import SecretRef, redact
from .wiring import HANDLER_CLASS_NAME, render_wiring_snippet

__all__ = [
    "KINDS",
    "PROMPT_TOKEN_NAMES",
    "Preflight",
    "RoundTrip",
    "SentRequest",
    "SpanSeen",
    "classify_logger",
    "diagnose",
    "latency_frame",
    "plot_latency",
    "preflight",
    "run_verification",
    "send_requests",
    "verify_spans",
    "wait_for_spans",
]

KINDS = ("plain", "stream", "failing")
#: The token attribute names the AgentOps API reads (``agentops-selfhosted.md`` section 9).
PROMPT_TOKEN_NAMES = ("gen_ai.usage.prompt_tokens", "gen_ai.usage.completion_tokens")
NEW_TOKEN_NAMES = ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens")
UNKNOWN_MODEL = "runbook-verify-unknown-model"
_CALL_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_BUILTIN_NAMES = {"AgentOps", "agentops"}
_OTEL_NAMES = {"OpenTelemetry", "otel", "OpenTelemetryV2", "arize", "langfuse_otel"}


# ------------------------------------------------------------------------------------------------
# Results
# ------------------------------------------------------------------------------------------------


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


# ------------------------------------------------------------------------------------------------
# 1. Preflight
# ------------------------------------------------------------------------------------------------


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
) -> Preflight:
    """Check the proxy, its logger, the AgentOps token and the trace store; never raises for a failure."""
    result = Preflight()
    key = SecretRef.parse(litellm_master_key, name="litellm_master_key")
    snippet = render_wiring_snippet(agentops_api_url or "http://agentops-api:8000")
    with LiteLLMClient(litellm_url, key, timeout_s=timeout_s) as proxy:
        try:
            proxy.liveliness()
            result.checks.append(Check.passed("proxy.reachable", "LiteLLM proxy answers",
                                              f"{display_url(litellm_url)}/health/liveliness answered"))
            result.proxy_ok = True
        except ServiceError as exc:
            result.checks.append(Check.failed("proxy.reachable", "LiteLLM proxy answers", exc.message,
                                              exc.hint or "", severity=Severity.CRITICAL))
        if result.proxy_ok:
            _logger_checks(proxy, result, snippet)
            _model_check(proxy, model, result)
            result.failing_model = _failing_model(litellm_url, key, timeout_s)
    result.checks.append(_token_check(agentops_api_url, agentops_api_key, result, timeout_s))
    result.checks.append(_store_check(store, result))
    return result


def _logger_checks(proxy: LiteLLMClient, result: Preflight, snippet: str) -> None:
    title = "The running proxy has an AgentOps logger built"
    try:
        details = proxy.readiness_details()
        listed = proxy.callbacks_list()
    except ServiceError as exc:
        result.checks.append(Check.errored("proxy.logger", title, exc.message, exc.hint or ""))
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
        result.checks.append(Check.errored("proxy.model", title, exc.message, exc.hint or ""))
        return
    if model in models:
        result.checks.append(Check.passed("proxy.model", title, f"{model!r} is listed by /v1/models"))
    else:
        result.checks.append(Check.failed("proxy.model", title, f"{model!r} is not among {models[:10]}",
                                          "set the model parameter to one of the proxy's model names",
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
        return Check.failed("agentops.token", title, exc.message, exc.hint or "", severity=Severity.CRITICAL,
                            evidence={"status_code": exc.status_code})
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
        return Check.failed("trace_store.reachable", title, exc.message, exc.hint or "",
                            severity=Severity.CRITICAL)
    result.store_ok = True
    return Check.passed("trace_store.reachable", title,
                        f"{getattr(store, 'description', 'store')}: {int(frame['n'].iloc[0])} spans stored")


# ------------------------------------------------------------------------------------------------
# 2. Requests
# ------------------------------------------------------------------------------------------------


def new_run_id() -> str:
    return "rv-" + uuid.uuid4().hex[:12]


def send_requests(
    litellm_url: str,
    litellm_master_key: str | SecretRef,
    model: str,
    *,
    per_kind: int = 2,
    failing_model: str | None = None,
    run_id: str | None = None,
    kinds: Sequence[str] = KINDS,
    timeout_s: float = 30.0,
) -> tuple[str, list[SentRequest]]:
    """Send ``per_kind`` requests of each kind; return the run id and what each request got back."""
    run_id = run_id or new_run_id()
    sent: list[SentRequest] = []
    with LiteLLMClient(litellm_url, litellm_master_key, timeout_s=timeout_s) as proxy:
        for kind in kinds:
            for index in range(per_kind):
                tag = f"{run_id}:{kind}:{index}"
                use_model = (failing_model or UNKNOWN_MODEL) if kind == "failing" else model
                prompt = f"runbook round-trip check {tag}: answer briefly"
                started = time.time()
                try:
                    if kind == "stream":
                        res = proxy.chat_stream(use_model, prompt, tags=["runbook-verify", run_id, tag])
                    else:
                        res = proxy.chat(use_model, prompt, tags=["runbook-verify", run_id, tag])
                    sent.append(SentRequest(kind, index, tag, use_model, started, time.time(), res.status_code,
                                            res.call_id, res.response_id, res.error))
                except ServiceError as exc:
                    sent.append(SentRequest(kind, index, tag, use_model, started, time.time(), None, None, None,
                                            exc.message))
    return run_id, sent


def requests_check(sent: Sequence[SentRequest]) -> Check:
    title = "Requests went through the proxy as expected"
    bad = [r for r in sent if not r.behaved]
    rows = [{"kind": r.kind, "index": r.index, "http_status": r.status_code, "call_id": r.call_id,
             "response_id": r.response_id, "error": (r.error or "")[:160]} for r in sent]
    no_id = [r for r in sent if not r.call_id]
    if bad:
        return Check.failed("roundtrip.requests", title,
                            f"{len(bad)} of {len(sent)} requests did not answer as expected "
                            "(plain/stream must succeed, failing must fail)",
                            "check the model parameter and the proxy log", evidence={"requests": rows})
    if no_id:
        return Check.failed("roundtrip.requests", title,
                            f"{len(no_id)} answers carried no x-litellm-call-id header, so spans cannot be matched",
                            "use LiteLLM >= 1.70 (it returns x-litellm-call-id)", evidence={"requests": rows})
    kinds = sorted({r.kind for r in sent})
    return Check.passed("roundtrip.requests", title,
                        f"{len(sent)} requests ({', '.join(kinds)}); the failing kind answered "
                        f"{sorted({r.status_code for r in sent if r.kind == 'failing'})}",
                        evidence={"requests": rows})


# ------------------------------------------------------------------------------------------------
# 3. Waiting for spans
# ------------------------------------------------------------------------------------------------

_SPAN_QUERY = """
SELECT SpanAttributes['litellm.call_id'] AS call_id, TraceId AS trace_id, SpanId AS span_id,
       SpanName AS span_name, ServiceName AS service_name, StatusCode AS status_code,
       StatusMessage AS status_message, ResourceAttributes['agentops.project.id'] AS project_id,
       toJSONString(SpanAttributes) AS attributes_json
FROM otel_2.otel_traces
WHERE Timestamp >= fromUnixTimestamp64Nano({since_ns:Int64})
  AND has(splitByChar(',', {call_ids:String}), SpanAttributes['litellm.call_id'])
"""


def _span_score(attrs: Mapping[str, str]) -> int:
    """Prefer the LLM span among several carrying one call id (legacy OTel exports a few)."""
    usage = sum(1 for k in attrs if k.startswith("gen_ai.usage."))
    return usage * 10 + sum(1 for k in attrs if k.startswith("gen_ai."))


def wait_for_spans(
    store: Any,
    sent: Sequence[SentRequest],
    *,
    run_id: str,
    deadline_s: float = 30.0,
    first_poll_s: float = 0.25,
    max_poll_s: float = 2.0,
) -> RoundTrip:
    """Poll the trace store until every request with a call id has a span, or ``deadline_s`` passes.

    A poll that fails is noted (``store_error``) and retried until the deadline.
    """
    trip = RoundTrip(run_id=run_id, requests=list(sent), deadline_s=deadline_s)
    ids = [r.call_id for r in sent if r.call_id and _CALL_ID.match(r.call_id)]
    if not ids:
        return trip
    since_ns = int((min(r.started_at for r in sent) - 120) * 1e9)
    params = {"since_ns": since_ns, "call_ids": ",".join(ids)}
    start = time.monotonic()
    pause = first_poll_s
    while True:
        trip.polls += 1
        try:
            frame = store.query_df(_SPAN_QUERY, params)
            trip.store_error = None
        except RunbookError as exc:
            frame = None
            trip.store_error = exc.message
        now = time.time()
        if frame is not None:
            for row in frame.to_dict("records"):
                attrs = json.loads(row.get("attributes_json") or "{}")
                call_id = str(row.get("call_id") or "")
                old = trip.spans.get(call_id)
                if old is not None and _span_score(old.attributes) >= _span_score(attrs):
                    continue
                trip.spans[call_id] = SpanSeen(
                    call_id=call_id, trace_id=str(row.get("trace_id", "")), span_id=str(row.get("span_id", "")),
                    span_name=str(row.get("span_name", "")), service_name=str(row.get("service_name", "")),
                    status_code=str(row.get("status_code", "")), status_message=str(row.get("status_message", "")),
                    project_id=str(row.get("project_id", "")), attributes=attrs,
                    first_seen_at=old.first_seen_at if old else now,
                )
        if all(i in trip.spans for i in ids):
            break
        elapsed = time.monotonic() - start
        if elapsed >= deadline_s:
            break
        time.sleep(min(pause, max(deadline_s - elapsed, 0.01)))
        pause = min(pause * 1.5, max_poll_s)
    trip.waited_s = time.monotonic() - start
    return trip


# ------------------------------------------------------------------------------------------------
# 4. Verification
# ------------------------------------------------------------------------------------------------


def _int_attr(attrs: Mapping[str, str], name: str) -> int | None:
    try:
        return int(float(attrs[name]))
    except (KeyError, ValueError, TypeError):
        return None


def latency_frame(trip: RoundTrip) -> Any:
    """One row per request: kind, HTTP status, call id, whether and how fast its span arrived."""
    import pandas as pd

    rows = []
    for r in trip.requests:
        span = trip.span_for(r)
        rows.append({
            "kind": r.kind, "index": r.index, "http_status": r.status_code, "call_id": r.call_id,
            "response_id": r.response_id, "arrived": span is not None,
            "latency_s": round(span.first_seen_at - r.finished_at, 3) if span else None,
            "span_status": span.status_code if span else None,
            "trace_id": span.trace_id if span else None,
        })
    return pd.DataFrame(rows)


def plot_latency(trip: RoundTrip) -> Any:
    """A bar chart of arrival latency per request (missing spans drawn at the deadline, hatched)."""
    import matplotlib.pyplot as plt

    frame = latency_frame(trip)
    colours = {"plain": "#4C72B0", "stream": "#55A868", "failing": "#C44E52"}
    fig, ax = plt.subplots(figsize=(7, 3))
    labels = [f"{k}#{i}" for k, i in zip(frame["kind"], frame["index"], strict=True)]
    for pos, row in enumerate(frame.to_dict("records")):
        height = row["latency_s"] if row["arrived"] else trip.deadline_s
        ax.bar(pos, height, color=colours.get(row["kind"], "grey"), hatch=None if row["arrived"] else "//",
               alpha=1.0 if row["arrived"] else 0.3)
    ax.axhline(trip.deadline_s, color="grey", linestyle="--", linewidth=1, label=f"deadline {trip.deadline_s:g} s")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_ylabel("seconds until the span was seen")
    ax.set_title("Span arrival latency per request")
    ax.legend(loc="upper right")
    fig.tight_layout()
    return fig


def verify_spans(trip: RoundTrip, *, model: str, project_id: str | None = None) -> list[Check]:
    """Checks over the spans that arrived: arrival, project, model, token names, status, cost, latency."""
    checks: list[Check] = []
    matched = [(r, trip.span_for(r)) for r in trip.requests if r.call_id]
    arrived = [(r, s) for r, s in matched if s is not None]
    missing = [r for r, s in matched if s is None]
    arrival_rows = [{"kind": r.kind, "index": r.index, "call_id": r.call_id} for r in missing]
    title = "Every request's span reached the trace store"
    if not matched:
        checks.append(Check.failed("roundtrip.arrival", title, "no request got a call id, nothing to look for",
                                   "see roundtrip.requests"))
        return checks
    if missing:
        store_note = f"; the last store query failed: {trip.store_error}" if trip.store_error else ""
        checks.append(Check.failed(
            "roundtrip.arrival", title,
            f"{len(missing)} of {len(matched)} spans did not arrive within {trip.deadline_s:g} s "
            f"({trip.polls} polls){store_note}",
            "see the diagnosis checks below", severity=Severity.CRITICAL, evidence={"missing": arrival_rows}))
    else:
        checks.append(Check.passed("roundtrip.arrival", title,
                                   f"all {len(matched)} spans arrived ({trip.polls} polls, {trip.waited_s:.1f} s)"))
    if not arrived:
        return checks

    # project
    projects = {s.project_id for _, s in arrived}
    title = "Spans are stored under the AgentOps project"
    if project_id and projects != {project_id}:
        checks.append(Check.failed("roundtrip.project", title,
                                   f"spans carry project id(s) {sorted(projects)}, the token's project is {project_id}",
                                   "the collector stamps agentops.project.id from the JWT: check the key the proxy "
                                   "uses (AGENTOPS_API_KEY) is this project's key",
                                   evidence={"projects": sorted(projects)}))
    elif "" in projects:
        checks.append(Check.failed("roundtrip.project", title, "some spans have no agentops.project.id",
                                   "the collector's resource processor must upsert agentops.project.id from the JWT"))
    else:
        checks.append(Check.passed("roundtrip.project", title, f"project {', '.join(sorted(projects))}"))

    # model
    title = "Spans name the requested model"
    wrong = []
    for r, s in arrived:
        names = {s.attributes.get(k, "") for k in ("gen_ai.request.model", "gen_ai.response.model",
                                                    "litellm.model_group")}
        if r.model not in names and not any(n.endswith("/" + r.model) for n in names):
            wrong.append({"call_id": r.call_id, "requested": r.model, "span": sorted(n for n in names if n)})
    checks.append(Check.failed("roundtrip.model", title, f"{len(wrong)} spans name another model", "",
                               evidence={"mismatches": wrong}) if wrong else
                  Check.passed("roundtrip.model", title, f"gen_ai.request.model matches ({model})"))

    # tokens under the names AgentOps reads
    title = "Token counts use the names the AgentOps API reads"
    ok_spans = [(r, s) for r, s in arrived if r.expected_ok]
    lacking, new_only = [], []
    for r, s in ok_spans:
        values = [_int_attr(s.attributes, n) for n in PROMPT_TOKEN_NAMES]
        if any(v is None or v <= 0 for v in values):
            lacking.append({"call_id": r.call_id, "kind": r.kind,
                            "token_attributes": sorted(k for k in s.attributes if k.startswith("gen_ai.usage."))})
            if any(n in s.attributes for n in NEW_TOKEN_NAMES):
                new_only.append(r.call_id)
    if not ok_spans:
        checks.append(Check.skipped("roundtrip.tokens", title, "no successful request's span arrived"))
    elif lacking:
        cause = (" They carry gen_ai.usage.input_tokens/output_tokens only, which AgentOps ignores: the dashboard "
                 "shows 0 tokens and 0 cost." if new_only else "")
        checks.append(Check.failed(
            "roundtrip.tokens", title,
            f"{len(lacking)} of {len(ok_spans)} spans lack gen_ai.usage.prompt_tokens/completion_tokens.{cause}",
            "export with the self-hosted handler (it writes both names), or copy the attributes in a collector "
            "transform processor", evidence={"spans": lacking, "new_names_only": new_only}))
    else:
        totals = [(_int_attr(s.attributes, PROMPT_TOKEN_NAMES[0]), _int_attr(s.attributes, PROMPT_TOKEN_NAMES[1]))
                  for _, s in ok_spans]
        checks.append(Check.passed("roundtrip.tokens", title,
                                   f"prompt/completion tokens present on all {len(ok_spans)} spans, e.g. {totals[0]}"))

    # status
    title = "Span status: failures are ERROR, successes are not"
    status_rows, bad_status, unset = [], [], 0
    for r, s in arrived:
        code = s.status_code.upper().replace("STATUS_CODE_", "")
        status_rows.append({"kind": r.kind, "call_id": r.call_id, "status": s.status_code})
        if r.expected_ok and code == "ERROR" or not r.expected_ok and code != "ERROR":
            bad_status.append(status_rows[-1])
        elif r.expected_ok and code != "OK":
            unset += 1
    failing_seen = sum(1 for r, _ in arrived if not r.expected_ok)
    if bad_status:
        checks.append(Check.failed("roundtrip.status", title, f"{len(bad_status)} spans have the wrong status",
                                   "the callback must run on failures too: use litellm_settings.callbacks "
                                   "(success_callback records successes only)", evidence={"spans": bad_status}))
    elif unset:
        checks.append(Check.warned("roundtrip.status", title,
                                   f"{unset} successful spans have status Unset, which AgentOps counts as "
                                   "indeterminate", "the self-hosted handler sets OK", evidence={"spans": status_rows}))
    else:
        note = f"{failing_seen} failing request(s) recorded as ERROR" if failing_seen else "no failing span arrived"
        checks.append(Check.passed("roundtrip.status", title, note, evidence={"spans": status_rows}))

    # cost
    title = "Cost is present or computable"
    costs = []
    no_cost = []
    for r, s in ok_spans:
        cost = s.attributes.get("gen_ai.usage.total_cost")
        if cost not in (None, ""):
            costs.append(float(cost))
        elif not all(_int_attr(s.attributes, n) for n in PROMPT_TOKEN_NAMES):
            no_cost.append(r.call_id)
    if not ok_spans:
        checks.append(Check.skipped("roundtrip.cost", title, "no successful request's span arrived"))
    elif no_cost:
        checks.append(Check.failed("roundtrip.cost", title,
                                   f"{len(no_cost)} spans have neither gen_ai.usage.total_cost nor prompt/completion "
                                   "tokens, so AgentOps shows cost 0", "see roundtrip.tokens",
                                   evidence={"call_ids": no_cost}))
    elif costs:
        checks.append(Check.passed("roundtrip.cost", title,
                                   f"gen_ai.usage.total_cost on {len(costs)} spans (total {sum(costs):.6f} USD)"))
    else:
        checks.append(Check.passed("roundtrip.cost", title,
                                   "no total_cost attribute; AgentOps computes it from prompt/completion tokens "
                                   "and its model price table"))

    # latency
    latencies = [s.first_seen_at - r.finished_at for r, s in arrived]
    checks.append(Check.passed(
        "roundtrip.latency", "Arrival latency (request answered -> span visible in the store)",
        f"median {statistics.median(latencies):.2f} s, max {max(latencies):.2f} s over {len(latencies)} spans",
        evidence={"latency_s": [round(x, 3) for x in latencies]}))
    return checks


# ------------------------------------------------------------------------------------------------
# 5. Diagnosis
# ------------------------------------------------------------------------------------------------


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
            response = client.post(exporter_url, content=b"", headers=headers)
        out["status_code"] = response.status_code
        err = collector_status_error(response.status_code, exporter_url) if token is not None else None
        if err is not None:
            out["explained"] = err.message
    except Exception as exc:  # transport failures: described, not raised
        err = transport_error(exc, exporter_url, service="collector", timeout_s=timeout_s)
        out["unreachable"] = err.message
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
) -> list[Check]:
    """Why spans are missing or incomplete, from evidence; a single passed check when nothing is wrong."""
    missing = trip.missing
    token_check = next((c for c in verification if c.id == "roundtrip.tokens"), None)
    snippet = render_wiring_snippet(agentops_api_url or "http://agentops-api:8000")
    findings: list[Check] = []
    if not missing and (token_check is None or token_check.ok):
        return [Check.passed("diagnosis", "Diagnosis", "nothing to diagnose: every span arrived complete")]

    status = pre.handler_status
    if litellm_url and litellm_master_key and pre.logger_kind == "selfhosted":
        try:  # fresh delivery status, after the exporter had its go at these spans
            with LiteLLMClient(litellm_url, litellm_master_key) as proxy:
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
            findings += _diagnose_handler(status, evidence, agentops_api_url, agentops_api_key, trip)
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
                      api_key: str | SecretRef | None, trip: RoundTrip) -> list[Check]:
    problem = str(status.get("last_problem") or "")
    kind = problem.split(":", 1)[0]
    problem_after_send = (status.get("last_problem_at") or 0) >= min(r.started_at for r in trip.requests) - 1
    exporter = status.get("exporter")
    if exporter and kind in ("rejected_401", "unreachable", "http_401", ""):
        evidence["collector_probe"] = _probe_collector(str(exporter), api_url, api_key)
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
            "a 500 from /v3/auth/token is schema drift in most cases: run 10_migration; a 403 means the proxy's "
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


# ------------------------------------------------------------------------------------------------
# All steps
# ------------------------------------------------------------------------------------------------


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
    """Preflight, requests, polling, verification and diagnosis in one call (the notebook's steps)."""
    pre = preflight(litellm_url, litellm_master_key, model, agentops_api_url=agentops_api_url,
                    agentops_api_key=agentops_api_key, store=store)
    checks = list(pre.checks)
    if not pre.proxy_ok:
        return Verification(pre, None, checks)
    run_id, sent = send_requests(litellm_url, litellm_master_key, model, per_kind=requests_per_kind,
                                 failing_model=pre.failing_model)
    checks.append(requests_check(sent))
    trip = wait_for_spans(store, sent, run_id=run_id, deadline_s=deadline_s)
    verified = verify_spans(trip, model=model, project_id=pre.project_id)
    checks += verified
    checks += diagnose(pre, trip, litellm_url=litellm_url, litellm_master_key=litellm_master_key,
                       agentops_api_url=agentops_api_url, agentops_api_key=agentops_api_key, verification=verified)
    return Verification(pre, trip, [_redacted(c) for c in checks])


def _redacted(check: Check) -> Check:
    return Check.from_dict(check.to_dict()) if redact(check.summary) != check.summary else check
