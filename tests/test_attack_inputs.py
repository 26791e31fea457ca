"""Bad input on the command line: values that look like options are values."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from runbook_lib.cli import main
from tests.nbfactory import write_notebook


@pytest.fixture
def window_nb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    monkeypatch.setenv("RUNBOOK_NOTEBOOK_DIR", str(folder))
    write_notebook(folder / "window.ipynb", 'start: str = "-7d"  # window start\ncount: int = 1  # how many',
                   "from runbook_lib import Check, show_checks\n"
                   "show_checks(Check.passed('w.start', 'Start', f'start={start}'))")
    return folder


def test_a_value_starting_with_a_dash_is_a_value(window_nb: Path, tmp_path: Path, capsys) -> None:
    days = f"-{secrets.randbelow(90) + 1}d"
    assert main(["run", "window", "-p", "start", days, "--out", str(tmp_path / "r"), "--no-html"]) == 0
    run_json = next((tmp_path / "r").iterdir()) / "run.json"
    assert f'"start={days}"' in run_json.read_text()
    capsys.readouterr()
    assert main(["run", "window", "-p", "count", days, "--out", str(tmp_path / "r")]) == 3
    assert f"expected an integer, got '{days}'" in capsys.readouterr().err
