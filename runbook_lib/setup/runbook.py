"""The 00_setup runbook: config lint, live LiteLLM, live AgentOps, the wiring that works, the correction."""

from __future__ import annotations

from pathlib import Path

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
    collector, network notes), ``wiring`` (the snippet that works), ``correction`` (the corrected
    config, written next to the original only with ``apply``).
    """

    notebook = "00_setup"

    def __init__(self, *, litellm_config_path: str | Path | None = None, litellm_url: str | None = None,
                 litellm_master_key: str | None = "env:LITELLM_MASTER_KEY", agentops_api_url: str | None = None,
                 agentops_api_key: str | None = "env:AGENTOPS_API_KEY", agentops_app_url: str | None = None,
                 otlp_endpoint: str | None = None, timeout_s: float = 5.0, apply: bool = False) -> None:
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
        checks.append(check_dashboard(self.agentops_app_url, timeout_s=self.timeout_s))
        checks += check_collector(self.otlp_endpoint, token, timeout_s=self.timeout_s)
        checks.append(network_notes({"litellm_url": self.litellm_url, "agentops_api_url": self.agentops_api_url,
                                     "agentops_app_url": self.agentops_app_url, "otlp_endpoint": self.otlp_endpoint}))
        return Section(checks)

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
