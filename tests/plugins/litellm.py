"""Pytest fixtures for the real LiteLLM proxy and the whole sandbox stack.

- ``egress_trap`` (session): an :class:`~runbook_lib.sandbox.egress_trap.EgressTrap` every proxy sends its
  outside traffic to (so nothing leaves 127.0.0.1 and attempts can be asserted).
- ``litellm_master_key`` (session): ``(value, "file:PATH")`` of the proxies' master key.
- ``start_litellm_proxy`` (session factory): ``start_litellm_proxy(wiring, *, api=None, store=None,
  api_key=None, exporter_url=None, extra_env=None, shared=True)`` -> :class:`RunningProxy`. With
  ``shared=True`` one proxy per distinct argument set is started and reused by every test (a start costs
  5-10 s); ``shared=False`` gives a private proxy the test may stop.
- ``agentops_api_key_ref`` helper: ``(api) -> "file:PATH"`` of a stand-in API's seeded key.
- ``sandbox_stack`` (session): a full :func:`runbook_lib.sandbox.stack.up` stack (current schema),
  brought down at the end of the session.

Every process is stopped by pid at the end of the session.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runbook_lib.sandbox.egress_trap import EgressTrap
from runbook_lib.sandbox.litellm_proxy import ProxyProcess, start_proxy


def _private(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


@dataclass
class RunningProxy:
    """A proxy started for tests, with the references a notebook or the library needs."""

    process: ProxyProcess
    master_key_ref: str
    api_key_ref: str | None

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def log_path(self) -> Path:
        return self.process.log_path

    def log_text(self) -> str:
        return self.process.log_path.read_text(encoding="utf-8", errors="replace")


@pytest.fixture(scope="session")
def litellm_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("litellm")


@pytest.fixture(scope="session")
def egress_trap(litellm_workdir: Path) -> Iterator[EgressTrap]:
    with EgressTrap(log_path=litellm_workdir / "egress.jsonl") as trap:
        yield trap


@pytest.fixture(scope="session")
def litellm_master_key(litellm_workdir: Path) -> tuple[str, str]:
    value = "sk-test-" + secrets.token_urlsafe(24)
    return value, "file:" + str(_private(litellm_workdir / "master_key", value))


@pytest.fixture(scope="session")
def agentops_api_key_ref(litellm_workdir: Path) -> Callable[[Any], str]:
    def make(api: Any) -> str:
        return "file:" + str(_private(litellm_workdir / f"api_key_{uuid.uuid4().hex[:8]}", api.seed.api_key))

    return make


@pytest.fixture(scope="session")
def start_litellm_proxy(
    litellm_workdir: Path, egress_trap: EgressTrap, litellm_master_key: tuple[str, str],
    agentops_api_key_ref: Callable[[Any], str],
) -> Iterator[Callable[..., RunningProxy]]:
    shared: dict[tuple[Any, ...], RunningProxy] = {}
    started: list[ProxyProcess] = []

    def start(wiring: str = "selfhosted", *, api: Any = None, store: Any = None, api_key: str | None = None,
              exporter_url: str | None = None, extra_env: dict[str, str] | None = None,
              shared_proxy: bool = True) -> RunningProxy:
        key = (wiring, getattr(api, "url", None), getattr(store, "otlp_url", None), api_key, exporter_url,
               tuple(sorted((extra_env or {}).items())))
        if shared_proxy and key in shared and shared[key].process.running():
            return shared[key]
        env: dict[str, str] = {}
        api_key_value = api_key or (api.seed.api_key if api is not None else None)
        if api_key_value:
            env["AGENTOPS_API_KEY"] = api_key_value
        if api is not None:
            env["AGENTOPS_API_ENDPOINT"] = api.url
        if exporter_url or store is not None:
            env["AGENTOPS_EXPORTER_ENDPOINT"] = exporter_url or store.otlp_url
        env.update(extra_env or {})
        directory = litellm_workdir / f"proxy-{wiring}-{uuid.uuid4().hex[:6]}"
        process = start_proxy(directory, master_key=litellm_master_key[0], wiring=wiring, agentops_env=env,
                              egress_proxy_url=egress_trap.url)
        started.append(process)
        key_ref = agentops_api_key_ref(api) if api is not None else None
        running = RunningProxy(process, litellm_master_key[1], key_ref)
        if shared_proxy:
            shared[key] = running
        return running

    yield start
    for process in started:
        process.stop()


@pytest.fixture(scope="session")
def sandbox_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from runbook_lib.sandbox import stack

    state_dir = tmp_path_factory.mktemp("sandbox") / ".sandbox"
    state = stack.up(state_dir=state_dir, schema_level="current")
    try:
        yield state
    finally:
        stack.down(state_dir=state_dir)
