"""What notebook ``30_trace_analytics`` runs: open the store, compute every table, show each with its
definition, draw the plots, judge the data (checks) and export the summaries.

:class:`TraceReport` never raises for an expected failure (bad window, unreachable store, missing
dump): it records a failed check, and later sections say they were not computed.
"""

from __future__ import annotations

import datetime as dt
import html
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..checks import Check, Severity
from ..errors import RunbookError
from ..secrets import redact
from . import plots
from .analytics import IGNORED_TOKEN_ATTRIBUTES, QUANTILES, Table, TraceAnalytics, TraceFilters
from .pricing import PRICES_AS_OF
from .store import TraceStore, store_from_params

__all__ = ["FREE_PLAN_VISIBLE_DAYS", "TraceReport", "data_checks", "export_tables", "frame_html"]

#: On the free plan the dashboard hides traces older than this (except the 3 newest).
FREE_PLAN_VISIBLE_DAYS = 3

PLOTS = {
    "latency": ("LLM latency percentiles by model", ("llm_latency",)),
    "requests_errors": ("Requests and error rate over time", ("volume", "errors_over_time")),
    "cost": ("Cost by model per day", ("cost",)),
    "tokens": ("Token distribution", ("tokens",)),
    "spans_per_trace": ("Spans per trace", ("spans_per_trace",)),
}


def _fmt_value(col: str, v: Any) -> str:
    if v is None or (isinstance(v, float) and v != v) or v is pd.NaT:
        return "–"
    if isinstance(v, float):
        if col.endswith("_rate"):
            return f"{v:.2%}"
        if col.endswith("_usd") or "cost" in col or col in ("dashboard_rule", "ours", "difference"):
            return f"{v:,.6f}" if abs(v) < 1 else f"{v:,.4f}"
        if col.endswith("_ms"):
            return f"{v:,.1f}"
        return f"{v:,.4g}"
    if isinstance(v, (int,)) and not isinstance(v, bool):
        return f"{v:,}"
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    return str(v)


def frame_html(df: pd.DataFrame, max_rows: int = 60) -> str:
    """An HTML table with readable numbers and clickable ``*_url`` columns."""
    shown = df.head(max_rows)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    rows = []
    for rec in shown.itertuples(index=False):
        cells = []
        for col, v in zip(shown.columns, rec, strict=True):
            if str(col).endswith("_url") and isinstance(v, str) and v.startswith(("http://", "https://")):
                cells.append(f'<td><a href="{html.escape(v)}" target="_blank">open</a></td>')
            else:
                cells.append(f"<td>{html.escape(_fmt_value(str(col), _py(v)))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = f"<p><i>{len(df) - max_rows} more rows in the export</i></p>" if len(df) > max_rows else ""
    return (f'<table class="runbook-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
            f"</table>{more}")


def _py(v: Any) -> Any:
    if hasattr(v, "item") and not isinstance(v, (pd.Timestamp,)):
        try:
            return v.item()
        except (ValueError, AttributeError):
            return v
    return v


def _display(bundle: dict[str, str]) -> None:
    from IPython.display import display

    display({k: redact(v) for k, v in bundle.items()}, raw=True)


def data_checks(tables: Mapping[str, Table], figures: pd.DataFrame, *, filters: TraceFilters,
                prem_status: str | None, now: dt.datetime) -> list[Check]:
    """Judge the data: empty window, ignored token names, unknown prices, free-plan truncation."""
    checks: list[Check] = []
    cov = tables["coverage"].frame.iloc[0]
    spans = int(cov["spans"])
    if spans == 0:
        checks.append(Check.warned(
            "traces.window.empty", "Spans in the window",
            f"no spans in {filters.describe()}",
            remedy="widen start/end, check project_id and the other filters, or check that the collector writes "
                   "to this store (notebook 20_callback_verification)",
            evidence={"window": filters.describe()}))
    else:
        checks.append(Check.passed("traces.window.empty", "Spans in the window",
                                   f"{spans:,} spans in {int(cov['traces']):,} traces",
                                   evidence={"spans": spans, "traces": int(cov["traces"])}))
    fig = figures.iloc[0] if len(figures) else None
    new_only = int(fig["new_names_only_spans"]) if fig is not None else 0
    tokens = tables["tokens"].frame
    if new_only:
        affected = tokens[tokens["spans_input_output_names_only"] > 0]
        by_model = affected.groupby("model")["spans_input_output_names_only"].sum().sort_values(ascending=False)
        only = sorted(set(tokens.loc[tokens["token_names"] == "input/output only", "model"]))
        checks.append(Check.warned(
            "traces.tokens.ignored_names", "Token attributes the dashboard reads",
            f"{new_only:,} LLM spans carry token counts only as {' / '.join(IGNORED_TOKEN_ATTRIBUTES)}, which "
            f"the AgentOps dashboard ignores (it shows 0 tokens and 0 computed cost for them)"
            + (f"; models using only those names: {', '.join(only)}" if only else ""),
            remedy="make the instrumentation also emit gen_ai.usage.prompt_tokens / completion_tokens (or map "
                   "them in the collector's transform processor); this report already counts both names",
            evidence={"spans": new_only, "by_model": {str(k): int(v) for k, v in by_model.items()}}))
    else:
        checks.append(Check.passed("traces.tokens.ignored_names", "Token attributes the dashboard reads",
                                   "token counts use the names the dashboard reads"))
    unpriced = tables["unpriced"].frame
    if len(unpriced):
        models = {str(m): int(n) for m, n in zip(unpriced["model"], unpriced["spans"], strict=True)}
        checks.append(Check.warned(
            "traces.cost.unknown_prices", "Prices for every model",
            f"{sum(models.values()):,} LLM spans with usage have no stored cost and no price: "
            f"{', '.join(models)}; their cost is missing from every cost figure",
            remedy="add these models to the price_table parameter (USD per 1M input/output tokens)",
            severity=Severity.MINOR, evidence={"unpriced_spans_by_model": models}))
    else:
        checks.append(Check.passed("traces.cost.unknown_prices", "Prices for every model",
                                   "every LLM span with usage has a stored cost or a price"))
    checks.append(_plan_check(prem_status, filters, fig, now))
    return checks


def _plan_check(prem_status: str | None, filters: TraceFilters, fig: Any, now: dt.datetime) -> Check:
    cid, title = "traces.dashboard.plan_truncation", "Dashboard plan limits"
    if not prem_status:
        return Check.skipped(cid, title, "org plan unknown: pass prem_status (orgs.prem_status, or "
                                         "project_prem_status from POST /v3/auth/token) to check it")
    if prem_status.strip().lower() != "free":
        return Check.passed(cid, title, f"org plan {prem_status!r}: the dashboard shows the whole window")
    cutoff = now - dt.timedelta(days=FREE_PLAN_VISIBLE_DAYS)
    older = int(fig["traces_older_3d"]) if fig is not None else 0
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


def export_tables(tables: Mapping[str, Table], export_dir: str | Path) -> list[Path]:
    """Write every table to ``<export_dir>/<key>.csv`` and ``.parquet`` (Parquet needs pyarrow)."""
    out = Path(export_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    try:
        import pyarrow  # noqa: F401

        parquet = True
    except ImportError:
        parquet = False
    written = []
    for key, table in tables.items():
        df = table.frame
        csv_path = out / f"{key}.csv"
        df.to_csv(csv_path, index=False)
        written.append(csv_path)
        if parquet:
            pq_path = out / f"{key}.parquet"
            df.to_parquet(pq_path, index=False)
            written.append(pq_path)
    return written


class TraceReport:
    """The notebook's state: filters, store, computed tables and checks."""

    def __init__(self, store: TraceStore | None, filters: TraceFilters | None, *, top_n: int = 10,
                 price_table: Mapping[str, Any] | None = None, app_url: str | None = None,
                 prem_status: str | None = None, now: dt.datetime | None = None,
                 setup_checks: Sequence[Check] = ()) -> None:
        self.store = store
        self.filters = filters
        self.top_n = int(top_n)
        self.prem_status = prem_status
        self.now = now or dt.datetime.now(dt.timezone.utc)
        self.checks: list[Check] = list(setup_checks)
        self.tables: dict[str, Table] = {}
        self.figures: pd.DataFrame = pd.DataFrame()
        self.timings: dict[str, float] = {}
        self.analytics: TraceAnalytics | None = None
        if store is not None and filters is not None:
            try:
                self.analytics = TraceAnalytics(store, filters, price_table=price_table, app_url=app_url,
                                                now=self.now)
            except RunbookError as exc:
                self.checks.append(Check.failed("traces.params", "Analysis parameters", exc.message,
                                                remedy=exc.hint or ""))

    @classmethod
    def from_params(cls, *, trace_store_url: str | None = None, dump_path: str | None = None,
                    trace_store_user: str | None = "default", trace_store_password: str | None = None,
                    project_id: str | None = None, start: str = "-7d", end: str = "now",
                    models: Sequence[str] | None = None, service_name: str | None = None,
                    span_name: str | None = None, tag: str | None = None, top_n: int = 10,
                    price_table: Mapping[str, Any] | None = None, agentops_app_url: str | None = None,
                    prem_status: str | None = None, now: dt.datetime | None = None) -> TraceReport:
        """Build the report from notebook parameters; problems become failed checks, not exceptions."""
        now = now or dt.datetime.now(dt.timezone.utc)
        checks: list[Check] = []
        filters = store = None
        try:
            filters = TraceFilters.from_params(start, end, now=now, project_id=project_id, models=models,
                                               service_name=service_name, span_name=span_name, tag=tag)
        except RunbookError as exc:
            checks.append(Check.failed("traces.params", "Analysis parameters", exc.message, remedy=exc.hint or ""))
        try:
            store = store_from_params(trace_store_url, trace_store_user, trace_store_password, dump_path)
            store.ping()
            checks.append(Check.passed("traces.store.reachable", "Trace store answers", store.description))
        except RunbookError as exc:
            checks.append(Check.failed("traces.store.reachable", "Trace store answers", exc.message,
                                       remedy=exc.hint or "", severity=Severity.CRITICAL))
            if store is not None:
                store.close()
            store = None
        return cls(store, filters, top_n=top_n, price_table=price_table, app_url=agentops_app_url,
                   prem_status=prem_status, now=now, setup_checks=checks)

    @property
    def ok(self) -> bool:
        return self.analytics is not None

    # ---- computing

    def compute(self) -> dict[str, Table]:
        """Run every query once (timed); later ``show`` calls reuse the results."""
        if not self.ok or self.tables:
            return self.tables
        a = self.analytics
        assert a is not None
        steps: list[tuple[str, Any]] = [
            ("prices", lambda: a.resolved_prices),
            ("coverage", a.coverage), ("attributes", a.attributes), ("volume", a.volume),
            ("status", a.status), ("errors_over_time", a.errors_over_time),
            ("llm_latency", a.llm_latency), ("trace_latency", a.trace_latency), ("tokens", a.tokens),
            ("cost", a.cost), ("unpriced", a.unpriced), ("spans_per_trace", a.spans_per_trace),
            ("slowest_traces", lambda: a.slowest_traces(self.top_n)),
            ("costliest_traces", lambda: a.costliest_traces(self.top_n)),
            ("dashboard_figures", a.dashboard_figures),
        ]
        try:
            for key, fn in steps:
                t0 = time.perf_counter()
                result = fn()
                self.timings[key] = time.perf_counter() - t0
                if isinstance(result, Table):
                    self.tables[key] = result
                elif key == "dashboard_figures":
                    self.figures = result
            self.tables["headline"] = a.headline(coverage=self.tables["coverage"],
                                                 llm_latency=self.tables["llm_latency"],
                                                 trace_latency=self.tables["trace_latency"], figures=self.figures)
            t0 = time.perf_counter()
            self.tables["dashboard"] = a.reconciliation(self.figures)
            self.timings["dashboard"] = time.perf_counter() - t0
            self.tables["prices"] = Table("prices", "Price table used",
                                          f"USD per 1M tokens; default prices as of {PRICES_AS_OF} unless "
                                          "price_table is given; matched on the response model.",
                                          a.price_table_used())
        except RunbookError as exc:
            self.checks.append(Check.errored("traces.query", "Analytics queries", exc.message,
                                             remedy=exc.hint or ""))
            self.analytics = None
        return self.tables

    # ---- showing

    def show(self, *keys: str) -> None:
        """Display tables with their title, definition and notes."""
        self.compute()
        for key in keys:
            table = self.tables.get(key)
            if table is None:
                _display({"text/plain": f"{key}: not computed (see the failed checks above)",
                          "text/html": f"<p><i>{html.escape(key)}: not computed (see the failed checks above)"
                                       "</i></p>"})
                continue
            notes = "".join(f"<li>{html.escape(n)}</li>" for n in table.notes)
            _display({
                "text/plain": f"{table.title}\n{table.definition}\n{table.frame.to_string(max_rows=40)}",
                "text/html": (f"<h4>{html.escape(table.title)}</h4><p class='definition'><b>Definition.</b> "
                              f"{html.escape(table.definition)}</p>" + (f"<ul>{notes}</ul>" if notes else "")
                              + frame_html(table.frame)),
            })

    def plot(self, *names: str) -> None:
        """Display plots (PNG) by name: latency, requests_errors, cost, tokens, spans_per_trace."""
        from IPython.display import Image, display

        self.compute()
        for name in names:
            fig = self.figure(name)
            if fig is None:
                _display({"text/plain": f"plot {name}: not computed"})
                continue
            display(Image(data=plots.figure_png(fig)))

    def figure(self, name: str) -> Any:
        """A matplotlib Figure for one plot name, or None when its tables are missing."""
        if name not in PLOTS:
            raise ValueError(f"unknown plot {name!r}; choose from {', '.join(PLOTS)}")
        needed = PLOTS[name][1]
        if any(k not in self.tables for k in needed):
            return None
        t = self.tables
        if name == "latency":
            llm = t["llm_latency"].frame
            return plots.latency_percentiles(llm[llm["model"] != "(all models)"])
        if name == "requests_errors":
            return plots.requests_and_error_rate(t["volume"].frame, t["errors_over_time"].frame)
        if name == "cost":
            return plots.cost_by_model_per_day(t["cost"].frame)
        if name == "tokens":
            return plots.token_distribution(t["tokens"].frame)
        return plots.spans_per_trace_histogram(t["spans_per_trace"].frame)

    # ---- judging and exporting

    def data_checks(self) -> list[Check]:
        self.compute()
        if not self.tables:
            return [c for c in self.checks if not c.ok] or [
                Check.skipped("traces.data", "Data checks", "no tables were computed")]
        assert self.filters is not None
        found = data_checks(self.tables, self.figures, filters=self.filters, prem_status=self.prem_status,
                            now=self.now)
        found.append(Check.passed(
            "traces.percentiles.exact", "Percentiles are exact",
            f"latency percentiles {', '.join(f'p{int(q * 100)}' for q in QUANTILES)} use quantilesExact over "
            "every span in the window (no sampling, no approximation)", severity=Severity.MINOR))
        return found

    def export(self, export_dir: str | Path | None) -> Check:
        cid, title = "traces.export", "Summary tables exported"
        if not export_dir:
            return Check.skipped(cid, title, "export_dir not set: nothing written")
        self.compute()
        if not self.tables:
            return Check.skipped(cid, title, "no tables were computed")
        try:
            written = export_tables(self.tables, export_dir)
        except OSError as exc:
            return Check.failed(cid, title, f"cannot write to {export_dir}: {exc.strerror or exc}",
                                remedy="choose a writable export_dir")
        return Check.passed(cid, title, f"{len(written)} files ({len(self.tables)} tables as CSV"
                                        f"{' and Parquet' if len(written) > len(self.tables) else ''}) in {export_dir}",
                            evidence={"files": [p.name for p in written]})

    def timing_table(self) -> pd.DataFrame:
        return pd.DataFrame({"step": list(self.timings), "seconds": list(self.timings.values())})

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
