"""Bounds on what the runbooks read from users: file sizes, parameter sizes, YAML alias expansion.

Everything a user hands over (a params file, a ``-p`` value, a LiteLLM ``config.yaml``) is read
through these functions, so no input can make a run spin or exhaust memory:

- :func:`read_bounded_text` reads at most ``limit`` bytes of a file and refuses more, and refuses a
  file that is not UTF-8 text (a binary file), naming the file and the limit;
- :func:`load_bounded_yaml` parses YAML and refuses a document whose *expanded* size (every alias
  counted as the copy it stands for, as anything that later walks or serialises it would see it)
  exceeds a node budget, or that nests deeper than a bound. The YAML "billion laughs" anchor bomb
  and self-referencing aliases are caught here, in time bounded by the budget;
- :func:`value_size_problem` says why one parameter value is too large (its text, or its expanded size).

Each raises the error class its caller names (``ParameterError`` for parameters: exit 3;
``ConfigError`` for a config, which the lint turns into a failed check), with the fix as ``hint``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import ParameterError, RunbookError

__all__ = ["InputLimits", "LIMITS", "check_expanded", "expanded_size", "load_bounded_yaml", "read_bounded_text",
           "value_size_problem"]


@dataclass(frozen=True)
class InputLimits:
    """The bounds on user input (bytes, YAML nodes after alias expansion, nesting depth)."""

    params_file_bytes: int = 1 << 20          # a params file: 1 MiB is thousands of parameters
    config_file_bytes: int = 1 << 20          # a LiteLLM config.yaml (large ones are ~100 KiB; lint ~15 s/MiB)
    value_chars: int = 64 << 10               # one parameter value given as text (-p NAME VALUE)
    yaml_nodes: int = 100_000                 # scalars + collections of one document, aliases expanded
    yaml_depth: int = 64                      # nesting of lists and mappings

    @staticmethod
    def human(size: int) -> str:
        return f"{size >> 20} MiB" if size >= 1 << 20 and not size % (1 << 20) else f"{size >> 10} KiB"


#: the bounds in force (one place to read or change them)
LIMITS = InputLimits()


def read_bounded_text(path: str | Path, *, limit: int, what: str,
                      error: type[RunbookError] = ParameterError) -> str:
    """The UTF-8 text of ``path`` if it holds at most ``limit`` bytes; else ``error`` naming the limit.

    Reads ``limit + 1`` bytes at most whatever the file's size (a FIFO or ``/dev/zero`` included).
    A file with NUL bytes or invalid UTF-8 is refused as not text. ``OSError`` passes through."""
    p = Path(path).expanduser()
    with p.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise error(f"{what} {p} is larger than {InputLimits.human(limit)}: refused unread",
                    hint=f"a {what} is small text; check that {p.name} is the right file")
    if b"\x00" in data:
        raise error(f"{what} {p} is not text (it holds NUL bytes: a binary file?)",
                    hint=f"pass the YAML {what} itself (UTF-8 text)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{what} {p} is not UTF-8 text (invalid byte at offset {exc.start})",
                    hint=f"save {p.name} as UTF-8 (or pass the right file)") from None


class _Exceeded(Exception):
    """Internal: the walk met more nodes (or deeper nesting) than allowed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def expanded_size(value: Any, *, max_nodes: int, max_depth: int) -> int:
    """Count the nodes of ``value`` as a serialiser would see them (shared references counted each
    time they occur); stop with ``ValueError`` at ``max_nodes`` or beyond ``max_depth``.

    Runs in time bounded by ``max_nodes`` whatever the structure (also a self-referencing one)."""
    count = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    try:
        while stack:
            node, depth = stack.pop()
            count += 1
            if count > max_nodes:
                raise _Exceeded(f"more than {max_nodes:,} values once its aliases are expanded")
            if isinstance(node, dict):
                children: Any = [*node.keys(), *node.values()]
            elif isinstance(node, (list, tuple, set)):
                children = node
            else:
                continue
            if depth + 1 > max_depth:
                raise _Exceeded(f"nesting deeper than {max_depth} levels")
            stack.extend((child, depth + 1) for child in children)
    except _Exceeded as exc:
        raise ValueError(exc.reason) from None
    return count


def load_bounded_yaml(text: str, *, what: str, error: type[RunbookError] = ParameterError,
                      loader: type[yaml.SafeLoader] = yaml.SafeLoader, limits: InputLimits = LIMITS) -> Any:
    """Parse YAML with ``loader`` and refuse a document over the node or depth budget.

    ``yaml.YAMLError`` passes through (callers report its line); too deep a nesting for the parser
    itself is refused like an over-budget document."""
    try:
        data = yaml.load(text, Loader=loader)  # noqa: S506 (loader is SafeLoader or a subclass)
    except RecursionError:
        raise error(f"{what} nests deeper than the YAML parser can follow", hint=_BOMB_HINT) from None
    check_expanded(data, what=what, error=error, limits=limits)
    return data


_BOMB_HINT = ("write the values out (YAML anchors and aliases that multiply, or refer to themselves, "
              "are refused)")


def check_expanded(data: Any, *, what: str, error: type[RunbookError] = ParameterError,
                   limits: InputLimits = LIMITS) -> None:
    """Refuse ``data`` (already parsed) whose expanded size or depth is over the budget."""
    try:
        expanded_size(data, max_nodes=limits.yaml_nodes, max_depth=limits.yaml_depth)
    except ValueError as exc:
        raise error(f"{what} holds {exc}", hint=_BOMB_HINT) from None


def value_size_problem(value: Any, *, limits: InputLimits = LIMITS) -> str | None:
    """Why one parameter value is too large (text too long, too many values once expanded), or None."""
    if isinstance(value, str) and len(value) > limits.value_chars:
        return (f"the value is {len(value):,} characters long, more than {limits.value_chars:,} "
                "(pass a shorter value)")
    if isinstance(value, (list, dict, tuple, set)):
        try:
            expanded_size(value, max_nodes=limits.yaml_nodes, max_depth=limits.yaml_depth)
        except ValueError as exc:
            return f"the value holds {exc} ({_BOMB_HINT})"
    return None
