"""JupyterLab onboarding: a how-to first cell, notebooks that read the params file `runbook lab` names
(through a real kernel), Lab rooted at the project, and saved outputs kept out of git by a clean filter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

from runbook_lib.errors import UsageError
from runbook_lib.kernel_env import isolated_jupyter_env
from runbook_lib.lab import lab_launch
from runbook_lib.lab_params import PARAMS_FILE_ENV
from runbook_lib.notebooks import find_notebook
from runbook_lib.strip_outputs import GIT_FILTER, strip_text

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_first_cell_says_how_to_use_the_notebook(path):
    first = json.loads(path.read_text(encoding="utf-8"))["cells"][0]
    text = "".join(first["source"])
    assert first["cell_type"] == "markdown" and text.startswith("# ")
    for needle in ("How to use this notebook", "runbook lab -f params.yaml", f"runbook run {path.stem} -f params.yaml",
                   "env:NAME", "Run All Cells"):
        assert needle in text, needle


def _until_runbook(name: str, edits: dict[str, str]) -> nbformat.NotebookNode:
    nb = nbformat.read(find_notebook(name).path, 4)
    cells = []
    for cell in nb.cells:
        if "parameters" in cell.metadata.get("tags", []):
            lines = cell.source.splitlines()
            for param, raw in edits.items():
                index = next(i for i, line in enumerate(lines) if line.startswith(f"{param}:"))
                lines[index] = f"{param} = {raw}  # edited by hand"
            cell.source = "\n".join(lines)
        cells.append(cell)
        if "from_parameters(globals())" in cell.source:
            break
    names = ["litellm_url", "model", "deadline_s", "requests_per_kind", "trace_store_url"]
    cells.append(new_code_cell(f"import json\nprint(json.dumps({{n: globals()[n] for n in {names!r}}}))"))
    nb.cells = cells
    return nb


def test_a_kernel_started_by_runbook_lab_reads_the_params_file(tmp_path, monkeypatch):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({
        "deadline_s": 5,  # shared
        "20_callback_verification": {"litellm_url": "http://127.0.0.1:4999", "model": "sandbox-model",
                                     "requests_per_kind": 7},
    }))
    monkeypatch.setenv(PARAMS_FILE_ENV, str(params))  # what `runbook lab` sets for the Lab server
    nb = _until_runbook("20_callback_verification", {"requests_per_kind": "3"})
    NotebookClient(nb, kernel_name="python3", timeout=None, resources={"metadata": {"path": str(tmp_path)}}).execute()
    values = json.loads("".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream"))
    assert values["litellm_url"] == "http://127.0.0.1:4999" and values["model"] == "sandbox-model"
    assert values["deadline_s"] == 5.0  # coerced, from the shared part
    assert values["requests_per_kind"] == 3  # edited in the cell: the hand edit wins over the file
    assert values["trace_store_url"] == "http://127.0.0.1:8123"  # not in the file: the cell's default


def test_headless_kernels_never_read_the_lab_params_file(monkeypatch, tmp_path):
    monkeypatch.setenv(PARAMS_FILE_ENV, str(tmp_path / "params.yaml"))
    with isolated_jupyter_env():
        assert PARAMS_FILE_ENV not in os.environ  # the runner's kernels inherit this environment
    assert os.environ[PARAMS_FILE_ENV] == str(tmp_path / "params.yaml")


def test_lab_opens_at_the_project_root_with_the_sandbox_params(tmp_path):
    (tmp_path / "examples").mkdir()
    (tmp_path / ".sandbox").mkdir()
    (tmp_path / ".sandbox" / "params.yaml").write_text("{}\n")
    launch = lab_launch(root=tmp_path, jupyter="jupyter")
    assert launch.cwd == tmp_path.resolve() and f"--ServerApp.root_dir={tmp_path.resolve()}" in launch.argv
    assert launch.env[PARAMS_FILE_ENV] == str((tmp_path / ".sandbox" / "params.yaml").resolve())
    (tmp_path / "params.yaml").write_text("{}\n")  # an operator's own file comes first
    assert lab_launch(root=tmp_path, jupyter="jupyter").env[PARAMS_FILE_ENV] == str(tmp_path / "params.yaml")
    with pytest.raises(UsageError, match="does not exist"):
        lab_launch(tmp_path / "missing.yaml", root=tmp_path, jupyter="jupyter")
    makefile = (ROOT / "Makefile").read_text()
    assert "runbook lab --root ." in makefile and "filter.runbook-strip-outputs.clean" in makefile


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_strip_filter_passes_clean_notebooks_byte_for_byte(path):
    text = path.read_text(encoding="utf-8")
    assert strip_text(text) == text


def test_git_strips_saved_outputs_through_the_filter(tmp_path):
    repo = tmp_path / "repo"
    (repo / "notebooks").mkdir(parents=True)
    (repo / ".gitattributes").write_text((ROOT / ".gitattributes").read_text())

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout

    git("init", "-q")
    git("config", "user.email", "t@example.invalid")
    git("config", "user.name", "t")
    git("config", f"filter.{GIT_FILTER}.clean", f"{sys.executable} -m runbook_lib.strip_outputs")
    nb = nbformat.read(NOTEBOOKS[0], 4)
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="a saved output\n")]
    nb.cells[1].execution_count = 4
    nbformat.write(nb, repo / "notebooks" / "x.ipynb")
    git("add", "notebooks/x.ipynb")
    git("commit", "-q", "-m", "with outputs")
    stored = json.loads(git("show", "HEAD:notebooks/x.ipynb"))
    code = [c for c in stored["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    assert "a saved output" in (repo / "notebooks" / "x.ipynb").read_text()  # the working copy keeps them
