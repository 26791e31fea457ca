"""The LiteLLM -> self-hosted AgentOps wiring users copy into their proxy deployment.

``agentops_selfhosted.py`` is a self-contained LiteLLM callback module (it imports nothing from
runbook_lib). This package only locates it, installs it next to a config file and renders the matching
``config.yaml`` snippet and environment variables; importing it does not import litellm.
"""

from __future__ import annotations

import shutil
from pathlib import Path

__all__ = [
    "CALLBACK_MODULE_PATH",
    "CALLBACK_REFERENCE",
    "HANDLER_CLASS_NAME",
    "install_callback_module",
    "render_wiring_snippet",
]

CALLBACK_MODULE_PATH = Path(__file__).with_name("agentops_selfhosted.py")
CALLBACK_REFERENCE = "agentops_selfhosted.handler"
HANDLER_CLASS_NAME = "AgentOpsSelfHosted"  # the name /callbacks/list and /health/readiness/details show


def install_callback_module(config_dir: str | Path) -> Path:
    """Copy ``agentops_selfhosted.py`` into ``config_dir`` (next to config.yaml); return the new path."""
    target = Path(config_dir) / CALLBACK_MODULE_PATH.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(CALLBACK_MODULE_PATH, target)
    return target


def render_wiring_snippet(
    api_url: str = "http://agentops-api:8000",
    exporter_url: str = "http://otelcollector:4318/v1/traces",
    *,
    api_key_env: str = "AGENTOPS_API_KEY",
) -> str:
    """The config.yaml lines and environment variables that wire a proxy to a self-hosted AgentOps.

    Holds no secret: the API key is named by its environment variable only.
    """
    return (
        "# 1. copy agentops_selfhosted.py (runbook_lib/wiring/) next to config.yaml\n"
        "# 2. config.yaml\n"
        "litellm_settings:\n"
        f'  callbacks: ["{CALLBACK_REFERENCE}"]   # under litellm_settings, not general_settings\n'
        "# 3. environment of the proxy process\n"
        f"AGENTOPS_API_ENDPOINT={api_url}\n"
        f"AGENTOPS_EXPORTER_ENDPOINT={exporter_url}\n"
        f"AGENTOPS_API_KEY=${{{api_key_env}}}   # the project's API key, from your secret store\n"
        "# needs: opentelemetry-sdk and opentelemetry-exporter-otlp-proto-http in the proxy's environment;\n"
        "# remove the built-in 'agentops' callback: it can only reach AgentOps' cloud.\n"
    )
