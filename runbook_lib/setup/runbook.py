"""The 00_setup runbook: config lint, live LiteLLM, live AgentOps, the wiring that works, the correction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..checks import Check, Severity
from ..db.api_key_log import key_exposure_checks
from ..errors import RunbookError
from ..runbook import Runbook, Section, section
from ..wiring import render_wiring_snippet
from .apply import Correction, correct_config
from .config_lint import LoadedConfig, env_references, lint_loaded, load_config
from .preflight import check_agentops, check_collector, check_dashboard, check_litellm, network_notes
from .proxy_env import proxy_view

__all__ = ["SetupRunbook"]


class SetupRunbook(Runbook):
    """00_setup: preflight of a LiteLLM proxy wired to a self-hosted AgentOps.

    Sections: ``lint`` (the config file), ``litellm`` (the running proxy), ``agentops`` (API, dashboard,
    collector, network notes, the key in the API's log), ``store_readiness`` and ``store_repair`` (the
    trace store as the dashboard needs it; repaired only with ``repair_store``), ``wiring`` (the snippet
    that works), ``correction`` (the corrected config, written next to the original only with ``apply``).
    """

    notebook = "00_setup"

    def __init__(self, *, litellm_config_path: str | Path | None = None, litellm_url: str | None = None,
                 litellm_master_key: str | None = "env:LITELLM_MASTER_KEY", agentops_api_url: str | None = None,
                 agentops_api_key: str | None = "env:AGENTOPS_API_KEY", agentops_app_url: str | None = None,
                 otlp_endpoint: str | None = None, timeout_s: float = 5.0, apply: bool = False,
                 agentops_api_log: str | Path | None = None, trace_store_url: str | None = None,
                 trace_store_user: str | None = "default", trace_store_password: str | None = None,
                 agentops_src: str | Path | None = None, repair_store: bool = False) -> None:
        super().__init__()
        self.litellm_config_path = litellm_config_path or None
        self.litellm_url = litellm_url or None
        self.litellm_master_key = litellm_master_key
        self.agentops_api_url = agentops_api_url or None
        self.agentops_api_key = agentops_api_key
        self.agentops_app_url = agentops_app_url or None
        self.otlp_endpoint = otlp_endpoint or None
        self.timeout_s = timeout_s
        self.apply = apply
        self.agentops_api_log = agentops_api_log or None
        self.trace_store_url = trace_store_url or None
        self._store_credentials = (trace_store_user, trace_store_password)
        self.agentops_src = agentops_src or None
        self.repair_store = repair_store
        self.project_id: str | None = None  # from the token, when the API issues one
        self._store: Any = None
        self.loaded: LoadedConfig | None = None
        self.corrected: Correction | None = None

    @section("Config file")
    def lint(self) -> Section:
        """Lint the config: callback placement, no-effect keys, unset references, the built-in callback."""
        self.loaded = load_config(self.litellm_config_path) if self.litellm_config_path else None
        proxy = None
        if self.loaded is not None and self.loaded.doc is not None:  # loaded.ok
            paths = [p for p, _, _ in env_references(self.loaded.doc)]
            proxy = proxy_view(self.litellm_url, self.litellm_master_key, self.loaded.doc, paths,
                               timeout_s=self.timeout_s) if paths else None
        checks = lint_loaded(self.loaded, api_url=self.agentops_api_url, otlp_endpoint=self.otlp_endpoint,
                             proxy=proxy)
        return Section(list(checks))

    @section("LiteLLM proxy")
    def litellm(self) -> Section:
        """Probe the running proxy; compare the loggers it built with the config file."""
        self.result("lint")
        checks = check_litellm(self.litellm_url, self.litellm_master_key, timeout_s=self.timeout_s,
                               config_doc=self.loaded.doc if self.loaded else None)
        return Section(list(checks))

    @section("AgentOps")
    def agentops(self) -> Section:
        """The AgentOps API (token request), the dashboard, the collector (with that token), network notes."""
        checks, token = check_agentops(self.agentops_api_url, self.agentops_api_key, timeout_s=self.timeout_s)
        checks = list(checks)
        self.project_id = token.project_id if token is not None else None
        token_check = next((c for c in checks if c.id == "agentops.auth_token"), None)
        token_status = (token_check.evidence or {}).get("status_code") if token_check is not None else None
        checks += key_exposure_checks(token_status=token_status, log_path=self.agentops_api_log,
                                      api_key=self.agentops_api_key)
        checks.append(check_dashboard(self.agentops_app_url, timeout_s=self.timeout_s))
        checks += check_collector(self.otlp_endpoint, token, timeout_s=self.timeout_s)
        checks.append(network_notes({"litellm_url": self.litellm_url, "agentops_api_url": self.agentops_api_url,
                                     "agentops_app_url": self.agentops_app_url, "otlp_endpoint": self.otlp_endpoint}))
        return Section(checks)

    def trace_store(self) -> Any:
        """The trace store client (built on first use from trace_store_url and its credentials)."""
        if self._store is None:
            from ..traces.store import store_from_params

            user, password = self._store_credentials
            self._store = store_from_params(self.trace_store_url, user, password, timeout_s=max(self.timeout_s, 10.0))
        return self._store

    def _store_or_skip(self, cid: str, title: str) -> Section | None:
        """None when the store answers; else the section saying why nothing was checked."""
        if not self.trace_store_url:
            return Section([Check.skipped(cid, title, "trace_store_url is empty: the trace store was not checked")])
        try:
            self.trace_store().ping()
        except RunbookError as exc:
            return Section([Check.from_error(cid, title, exc, severity=Severity.CRITICAL)])
        return None

    @section("Trace store, as the dashboard needs it")
    def store_readiness(self) -> Section:
        """The ClickHouse objects the dashboard needs, the price dictionary, and the last 7 days' model
        strings with their price rows (the project of the token when one was issued)."""
        self.result("agentops")
        cid, title = "store.readiness", "trace store readiness"
        if (skip := self._store_or_skip(cid, title)) is not None:
            return skip
        from ..traces.dashboard_sections import store_readiness_section  # pandas: only when a store is given

        return store_readiness_section(self.trace_store(), project_id=self.project_id,
                                       repair_follows=self.repair_store)

    @section("Trace store repair")
    def store_repair(self) -> Section:
        """Missing objects from agentops_src and price rows for unpriced model strings (dry run unless
        repair_store)."""
        self.result("store_readiness")
        cid, title = "store_repair.plan", "store repair"
        if (skip := self._store_or_skip(cid, title)) is not None:
            return skip
        from ..traces.dashboard_sections import store_repair_section

        return store_repair_section(self.trace_store(), self.agentops_src, apply=self.repair_store,
                                    project_id=self.project_id)

    @section("Wiring snippet")
    def wiring(self) -> Section:
        """The config and environment that work, for these endpoints (no check)."""
        snippet = render_wiring_snippet(self.agentops_api_url, self.otlp_endpoint)
        return Section().code(snippet, "yaml", title="Wiring snippet")

    @section("Corrected config")
    def correction(self) -> Section:
        """The corrected config and its diff; written beside the original only with ``apply``."""
        result = Section()
        self.result("lint")
        if self.loaded is None:
            return result.note("_No config file given: nothing to correct._")
        self.corrected = correct_config(self.loaded, apply=self.apply)
        result.add(self.corrected.check).checks_here()
        if self.corrected.diff:
            result.code(self.corrected.diff, "diff", title="Diff")
        return result

    def show_verdict(self) -> None:
        super().show_verdict()
        if self._store is not None:
            self._store.close()
