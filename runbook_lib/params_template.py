"""A params file template for a real deployment (``runbook params --template NOTEBOOK|all``).

One section per notebook, every declared parameter with its default and help as a comment; every
secret is a reference (``env:NAME``, or ``file:PATH`` in a comment), never a value. Required
parameters without a default are written as ``null`` with ``# REQUIRED``.
"""

from __future__ import annotations

from typing import Any

import yaml

from .notebooks import NotebookInfo, expand_names
from .params import ParamSpec, read_declarations

__all__ = ["params_template", "secret_placeholder"]


def secret_placeholder(spec: ParamSpec) -> str:
    """The reference a template gives a secret: its default reference, else ``env:<NAME>``."""
    default = spec.default
    if isinstance(default, str) and default.startswith(("env:", "file:")):
        return default
    return f"env:{spec.name.upper()}"


def _value(spec: ParamSpec) -> Any:
    if spec.is_secret:
        return secret_placeholder(spec)
    return spec.default


def _line(spec: ParamSpec) -> str:
    value = yaml.safe_dump(_value(spec), default_flow_style=True, allow_unicode=True, width=4096)
    value = value.strip().removesuffix("...").strip()
    notes = [spec.display_type]
    if spec.required:
        notes.append("REQUIRED")
    if spec.is_secret:
        notes.append("env:NAME or file:PATH, never the value")
    comment = f"  # {'; '.join(notes)}" + (f": {spec.help}" if spec.help else "")
    return f"  {spec.name}: {value}{comment}"


def params_template(names: list[str]) -> str:
    """The template for ``names`` (``["all"]`` for every notebook, in run order)."""
    notebooks: list[NotebookInfo] = expand_names(names)
    lines = ["# Parameters for `runbook run all -f params.yaml` (one section per notebook).",
             "# Secrets are references: env:NAME reads an environment variable, file:PATH a file only you",
             "# can read (chmod 600). Edit the URLs for your deployment; `runbook params NOTEBOOK` explains each.",
             ""]
    for nb in notebooks:
        lines.append(f"{nb.name}:")
        lines += [_line(spec) for spec in read_declarations(nb.path).values()]
        lines.append("")
    return "\n".join(lines)
