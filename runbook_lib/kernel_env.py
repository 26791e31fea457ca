"""Keep kernels quiet and out of the user's home during a run."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .commands import RUN_PARAMS_FILE_ENV
from .lab_params import PARAMS_FILE_ENV as LAB_PARAMS_FILE_ENV

__all__ = ["isolated_jupyter_env", "KERNEL_ARGUMENTS"]

#: Passed to every kernel: no "running over TCP without encryption" warning, no debugger noise.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]


def cache_dir() -> Path:
    """A per-user cache outside $HOME (matplotlib's font cache survives between runs)."""
    default = Path(tempfile.gettempdir()) / f"agentops-runbooks-{os.getuid()}"
    path = Path(os.environ.get("RUNBOOK_CACHE_DIR") or default)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def isolated_jupyter_env(params_file: str | Path | None = None) -> Iterator[None]:
    """Point IPython, Jupyter and matplotlib state at private folders for the duration of a run, and tell
    the kernels the run's params file (``params_file``, as the operator gave it) for the commands their
    remedies write (:data:`~runbook_lib.commands.RUN_PARAMS_FILE_ENV`).

    Variables the user already set are respected. Everything is restored afterwards.
    """
    cache = cache_dir()
    runtime = tempfile.mkdtemp(prefix="runtime-", dir=cache)
    wanted = {
        "IPYTHONDIR": str(cache / "ipython"),
        "JUPYTER_RUNTIME_DIR": runtime,
        "JUPYTER_CONFIG_DIR": str(cache / "jupyter-config"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "MPLCONFIGDIR": str(cache / "matplotlib"),
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    saved = {k: os.environ.get(k) for k in (*wanted, LAB_PARAMS_FILE_ENV, RUN_PARAMS_FILE_ENV)}
    for key, value in wanted.items():
        os.environ.setdefault(key, value)
    os.environ.pop(LAB_PARAMS_FILE_ENV, None)  # headless kernels take parameters from the runner only
    if params_file:
        os.environ[RUN_PARAMS_FILE_ENV] = str(params_file)
    else:
        os.environ.pop(RUN_PARAMS_FILE_ENV, None)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
        with contextlib.suppress(OSError):
            for leftover in Path(runtime).iterdir():
                leftover.unlink()
            Path(runtime).rmdir()
