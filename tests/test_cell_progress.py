"""The runner's progress from nbclient's hooks: the step of each cell over the notebook as it runs."""

from __future__ import annotations

from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from runbook_lib.cell_progress import CellProgress, step_titles


def _notebook() -> object:
    nb = new_notebook()
    nb.cells = [new_markdown_cell("# Title\n\ntext"), new_code_cell("x = 1"), new_code_cell("# injected"),
                new_markdown_cell("plain text, no heading"), new_markdown_cell("## Step one"),
                new_code_cell("# a comment is not a heading")]
    return nb


def test_step_titles_follow_the_latest_markdown_heading() -> None:
    assert step_titles(_notebook()) == ["Title", "Title", "Title", "Title", "Step one", "Step one"]


def test_hooks_report_each_cell_of_the_notebook_they_were_started_with() -> None:
    seen: list[tuple[str, int, int]] = []
    progress = CellProgress(lambda *event: seen.append(event))
    hooks = progress.hooks()
    assert set(hooks) == {"on_notebook_start", "on_cell_start"}
    nb = _notebook()
    hooks["on_notebook_start"](notebook=nb)  # nbclient passes keywords only
    for index, cell in enumerate(nb.cells):
        hooks["on_cell_start"](cell=cell, cell_index=index)
    assert seen == [("Title", 1, 6), ("Title", 2, 6), ("Title", 3, 6), ("Title", 4, 6), ("Step one", 5, 6),
                    ("Step one", 6, 6)]


def test_a_cell_before_the_notebook_start_hook_still_reports() -> None:
    seen: list[tuple[str, int, int]] = []
    CellProgress(lambda *event: seen.append(event)).on_cell_start(cell=new_code_cell("x"), cell_index=0)
    assert seen == [("start", 1, 1)]
