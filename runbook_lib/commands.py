"""The command an operator pastes to act on a remedy, written once (remedies never say ``apply=True``).

``run_command("10_migration", apply=True)`` gives
``runbook run 10_migration -f params.yaml -p apply true``: the ``-f`` file is the operator's params
file (``params.yaml`` unless named), values are written as the command line takes them.
"""

from __future__ import annotations

import shlex
from typing import Any

__all__ = ["PARAMS_FILE", "REPAIR_SCHEMA", "REPAIR_STORE", "run_command"]

#: The params file remedies name (the README's and ``runbook params --template``'s file name).
PARAMS_FILE = "params.yaml"


def _cli_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return shlex.quote(str(value))


def run_command(notebook: str, params_file: str | None = PARAMS_FILE, **parameters: Any) -> str:
    """``runbook run NOTEBOOK -f PARAMS -p NAME VALUE ...`` for a remedy."""
    parts = ["runbook", "run", notebook]
    if params_file:
        parts += ["-f", shlex.quote(params_file)]
    for name, value in parameters.items():
        parts += ["-p", name, _cli_value(value)]
    return " ".join(parts)


#: The schema repair, as remedies write it.
REPAIR_SCHEMA = run_command("10_migration", apply=True)

#: The trace store repair (missing dashboard objects from the checkout, price rows), as remedies write it.
REPAIR_STORE = run_command("30_trace_analytics", agentops_src="path/to/agentops", repair_store=True)
