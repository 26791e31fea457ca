"""Which step a running notebook is at, from nbclient's own hooks (no engine of ours, nothing patched).

papermill passes extra keyword arguments through its nbclient engine to ``NotebookClient``, whose
``on_notebook_start`` hook receives the notebook as it runs (papermill's injected parameters cell included)
and whose ``on_cell_start`` hook runs before every cell, markdown ones too. papermill's own bookkeeping
(``NotebookExecutionManager.cell_start``) is untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["CellProgress", "step_titles"]

#: Called with the step (latest heading), the 1-based cell number and the number of cells.
StepCallback = Callable[[str, int, int], None]


def step_titles(nb: Any) -> list[str]:
    """For each cell, the latest markdown heading at or before it (the 'current step')."""
    titles, current = [], "start"
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    current = line.lstrip("#").strip()
                    break
        titles.append(current)
    return titles


class CellProgress:
    """nbclient hooks that report each starting cell with its step; pass :meth:`hooks` to papermill."""

    def __init__(self, report: StepCallback) -> None:
        self._report = report
        self._titles: list[str] = []

    def hooks(self) -> dict[str, Callable[..., None]]:
        """The keyword arguments for ``papermill.execute_notebook`` (forwarded to ``NotebookClient``)."""
        return {"on_notebook_start": self.on_notebook_start, "on_cell_start": self.on_cell_start}

    def on_notebook_start(self, notebook: Any, **_: Any) -> None:
        self._titles = step_titles(notebook)

    def on_cell_start(self, cell: Any, cell_index: int, **_: Any) -> None:
        titles = self._titles or ["start"]
        step = titles[cell_index] if cell_index < len(titles) else titles[-1]
        self._report(step, cell_index + 1, max(len(titles), cell_index + 1))
