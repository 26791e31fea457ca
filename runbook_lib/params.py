"""Notebook parameter declarations and their validation, before any kernel starts.

A notebook declares parameters in its cell tagged ``parameters`` in papermill's format::

    litellm_url: "Optional[Url]" = "http://127.0.0.1:4000"  # LiteLLM proxy base URL
    litellm_master_key: "Secret" = "env:LITELLM_MASTER_KEY"  # proxy master key (reference)
    timeout_s: float = 5.0  # per-request timeout in seconds

Types: ``str int float bool list dict Path Url Time Secret DsnSecret`` and ``Optional[...]`` of any
(``Time``: ``now``, a relative ``-24h``/``-7d`` or an ISO time; kept as written, checked before any kernel).
A non-optional parameter whose default is ``None`` is required. Secret-typed parameters take
references only (``env:NAME`` / ``file:PATH``).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import ParameterError
from .input_limits import LIMITS, load_bounded_yaml, read_bounded_text, value_size_problem
from .secrets import REFERENCE_FORMS, SecretRef, is_reference
from .times import parse_time
from .url_credentials import refuse_url_credentials

__all__ = [
    "ParamSpec",
    "check_parameters",
    "coerce_parameters",
    "load_params_file",
    "read_declarations",
    "secret_references",
    "validate_parameters",
]

SECRET_TYPES = {"Secret", "DsnSecret"}
KNOWN_TYPES = {"str", "int", "float", "bool", "list", "dict", "Path", "Url", "Time"} | SECRET_TYPES
_OPTIONAL = re.compile(r"^Optional\[(?P<inner>\w+)\]$")
#: ``Time`` parameter pairs that bound a window: the first must be earlier than the second (checked
#: before any kernel starts, against one "now" for both).
TIME_WINDOWS = (("start", "end"),)
_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter."""

    name: str
    type_name: str  # base type, without Optional[]
    default: Any
    help: str
    optional: bool

    @property
    def required(self) -> bool:
        return self.default is None and not self.optional

    @property
    def is_secret(self) -> bool:
        return self.type_name in SECRET_TYPES

    @property
    def display_type(self) -> str:
        return f"Optional[{self.type_name}]" if self.optional else self.type_name


def read_declarations(notebook: str | Path) -> dict[str, ParamSpec]:
    """Read the tagged ``parameters`` cell of a notebook (no kernel is started)."""
    from papermill.inspection import _infer_parameters
    from papermill.iorw import load_notebook_node

    nb = load_notebook_node(str(notebook))
    specs: dict[str, ParamSpec] = {}
    inferred = _infer_parameters(nb)
    _check_every_line_read(nb, {p.name: p.default for p in inferred}, Path(notebook).name)
    for p in inferred:
        raw_type = (p.inferred_type_name or "None").replace(" ", "")
        match = _OPTIONAL.match(raw_type)
        base = match["inner"] if match else raw_type
        if base not in KNOWN_TYPES:
            raise ParameterError(
                f"{Path(notebook).name}: parameter {p.name!r} has no supported type annotation ({raw_type})",
                hint=f"annotate it with one of {sorted(KNOWN_TYPES)} or Optional[...] of one",
            )
        try:
            default = ast.literal_eval(p.default)
        except (ValueError, SyntaxError):
            raise ParameterError(
                f"{Path(notebook).name}: default of {p.name!r} is not a literal ({p.default})",
                hint="parameters cells may hold literal values only",
            ) from None
        specs[p.name] = ParamSpec(p.name, base, default, p.help, bool(match))
    return specs


def _check_every_line_read(nb: Any, read: Mapping[str, str], name: str) -> None:
    """Refuse a parameters cell papermill read differently from Python (``read``: name -> default text as
    papermill read it): papermill drops a line whose default or help holds ``=`` and cuts a default at
    ``#``, with only a log warning."""
    cell = next((c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if cell is None:
        return
    try:
        tree = ast.parse(cell.source)
    except SyntaxError as exc:
        raise ParameterError(f"{name}: the parameters cell is not valid Python (line {exc.lineno})",
                             hint="fix the cell: one `name: type = literal  # help` per line") from None
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            target, value = node.target.id, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target, value = node.targets[0].id, node.value
        else:
            continue
        source = (ast.get_source_segment(cell.source, value) or "").strip()
        if read.get(target, "").strip() != source:
            raise ParameterError(
                f"{name}: papermill cannot read the declaration of {target!r} (line {node.lineno}) as Python does",
                hint="keep '=' out of its default and help text and '#' out of its default "
                     "(papermill splits the line there)")


def load_params_file(path: str | Path) -> dict[str, Any]:
    """Load a YAML (or JSON) mapping of parameters; a malformed file is a ParameterError."""
    try:
        data = _load_bounded_params_file(path)
    except OSError as exc:
        raise ParameterError(f"cannot read parameters file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ParameterError(f"parameters file {path} is not valid YAML{where}",
                             hint="fix the YAML syntax there") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParameterError(f"parameters file {path} must hold a mapping of name: value")
    return data


def _load_bounded_params_file(path: str | Path) -> Any:
    """The parsed params file, within :data:`~runbook_lib.input_limits.LIMITS` (size, text, aliases)."""
    what = "parameters file"
    text = read_bounded_text(path, limit=LIMITS.params_file_bytes, what=what)
    return load_bounded_yaml(text, what=f"{what} {path}")


def _coerce_bounded(spec: ParamSpec, value: Any) -> Any:
    """:func:`_coerce` within the input limits: the value as given and as coerced are both bounded
    (a long text, a YAML anchor bomb, a nesting too deep for the parser: ValueError with the reason)."""
    if reason := value_size_problem(value):
        raise ValueError(reason)
    try:
        coerced = _coerce(spec, value)
    except RecursionError:
        raise ValueError("the value nests deeper than the YAML parser can follow") from None
    if reason := value_size_problem(coerced):
        raise ValueError(reason)
    return coerced


def _coerce(spec: ParamSpec, value: Any) -> Any:
    """Return the value in the declared type, or raise ValueError with a short reason."""
    t = spec.type_name
    if value is None or (isinstance(value, str) and value == "" and t not in ("str",)):
        if spec.optional:
            return None if value is None else ""
        raise ValueError("a value is required")
    if t in SECRET_TYPES:
        if not is_reference(value):
            raise ValueError(f"a secret takes a reference, not a value: use {REFERENCE_FORMS}")
        return str(value).strip()
    if t == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise ValueError(f"expected true or false, got {value!r}")
    if t == "int":
        if isinstance(value, bool):
            raise ValueError(f"expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
            return int(value)
        raise ValueError(f"expected an integer, got {value!r}")
    if t == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ValueError(f"expected a number, got {value!r}")
    if t in ("list", "dict"):
        if isinstance(value, str):
            try:
                value = yaml.safe_load(value)
            except yaml.YAMLError:
                raise ValueError(f"expected a YAML/JSON {t}; write it as {_COLLECTION_SYNTAX[t]}") from None
        expected = list if t == "list" else dict
        if not isinstance(value, expected):
            raise ValueError(f"expected a {t}, got {type(value).__name__}; write it as {_COLLECTION_SYNTAX[t]}")
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {type(value).__name__} {value!r}")
    if t == "Url":
        return _check_url(refuse_url_credentials(value, name=spec.name))
    if t == "Time":
        try:
            parse_time(value, name=spec.name)
        except ParameterError as exc:
            raise ValueError(f"cannot read {value.strip()!r} as a time; {exc.hint}") from None
        return value.strip()
    return value


#: How a list or dict is written on the command line or in a params file (YAML flow syntax).
_COLLECTION_SYNTAX = {"list": "-p NAME '[a, b]' (YAML/JSON list; a params file may use a YAML list)",
                      "dict": "-p NAME '{key: value}' (YAML/JSON mapping)"}

_HOSTNAME = re.compile(r"^[A-Za-z0-9_.-]+$|^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$")


def _check_url(value: str) -> str:
    from urllib.parse import urlsplit

    text = value.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        raise ValueError(f"malformed URL {value!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http(s)://host[:port] URL, got {value!r}")
    if any(ch.isspace() for ch in text) or not _HOSTNAME.match(parts.hostname):
        raise ValueError(f"malformed URL {value!r}")
    return text


def _check_dsn(ref: SecretRef) -> str | None:
    """Resolve a DSN reference and check its shape; return a reason when malformed."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(ref.resolve())
    except Exception:
        return f"the value behind {ref} is not a PostgreSQL DSN (postgresql://user:pw@host:port/db)"
    return None


def validate_parameters(
    specs: Mapping[str, ParamSpec], given: Mapping[str, Any], *, notebook: str = "notebook",
    with_defaults: bool = False,
) -> dict[str, Any]:
    """Validate ``given`` against ``specs``; return the coerced values (of every declared parameter
    with ``with_defaults``, else of the given ones). Raises one ParameterError listing every problem
    (unknown names, wrong types, malformed URLs/DSNs, missing values)."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    effective: dict[str, Any] = {}
    from .cli_suggest import did_you_mean

    for name in given:
        if name not in specs:
            problems.append(f"{name}: unknown parameter{did_you_mean(name, specs)} "
                            f"(known: {', '.join(sorted(specs)) or 'none'})")
    for name, spec in specs.items():
        explicit = name in given
        try:
            value = _coerce_bounded(spec, given[name] if explicit else spec.default)
        except ValueError as exc:
            problems.append(f"{name} ({spec.display_type}): {exc}")
            continue
        if spec.is_secret and value:
            ref = SecretRef.parse(value, name=name)
            if not ref.exists() and (explicit or spec.required):
                problems.append(f"{name}: {ref} does not resolve (variable unset or file missing)")
            elif ref.exists() and spec.type_name == "DsnSecret" and (reason := _check_dsn(ref)):
                problems.append(f"{name}: {reason}")
        effective[name] = value
        if explicit or with_defaults:
            values[name] = value
    problems += _window_problems(specs, effective)
    if problems:
        raise ParameterError(
            f"invalid parameters for {notebook}:\n  - " + "\n  - ".join(problems),
            hint=f"see `runbook params {notebook}` for names, types and defaults",
        )
    return values


def _window_problems(specs: Mapping[str, ParamSpec], effective: Mapping[str, Any]) -> list[str]:
    """A window (:data:`TIME_WINDOWS`) whose start is not earlier than its end, both read against one now."""
    import datetime as dt

    now = dt.datetime.now(dt.timezone.utc)
    problems = []
    for first, second in TIME_WINDOWS:
        if not all(n in specs and specs[n].type_name == "Time" and effective.get(n) for n in (first, second)):
            continue
        begin, finish = (parse_time(effective[n], now=now, name=n) for n in (first, second))
        if finish <= begin:
            problems.append(f"{second} ({effective[second]!r}) is not after {first} ({effective[first]!r}); "
                            f"give {first} earlier than {second}, e.g. -p {first} -7d -p {second} now")
    return problems


def coerce_parameters(specs: Mapping[str, ParamSpec], namespace: Mapping[str, Any], *,
                      notebook: str = "notebook") -> dict[str, Any]:
    """Every declared parameter, coerced, as it stands in ``namespace`` (a live kernel's globals).

    The same rules as the runner: a value equal to its default counts as not given (so an unset
    default secret reference is not an error); other names in ``namespace`` are ignored. The result is
    what ``runbook run`` would leave in the kernel (``"false"`` for a bool becomes ``False``).
    """
    given = {name: namespace[name] for name, spec in specs.items()
             if name in namespace and not _same(namespace[name], spec.default)}
    return validate_parameters(specs, given, notebook=notebook, with_defaults=True)


def _same(value: Any, default: Any) -> bool:
    """Equal and of the same type (``"5"`` is not the default ``5``: it still needs coercing)."""
    return type(value) is type(default) and value == default


def check_parameters(notebook: str, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a notebook's parameters as they stand in a live kernel by the runner's rules; return
    every declared parameter coerced (see :func:`coerce_parameters`)."""
    from .notebooks import find_notebook

    return coerce_parameters(read_declarations(find_notebook(notebook).path), namespace, notebook=notebook)


def secret_references(specs: Mapping[str, ParamSpec], values: Mapping[str, Any]) -> list[SecretRef]:
    """The resolvable secret references in effect (given or default) for one notebook."""
    refs = []
    for name, spec in specs.items():
        value = values.get(name, spec.default)
        if spec.is_secret and is_reference(value):
            ref = SecretRef.parse(value, name=name)
            if ref.exists():
                refs.append(ref)
    return refs
