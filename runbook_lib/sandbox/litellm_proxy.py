"""The real LiteLLM proxy for the sandbox: config rendering, start-up and shutdown.

Two ``mock_response`` models answer without any provider: :data:`ANSWER_MODEL` replies with a fixed
text (priced, so LiteLLM computes a cost) and :data:`FAILING_MODEL` fails with
``litellm.RateLimitError`` (HTTP 429). The master key comes from the process environment through
``os.environ/LITELLM_MASTER_KEY``; no secret is ever written into the config file or a command line.

Wirings (how the proxy is told about AgentOps):

``selfhosted``
    our ``agentops_selfhosted.handler`` under ``litellm_settings.callbacks`` (the working wiring);
    the module is copied next to config.yaml, where LiteLLM resolves ``module.attr`` references.
``general_settings``
    the field guide's configuration: ``success_callback: ["agentops"]`` under ``general_settings``
    (which the proxy never reads) and ``agentops_*`` keys under ``litellm_settings`` (no effect).
``builtin_agentops``
    LiteLLM's built-in ``agentops`` callback, which can only talk to AgentOps' cloud.
``none``
    no AgentOps callback at all.

Nothing leaves 127.0.0.1: the proxy always runs with ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY``
pointing at a local egress trap (:mod:`runbook_lib.sandbox.egress_trap`, or a closed local port when
no trap is given) and ``NO_PROXY=127.0.0.1,localhost``. Both HTTP stacks involved (httpx for the
built-in callback's token request, requests for OTLP export) honour these variables and hand the
host name to the proxy instead of resolving it, so not even a DNS query leaves the machine; and
``LITELLM_LOCAL_MODEL_COST_MAP=True`` keeps LiteLLM from downloading its price list.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..errors import SandboxError, UsageError
from ..wiring import CALLBACK_REFERENCE, install_callback_module
from .egress_trap import proxy_env
from .processes import free_port, is_running, spawn_module, stop_pid, wait_for_http

__all__ = [
    "ANSWER_MODEL",
    "FAILING_MODEL",
    "MOCK_TEXT",
    "WIRINGS",
    "ProxyProcess",
    "render_config",
    "start_proxy",
    "write_config",
]

ANSWER_MODEL = "fake-gpt"
FAILING_MODEL = "fake-gpt-ratelimited"
MOCK_TEXT = "Hello from the mock model"
MASTER_KEY_ENV = "LITELLM_MASTER_KEY"
WIRINGS = ("selfhosted", "general_settings", "builtin_agentops", "none")
PROXY_MODULE = "litellm.proxy.proxy_cli"
# Prices for the mock model (USD per token), so LiteLLM computes a non-zero cost for it.
INPUT_COST_PER_TOKEN = 1e-06
OUTPUT_COST_PER_TOKEN = 2e-06


def render_config(wiring: str = "selfhosted") -> str:
    """The proxy's config.yaml for ``wiring`` (one of :data:`WIRINGS`), without any secret value."""
    if wiring not in WIRINGS:
        raise UsageError(f"unknown proxy wiring {wiring!r}", hint=f"use one of {', '.join(WIRINGS)}")
    mock = {"model": f"openai/{ANSWER_MODEL}", "api_key": "fake-key", "mock_response": MOCK_TEXT,
            "input_cost_per_token": INPUT_COST_PER_TOKEN, "output_cost_per_token": OUTPUT_COST_PER_TOKEN}
    failing = {"model": f"openai/{FAILING_MODEL}", "api_key": "fake-key", "mock_response": "litellm.RateLimitError"}
    config: dict[str, object] = {
        "model_list": [
            {"model_name": ANSWER_MODEL, "litellm_params": mock},
            {"model_name": FAILING_MODEL, "litellm_params": failing},
        ],
        "router_settings": {"num_retries": 0, "disable_cooldowns": True},
        "general_settings": {"master_key": f"os.environ/{MASTER_KEY_ENV}"},
        "litellm_settings": {"num_retries": 0, "request_timeout": 30},
    }
    litellm_settings = config["litellm_settings"]
    general_settings = config["general_settings"]
    assert isinstance(litellm_settings, dict) and isinstance(general_settings, dict)
    if wiring == "selfhosted":
        litellm_settings["callbacks"] = [CALLBACK_REFERENCE]
    elif wiring == "general_settings":
        general_settings["success_callback"] = ["agentops"]
        litellm_settings.update({
            "agentops_api_key": "os.environ/AGENTOPS_API_KEY",
            "agentops_endpoint": "os.environ/AGENTOPS_API_ENDPOINT",
        })
    elif wiring == "builtin_agentops":
        litellm_settings["callbacks"] = ["agentops"]
    header = f"# LiteLLM proxy config rendered by runbook_lib.sandbox (wiring: {wiring})\n"
    return header + yaml.safe_dump(config, sort_keys=False)


def write_config(config_dir: str | Path, wiring: str = "selfhosted") -> Path:
    """Write config.yaml into ``config_dir`` (and, for ``selfhosted``, the callback module next to it)."""
    directory = Path(config_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.yaml"
    path.write_text(render_config(wiring), encoding="utf-8")
    if wiring == "selfhosted":
        install_callback_module(directory)
    return path


@dataclass
class ProxyProcess:
    """A running proxy started by :func:`start_proxy`."""

    pid: int
    port: int
    config_path: Path
    log_path: Path
    wiring: str
    startup_s: float = 0.0
    env_names: list[str] = field(default_factory=list)  # names only, never values

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def running(self) -> bool:
        return is_running(self.pid, expect=PROXY_MODULE)

    def stop(self, grace_s: float = 10.0) -> bool:
        """Stop the proxy (SIGTERM, then SIGKILL); True when it was running."""
        return stop_pid(self.pid, grace_s=grace_s, expect=PROXY_MODULE)


def start_proxy(
    config_dir: str | Path,
    *,
    master_key: str,
    wiring: str = "selfhosted",
    agentops_env: Mapping[str, str] | None = None,
    egress_proxy_url: str | None = None,
    port: int | None = None,
    extra_env: Mapping[str, str] | None = None,
    deadline_s: float = 180.0,
) -> ProxyProcess:
    """Write the config for ``wiring`` and start ``litellm --config ...`` on 127.0.0.1; wait until live.

    ``master_key`` and ``agentops_env`` (``AGENTOPS_API_KEY``, ``AGENTOPS_API_ENDPOINT``,
    ``AGENTOPS_EXPORTER_ENDPOINT``...) reach the proxy through its environment only. Outside traffic
    goes to ``egress_proxy_url`` (an :class:`~runbook_lib.sandbox.egress_trap.EgressTrap`), or to a
    closed local port when none is given. Raises :class:`SandboxError` with the log tail when the proxy
    exits or does not answer ``/health/liveliness`` within ``deadline_s``.
    """
    directory = Path(config_dir)
    config_path = write_config(directory, wiring)
    log_path = directory / "litellm.log"
    port = port or free_port()
    env: dict[str, str] = {
        MASTER_KEY_ENV: master_key,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    env.update(proxy_env(egress_proxy_url or f"http://127.0.0.1:{_closed_port()}"))
    env.update(agentops_env or {})
    env.update(extra_env or {})
    python = _venv_python()
    started = time.monotonic()
    process = spawn_module(
        PROXY_MODULE,
        ["--config", str(config_path), "--host", "127.0.0.1", "--port", str(port)],
        log_path=log_path, env=env, cwd=directory, python=python,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health/liveliness", deadline_s=deadline_s, process=process,
                      log_path=log_path, name=f"LiteLLM proxy ({wiring})")
    except SandboxError:
        stop_pid(process.pid, grace_s=2.0)
        raise
    return ProxyProcess(
        pid=process.pid, port=port, config_path=config_path, log_path=log_path, wiring=wiring,
        startup_s=time.monotonic() - started, env_names=sorted(env),
    )


def _closed_port() -> int:
    """A port nothing listens on right now (connections to it are refused)."""
    return free_port()


def _venv_python() -> str:
    """The Python that has litellm installed: this interpreter, checked up front for a clear message."""
    import importlib.util

    if importlib.util.find_spec("litellm") is None:
        raise SandboxError(
            "litellm is not installed in this Python environment",
            hint="install the sandbox extra: pip install 'agentops-runbooks[sandbox]'",
        )
    return sys.executable


def proxy_log_excerpt(log_path: str | Path, lines: int = 40) -> str:
    """The end of a proxy log, secrets redacted (for diagnostics)."""
    from .processes import log_tail

    return log_tail(log_path, lines)

