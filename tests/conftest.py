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
    "test_migration_pg_server",  # starts and stops PostgreSQL clusters of its own
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


# Single tests (``module::function``, every parametrization) in otherwise quick modules that run a notebook in a
# kernel or start a stand-in process themselves. An entry that matches nothing in a collected module is an error.
SLOW_TESTS = frozenset({
    "test_notebooks_hygiene::test_a_hand_edited_parameters_cell_is_checked_in_the_kernel",
    "test_attack_inputs::test_a_value_starting_with_a_dash_is_a_value",
    "test_standin_api::test_without_a_jwt_secret_the_process_refuses_to_start",
})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark ``slow`` every test that uses a costly fixture, sits in a slow module, is named in SLOW_TESTS, or is
    under tests/conformance."""
    matched: set[str] = set()
    for item in items:
        module = item.path.stem
        name = f"{module}::{getattr(item, 'originalname', item.name)}"
        if name in SLOW_TESTS:
            matched.add(name)
        if (COSTLY_FIXTURES.intersection(getattr(item, "fixturenames", ()))
                or module in SLOW_MODULES
                or name in SLOW_TESTS
                or "conformance" in item.path.parts):
            item.add_marker(pytest.mark.slow)
    collected = {item.path.stem for item in items}
    stale = sorted(n for n in SLOW_TESTS - matched if n.split("::")[0] in collected)
    if stale:
        raise pytest.UsageError(f"tests/conftest.py SLOW_TESTS names tests that do not exist: {stale}")
