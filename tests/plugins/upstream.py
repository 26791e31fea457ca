"""Pytest fixtures for the real upstream AgentOps checkout named by ``AGENTOPS_SRC``.

- ``agentops_src`` (session): the checked checkout path. With ``AGENTOPS_SRC`` unset a test that needs it
  **fails** under ``CI=true`` (CI must compare against upstream) and is skipped elsewhere with the reason
  ``not run: set AGENTOPS_SRC``, so a machine without a checkout never reports the comparison as passed.
  A set but wrong path always fails.
- ``upstream_venv`` (session): the cached virtual environment for the checkout's ``app/api/uv.lock``
  (built on first use by :func:`runbook_lib.sandbox.upstream_api.build_venv`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

NOT_RUN = "not run: set AGENTOPS_SRC to an AgentOps checkout (e.g. ../shared/upstream/agentops)"


def require_agentops_src() -> Path:
    """The checkout named by AGENTOPS_SRC; fail in CI, skip elsewhere when it is unset."""
    from runbook_lib.sandbox.upstream_api import check_checkout

    raw = os.environ.get("AGENTOPS_SRC", "").strip()
    if not raw:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("AGENTOPS_SRC is not set: CI must run the comparison with the real AgentOps API "
                        "(.ci/run sets it to ../shared/upstream/agentops)", pytrace=False)
        pytest.skip(NOT_RUN)
    try:
        return check_checkout(raw)
    except Exception as exc:  # a wrong path is an error wherever it happens
        pytest.fail(f"AGENTOPS_SRC={raw!r}: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def agentops_src() -> Path:
    return require_agentops_src()


@pytest.fixture(scope="session")
def upstream_venv(agentops_src: Path) -> Path:
    from runbook_lib.sandbox.upstream_api import build_venv

    return build_venv(agentops_src)
