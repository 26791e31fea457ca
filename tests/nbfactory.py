"""Build small notebooks for runner tests (written at test time, never stored)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def write_notebook(path: Path, parameters: str, *cells: str, description: str = "test notebook") -> Path:
    """A notebook: title, tagged parameters cell, then code cells (a cell starting with '#' + newline
    and only markdown-like text is still code; use ``md:`` prefix for markdown)."""
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["runbook"] = {"description": description}
    nb.cells.append(new_markdown_cell(f"# {path.stem}\n\n{description}"))
    params = new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    nb.cells.append(params)
    for source in cells:
        if source.startswith("md:"):
            nb.cells.append(new_markdown_cell(source[3:]))
        else:
            nb.cells.append(new_code_cell(source))
    nbformat.write(nb, path)
    return path
