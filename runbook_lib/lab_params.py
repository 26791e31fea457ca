"""Run a notebook in JupyterLab against a params file without retyping it (``runbook lab -f FILE``).

``runbook lab`` sets :data:`PARAMS_FILE_ENV` for the Lab server, so every kernel it starts sees it.
``Runbook.from_parameters(globals())`` then takes each parameter the cell still holds at its default
from that file (the notebook's section first, then the file's shared values); a value edited in the
cell wins. Headless runs never read it: the runner takes parameters from its own command line only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["PARAMS_FILE_ENV", "params_file_from_env", "with_params_file"]

PARAMS_FILE_ENV = "RUNBOOK_PARAMS_FILE"


def params_file_from_env() -> Path | None:
    """The params file named by :data:`PARAMS_FILE_ENV`, or None when unset."""
    value = os.environ.get(PARAMS_FILE_ENV, "").strip()
    return Path(value).expanduser() if value else None


def _same(value: Any, default: Any) -> bool:
    return type(value) is type(default) and value == default


def with_params_file(namespace: Mapping[str, Any], specs: Mapping[str, Any], notebook: str,
                     path: Path | None = None) -> dict[str, Any]:
    """The declared parameters as they stand in ``namespace``, those still at their default taken from
    the params file (``path``, else the one named by the environment). Without a file: unchanged."""
    from .params import load_params_file

    current = {name: namespace[name] for name in specs if name in namespace}
    path = path or params_file_from_env()
    if path is None:
        return current
    data = load_params_file(path)
    raw_section = data.get(notebook)
    section = raw_section if isinstance(raw_section, dict) else {}
    from_file = {**{k: v for k, v in data.items() if k in specs}, **{k: v for k, v in section.items() if k in specs}}
    for name, value in from_file.items():
        if name not in current or _same(current[name], specs[name].default):
            current[name] = value
    return current
