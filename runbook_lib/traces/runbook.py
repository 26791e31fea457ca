"""The 30_trace_analytics runbook: one object built from the notebook's parameters, one section per
part of the report, every table drawn from :data:`tables.TABLES` and formatted by its column kinds.

The object never raises for an expected failure (bad window, unreachable store, missing dump, a
failing query): it records a failed check, and later sections say they were not computed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..checks import Check, Severity
from ..errors import RunbookError
from ..runbook import Runbook, Section, section
from . import dashboard_sections, data_checks
from .analytics import TraceAnalytics
from .dashboard_views import DashboardLogin
from .store import TraceStore, store_from_params
from .tables import TABLES, Table
from .window import TraceFilters

__all__ = ["TraceAnalyticsRunbook", "export_tables"]


def export_tables(tables: Mapping[str, Table], export_dir: str | Path) -> list[Path]:
    """Write every table to ``<export_dir>/<export name>.csv`` and ``.parquet`` (Parquet needs pyarrow)."""
    out = Path(export_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    try:
        import pyarrow  # noqa: F401

        parquet = True
    except ImportError:
        parquet = False
    written = []
    for spec in TABLES:
        if spec.key not in tables:
            continue
        df = tables[spec.key].frame
        csv_path = out / f"{spec.export_name}.csv"
        df.to_csv(csv_path, index=False)
        written.append(csv_path)
        if parquet:
            pq_path = out / f"{spec.export_name}.parquet"
            df.to_parquet(pq_path, index=False)
            written.append(pq_path)
    return written


class TraceAnalyticsRunbook(Runbook):
    """30_trace_analytics: latency, errors, tokens and cost by model, worst traces, the dashboard beside ours.

    Sections: ``store`` (parameters and the store), ``coverage``, ``headline``, ``latency``, ``errors``,
    ``cost`` (tokens and cost), ``worst`` (worst traces), ``dashboard`` (reconciliation), ``exports``.
    The tables are computed once, on first use, from two scans of the window.
    """

    notebook = "30_trace_analytics"

    def __init__(self, *, trace_store_url: str | None = None, dump_path: str | Path | None = None,
                 trace_store_user: str | None = "default", trace_store_password: str | None = None,
                 project_id: str | None = None, start: str = "-7d", end: str = "now",
                 models: Sequence[str] | None = None, top_n: int = 10,
                 price_table: Mapping[str, Any] | None = None, export_dir: str | Path | None = None,
                 agentops_app_url: str | None = None, prem_status: str | None = None,
                 service_name: str | None = None, span_name: str | None = None, tag: str | None = None,
                 agentops_src: str | Path | None = None, repair_store: bool = False,
                 agentops_api_url: str | None = None, dashboard_jwt_secret: str | None = None,
                 dashboard_user_id: str | None = None, dashboard_email: str | None = None,
                 dashboard_password: str | None = None,
                 now: dt.datetime | None = None, store: TraceStore | None = None) -> None:
        super().__init__()
        self.price_table = dict(price_table or {})
        self.agentops_src = agentops_src or None
        self.repair_store = bool(repair_store)
        self.agentops_api_url = agentops_api_url or None
        self.dashboard_login = DashboardLogin(dashboard_jwt_secret or None, dashboard_user_id or None,
                                              dashboard_email or None, dashboard_password or None)
        self.now = now or dt.datetime.now(dt.timezone.utc)
        self.top_n = int(top_n)
        self.prem_status = prem_status or None
        self.export_dir = export_dir or None
        self.setup_checks: list[Check] = []
        self.filters: TraceFilters | None = None
        self.store: TraceStore | None = None
        self.analytics: TraceAnalytics | None = None
        self._tables: dict[str, Table] | None = None
        self._figures: pd.DataFrame = pd.DataFrame()
        self._query_check: Check | None = None
        try:
            self.filters = TraceFilters.from_params(start, end, now=self.now, project_id=project_id or None,
                                                    models=models, service_name=service_name,
                                                    span_name=span_name, tag=tag)
        except RunbookError as exc:
            self.setup_checks.append(Check.failed("traces.params", "Analysis parameters", exc.message,
                                                  remedy=exc.hint or ""))
        try:
            self.store = store or store_from_params(trace_store_url or None, trace_store_user,
                                                    trace_store_password, dump_path or None)
            self.store.ping()
            self.setup_checks.append(Check.passed("traces.store.reachable", "Trace store answers",
                                                  self.store.description))
        except RunbookError as exc:
            self.setup_checks.append(Check.failed("traces.store.reachable", "Trace store answers", exc.message,
                                                  remedy=exc.hint or "", severity=Severity.CRITICAL))
            if self.store is not None and store is None:
                self.store.close()
            self.store = None
        if self.store is not None and self.filters is not None:
            try:
                self.analytics = TraceAnalytics(self.store, self.filters, price_table=price_table or None,
                                                app_url=agentops_app_url or None, now=self.now, top_n=self.top_n)
            except RunbookError as exc:
                self.setup_checks.append(Check.failed("traces.params", "Analysis parameters", exc.message,
                                                      remedy=exc.hint or ""))

    # ---- computing (once)

    @property
    def tables(self) -> dict[str, Table]:
        """Every registered table (empty when the store or the parameters failed, or a query failed)."""
        if self._tables is None:
            self._tables = {}
            if self.analytics is not None:
                try:
                    self._tables = self.analytics.all_tables()
                    self._figures = self.analytics.dashboard_figures()
                except RunbookError as exc:
                    self._tables = {}
                    self._query_check = Check.errored("traces.query", "Analytics queries", exc.message,
                                                      remedy=exc.hint or "")
        return self._tables

    @property
    def figures(self) -> pd.DataFrame:
        """One row of dashboard-rule and our figures (see :func:`shaping.dashboard_figures`)."""
        _ = self.tables  # computes the figures with the tables
        return self._figures

    @property
    def _spans(self) -> int:
        """The window's span count (0 when the tables were not computed)."""
        return data_checks.window_spans(self.tables["coverage"].frame) if self.tables else 0

    def _tables_of(self, name: str, result: Section) -> Section:
        """Add the tables (and plots) of section ``name`` to ``result``, or say they were not computed."""
        tables = self.tables
        if not tables:
            return result.note(f"*{name}: not computed (see the failed checks above).*")
        for spec in TABLES.in_section(name):
            table = tables[spec.key]
            result.table(table.frame, title=table.title, formats=table.formats,
                         caption=f"Definition. {table.definition}", notes=table.notes, max_rows=60)
        for spec in TABLES.in_section(name):
            if spec.plot is not None:
                frames = {k: tables[k].frame for k in spec.plot.needs}
                result.figure(spec.plot.draw(frames), title=spec.plot.title)
        return result

    # ---- sections

    @section("Trace store and parameters", name="store")
    def store_check(self) -> Section:
        """The window and filters parse, and the trace store answers."""
        return Section(list(self.setup_checks))

    @section("Data coverage")
    def coverage(self) -> Section:
        """What the window holds, and which span attribute names are present."""
        result = self._tables_of("coverage", Section())
        if self._query_check is not None:
            result.add(self._query_check)
        elif self.tables:
            assert self.filters is not None
            result.add(data_checks.window_check(self.tables["coverage"].frame, self.filters))
        return result

    @section("Headline")
    def headline(self) -> Section:
        """The window in one row; its figures are also a check's evidence (``runbook report diff``)."""
        result = self._tables_of("headline", Section())
        return result.add(data_checks.headline_check(self.tables["headline"])) if self.tables else result

    @section("Latency")
    def latency(self) -> Section:
        """Exact percentiles of LLM spans by model and of whole traces."""
        result = self._tables_of("latency", Section())
        return result.add(data_checks.exact_percentiles_check(spans=self._spans)) if self.tables else result

    @section("Errors")
    def errors(self) -> Section:
        return self._tables_of("errors", Section())

    @section("Tokens and cost")
    def cost(self) -> Section:
        result = self._tables_of("cost", Section())
        if self.tables:
            result.add(data_checks.token_names_check(self.tables["tokens"].frame, self.figures, spans=self._spans),
                       data_checks.prices_check(self.tables["unpriced"].frame, spans=self._spans))
        return result

    @section("Worst traces")
    def worst(self) -> Section:
        return self._tables_of("worst", Section())

    @section("Reconciliation with the dashboard")
    def dashboard(self) -> Section:
        result = self._tables_of("dashboard", Section())
        if self.tables:
            assert self.filters is not None
            result.add(data_checks.plan_check(self.prem_status, self.filters, self.figures, self.now,
                                              spans=self._spans))
        return result

    def _served_store(self, cid: str, title: str) -> Section | None:
        """A skip section when the store is not a ClickHouse server (a dump has no dashboard objects)."""
        if self.store is None or self.filters is None:
            return Section([Check.skipped(cid, title, "the trace store or the window is not usable (see above)")])
        if getattr(self.store, "engine", "") != "clickhouse":
            return Section([Check.skipped(cid, title, "a dump file has no dashboard objects: point trace_store_url "
                                                      "at the ClickHouse the AgentOps API reads")])
        return None

    @section("The store, as the dashboard needs it")
    def store_readiness(self) -> Section:
        """The ClickHouse objects the dashboard needs, the price dictionary, and every model string of the
        window with its price row (or what the dashboard shows without one)."""
        skip = self._served_store("store.readiness", "trace store readiness")
        if skip is not None:
            return skip
        assert self.filters is not None
        return dashboard_sections.store_readiness_section(self.store, start=self.filters.start,
                                                          end=self.filters.end, project_id=self.filters.project_id,
                                                          repair_follows=self.repair_store)

    @section("Store repair")
    def store_repair(self) -> Section:
        """Missing objects from agentops_src and price rows for unpriced model strings (dry run unless
        repair_store)."""
        skip = self._served_store("store_repair.plan", "store repair")
        if skip is not None:
            return skip
        assert self.filters is not None
        return dashboard_sections.store_repair_section(self.store, self.agentops_src, apply=self.repair_store,
                                                       start=self.filters.start, end=self.filters.end,
                                                       project_id=self.filters.project_id,
                                                       user_prices=self.price_table or None)

    @section("The dashboard's own figures")
    def dashboard_views(self) -> Section:
        """Project metrics and the trace list by upstream's rules, beside the API's answers when a dashboard
        session can be had (agentops_api_url with dashboard_jwt_secret + dashboard_user_id, or
        dashboard_email + dashboard_password)."""
        cid, title = "dashboard.views", "dashboard views"
        skip = self._served_store(cid, title)
        if skip is not None:
            return skip
        assert self.filters is not None
        if not self.filters.project_id:
            return Section([Check.skipped(cid, title, "set project_id: the dashboard shows one project")])
        try:
            session = self.dashboard_login.open(self.agentops_api_url)
        except RunbookError as exc:
            return Section([Check.from_error("dashboard.session", "dashboard session", exc)])
        return dashboard_sections.reconciliation_section(
            self.store, self.filters.project_id, start=self.filters.start, end=self.filters.end,
            free_plan=(self.prem_status or "").lower() == "free", session=session, now=self.now)

    @section("Exports")
    def exports(self) -> Section:
        """Every table as CSV and Parquet in ``export_dir`` (nothing written without it)."""
        cid, title = "traces.export", "Summary tables exported"
        if not self.export_dir:
            return Section([Check.skipped(cid, title, "export_dir not set: nothing written")])
        if not self.tables:
            return Section([Check.skipped(cid, title, "no tables were computed")])
        try:
            written = export_tables(self.tables, self.export_dir)
        except OSError as exc:
            return Section([Check.failed(cid, title, f"cannot write to {self.export_dir}: {exc.strerror or exc}",
                                         remedy="choose a writable export_dir")])
        n = len(self.tables)
        return Section([Check.passed(cid, title, f"{len(written)} files ({n} tables as CSV"
                                                 f"{' and Parquet' if len(written) > n else ''}) in {self.export_dir}",
                                     evidence={"files": [p.name for p in written]})])

    def close(self) -> None:
        """Close the store (the notebook's last cell does it after the verdict)."""
        if self.store is not None:
            self.store.close()

    def show_verdict(self) -> None:
        super().show_verdict()
        self.close()
