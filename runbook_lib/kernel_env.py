"""Keep kernels quiet and out of the user's home during a run."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

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
def isolated_jupyter_env() -> Iterator[None]:
    """Point IPython, Jupyter and matplotlib state at private folders for the duration of a run.

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
    saved = {k: os.environ.get(k) for k in (*wanted, "RUNBOOK_PARAMS_FILE")}
    for key, value in wanted.items():
        os.environ.setdefault(key, value)
    os.environ.pop("RUNBOOK_PARAMS_FILE", None)  # headless kernels take parameters from the runner only
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
