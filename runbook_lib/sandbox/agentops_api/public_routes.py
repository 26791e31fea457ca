"""The public read API (``/public/v1``, project Bearer token), as upstream's ``agentops/public/v1``.

A missing or malformed ``Authorization`` header answers 400 ``Missing or invalid Authorization
header``, a bad token 400 ``Invalid Bearer token``; a trace or span of another project answers 404
like a missing one (``Trace not found`` / ``Span not found``).

- ``GET /public/v1/project`` -> ``{id, name, environment}``;
- ``GET /public/v1/traces/{id}`` -> ``{trace_id, project_id, tags, spans}``: spans in storage order
  (no ORDER BY) and tags from the first stored span, so a trace stored in two batches can come back
  child-first with ``tags: []``;
- ``GET /public/v1/traces/{id}/metrics`` -> trace metrics over its spans;
- ``GET /public/v1/spans/{id}`` -> the span with nested attributes; ``/metrics`` -> its span metrics.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, HTTPException, Request

from .api_tokens import TokenRules
from .figures import TokenPrices, Totals, span_row
from .projects import ProjectStore
from .span_views import public_span, span_summary, tag_list
from .store_queries import TraceStore

__all__ = ["public_router"]


def public_router(projects: ProjectStore, store: TraceStore, tokens: TokenRules, prices: TokenPrices) -> APIRouter:
    router = APIRouter(prefix="/public/v1")

    def trace_of(request: Request, trace_id: str) -> list[dict[str, Any]]:
        claims = tokens.public_claims(request)
        spans = store.trace_spans(trace_id)
        if not spans:
            raise HTTPException(status_code=404, detail="Trace not found")
        project_ids = {s["project_id"] for s in spans}
        if len(project_ids) != 1:
            raise AssertionError("All spans in a trace are expected to have the same project_id")
        if project_ids.pop() != str(claims["project_id"]):
            raise HTTPException(status_code=404, detail="Trace not found")
        return spans

    def span_of(request: Request, span_id: str) -> Mapping[str, Any]:
        claims = tokens.public_claims(request)
        spans = store.spans_by_id(span_id)
        if not spans:
            raise HTTPException(status_code=404, detail="Span not found")
        if spans[0]["project_id"] != str(claims["project_id"]):
            raise HTTPException(status_code=404, detail="Span not found")
        return spans[0]

    @router.get("/project")
    def project_view(request: Request) -> Any:
        claims = tokens.public_claims(request)
        project = projects.by_id(str(claims["project_id"]))
        if project is None:
            raise HTTPException(status_code=404, detail="Project not found")
        return {"id": project.id, "name": project.name, "environment": project.environment}

    @router.get("/traces/{trace_id}")
    def trace_view(trace_id: str, request: Request) -> Any:
        spans = trace_of(request, trace_id)
        return {"trace_id": trace_id, "project_id": spans[0]["project_id"], "tags": tag_list(spans[0]["tags"]),
                "spans": [span_summary(s) for s in spans]}

    @router.get("/traces/{trace_id}/metrics")
    def trace_metrics(trace_id: str, request: Request) -> Any:
        spans = trace_of(request, trace_id)
        return Totals([span_row(s, prices) for s in spans]).metrics()

    @router.get("/spans/{span_id}")
    def span_view(span_id: str, request: Request) -> Any:
        return public_span(span_of(request, span_id))

    @router.get("/spans/{span_id}/metrics")
    def span_metrics(span_id: str, request: Request) -> Any:
        return span_row(span_of(request, span_id), prices).metrics()

    return router
