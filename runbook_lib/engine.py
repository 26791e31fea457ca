"""A papermill engine that reports which cell is starting (for the runner's progress display)."""

from __future__ import annotations

from typing import Any

from papermill.engines import NBClientEngine, papermill_engines

__all__ = ["RunbookEngine", "register_engine"]


class RunbookEngine(NBClientEngine):
    """nbclient engine plus an ``on_cell(cell, index)`` hook called before each cell runs."""

    @classmethod
    def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, **kwargs: Any) -> Any:
        on_cell = kwargs.pop("on_cell", None)
        if on_cell is not None:
            original = nb_man.cell_start

            def cell_start(cell: Any, cell_index: int | None = None, **kw: Any) -> Any:
                on_cell(cell, cell_index)
                return original(cell, cell_index, **kw)

            nb_man.cell_start = cell_start
        return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)


def register_engine() -> None:
    papermill_engines.register("runbook", RunbookEngine)
