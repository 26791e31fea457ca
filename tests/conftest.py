"""Test session set-up: keep Jupyter, IPython and matplotlib out of the user's home; mark costly tests ``slow``.

Fixtures live in ``tests/plugins/``, one module per area. ``make test-fast`` runs ``-m "not slow and not upstream"``;
``make test`` runs everything.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest

pytest_plugins = [
    "tests.plugins.postgres",
    "tests.plugins.agentops_standin",
    "tests.plugins.traces",
    "tests.plugins.http_servers",
    "tests.plugins.litellm",
    "tests.plugins.upstream",
    "tests.plugins.attackers",
]

_state = tempfile.mkdtemp(prefix="runbook-tests-")
atexit.register(shutil.rmtree, _state, ignore_errors=True)
for _name, _sub in {
    "IPYTHONDIR": "ipython",
    "JUPYTER_RUNTIME_DIR": "jupyter-runtime",
    "JUPYTER_CONFIG_DIR": "jupyter-config",
    "MPLCONFIGDIR": "matplotlib",
}.items():
    os.environ.setdefault(_name, os.path.join(_state, _sub))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

# Fixtures that start a process a test waits on (LiteLLM proxy, stand-in API or collector, the sandbox stack, the
# upstream API's venv) or builds a fresh AgentOps database from migrations per test. A test that requests one,
# directly or through another fixture, is ``slow``.
COSTLY_FIXTURES = frozenset({
    "agentops_db",
    "start_litellm_proxy",
    "sandbox_stack",
    "start_agentops_api",
    "agentops_api",
    "start_trace_store",
    "trace_store",
    "dashboard_store",
    "http_trace_store",
    "upstream_venv",
})

# Modules whose tests run notebooks in kernels (papermill/nbclient, the runbook CLI) or start stacks themselves.
SLOW_MODULES = frozenset({
    "test_attack_reports",
    "test_attack_secrets",
    "test_display",
    "test_cli_habits",
    "test_cli_reports",
    "test_kernel_parameters",
    "test_lab_onboarding",
    "test_migration_notebook",
    "test_report_header",
    "test_runner",
    "test_sandbox_flow",
    "test_sandbox_stack",
    "test_sandbox_upstream",
    "test_setup_notebook",
    "test_setup_sandbox",
    "test_traces_notebook",
    "test_traces_notebook_dashboard",
})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark ``slow`` every test that uses a costly fixture, sits in a slow module, or is under tests/conformance."""
    for item in items:
        module = item.path.stem
        if (COSTLY_FIXTURES.intersection(getattr(item, "fixturenames", ()))
                or module in SLOW_MODULES
                or "conformance" in item.path.parts):
            item.add_marker(pytest.mark.slow)
