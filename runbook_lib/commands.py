"""The command an operator pastes to act on a remedy, written once (remedies never say ``apply=True``).

``run_command("10_migration", apply=True)`` gives
``runbook run 10_migration -f params.yaml -p apply true``: the ``-f`` file is the params file of this
run (:func:`current_params_file`), values are written as the command line takes them (quoted for the shell).
"""

from __future__ import annotations

import os
import shlex
from typing import Any

from .lab_params import PARAMS_FILE_ENV as LAB_PARAMS_FILE_ENV

__all__ = ["PARAMS_FILE", "RUN_PARAMS_FILE_ENV", "current_params_file", "repair_schema_command", "repair_store_command",
           "run_command"]

#: The params file remedies name when the run had none (the README's and ``runbook params --template``'s).
PARAMS_FILE = "params.yaml"

#: Set by the runner for its kernels: the ``-f`` file of the headless run, as the operator typed it.
RUN_PARAMS_FILE_ENV = "RUNBOOK_RUN_PARAMS_FILE"



def current_params_file() -> str:
    """The params file of this run: the runner's ``-f`` file, else the one ``runbook lab`` named, else
    :data:`PARAMS_FILE`."""
    for name in (RUN_PARAMS_FILE_ENV, LAB_PARAMS_FILE_ENV):
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return PARAMS_FILE


def _cli_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return shlex.quote(str(value))


def run_command(notebook: str, params_file: str | None = None, **parameters: Any) -> str:
    """``runbook run NOTEBOOK -f PARAMS -p NAME VALUE ...`` for a remedy; ``PARAMS`` is this run's params
    file (:func:`current_params_file`) unless ``params_file`` names one."""
    parts = ["runbook", "run", notebook, "-f", shlex.quote(params_file or current_params_file())]
    for name, value in parameters.items():
        parts += ["-p", name, _cli_value(value)]
    return " ".join(parts)


def repair_schema_command() -> str:
    """The schema repair, as remedies write it."""
    return run_command("10_migration", apply=True)


def repair_store_command() -> str:
    """The trace store repair (missing dashboard objects from the checkout, price rows), as remedies write it."""
    return run_command("30_trace_analytics", agentops_src="path/to/agentops", repair_store=True)
