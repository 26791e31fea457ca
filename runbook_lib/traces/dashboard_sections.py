"""Runbook sections for what the dashboard really shows: store readiness, store repair, reconciliation.

Each builder computes and returns a :class:`~runbook_lib.runbook.Section` (checks plus tables, code and
notes); none displays. The runbooks' section methods call them: ``00_setup`` and ``30_trace_analytics``
(readiness and repair), ``30_trace_analytics`` (reconciliation with the dashboard's own figures).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..checks import Check, Severity, Status, found_then_repaired
from ..errors import RunbookError
from ..runbook import Section
from . import dashboard_views as views
from . import readiness, store_repair
from .data_checks import NO_SPANS

__all__ = ["reconciliation_section", "store_readiness_section", "store_repair_section"]


def store_readiness_section(store: Any, *, start: dt.datetime | None = None, end: dt.datetime | None = None,
                            days: float = 7.0, project_id: str | None = None, repair_follows: bool = False) -> Section:
    """The readiness checks and the model strings the dashboard prices, with their price rows.

    ``repair_follows`` (the store repair runs next, applying): the gaps are a table of findings, and the
    repair section carries the readiness checks of the store as the run leaves it (gaps it closed read
    "found, then repaired"), as 10_migration reports the drift it repairs.
    """
    found = readiness.inspect_store(store, start=start, end=end, days=days, project_id=project_id)
    result = Section()
    if repair_follows:
        gaps = [c for c in found.checks if c.status is not Status.PASS]
        if gaps:
            result.table(pd.DataFrame([{"check": c.id, "found": c.summary} for c in gaps]),
                         title="Findings before the repair")
        result.note("_This run repairs the store (`repair_store` is true): these findings are checked again "
                    "after the repair (next section)._")
    else:
        result.add(*found.checks)
    if found.coverage:
        frame = pd.DataFrame([{
            "model": m.model, "dictionary key": m.key, "spans": m.spans, "prompt tokens": m.prompt_tokens,
            "completion tokens": m.completion_tokens, "spans without cost": m.spans_without_cost,
            "priced": m.priced, "prompt USD/1k": m.prompt_cost_per_1k if m.priced else None,
            "completion USD/1k": m.completion_cost_per_1k if m.priced else None,
        } for m in found.coverage])
        start_, end_ = found.window
        result.table(frame, title="Model strings the dashboard prices",
                     caption=f"{start_:%Y-%m-%d %H:%M} – {end_:%Y-%m-%d %H:%M} UTC; response model, else request "
                             "model, through normalize_model_name",
                     formats={"prompt USD/1k": "number", "completion USD/1k": "number"})
    if found.missing:
        result.note("Missing for the dashboard: " + ", ".join(f"`{m}`" for m in found.missing)
                    + ". The Traces tab and project metrics answer 500 until they exist.")
    return result


def store_repair_section(store: Any, agentops_src: str | Path | None, *, apply: bool = False,
                         start: dt.datetime | None = None, end: dt.datetime | None = None, days: float = 7.0,
                         project_id: str | None = None, user_prices: Mapping[str, Any] | None = None) -> Section:
    """The store repair (dry run unless ``apply``): its checks, every statement, the prices and their source."""
    result = store_repair.repair_store(store, agentops_src, apply=apply, start=start, end=end, days=days,
                                       project_id=project_id, user_prices=user_prices)
    section = Section().add(*result.checks)
    if apply:
        section.add(*_state_left(result))
    if result.plan is None:
        return section
    section.note(f"Prices from **{result.plan.source} {result.plan.source_version}**"
                 + (" and your table (it wins)" if user_prices else "")
                 + (f"; objects from the checkout `{result.plan.checkout}`." if result.plan.checkout else "."))
    if result.plan.price_matches:
        section.table(pd.DataFrame([{"model": m.model, "key": row.model, "matched": m.key, "rule": m.rule,
                                     "prompt USD/1k": m.prompt_cost_per_1k,
                                     "completion USD/1k": m.completion_cost_per_1k, "source": m.source}
                                    for row, m in zip(result.plan.price_rows, result.plan.price_matches,
                                                      strict=True)]),
                      title="Price rows " + ("inserted" if result.changed else "to insert"),
                      formats={"prompt USD/1k": "number", "completion USD/1k": "number"})
    if result.sql:
        section.code(result.sql, "sql", title="Statements run" if result.changed else "Statements (dry run)")
    if result.plan.skipped:
        section.note("Left as they are: " + "; ".join(result.plan.skipped))
    return section


def _state_left(result: store_repair.StoreRepairResult) -> list[Check]:
    """The readiness checks of the store as an applying repair leaves it: gaps it closed read "found, then
    repaired"; a model no source prices is said once, by the repair's own check (with the remedy that helps)."""
    if result.before is None:
        return []
    before = {c.id: c for c in result.before.checks}
    said = {f"store.price.{m}" for m in (result.plan.no_price if result.plan else [])}
    left = []
    for check in (result.after or result.before).checks:
        if check.id in said:
            continue
        was = before.get(check.id)
        closed = was is not None and was.status in (Status.FAIL, Status.WARN) and check.status is Status.PASS
        left.append(found_then_repaired(was, warnings=True) if was is not None and closed else check)
    return left


def _api_values(figures: views.DashboardFigures | None) -> dict[str, tuple[Any, Any]]:
    if figures is None:
        return {}
    pm, tl = figures.project_metrics, figures.trace_list_metrics
    spans, tokens = pm.get("span_count", {}), pm.get("token_metrics", {})
    return {
        "traces": (pm.get("trace_count"), tl.get("trace_count")),
        "spans": (spans.get("total"), tl.get("span_count")),
        "success": (spans.get("success"), tl.get("success_count")),
        "fail": (spans.get("fail"), tl.get("fail_count")),
        "prompt tokens": (tokens.get("prompt_tokens"), tl.get("prompt_tokens")),
        "completion tokens": (tokens.get("completion_tokens"), tl.get("completion_tokens")),
        "total tokens": ((tokens.get("total_tokens") or {}).get("all"), tl.get("total_tokens")),
        "total cost (USD)": (tokens.get("total_cost"), tl.get("total_cost")),
    }


def _when(moment: dt.datetime | None) -> str:
    return "open" if moment is None else f"{moment:%Y-%m-%d %H:%M}"


def reconciliation_section(store: Any, project_id: str, *, start: dt.datetime | None = None,
                           end: dt.datetime | None = None, free_plan: bool = False,
                           session: views.DashboardSession | None = None, now: dt.datetime | None = None) -> Section:
    """Both dashboard views computed by upstream's rules, beside the API's own figures when ``session`` is
    given; each row says which rule each column uses and why the views differ."""
    section = Section()
    try:
        computed = views.compute_views(store, project_id, start=start, end=end, free_plan=free_plan, now=now)
    except RunbookError as exc:
        return section.add(Check.from_error("dashboard.views", "dashboard views (computed)", exc,
                                            severity=Severity.MAJOR))
    fetched: views.DashboardFigures | None = None
    if session is not None:
        try:
            fetched = views.fetch_dashboard_figures(session, project_id, start=start, end=end)
        except RunbookError as exc:
            section.add(Check.from_error("dashboard.fetch", "the dashboard's own figures", exc))
    api = _api_values(fetched)
    rows = []
    mismatches = []
    for row in computed.rows:
        record = {"figure": row.figure, "project metrics (rules)": row.project_metrics,
                  "trace list (rules)": row.trace_list}
        if fetched is not None:
            got_pm, got_tl = api.get(row.figure, (None, None))
            record["project metrics (API)"], record["trace list (API)"] = got_pm, got_tl
            for label, ours, theirs in (("project metrics", row.project_metrics, got_pm),
                                        ("trace list", row.trace_list, got_tl)):
                if theirs is not None and str(theirs) != str(ours):
                    mismatches.append(f"{row.figure} in the {label}: API {theirs}, rules {ours}")
        record.update({"project metrics rule": row.project_rule, "trace list rule": row.trace_list_rule,
                       "why they differ": "; ".join(row.why)})
        rows.append(record)
    frame = pd.DataFrame(rows)
    figures = [c for c in frame.columns if c.startswith(("project metrics (", "trace list ("))]
    section.table(frame, title="What the dashboard shows", formats=dict.fromkeys(figures, "exact"),
                  caption=f"project {project_id}; window {_when(start)} – {_when(end)} UTC; figures as the API "
                          "prints them (costs to its last digit)")
    cost = next(r for r in computed.rows if r.figure == "total cost (USD)")
    if fetched is not None and not mismatches:
        section.add(Check.passed("dashboard.reconciled", "dashboard figures reconciled",
                                 "the API's project metrics and trace list equal the figures computed by its rules"))
    elif fetched is not None:
        section.add(Check.failed("dashboard.reconciled", "dashboard figures reconciled",
                                 f"{len(mismatches)} figure(s) differ: " + "; ".join(mismatches),
                                 remedy="a cached answer (see the notes) or a store changed between the reads: "
                                        "read again after 5 minutes", evidence={"differences": mismatches}))
    spans = next(r for r in computed.rows if r.figure == "spans")
    if not spans.project_metrics and not spans.trace_list:
        section.add(Check.skipped("dashboard.cost_views", "the dashboard's two cost figures",
                                  NO_SPANS))
    elif cost.why:
        section.add(Check.warned("dashboard.cost_views", "the dashboard's two cost figures",
                                 f"project metrics {cost.project_metrics} vs trace list {cost.trace_list} USD: "
                                 + "; ".join(cost.why),
                                 remedy="repair the store's prices (store_repair) and make the collector write "
                                        "every cost attribute"))
    else:
        section.add(Check.passed("dashboard.cost_views", "the dashboard's two cost figures",
                                 f"both show USD {cost.trace_list}"))
    for note in computed.notes + views.cache_notes(computed, fetched, start=start, end=end):
        section.note(note)
    return section
