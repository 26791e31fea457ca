"""The CLI habits of pytest and kubectl: run order, verdicts, suggestions, machine-readable output."""

from __future__ import annotations

from pathlib import Path

from runbook_lib.notebooks import RUN_ORDER, expand_names, list_notebooks
from runbook_lib.sandbox.demo import DEMO_ORDER

SHIPPED = Path(__file__).resolve().parents[1] / "notebooks"


def test_run_all_runs_in_dependency_order_declared_once(monkeypatch):
    monkeypatch.delenv("RUNBOOK_NOTEBOOK_DIR", raising=False)
    assert [nb.name for nb in expand_names(["all"])] == list(RUN_ORDER)
    assert RUN_ORDER[0] == "10_migration"  # the repair before what a drifted database breaks
    assert DEMO_ORDER == RUN_ORDER
    assert [nb.name for nb in list_notebooks()] == list(RUN_ORDER)


def test_other_notebooks_follow_the_declared_order_by_name(tmp_path, monkeypatch):
    for name in ("zz_extra", "00_setup", "aa_extra", "10_migration"):
        (tmp_path / f"{name}.ipynb").write_text("{}")
    monkeypatch.setenv("RUNBOOK_NOTEBOOK_DIR", str(tmp_path))
    assert [nb.name for nb in expand_names(["all"])] == ["10_migration", "00_setup", "aa_extra", "zz_extra"]
