"""``runbook lab``: JupyterLab rooted at the project, its kernels reading a params file.

Lab opens at the folder that holds ``notebooks/``, ``examples/`` and the params files (the project
root, or the current folder), and :data:`~runbook_lib.lab_params.PARAMS_FILE_ENV` names the params
file (``-f``; by default ``params.yaml``, else the sandbox's ``.sandbox/params.yaml``), so a notebook
run in Lab uses the sandbox's ports and secret references without retyping them.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError
from .lab_params import PARAMS_FILE_ENV

__all__ = ["LabLaunch", "default_params_file", "lab_launch"]

DEFAULT_PARAMS_FILES = ("params.yaml", ".sandbox/params.yaml")


@dataclass(frozen=True)
class LabLaunch:
    """What ``runbook lab`` runs: the command, its working folder and the environment it adds."""

    argv: list[str]
    cwd: Path
    env: dict[str, str]


def default_params_file(root: Path) -> Path | None:
    """``params.yaml`` in ``root``, else the sandbox's, else None."""
    return next((root / name for name in DEFAULT_PARAMS_FILES if (root / name).is_file()), None)


def _jupyter() -> str:
    here = Path(sys.executable).with_name("jupyter")
    found = str(here) if here.is_file() else shutil.which("jupyter")
    if not found:
        raise UsageError("JupyterLab is not installed in this environment",
                         hint="run `make lab` (it builds .venv-lab with JupyterLab and starts it through "
                         "`runbook lab`), or `pip install 'agentops-runbooks[lab]'`")
    return found


def lab_launch(params_file: str | Path | None = None, *, root: str | Path | None = None,
               port: int | None = None, jupyter: str | None = None) -> LabLaunch:
    """The JupyterLab command for ``root`` (default: the current folder) with ``params_file``."""
    base = Path(root or os.getcwd()).resolve()
    chosen = Path(params_file).expanduser() if params_file else default_params_file(base)
    env: dict[str, str] = {}
    if chosen is not None:
        chosen = chosen if chosen.is_absolute() else (Path.cwd() / chosen)
        if not chosen.is_file():
            raise UsageError(f"params file {chosen} does not exist",
                             hint="write one with `runbook params --template all > params.yaml`, or start the "
                             "sandbox (`runbook sandbox up`) which writes .sandbox/params.yaml")
        env[PARAMS_FILE_ENV] = str(chosen.resolve())
    argv = [jupyter or _jupyter(), "lab", "--ip=127.0.0.1", f"--ServerApp.root_dir={base}"]
    if port:
        argv.append(f"--port={port}")
    if hasattr(os, "getuid") and os.getuid() == 0:
        argv.append("--allow-root")
    return LabLaunch(argv, base, env)
