"""The catalog of runbook notebooks shipped in ``notebooks/``."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError

__all__ = ["RUN_ORDER", "NotebookInfo", "expand_names", "find_notebook", "list_notebooks", "notebook_dir"]

#: The dependency order of the shipped notebooks, the order of ``runbook run all`` and of the demo:
#: the schema repair first (on a drifted database 00 and 20 would only report its consequences), then
#: the preflight, the round trip, and the analytics of what arrived. Other notebooks follow by name.
RUN_ORDER = ("10_migration", "00_setup", "20_callback_verification", "30_trace_analytics")


@dataclass(frozen=True)
class NotebookInfo:
    name: str
    path: Path
    description: str


def notebook_dir() -> Path:
    """``$RUNBOOK_NOTEBOOK_DIR`` or the ``notebooks/`` folder beside the package."""
    override = os.environ.get("RUNBOOK_NOTEBOOK_DIR")
    return Path(override) if override else Path(__file__).resolve().parent.parent / "notebooks"


def _describe(path: Path) -> str:
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "(unreadable notebook)"
    return nb.get("metadata", {}).get("runbook", {}).get("description", "")


def _run_position(path: Path) -> tuple[int, str]:
    return (RUN_ORDER.index(path.stem) if path.stem in RUN_ORDER else len(RUN_ORDER), path.stem)


def list_notebooks() -> list[NotebookInfo]:
    """Every ``*.ipynb`` in the notebook folder in :data:`RUN_ORDER` (the run order of ``all``), others
    after them by name."""
    return [NotebookInfo(p.stem, p, _describe(p)) for p in sorted(notebook_dir().glob("*.ipynb"), key=_run_position)]


def find_notebook(name: str) -> NotebookInfo:
    """Resolve ``00_setup``, ``00_setup.ipynb``, a unique prefix like ``00``, or a path."""
    as_path = Path(name)
    if as_path.suffix == ".ipynb" and as_path.is_file():
        return NotebookInfo(as_path.stem, as_path.resolve(), _describe(as_path))
    known = list_notebooks()
    stem = as_path.name.removesuffix(".ipynb")
    exact = [nb for nb in known if nb.name == stem]
    matches = exact or [nb for nb in known if nb.name.startswith(stem)]
    if len(matches) == 1:
        return matches[0]
    from .cli_suggest import did_you_mean

    names = ", ".join(nb.name for nb in known) or "none found in " + str(notebook_dir())
    reason = ("is ambiguous" if matches else
              "is not a known notebook" + did_you_mean(stem, [nb.name for nb in known]))
    raise UsageError(f"{name!r} {reason}", hint=f"use one of: {names} (or `all`); see `runbook list`")


def expand_names(names: list[str]) -> list[NotebookInfo]:
    """Resolve names in the order given; ``all`` expands to every notebook."""
    if not names:
        raise UsageError("no notebook named", hint="name one or more notebooks, or `all`")
    result: list[NotebookInfo] = []
    for name in names:
        for nb in list_notebooks() if name == "all" else [find_notebook(name)]:
            if nb not in result:
                result.append(nb)
    return result
