"""The round trip's last hop: read a stored trace back the way the dashboard does, and say what it shows.

With a dashboard session the trace comes from ``GET /v4/traces/detail/{trace_id}`` (what the Traces tab
opens); without one from the public API with the project's bearer token: ``GET /public/v1/traces/{id}``,
its ``/metrics`` and ``GET /public/v1/spans/{span_id}`` for the spans' attributes.

:func:`readback_checks` verifies the dashboard will show the trace's model, its tokens and a non-zero
cost. When the cost would be 0 it names the failing link, using the store when given:

- **no cost attributes**: the LLM span carries no ``gen_ai.usage.*_cost`` (the collector or SDK did not
  price it), so every view falls back to a price lookup;
- **no price for the response model**: the trace detail and the public API price with the API process's
  own table (``tokencost``), the trace list and project metrics with the store's ``model_costs_dict``
  (readiness shows which model strings lack a row);
- **store objects missing**: without the cost functions and the dictionary the trace list and project
  metrics answer 500 (the detail view still works).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from ..checks import Check, Severity
from ..commands import repair_store_command
from ..errors import ServiceError
from ..http import make_client, request
from ..secrets import SecretRef, redact_and_cut_known, remember_secret

__all__ = ["Readback", "ReadbackSpan", "public_bearer", "read_back_trace", "readback_checks", "readback_section"]

_COST_KEYS = ("gen_ai.usage.total_cost", "gen_ai.usage.prompt_cost", "gen_ai.usage.completion_cost")


@dataclass(frozen=True)
class ReadbackSpan:
    """One LLM span as the dashboard received it."""

    span_id: str
    request_model: str
    response_model: str
    prompt_tokens: int
    completion_tokens: int
    cost_attributes: tuple[str, ...]
    total_cost: Decimal | None


@dataclass
class Readback:
    """What the dashboard's routes answered for one trace."""

    trace_id: str
    route: str  # "v4 detail" | "public"
    found: bool
    status_code: int
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_cost: Decimal = Decimal(0)
    shown_cost: str = ""
    spans: list[ReadbackSpan] = field(default_factory=list)

    @property
    def model(self) -> str:
        """The model the dashboard prices by (response model, else request model) of the first LLM span."""
        for span in self.spans:
            if span.response_model or span.request_model:
                return span.response_model or span.request_model
        return ""


def _attr(attributes: Mapping[str, Any], dotted: str) -> Any:
    """An attribute from the API's nested form (``{"gen_ai": {"usage": {...}}}``) or a flat key."""
    if dotted in attributes:
        return attributes[dotted]
    node: Any = attributes
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _dec(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _span(span_id: str, attributes: Mapping[str, Any]) -> ReadbackSpan | None:
    request = str(_attr(attributes, "gen_ai.request.model") or "")
    response = str(_attr(attributes, "gen_ai.response.model") or "")
    pt, ct = _int(_attr(attributes, "gen_ai.usage.prompt_tokens")), _int(_attr(attributes,
                                                                              "gen_ai.usage.completion_tokens"))
    if not (request or response or pt or ct):
        return None
    costs = tuple(k for k in _COST_KEYS if _attr(attributes, k) not in (None, ""))
    return ReadbackSpan(span_id, request, response, pt, ct, costs, _dec(_attr(attributes, "gen_ai.usage.total_cost")))


_SERVICE = "AgentOps API"


def public_bearer(api_url: str, api_key: str | SecretRef, *, timeout_s: float = 10.0) -> str:
    """The project's bearer token from ``POST /public/v1/auth/access_token`` (``api_key`` is a secret reference)."""
    key = SecretRef.parse(api_key, name="agentops_api_key").resolve()
    with make_client(api_url.rstrip("/"), timeout_s=timeout_s) as client:
        response = request(client, "POST", "/public/v1/auth/access_token", service=_SERVICE, json={"api_key": key})
    if response.status_code != 200 or "bearer" not in response.text:
        raise ServiceError(f"POST /public/v1/auth/access_token answered HTTP {response.status_code}",
                           hint="check the project API key the reference points at",
                           status_code=response.status_code)
    bearer = str(response.json()["bearer"])
    remember_secret(bearer)
    return bearer


def _get(client: httpx.Client, path: str) -> httpx.Response:
    """GET within the client's total deadline (transport failures raise ServiceError naming the cause)."""
    return request(client, "GET", path, service=_SERVICE)


def _refused(response: httpx.Response, path: str) -> ServiceError:
    return ServiceError(f"GET {path} answered HTTP {response.status_code}: {redact_and_cut_known(response.text, 200)}",
                        hint="401/403: the session or bearer expired; 500: the store may lack the dashboard's "
                             "objects (run the store readiness checks)", status_code=response.status_code)


def read_back_trace(api_url: str, trace_id: str, *, session: Any = None, bearer: str | None = None,
                    timeout_s: float = 30.0) -> Readback:
    """Read ``trace_id`` back: ``/v4/traces/detail`` with ``session`` (a ``DashboardSession``), else the public
    routes with ``bearer``. A 404 gives ``found=False``; any other failure raises :class:`ServiceError`."""
    if session is None and not bearer:
        raise ServiceError("no way to read the trace back", hint="pass a dashboard session or the project's bearer")
    headers = ({"Cookie": f"session_id={session.cookie}"} if session is not None
               else {"Authorization": f"Bearer {bearer}"})
    with make_client(api_url.rstrip("/"), headers=headers, timeout_s=timeout_s) as client:
        if session is not None:
            path = f"/v4/traces/detail/{trace_id}"
            response = _get(client, path)
            if response.status_code == 404:
                return Readback(trace_id, "v4 detail", False, 404)
            if response.status_code != 200:
                raise _refused(response, path)
            body = response.json()
            spans = [s for s in (_span(str(item.get("span_id", "")), item.get("span_attributes") or {})
                                 for item in body.get("spans", [])) if s]
            metrics = body.get("metrics") or {}
            route = "v4 detail"
        else:
            path = f"/public/v1/traces/{trace_id}"
            response = _get(client, path)
            if response.status_code == 404:
                return Readback(trace_id, "public", False, 404)
            if response.status_code != 200:
                raise _refused(response, path)
            spans = []
            for item in response.json().get("spans", []):
                span_path = f"/public/v1/spans/{item.get('span_id')}"
                detail = _get(client, span_path)
                if detail.status_code != 200:
                    raise _refused(detail, span_path)
                found = _span(str(item.get("span_id", "")), detail.json().get("span_attributes") or {})
                if found:
                    spans.append(found)
            metrics_path = f"/public/v1/traces/{trace_id}/metrics"
            metrics_response = _get(client, metrics_path)
            if metrics_response.status_code != 200:
                raise _refused(metrics_response, metrics_path)
            metrics = metrics_response.json()
            route = "public"
    return Readback(trace_id, route, True, 200, _int(metrics.get("prompt_tokens")),
                    _int(metrics.get("completion_tokens")), _dec(metrics.get("total_cost")) or Decimal(0),
                    str(metrics.get("total_cost", "")), spans)


def _list_view_check(readback: Readback, found: Any, list_cost: Decimal | None) -> Check:
    """Will the trace list and project metrics (priced by the store's dictionary) show a cost for its spans?"""
    title = "cost in the trace list and project metrics"
    if found.missing:
        return Check.failed("dashboard.list_cost", title, "store objects missing: " + ", ".join(found.missing)
                            + ": the trace list and project metrics answer 500",
                            remedy=repair_store_command())
    unpriced = {m.model for m in found.unpriced}
    bare = [s for s in readback.spans if not s.cost_attributes and (s.response_model or s.request_model) in unpriced]
    if bare:
        models = sorted({s.response_model or s.request_model for s in bare})
        return Check.warned("dashboard.list_cost", title,
                            f"no price row for {', '.join(models)} in the store's model_costs_dict: "
                            f"{len(bare)} span(s) of this trace show cost 0 there (the detail view prices them itself)",
                            remedy=repair_store_command(),
                            evidence={"models": models})
    shown = f" (USD {float(list_cost):.7f})" if list_cost is not None else ""
    return Check.passed("dashboard.list_cost", title, f"every LLM span carries a cost or has a price row{shown}")


def readback_checks(readback: Readback, *, store_readiness: Any = None, price_book: Any = None,
                    list_cost: Decimal | None = None) -> list[Check]:
    """Checks that the dashboard shows the trace's model, tokens and a non-zero cost; when the cost is 0,
    which link fails. ``store_readiness`` (a :class:`~runbook_lib.traces.readiness.StoreReadiness`) and
    ``price_book`` (a :class:`~runbook_lib.traces.prices.PriceBook`) sharpen the diagnosis; ``list_cost``
    (:func:`~runbook_lib.traces.dashboard_views.trace_list_cost`) is what the trace list shows for the trace:
    when only one of the two views shows 0 the cost check warns, naming it."""
    title = f"trace {readback.trace_id} as the dashboard shows it ({readback.route})"
    if not readback.found:
        return [Check.failed("dashboard.trace", title, "the API does not find the trace (404)",
                             remedy="wait for the collector to flush and read it again; check the span reached "
                                    "otel_2.otel_traces with the right agentops.project.id",
                             severity=Severity.CRITICAL)]
    evidence = {"route": readback.route, "model": readback.model, "prompt_tokens": readback.prompt_tokens,
                "completion_tokens": readback.completion_tokens, "total_cost": readback.shown_cost,
                "llm_spans": len(readback.spans)}
    checks = []
    if readback.model:
        checks.append(Check.passed("dashboard.model", "model shown", f"model {readback.model}", evidence=evidence))
    else:
        checks.append(Check.failed("dashboard.model", "model shown", "no LLM span with a model in the trace",
                                   remedy="check the callback sets gen_ai.request.model / gen_ai.response.model",
                                   evidence=evidence))
    tokens = readback.prompt_tokens + readback.completion_tokens
    if tokens:
        checks.append(Check.passed("dashboard.tokens", "tokens shown", f"{readback.prompt_tokens} prompt + "
                                   f"{readback.completion_tokens} completion tokens", evidence=evidence))
    else:
        checks.append(Check.failed("dashboard.tokens", "tokens shown", "the dashboard shows 0 tokens",
                                   remedy="check the callback sets gen_ai.usage.prompt_tokens / completion_tokens",
                                   evidence=evidence))
    if store_readiness is not None:
        checks.append(_list_view_check(readback, store_readiness, list_cost))
    if list_cost is not None:
        evidence["trace_list_cost"] = f"{float(list_cost):.7f}"
    if readback.total_cost > 0:
        checks.append(Check.passed("dashboard.cost", "cost shown", f"USD {readback.shown_cost}", evidence=evidence))
        return checks
    links = []
    bare = [s for s in readback.spans if not s.cost_attributes]
    if bare or not readback.spans:
        links.append(f"no cost attributes: {len(bare)} of {len(readback.spans)} LLM span(s) carry no "
                     "gen_ai.usage.*_cost, so the dashboard looks the price up")
    model = readback.model
    if model and price_book is not None and price_book.price_for(model) is None:
        links.append(f"no price for the response model {model!r} in {price_book.source.label} (the detail view "
                     "prices with the API's tokencost table)")
    if store_readiness is not None:
        if store_readiness.missing:
            links.append("store objects missing: " + ", ".join(store_readiness.missing)
                         + " (the trace list and project metrics answer 500)")
        unpriced = {m.model for m in store_readiness.unpriced}
        if model and model in unpriced:
            links.append(f"no price row for {model!r} in the store's model_costs_dict (the trace list and "
                         "project metrics show 0 for it)")
    summary = "the dashboard shows cost 0: " + ("; ".join(links) if links else "no failing link found")
    if list_cost is not None and list_cost > 0:
        checks.append(Check.warned("dashboard.cost", "cost shown",
                                   "the trace detail shows cost 0 but the trace list shows "
                                   f"USD {float(list_cost):.7f}: "
                                   + ("; ".join(links) if links else "the API's own price table lacks the model"),
                                   remedy="make the collector write the spans' cost attributes (the detail view "
                                          "prices with the API's tokencost table otherwise)",
                                   evidence={**evidence, "links": links}))
        return checks
    checks.append(Check.failed("dashboard.cost", "cost shown", summary, evidence={**evidence, "links": links},
                               remedy=f"repair the store's prices ({repair_store_command()}) and make the collector "
                                      "price spans (its cost attributes), then read back again"))
    return checks


def readback_section(api_url: str | None, trace_id: str | None, *, api_key: str | SecretRef | None = None,
                     session: Any = None, store: Any = None, days: float = 1.0, timeout_s: float = 30.0) -> Any:
    """The 20_callback_verification section: read ``trace_id`` back (session, else the public routes with a
    bearer for ``api_key``) and check what the dashboard shows, diagnosed against ``store`` when given."""
    from ..errors import RunbookError
    from ..runbook import Section
    from ..traces import dashboard_views, prices, readiness

    title = "the trace as the dashboard shows it"
    if not api_url or not trace_id:
        why = "no AgentOps API URL" if not api_url else "no span of this run arrived"
        return Section([Check.skipped("dashboard.trace", title, f"{why}: nothing to read back")])
    try:
        bearer = (None if session is not None
                  else (public_bearer(api_url, api_key, timeout_s=timeout_s) if api_key else None))
        back = read_back_trace(api_url, trace_id, session=session, bearer=bearer, timeout_s=timeout_s)
        found = readiness.inspect_store(store, days=days) if store is not None else None
        list_cost = dashboard_views.trace_list_cost(store, trace_id) if store is not None else None
        book = prices.price_book()
    except RunbookError as exc:
        return Section([Check.from_error("dashboard.trace", title, exc)])
    checks = readback_checks(back, store_readiness=found, price_book=book, list_cost=list_cost)
    section = Section(checks).checks_here()
    if back.spans:
        import pandas as pd

        section.table(pd.DataFrame([{"span": s.span_id, "request model": s.request_model,
                                     "response model": s.response_model, "prompt tokens": s.prompt_tokens,
                                     "completion tokens": s.completion_tokens,
                                     "cost attributes": ", ".join(a.rsplit(".", 1)[1] for a in s.cost_attributes)}
                                    for s in back.spans]),
                      title=f"LLM spans of trace {trace_id} ({back.route})")
    return section
