"""In a real kernel, hand-edited parameters end up exactly as the runner would inject them, or are refused.

Each shipped notebook (00, 10, 20) is copied with its parameters cell edited by hand (raw strings where
a bool, int, float or URL is declared) and run up to its ``from_parameters`` cell; a last cell reports
the kernel's values. A generic runbook declares every type (list included: no shipped notebook of
these three declares one).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbformat.v4 import new_code_cell

from runbook_lib.notebooks import find_notebook
from tests.nbfactory import write_notebook

REPORT = "import json\nprint(json.dumps({{n: [type(v).__name__, v] for n, v in globals().items() if n in {names!r}}}))"


def _edited_copy(name: str, edits: dict[str, str], tmp_path: Path) -> nbformat.NotebookNode:
    """The shipped notebook with ``name = <raw source>`` lines replacing the declarations of ``edits``,
    cut after the cell that builds the runbook, plus a cell printing the edited names' values."""
    nb = nbformat.read(find_notebook(name).path, 4)
    cells = []
    for cell in nb.cells:
        if "parameters" in cell.metadata.get("tags", []):
            lines = cell.source.splitlines()
            for param, raw in edits.items():
                index = next(i for i, line in enumerate(lines) if re.match(rf"{param}\s*:", line))
                lines[index] = f"{param} = {raw}  # edited by hand"
            cell.source = "\n".join(lines)
        cells.append(cell)
        if "from_parameters(globals())" in cell.source:
            break
    else:
        raise AssertionError(f"{name} has no from_parameters cell")
    nb.cells = cells + [new_code_cell(REPORT.format(names=sorted(edits)))]
    return nb


def _run(nb: nbformat.NotebookNode, cwd: Path) -> dict[str, list]:
    NotebookClient(nb, kernel_name="python3", timeout=None, resources={"metadata": {"path": str(cwd)}}).execute()
    stream = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    return json.loads(stream)


def _refusal(nb: nbformat.NotebookNode, cwd: Path) -> str:
    with pytest.raises(CellExecutionError) as err:
        NotebookClient(nb, kernel_name="python3", timeout=None, resources={"metadata": {"path": str(cwd)}}).execute()
    assert err.value.ename == "ParameterError"
    text = str(err.value)
    assert "runbook_lib" + "/" not in text and "File " not in text, text  # no library traceback
    return text


CASES = {
    "00_setup": {
        "coerced": {"apply": ('"false"', ["bool", False]), "timeout_s": ('"7"', ["float", 7.0]),
                    "litellm_url": ('" http://127.0.0.1:4000 "', ["str", "http://127.0.0.1:4000"])},
        "refused": {"apply": '"maybe"', "timeout_s": '"fast"', "litellm_url": '"not a url"'},
    },
    "10_migration": {
        "coerced": {"apply": ('"FALSE"', ["bool", False]), "allow_destructive": ('"no"', ["bool", False]),
                    "lock_timeout_ms": ('"250"', ["int", 250]), "database_url": ('"env:RB_KERNEL_DSN"',
                                                                                 ["str", "env:RB_KERNEL_DSN"])},
        "refused": {"apply": '"sure"', "lock_timeout_ms": '"12.5"', "database_url": '"env:RB_KERNEL_DSN"'},
    },
    "20_callback_verification": {
        "coerced": {"requests_per_kind": ('"3"', ["int", 3]), "deadline_s": ("2", ["float", 2.0]),
                    "trace_store_url": ('"http://127.0.0.1:8123 "', ["str", "http://127.0.0.1:8123"])},
        "refused": {"requests_per_kind": '"two"', "deadline_s": '"soon"', "trace_store_url": '"ftp://x"'},
    },
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_hand_edited_values_are_coerced_in_the_kernel(name, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RB_KERNEL_DSN", "postgresql://runbook@127.0.0.1:9/agentops")
    case = CASES[name]["coerced"]
    values = _run(_edited_copy(name, {p: raw for p, (raw, _) in case.items()}, tmp_path), tmp_path)
    assert values == {p: expected for p, (_, expected) in case.items()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_invalid_hand_edits_are_refused_with_the_runners_message(name, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("RB_KERNEL_DSN", raising=False)  # 10_migration: the DSN reference does not resolve
    case = CASES[name]["refused"]
    text = _refusal(_edited_copy(name, case, tmp_path), tmp_path)
    assert f"invalid parameters for {name}" in text and f"runbook params {name}" in text
    for param in case:
        assert f"- {param}" in text, (param, text)


GENERIC = '''flag: bool = False  # a switch
count: int = 1  # how many
ratio: float = 0.5  # a number
models: list = []  # names
url: "Optional[Url]" = None  # optional URL
'''
GENERIC_BUILD = '''from runbook_lib.runbook import Runbook

class Generic(Runbook):
    notebook = "generic"

    def __init__(self, **values):
        super().__init__()

rb = Generic.from_parameters(globals())'''


@pytest.fixture
def generic(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    monkeypatch.setenv("RUNBOOK_NOTEBOOK_DIR", str(folder))
    return write_notebook(folder / "generic.ipynb", GENERIC, GENERIC_BUILD)


def _generic_with(path: Path, edits: dict[str, str]) -> nbformat.NotebookNode:
    nb = nbformat.read(path, 4)
    # declarations first (the runner reads them), the hand edits after them
    nb.cells[1].source = GENERIC + "\n".join(f"{name} = {raw}" for name, raw in edits.items())
    nb.cells.append(new_code_cell(REPORT.format(names=sorted(edits))))
    return nb


def test_every_type_is_coerced_in_the_kernel(generic, tmp_path) -> None:
    edits = {"flag": '"true"', "count": '" 42 "', "ratio": '"1e-3"', "models": '"[gpt-4o, claude]"',
             "url": '"http://127.0.0.1:4000/ "'}
    values = _run(_generic_with(generic, edits), tmp_path)
    assert values == {"flag": ["bool", True], "count": ["int", 42], "ratio": ["float", 0.001],
                      "models": ["list", ["gpt-4o", "claude"]], "url": ["str", "http://127.0.0.1:4000/"]}


def test_every_type_refuses_a_bad_value_in_the_kernel(generic, tmp_path) -> None:
    edits = {"flag": '"perhaps"', "count": "True", "ratio": '"half"', "models": '"{a: 1}"', "url": '"localhost"'}
    text = _refusal(_generic_with(generic, edits), tmp_path)
    for name in edits:
        assert f"- {name} (" in text, (name, text)
