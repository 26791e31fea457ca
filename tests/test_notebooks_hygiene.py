"""Every shipped notebook is thin, stored without outputs, and declares typed, documented parameters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runbook_lib.notebooks import list_notebooks, notebook_dir
from runbook_lib.params import read_declarations

EXPECTED = {"00_setup", "10_migration", "20_callback_verification", "30_trace_analytics"}
NOTEBOOKS = sorted(notebook_dir().glob("*.ipynb"))


def test_the_four_runbooks_are_shipped() -> None:
    assert {nb.name for nb in list_notebooks()} == EXPECTED
    assert all(nb.description for nb in list_notebooks())


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs_with_a_parameters_cell(path: Path) -> None:
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_are_typed_and_documented(path: Path) -> None:
    specs = read_declarations(path)
    assert specs
    for spec in specs.values():
        assert spec.help, f"{path.stem}.{spec.name} has no help comment"
        if "key" in spec.name or "password" in spec.name or spec.name == "database_url":
            assert spec.is_secret, f"{path.stem}.{spec.name} looks like a secret but is typed {spec.type_name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_hold_no_logic(path: Path) -> None:
    """Thin notebooks: no function or class definitions, no loops over data; logic lives in runbook_lib."""
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        assert "def " not in source and "class " not in source, f"{path.stem}: logic belongs in runbook_lib"
        assert "import " not in source or "runbook_lib" in source or "matplotlib" in source, source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_prose_names_parameters_neutrally(path: Path) -> None:
    """Markdown and the description an operator reads never say `apply=True`: the CLI way or `apply` set to true."""
    import re

    nb = json.loads(path.read_text())
    prose = [nb["metadata"].get("runbook", {}).get("description", "")]
    prose += ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]
    python_words = re.compile(r"\b\w+ ?= ?(True|False)\b")
    assert [m.group(0) for text in prose for m in python_words.finditer(text)] == []


def test_papermill_help_notebook_reads_our_declarations() -> None:
    """papermill's own command line (in-process through click's runner, no interpreter start-up)."""
    from click.testing import CliRunner
    from papermill.cli import papermill

    path = notebook_dir() / "00_setup.ipynb"
    result = CliRunner().invoke(papermill, ["--help-notebook", str(path)])
    assert result.exit_code == 0, result.output
    assert "litellm_config_path" in result.output and "litellm_master_key" in result.output


def test_a_hand_edited_parameters_cell_is_checked_in_the_kernel(tmp_path: Path) -> None:
    """In JupyterLab nothing validates before the kernel starts: the notebook itself refuses bad values."""
    import papermill as pm

    with pytest.raises(pm.PapermillExecutionError) as info:
        pm.execute_notebook(str(notebook_dir() / "00_setup.ipynb"), str(tmp_path / "out.ipynb"),
                            parameters={"litellm_master_key": "sk-literal-key-123", "timeout_s": "soon"},
                            kernel_name="python3", progress_bar=False)
    assert info.value.ename == "ParameterError"
    assert "takes a reference, not a value" in info.value.evalue and "expected a number" in info.value.evalue
    assert "sk-literal-key-123" not in info.value.evalue


RUNBOOKS = {"00_setup": "runbook_lib.setup.SetupRunbook", "10_migration": "runbook_lib.db.runbook.MigrationRunbook",
            "20_callback_verification": "runbook_lib.verification.VerificationRunbook"}


@pytest.mark.parametrize("name", sorted(RUNBOOKS))
def test_notebook_cells_are_the_runbooks_sections_in_order(name: str) -> None:
    """The notebook builds its runbook from its parameters, shows every section once in the runbook's
    order and ends with the verdict, so ``run_all`` (what tests drive) is the notebook's own path."""
    import importlib

    module, _, cls_name = RUNBOOKS[name].rpartition(".")
    cls = getattr(importlib.import_module(module), cls_name)
    assert cls.notebook == name
    nb = json.loads((notebook_dir() / f"{name}.ipynb").read_text())
    code = ["".join(c["source"]).strip() for c in nb["cells"]
            if c["cell_type"] == "code" and "parameters" not in c["metadata"].get("tags", [])]
    assert code[0].endswith(f"rb = {cls_name}.from_parameters(globals())")
    assert code[1:] == [f"rb.show_{section}()" for section in cls.SECTIONS] + ["rb.show_verdict()"]
