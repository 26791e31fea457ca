"""The LiteLLM -> self-hosted AgentOps wiring users copy into their proxy deployment.

``agentops_selfhosted.py`` is a self-contained LiteLLM callback module (it imports nothing from
runbook_lib). This package only locates it, installs it next to a config file and renders the matching
``config.yaml`` snippet and environment variables; importing it does not import litellm.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlsplit

__all__ = [
    "CALLBACK_MODULE_PATH",
    "CALLBACK_REFERENCE",
    "DEFAULT_API_URL",
    "DEFAULT_OTLP_ENDPOINT",
    "HANDLER_CLASS_NAME",
    "install_callback_module",
    "otlp_traces_url",
    "render_wiring_snippet",
]

CALLBACK_MODULE_PATH = Path(__file__).with_name("agentops_selfhosted.py")
CALLBACK_REFERENCE = "agentops_selfhosted.handler"
HANDLER_CLASS_NAME = "AgentOpsSelfHosted"  # the name /callbacks/list and /health/readiness/details show
#: Compose-style defaults shown when a URL is not known yet.
DEFAULT_API_URL = "http://agentops-api:8000"
DEFAULT_OTLP_ENDPOINT = "http://otelcollector:4318/v1/traces"


def install_callback_module(config_dir: str | Path) -> Path:
    """Copy ``agentops_selfhosted.py`` into ``config_dir`` (next to config.yaml); return the new path."""
    target = Path(config_dir) / CALLBACK_MODULE_PATH.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(CALLBACK_MODULE_PATH, target)
    return target


def otlp_traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL: a bare ``http://host:4318`` gets ``/v1/traces`` appended."""
    import httpx

    url = endpoint.strip()
    try:
        path = httpx.URL(url).path
    except Exception:
        return url
    return url.rstrip("/") + "/v1/traces" if path in ("", "/") else url


def render_wiring_snippet(
    api_url: str | None = None,
    otlp_endpoint: str | None = None,
    *,
    api_key_env: str = "AGENTOPS_API_KEY",
) -> str:
    """The config.yaml lines and environment variables that wire a proxy to a self-hosted AgentOps.

    Holds no secret: the API key is named by its environment variable only. URLs on localhost or a
    bare service name get a comment on how they resolve from inside a container.
    """
    from ..http import container_host_note

    api = (api_url or DEFAULT_API_URL).strip().rstrip("/")
    otlp = otlp_traces_url(otlp_endpoint or DEFAULT_OTLP_ENDPOINT)
    text = (
        "# 1. copy agentops_selfhosted.py (runbook_lib/wiring/) next to config.yaml\n"
        "# 2. config.yaml\n"
        "litellm_settings:\n"
        f'  callbacks: ["{CALLBACK_REFERENCE}"]   # under litellm_settings, not general_settings\n'
        "# 3. environment of the proxy process\n"
        f"AGENTOPS_API_ENDPOINT={api}\n"
        f"AGENTOPS_EXPORTER_ENDPOINT={otlp}\n"
        f"AGENTOPS_API_KEY=${{{api_key_env}}}   # the project's API key, from your secret store\n"
        "# needs: opentelemetry-sdk and opentelemetry-exporter-otlp-proto-http in the proxy's environment;\n"
        "# remove the built-in 'agentops' callback: it can only reach AgentOps' cloud.\n"
    )
    labels_by_note: dict[str, list[str]] = {}  # one note, said once, for every URL it applies to
    for label, url in (("AGENTOPS_API_ENDPOINT", api), ("AGENTOPS_EXPORTER_ENDPOINT", otlp)):
        try:
            note = container_host_note(urlsplit(url).hostname or "")
        except ValueError:
            note = None
        if note:
            labels_by_note.setdefault(note, []).append(label)
    if labels_by_note:
        text += "# These URLs are seen from the proxy process:\n" + "".join(
            f"# {' and '.join(labels)}: {note}\n" for note, labels in labels_by_note.items())
    return text
