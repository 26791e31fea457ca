"""Test session set-up: keep Jupyter, IPython and matplotlib out of the user's home.

Fixtures live in ``tests/plugins/``, one module per area.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

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
