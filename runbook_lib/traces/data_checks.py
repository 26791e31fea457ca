"""Judging the window's data: empty window, token names the dashboard ignores, models without a price,
free-plan truncation, exact percentiles. Each check reads computed tables, never the store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ..checks import Check, Severity
from .scan import FREE_PLAN_VISIBLE_DAYS
from .scan_sql import QUANTILES
from .shaping import IGNORED_TOKEN_ATTRIBUTES
from .tables import Table
from .window import TraceFilters

__all__ = ["NO_SPANS", "data_checks", "exact_percentiles_check", "headline_check", "plan_check", "prices_check",
           "token_names_check", "window_check", "window_spans"]

#: Why a check that judges spans is skipped over an empty window (never a pass with nothing judged).
NO_SPANS = "no spans in the window: nothing to judge"


def window_spans(coverage: pd.DataFrame) -> int:
    """The number of spans the window holds (the coverage table's one row)."""
    return int(coverage.iloc[0]["spans"]) if len(coverage) else 0


def window_check(coverage: pd.DataFrame, filters: TraceFilters) -> Check:
    """Warn when the window holds no span."""
    spans = window_spans(coverage)
    if spans == 0:
        return Check.warned(
            "traces.window.empty", "Spans in the window", f"no spans in {filters.describe()}",
            remedy="widen start/end, check project_id and the other filters, or check that the collector writes "
                   "to this store (notebook 20_callback_verification)",
            evidence={"window": filters.describe()})
    return Check.passed("traces.window.empty", "Spans in the window",
                        f"{spans:,} spans in {int(coverage.iloc[0]['traces']):,} traces",
                        evidence={"spans": spans, "traces": int(coverage.iloc[0]["traces"])})


def token_names_check(tokens: pd.DataFrame, figures: pd.DataFrame, *, spans: int) -> Check:
    """Warn when LLM spans carry token counts only under names the dashboard ignores; skip when the window
    (``spans``) holds no LLM span to judge."""
    cid, title = "traces.tokens.ignored_names", "Token attributes the dashboard reads"
    if not spans or tokens.empty:
        return Check.skipped(cid, title, NO_SPANS if not spans else "no LLM spans in the window: nothing to judge")
    new_only = int(figures.iloc[0]["new_names_only_spans"]) if len(figures) else 0
    if not new_only:
        return Check.passed(cid, title, "token counts use the names the dashboard reads")
    affected = tokens[tokens["spans_input_output_names_only"] > 0]
    by_model = affected.groupby("model")["spans_input_output_names_only"].sum().sort_values(ascending=False)
    only = sorted(set(tokens.loc[tokens["token_names"] == "input/output only", "model"]))
    return Check.warned(
        "traces.tokens.ignored_names", "Token attributes the dashboard reads",
        f"{new_only:,} LLM spans carry token counts only as {' / '.join(IGNORED_TOKEN_ATTRIBUTES)}, which "
        f"the AgentOps dashboard ignores (it shows 0 tokens and 0 computed cost for them)"
        + (f"; models using only those names: {', '.join(only)}" if only else ""),
        remedy="make the instrumentation also emit gen_ai.usage.prompt_tokens / completion_tokens (or map "
               "them in the collector's transform processor); this report already counts both names",
        evidence={"spans": new_only, "by_model": {str(k): int(v) for k, v in by_model.items()}})


def prices_check(unpriced: pd.DataFrame, *, spans: int) -> Check:
    """Warn (minor) when LLM spans with usage have neither a stored cost nor a price; skip when the window
    (``spans``) is empty."""
    if not spans:
        return Check.skipped("traces.cost.unknown_prices", "Prices for every model", NO_SPANS)
    if not len(unpriced):
        return Check.passed("traces.cost.unknown_prices", "Prices for every model",
                            "every LLM span with usage has a stored cost or a price")
    models = {str(m): int(n) for m, n in zip(unpriced["model"], unpriced["spans"], strict=True)}
    return Check.warned(
        "traces.cost.unknown_prices", "Prices for every model",
        f"{sum(models.values()):,} LLM spans with usage have no stored cost and no price: "
        f"{', '.join(models)}; their cost is missing from every cost figure",
        remedy="add these models to the price_table parameter (USD per 1M input/output tokens)",
        severity=Severity.MINOR, evidence={"unpriced_spans_by_model": models})


def plan_check(prem_status: str | None, filters: TraceFilters, figures: pd.DataFrame, now: dt.datetime, *,
               spans: int) -> Check:
    """Warn when the org's free plan hides part of the window on the dashboard (skip: nothing in the window)."""
    cid, title = "traces.dashboard.plan_truncation", "Dashboard plan limits"
    if not prem_status:
        return Check.skipped(cid, title, "org plan unknown: pass prem_status (orgs.prem_status, or "
                                         "project_prem_status from POST /v3/auth/token) to check it")
    if prem_status.strip().lower() != "free":
        return Check.passed(cid, title, f"org plan {prem_status!r}: the dashboard shows the whole window")
    if not spans:
        return Check.skipped(cid, title, NO_SPANS)
    cutoff = now - dt.timedelta(days=FREE_PLAN_VISIBLE_DAYS)
    older = int(figures.iloc[0]["traces_older_3d"]) if len(figures) else 0
    hidden = max(older - 3, 0)
    if filters.start >= cutoff and older == 0:
        return Check.passed(cid, title, "free plan, but the window lies within the last 3 days the "
                                        "dashboard shows")
    return Check.warned(
        cid, title,
        f"the org is on the free plan: the dashboard hides traces older than {FREE_PLAN_VISIBLE_DAYS} days "
        f"except the 3 newest (about {hidden:,} of {older:,} traces in this window), blanks span attributes "
        "and clamps metrics to 30 days, so its figures will not match these",
        remedy="in the self-hosted database set orgs.prem_status = 'enterprise' for the org "
               "(UPDATE orgs SET prem_status = 'enterprise' WHERE id = ...), or compare a window within the "
               "last 3 days",
        evidence={"traces_older_than_3_days": older, "cutoff_utc": cutoff.isoformat()})


#: The headline summary, in reading order: a template per figure, the figure formatted by its column kind.
_HEADLINE_SUMMARY = (("traces", "{} traces"), ("spans", "{} spans"), ("llm_error_rate", "LLM error rate {}"),
                     ("llm_p50_ms", "LLM p50 {} ms"), ("llm_p95_ms", "LLM p95 {} ms"),
                     ("trace_p50_ms", "trace p50 {} ms"), ("trace_p95_ms", "trace p95 {} ms"),
                     ("total_tokens", "{} tokens"), ("cost_usd", "cost {}"))


def headline_check(headline: Table) -> Check:
    """The window's headline figures as a passed statement: the summary formatted by column kind, the evidence
    the figures as numbers (missing ones left out), so ``runbook report diff`` sets two runs' headlines side
    by side."""
    from ..display import format_value

    row = headline.frame.iloc[0]
    kinds = dict(headline.formats or {})
    figures = {str(k): (int(v) if kinds.get(str(k)) == "count" else float(v))
               for k, v in row.items() if pd.notna(v)}
    parts = [template.format(format_value(row[key], kinds.get(key, "number")))
             for key, template in _HEADLINE_SUMMARY if key in figures]
    return Check.passed("traces.headline", "Headline figures of the window", ", ".join(parts),
                        severity=Severity.MINOR, evidence=figures)


def exact_percentiles_check(*, spans: int) -> Check:
    """A statement, as a passed check: the percentiles are exact (no sampling, no approximation); skipped
    when the window holds no span (no percentile was computed)."""
    if not spans:
        return Check.skipped("traces.percentiles.exact", "Percentiles are exact",
                             "no spans in the window: no percentile was computed")
    return Check.passed(
        "traces.percentiles.exact", "Percentiles are exact",
        f"latency percentiles {', '.join(f'p{int(q * 100)}' for q in QUANTILES)} use quantilesExact over "
        "every span in the window (no sampling, no approximation)", severity=Severity.MINOR)


def data_checks(tables: Mapping[str, Table], figures: pd.DataFrame, *, filters: TraceFilters,
                prem_status: str | None, now: dt.datetime) -> list[Check]:
    """Every data check over computed tables: empty window, ignored token names, unknown prices, plan."""
    frames: dict[str, Any] = {k: t.frame for k, t in tables.items()}
    spans = window_spans(frames["coverage"])
    return [window_check(frames["coverage"], filters), token_names_check(frames["tokens"], figures, spans=spans),
            prices_check(frames["unpriced"], spans=spans),
            plan_check(prem_status, filters, figures, now, spans=spans)]
