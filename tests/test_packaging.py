"""Packaging stays coherent: environment.yml follows pyproject.toml; the public API is explicit."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib
import yaml

import runbook_lib

ROOT = Path(__file__).resolve().parent.parent


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_installs_the_project_with_existing_extras() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    pip_sections = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1, "exactly one pip: section"
    installs = [line for line in pip_sections[0] if re.match(r"^(-e\s+)?\.(\[|$)", line)]
    assert len(installs) == 1, "the pip: section installs the project itself"
    extras = set(re.search(r"\[(.*)\]", installs[0]).group(1).split(","))
    declared = set(_pyproject()["project"]["optional-dependencies"])
    assert extras <= declared, f"unknown extras {extras - declared}"
    assert {"sandbox", "test"} <= extras
    # No Python package is pinned twice: everything else comes from pyproject.toml.
    assert [line for line in pip_sections[0] if line not in installs] == []
    conda = [d for d in deps if isinstance(d, str)]
    python = next(d for d in conda if d.startswith("python"))
    minimum = _pyproject()["project"]["requires-python"].removeprefix(">=")
    assert tuple(map(int, python.split("=")[1].split("."))) >= tuple(map(int, minimum.split(".")))
    assert "pip" in conda and any(d.startswith("postgresql") for d in conda)


def test_pyproject_declares_runtime_and_extras() -> None:
    project = _pyproject()["project"]
    names = {re.split(r"[<>=!\[ ;]", d)[0].lower() for d in project["dependencies"]}
    assert {"papermill", "nbconvert", "ipykernel", "httpx", "psycopg", "pandas", "matplotlib", "pyyaml"} <= names
    extras = project["optional-dependencies"]
    assert {"lab", "sandbox", "test", "dev"} <= set(extras)
    assert any(d.startswith("jupyterlab") for d in extras["lab"])
    assert not any("jupyterlab" in d for d in project["dependencies"])
    litellm = next(d for d in extras["sandbox"] if d.startswith("litellm"))
    assert "1.107.0" not in litellm
    assert project["scripts"]["runbook"] == "runbook_lib.cli:main"


def test_public_api_is_explicit() -> None:
    assert sorted(runbook_lib.__all__) == runbook_lib.__all__
    for name in runbook_lib.__all__:
        assert hasattr(runbook_lib, name), name


def test_every_error_derives_from_one_base() -> None:
    from runbook_lib import errors

    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, Exception)]
    assert all(issubclass(c, errors.RunbookError) for c in classes)
