"""00_setup: lint a LiteLLM config, probe the live services, and render the working wiring."""

from __future__ import annotations

from ..wiring import render_wiring_snippet
from .apply import Correction, correct_config
from .config_lint import (
    LoadedConfig,
    config_diff,
    corrected_config,
    corrected_path,
    lint_config,
    lint_document,
    lint_loaded,
    load_config,
    write_corrected,
)
from .preflight import check_agentops, check_collector, check_dashboard, check_litellm, network_notes
from .runbook import SetupRunbook

__all__ = [
    "Correction",
    "LoadedConfig",
    "SetupRunbook",
    "check_agentops",
    "check_collector",
    "check_dashboard",
    "check_litellm",
    "config_diff",
    "correct_config",
    "corrected_config",
    "corrected_path",
    "lint_config",
    "lint_document",
    "lint_loaded",
    "load_config",
    "network_notes",
    "render_wiring_snippet",
    "write_corrected",
]
