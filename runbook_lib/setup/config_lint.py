"""Lint a LiteLLM proxy ``config.yaml`` for the mistakes that silently stop traces reaching AgentOps.

Facts behind the rules (LiteLLM 1.108.7): the proxy reads ``callbacks``/``success_callback`` only
under ``litellm_settings`` (``general_settings`` copies are ignored without a warning); any other
``litellm_settings`` key is ``setattr`` onto the module and ``agentops_*`` ones are never read; an
``os.environ/NAME`` whose variable is unset becomes ``None`` silently; the built-in ``agentops``
callback has hard-coded AgentOps-cloud URLs. Checks report names, never values.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..checks import Check, Severity
from ..errors import ConfigError
from ..input_limits import LIMITS, check_expanded, read_bounded_text
from ..secrets import redact, remember_secret
from ..wiring import CALLBACK_REFERENCE, render_wiring_snippet

if TYPE_CHECKING:
    from .proxy_env import ProxyView

__all__ = [
    "CALLBACK_KEYS",
    "LoadedConfig",
    "callback_entries",
    "config_diff",
    "corrected_config",
    "corrected_path",
    "env_references",
    "lint_config",
    "lint_document",
    "lint_loaded",
    "load_config",
    "parse_yaml",
    "write_corrected",
]

CALLBACK_KEYS = ("callbacks", "success_callback", "failure_callback")
ENV_PREFIX = "os.environ/"
BUILTIN_AGENTOPS = "agentops"
#: Where the removed ``litellm_settings.agentops_*`` values belong for our handler.
AGENTOPS_KEY_TO_ENV = {"agentops_api_key": "AGENTOPS_API_KEY", "agentops_endpoint": "AGENTOPS_API_ENDPOINT"}
_SECRET_KEY = re.compile(r"(key|secret|password|token)$", re.IGNORECASE)
#: LiteLLM logging integrations whose names /callbacks/list shows as given in the config.
KNOWN_INTEGRATIONS = frozenset(
    {"agentops", "otel", "langfuse", "langsmith", "datadog", "prometheus", "arize", "opik", "helicone",
     "lago", "braintrust", "mlflow", "logfire", "s3", "gcs_bucket", "lunary", "openmeter", "sentry"}
)


@dataclass
class LoadedConfig:
    """A config file read from disk: ``doc`` is None when it could not be parsed (see ``check``)."""

    path: Path | None
    text: str
    doc: dict[str, Any] | None
    check: Check
    duplicates: list[tuple[str, int]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.doc is not None


class _DuplicateKeyLoader(yaml.SafeLoader):
    """SafeLoader (what the proxy uses) that also records keys given twice in one mapping."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[str, int]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                if key in seen:
                    self.duplicates.append((str(key), key_node.start_mark.line + 1))
                seen.add(key)
            except TypeError:  # unhashable key: construct_mapping will complain properly
                pass
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str) -> tuple[Any, list[tuple[str, int]]]:
    """Parse like the proxy (safe_load) and also return keys repeated in a mapping (key, line)."""
    loader = _DuplicateKeyLoader(text)
    try:
        return loader.get_single_data(), loader.duplicates
    finally:
        loader.dispose()


def _parse_bounded(text: str, name: str) -> tuple[Any, list[tuple[str, int]]]:
    """:func:`parse_yaml` within the input limits: alias expansion and nesting are bounded (ConfigError)."""
    try:
        doc, duplicates = parse_yaml(text)
    except RecursionError:
        raise ConfigError(f"{name} nests deeper than the YAML parser can follow",
                          hint="a LiteLLM config is a few levels deep: check the file") from None
    check_expanded(doc, what=name, error=ConfigError)
    return doc, duplicates


def load_config(path: str | Path | None = None, *, text: str | None = None) -> LoadedConfig:
    """Read and parse a config; a missing file or malformed YAML gives a failed ``config.parse``
    check (with line and column) instead of an exception."""
    title = "config.yaml parses"
    p = Path(path).expanduser() if path else None
    if text is None:
        if p is None:
            raise ValueError("give a path or the text")
        try:
            text = read_bounded_text(p, limit=LIMITS.config_file_bytes, what="config", error=ConfigError)
        except ConfigError as exc:
            return LoadedConfig(p, "", None, Check.from_error("config.parse", title, exc, severity=Severity.CRITICAL,
                                                              evidence={"path": str(p)}))
        except FileNotFoundError:
            return LoadedConfig(p, "", None, Check.failed(
                "config.parse", title, f"{p} does not exist",
                remedy="pass litellm_config_path pointing at the proxy's config.yaml",
                severity=Severity.CRITICAL, evidence={"path": str(p)}))
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or exc.__class__.__name__
            return LoadedConfig(p, "", None, Check.failed(
                "config.parse", title, f"{p} cannot be read ({reason})",
                remedy="check the path and that this user may read it (UTF-8 text)",
                severity=Severity.CRITICAL, evidence={"path": str(p)}))
    name = p.name if p else "config"
    try:
        doc, duplicates = _parse_bounded(text, name)
    except ConfigError as exc:
        return LoadedConfig(p, text, None, Check.from_error("config.parse", title, exc, severity=Severity.CRITICAL,
                                                            evidence={"path": str(p) if p else None}))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        where = f" at line {line}, column {column}" if mark else ""
        context, cmark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and cmark and cmark is not mark:
            problem += f" ({context} started at line {cmark.line + 1}, column {cmark.column + 1})"
        return LoadedConfig(p, text, None, Check.failed(
            "config.parse", title, f"{name} is not valid YAML{where}: {problem}",
            remedy=f"fix the YAML syntax near line {line} (indentation, a missing ':' or an unclosed quote/bracket)"
            if mark else "fix the YAML syntax",
            severity=Severity.CRITICAL, evidence={"path": str(p) if p else None, "line": line, "column": column,
                                                  "problem": problem}))
    if not isinstance(doc, dict):
        kind = "empty" if doc is None else f"a {type(doc).__name__}, not a mapping"
        return LoadedConfig(p, text, None, Check.failed(
            "config.parse", title, f"{name} is {kind}",
            remedy="a LiteLLM config is a mapping with model_list, litellm_settings and general_settings",
            severity=Severity.CRITICAL, evidence={"path": str(p) if p else None}))
    return LoadedConfig(p, text, doc, Check.passed(
        "config.parse", title, f"{name} parsed: sections {', '.join(map(str, doc)) or 'none'}",
        evidence={"path": str(p) if p else None, "sections": [str(k) for k in doc]}), duplicates)


# -- helpers over the document ----------------------------------------------------------------------


def _section(doc: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = doc.get(name)
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def callback_entries(doc: Mapping[str, Any]) -> dict[str, dict[str, list[str]]]:
    """``{section: {key: [entries]}}`` for callback keys under litellm_settings/general_settings."""
    out: dict[str, dict[str, list[str]]] = {}
    for section in ("litellm_settings", "general_settings"):
        found = {k: _as_list(v) for k, v in _section(doc, section).items() if k in CALLBACK_KEYS and _as_list(v)}
        if found:
            out[section] = found
    return out


def _is_agentops_like(entry: str) -> bool:
    return "agentops" in entry.lower()


def _walk_strings(node: Any, path: str = "", in_list: bool = False) -> Iterator[tuple[str, str, bool]]:
    """Yield (dotted path, string, directly inside a list) for every string value."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk_strings(v, f"{path}.{k}" if path else str(k), False)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk_strings(v, f"{path}[{i}]", True)
    elif isinstance(node, str):
        yield path, node, in_list


def env_references(doc: Mapping[str, Any]) -> list[tuple[str, str, bool]]:
    """Every ``os.environ/NAME``: (config path, NAME, is a plain string inside a list)."""
    return [
        (path, value.strip()[len(ENV_PREFIX):], in_list)
        for path, value, in_list in _walk_strings(doc)
        if value.strip().startswith(ENV_PREFIX)
    ]


def _literal_secrets(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(path, value) of literal values under secret-looking keys (``*key``, ``*password`` ...)."""
    found = []
    for path, value, _ in _walk_strings(doc):
        leaf = re.split(r"[.\[]", path)[-1]
        if _SECRET_KEY.search(leaf) and value and not value.strip().startswith(ENV_PREFIX):
            found.append((path, value))
    return found


class _IndentedDumper(yaml.SafeDumper):
    """Indent list items under their key (``key:\n  - item``), as hand-written configs do."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)


def _yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_IndentedDumper, sort_keys=False, default_flow_style=False,
                     allow_unicode=True, width=100)


def _spaced(text: str) -> str:
    """A blank line before every top-level key but the first."""
    lines, out = text.splitlines(keepends=True), list[str]()
    for i, line in enumerate(lines):
        if i and line[:1] not in (" ", "-", "#", "\n", "") and out and out[-1].strip():
            out.append("\n")
        out.append(line)
    return "".join(out)


def _leading_comments(text: str) -> str:
    """The comment block at the top of a file (kept in the corrected copy)."""
    out = []
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith("#") or not line.strip():
            out.append(line)
        else:
            break
    return "".join(out).rstrip("\n") + "\n" if "".join(out).strip() else ""


# -- the checks -------------------------------------------------------------------------------------


def lint_config(
    path: str | Path,
    env: Mapping[str, str] | None = None,
    *,
    api_url: str | None = None,
    otlp_endpoint: str | None = None,
) -> list[Check]:
    """Load ``path`` and lint it; the first check is always ``config.parse``."""
    return lint_loaded(load_config(path), env, api_url=api_url, otlp_endpoint=otlp_endpoint)


def lint_loaded(
    loaded: LoadedConfig | None,
    env: Mapping[str, str] | None = None,
    *,
    api_url: str | None = None,
    otlp_endpoint: str | None = None,
    proxy: ProxyView | None = None,
) -> list[Check]:
    """Lint an already loaded config; ``None`` (no path given) gives one skipped ``config.parse``.
    ``proxy`` is what the running proxy showed about the ``os.environ/`` references (:mod:`.proxy_env`)."""
    if loaded is None:
        return [Check.skipped("config.parse", "config.yaml parses", "litellm_config_path is empty")]
    if loaded.doc is None:  # not loaded.ok
        return [loaded.check]
    return [loaded.check, *lint_document(loaded.doc, env, path=loaded.path, duplicates=loaded.duplicates,
                                         api_url=api_url, otlp_endpoint=otlp_endpoint, proxy=proxy)]


def lint_document(
    doc: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    *,
    path: Path | None = None,
    duplicates: list[tuple[str, int]] | None = None,
    api_url: str | None = None,
    otlp_endpoint: str | None = None,
    proxy: ProxyView | None = None,
) -> list[Check]:
    """Every config check on a parsed document. ``env`` is the environment the proxy will see
    (default: this process's environment)."""
    env = os.environ if env is None else env
    for _, value in _literal_secrets(doc):
        remember_secret(value)
    snippet = render_wiring_snippet(api_url, otlp_endpoint)
    return [
        _check_duplicates(duplicates or []),
        _check_placement(doc),
        _check_agentops_keys(doc),
        _check_builtin_agentops(doc, snippet),
        _check_callback_kind(doc),
        _check_handler_module(doc, path),
        _check_env_refs(doc, env, proxy),
        _check_env_refs_in_lists(doc),
        _check_otel_packages(doc),
        _check_model_list(doc),
        _check_master_key(doc),
    ]


def _check_duplicates(duplicates: list[tuple[str, int]]) -> Check:
    title = "No key is given twice"
    if not duplicates:
        return Check.passed("config.duplicate_keys", title, "every mapping key appears once", severity=Severity.MINOR)
    listed = ", ".join(f"{k!r} (line {line})" for k, line in duplicates)
    return Check.warned(
        "config.duplicate_keys", title, f"repeated keys: {listed}; YAML keeps only the last one",
        remedy="merge the repeated blocks into one: the earlier block is silently discarded",
        severity=Severity.MAJOR, evidence={"duplicates": [{"key": k, "line": n} for k, n in duplicates]})


def _check_placement(doc: Mapping[str, Any]) -> Check:
    cid, title = "config.callbacks.placement", "Callbacks are under litellm_settings"
    entries = callback_entries(doc)
    in_ls, in_gs = entries.get("litellm_settings", {}), entries.get("general_settings", {})
    evidence = {"litellm_settings": in_ls, "general_settings": in_gs}
    if in_ls and not in_gs:
        keys = ", ".join(f"{k}: {v}" for k, v in in_ls.items())
        return Check.passed(cid, title, f"litellm_settings has {keys}", evidence=evidence)
    if in_gs and not in_ls:
        from .correction import corrected_callbacks

        fixed = _yaml({"litellm_settings": corrected_callbacks(doc)})  # as the corrected config has it
        return Check.failed(
            cid, title,
            f"{', '.join(in_gs)} only under general_settings: the proxy ignores it there, so no callback"
            " is built and nothing is exported (and no warning is logged)",
            remedy="move it under litellm_settings (the only place the proxy reads it), as the corrected config"
            " does:\n" + fixed,
            severity=Severity.CRITICAL, evidence=evidence)
    if in_gs and in_ls:
        return Check.warned(
            cid, title,
            f"callbacks under both sections; the general_settings copy ({', '.join(in_gs)}) is ignored",
            remedy="delete the general_settings copy so the config says what the proxy does",
            severity=Severity.MINOR, evidence=evidence)
    return Check.failed(
        cid, title, "no callbacks configured: the proxy exports no traces",
        remedy="add the self-hosted AgentOps callback under litellm_settings (see the wiring snippet)",
        severity=Severity.CRITICAL, evidence=evidence)


def _check_agentops_keys(doc: Mapping[str, Any]) -> Check:
    cid, title = "config.agentops_keys", "No agentops_* settings that have no effect"
    found = [
        f"{section}.{key}"
        for section in ("litellm_settings", "general_settings")
        for key in _section(doc, section)
        if str(key).lower().startswith("agentops_")
    ]
    if not found:
        return Check.passed(cid, title, "no agentops_* keys in litellm_settings/general_settings")
    return Check.failed(
        cid, title,
        f"{', '.join(found)} have no effect: LiteLLM sets them on its module and never reads them"
        " (the endpoint and app URL change nothing; the key only seemed to work because the process"
        " environment variable AGENTOPS_API_KEY was also set)",
        remedy="remove them; give the proxy process AGENTOPS_API_ENDPOINT, AGENTOPS_EXPORTER_ENDPOINT and"
        " AGENTOPS_API_KEY as environment variables for agentops_selfhosted.handler (see the wiring snippet)",
        severity=Severity.MAJOR, evidence={"keys": found})


def _check_builtin_agentops(doc: Mapping[str, Any], snippet: str) -> Check:
    cid, title = "config.callbacks.agentops_target", "The AgentOps callback can reach a self-hosted AgentOps"
    entries = callback_entries(doc)
    builtin = [f"{s}.{k}" for s, keys in entries.items() for k, v in keys.items() if BUILTIN_AGENTOPS in v]
    ours = [f"{s}.{k}" for s, keys in entries.items() for k, v in keys.items() if CALLBACK_REFERENCE in v]
    evidence = {"builtin_agentops": builtin, "selfhosted_handler": ours}
    if builtin:
        return Check.failed(
            cid, title,
            f"the built-in 'agentops' callback ({', '.join(builtin)}) cannot reach a self-hosted AgentOps:"
            " its auth and export URLs are hard-coded to AgentOps' cloud (api.agentops.ai,"
            " otlp.agentops.cloud), and at start-up it sends the project API key to the cloud",
            remedy="replace it with the self-hosted handler:\n" + snippet,
            severity=Severity.CRITICAL, evidence=evidence)
    if any(s.startswith("litellm_settings") for s in ours):
        return Check.passed(cid, title, f"{CALLBACK_REFERENCE} is configured ({', '.join(ours)})",
                            evidence=evidence)
    others = sorted({e for keys in entries.get("litellm_settings", {}).values() for e in keys})
    if "otel" in others:
        return Check.warned(
            cid, title, "the generic 'otel' callback is configured: it needs OTEL_* variables and a JWT"
            " header that expires after 30 days and is never refreshed",
            remedy="prefer the self-hosted handler, which renews its token:\n" + snippet,
            severity=Severity.MINOR, evidence=evidence)
    return Check.failed(
        cid, title, "no callback sends traces to a self-hosted AgentOps"
        + (f" (configured: {', '.join(others)})" if others else ""),
        remedy="add the self-hosted handler:\n" + snippet, severity=Severity.CRITICAL, evidence=evidence)


def _check_callback_kind(doc: Mapping[str, Any]) -> Check:
    cid, title = "config.callbacks.kind", "AgentOps runs as a success-and-failure callback"
    ls = callback_entries(doc).get("litellm_settings", {})
    via_success = [e for e in ls.get("success_callback", []) if _is_agentops_like(e)]
    via_callbacks = [e for e in ls.get("callbacks", []) if _is_agentops_like(e)]
    evidence = {"success_callback": via_success, "callbacks": via_callbacks}
    if via_success:
        return Check.warned(
            cid, title, f"{', '.join(via_success)} is in success_callback: failed LLM calls get no"
            " litellm_request span", remedy="list it under litellm_settings.callbacks instead",
            severity=Severity.MINOR, evidence=evidence)
    if via_callbacks:
        return Check.passed(cid, title, f"{', '.join(via_callbacks)} is in litellm_settings.callbacks",
                            evidence=evidence)
    return Check.skipped(cid, title, "no AgentOps callback under litellm_settings", evidence=evidence)


def _check_handler_module(doc: Mapping[str, Any], path: Path | None) -> Check:
    cid, title = "config.callbacks.handler_module", "agentops_selfhosted.py sits next to config.yaml"
    ls = callback_entries(doc).get("litellm_settings", {})
    if not any(CALLBACK_REFERENCE in v for v in ls.values()):
        return Check.skipped(cid, title, f"{CALLBACK_REFERENCE} is not configured")
    if path is None:
        return Check.skipped(cid, title, "the config was not read from a file")
    module = path.parent / (CALLBACK_REFERENCE.split(".")[0] + ".py")
    if module.is_file():
        return Check.passed(cid, title, f"{module.name} found in {path.parent}", evidence={"module": str(module)})
    return Check.failed(
        cid, title, f"{module.name} is missing from {path.parent}: the proxy loads callback modules relative"
        " to the config file, so start-up fails", remedy=f"copy runbook_lib/wiring/{module.name} to {module}"
        " (and into the image, if the config is baked in with COPY)",
        severity=Severity.CRITICAL, evidence={"module": str(module)})


def _check_env_refs(doc: Mapping[str, Any], env: Mapping[str, str], proxy: ProxyView | None = None) -> Check:
    """Judge each reference by the running proxy when it shows it, else by this environment.

    A reference the proxy shows unresolved fails; one it cannot show and this environment lacks is a
    warning naming what could not be verified (the proxy's environment may differ from this one)."""
    cid, title = "config.env_refs", "Every os.environ/ reference resolves"
    refs = env_references(doc)
    if not refs:
        return Check.skipped(cid, title, "the config has no os.environ/ references")
    names = sorted({name for _, name, _ in refs})
    used_at = {n: sorted({p for p, name, _ in refs if name == n}) for n in names}
    seen = proxy.resolved if proxy is not None and proxy.reachable else {}
    unset_in_proxy = [n for n in names if any(seen.get(p) is False for p in used_at[n])]
    in_proxy = [n for n in names if n not in unset_in_proxy and all(seen.get(p) for p in used_at[n])]
    rest = [n for n in names if n not in unset_in_proxy and n not in in_proxy]
    set_here = [n for n in rest if env.get(n)]
    unverified = [n for n in rest if not env.get(n)]
    evidence = {"checked": names, "resolved_in_proxy": in_proxy, "unset_in_proxy": unset_in_proxy,
                "set_here": set_here, "unverified": unverified, "unset": unset_in_proxy + unverified,
                "used_at": {n: used_at[n] for n in unset_in_proxy + unverified},
                "proxy": None if proxy is None else {"url": proxy.url, "reachable": proxy.reachable,
                                                     "problem": proxy.problem, "how": proxy.how}}
    parts = []
    if in_proxy:
        parts.append(f"resolved in the running proxy: {', '.join(in_proxy)}")
    if set_here:
        parts.append(f"set in this environment: {', '.join(set_here)}")
    if unset_in_proxy and proxy is not None:  # only a reachable proxy shows a reference unset
        return Check.failed(
            cid, title, f"the running proxy at {proxy.url} has no value for {', '.join(unset_in_proxy)}: it silently"
            " replaces an unset os.environ/ reference with None (no warning)"
            + (f"; {'; '.join(parts)}" if parts else ""),
            remedy="set them in the proxy's environment (docker compose `environment:`/env_file) and restart it",
            severity=Severity.MAJOR, evidence=evidence)
    if unverified:
        if proxy is None:
            why = "no litellm_url given, so the running proxy could not be asked"
        elif not proxy.reachable:
            why = f"the proxy at {proxy.url} could not be asked ({proxy.problem})"
        else:
            why = f"the proxy at {proxy.url} does not show these values"
        return Check.warned(
            cid, title, f"could not verify {', '.join(unverified)}: unset in this notebook's environment and {why}."
            " If the proxy lacks them too it silently uses None" + (f"; {'; '.join(parts)}" if parts else ""),
            remedy="make sure they are set in the proxy's environment (docker compose `environment:`/env_file);"
            " pass litellm_url and litellm_master_key to let the runbook ask the running proxy",
            severity=Severity.MINOR, evidence=evidence)
    return Check.passed(cid, title, f"{len(names)} variable(s): {'; '.join(parts)}", evidence=evidence)


def _check_env_refs_in_lists(doc: Mapping[str, Any]) -> Check:
    cid, title = "config.env_refs.in_lists", "No os.environ/ reference is a bare list item"
    bare = sorted(p for p, _, in_list in env_references(doc) if in_list)
    if not bare:
        return Check.passed(cid, title, "no os.environ/ strings directly inside lists", severity=Severity.MINOR)
    return Check.warned(
        cid, title, f"{', '.join(bare)}: the proxy does not resolve os.environ/ in plain list items; the"
        " literal text 'os.environ/...' is used", remedy="move the value into a mapping key (or the"
        " environment_variables block)", severity=Severity.MINOR, evidence={"paths": bare})


def _check_otel_packages(doc: Mapping[str, Any]) -> Check:
    cid, title = "config.otel_packages", "OpenTelemetry SDK and OTLP/HTTP exporter are installed"
    ls = callback_entries(doc).get("litellm_settings", {})
    needs = [e for v in ls.values() for e in v if _is_agentops_like(e) or e == "otel"]
    if not needs:
        return Check.skipped(cid, title, "no AgentOps/OTel callback configured")
    modules = ["opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http"]
    missing = []
    for m in modules:
        try:
            found = importlib.util.find_spec(m) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(m)
    if not missing:
        return Check.passed(cid, title, "both importable in this environment", severity=Severity.MINOR,
                            evidence={"modules": modules})
    return Check.warned(
        cid, title, f"not importable here: {', '.join(missing)}. In the proxy's environment this makes"
        " start-up abort with an ImportError", remedy="pip install opentelemetry-sdk"
        " opentelemetry-exporter-otlp-proto-http in the proxy's image/venv (litellm[proxy] does not"
        " bring them)", severity=Severity.MAJOR, evidence={"missing": missing})


def _check_model_list(doc: Mapping[str, Any]) -> Check:
    cid, title = "config.model_list", "model_list defines models"
    models = doc.get("model_list")
    if isinstance(models, list) and models:
        names = [str(m.get("model_name")) for m in models if isinstance(m, dict) and m.get("model_name")]
        if names:
            return Check.passed(cid, title, f"{len(names)} model(s): {', '.join(names[:10])}",
                                evidence={"models": names})
    return Check.failed(
        cid, title, "model_list is missing or has no entry with a model_name: the proxy serves no model",
        remedy="add model_list entries (model_name + litellm_params.model)", severity=Severity.MAJOR)


def _check_master_key(doc: Mapping[str, Any]) -> Check:
    cid, title = "config.master_key", "general_settings.master_key is set from the environment"
    key = _section(doc, "general_settings").get("master_key")
    if key is None or (isinstance(key, str) and not key.strip()):
        return Check.failed(
            cid, title, "no general_settings.master_key: every proxy endpoint is open without a key",
            remedy="add `general_settings: {master_key: os.environ/LITELLM_MASTER_KEY}`",
            severity=Severity.MAJOR)
    text = str(key).strip()
    if text.startswith(ENV_PREFIX):
        name = text[len(ENV_PREFIX):]
        return Check.passed(cid, title, f"read from the environment variable {name}", evidence={"env": name})
    remember_secret(text)
    shape = "an sk- key" if text.startswith("sk-") else "a literal value"
    return Check.warned(
        cid, title, f"the master key is written in the file as {shape} ({len(text)} characters): anyone who"
        " can read the file or the image has it", remedy="use `master_key: os.environ/LITELLM_MASTER_KEY`"
        " and set the variable from a secret store; rotate the key if the file was shared",
        severity=Severity.MAJOR, evidence={"form": "literal"})


# -- corrected config -------------------------------------------------------------------------------


def _merge_unique(target: list[str], extra: list[str]) -> list[str]:
    return target + [e for e in extra if e not in target]


def corrected_config(
    doc: Mapping[str, Any], *, source_name: str = "config.yaml", original_text: str | None = None
) -> str:
    """The config with every remedy of this lint applied (:mod:`.correction`): callbacks moved into
    ``litellm_settings``, the built-in ``agentops`` swapped for ``agentops_selfhosted.handler`` under
    ``callbacks``, ``agentops_*`` keys removed (values whose variable name differs from the handler's go
    to ``environment_variables``), the master key read from ``LITELLM_MASTER_KEY``. ``original_text``
    is edited as a round trip, so its comments and key order survive; without it ``doc`` is dumped."""
    from .correction import corrected_text

    header = (
        f"# Corrected by agentops-runbooks 00_setup from {source_name}: every remedy of its config lint applied.\n"
        f"# {CALLBACK_REFERENCE} needs agentops_selfhosted.py next to this file and LITELLM_MASTER_KEY,\n"
        "# AGENTOPS_API_ENDPOINT, AGENTOPS_EXPORTER_ENDPOINT and AGENTOPS_API_KEY in the proxy's environment.\n"
    )
    return corrected_text(original_text, doc=doc, header=header)


def config_diff(original: str, corrected: str, *, from_name: str = "config.yaml",
                to_name: str = "config.corrected.yaml", doc: Mapping[str, Any] | None = None) -> str:
    """A unified diff; literal secret values found in ``doc`` (and known secrets) are redacted."""
    text = "".join(difflib.unified_diff(
        original.splitlines(keepends=True), corrected.splitlines(keepends=True), fromfile=from_name,
        tofile=to_name))
    secrets = {value for _, value in _literal_secrets(doc)} if doc else set()
    for value in sorted(secrets, key=len, reverse=True):
        if len(value) >= 4:
            text = text.replace(value, "[REDACTED]")
    return redact(text)


def corrected_path(path: str | Path) -> Path:
    """``config.yaml`` -> ``config.corrected.yaml`` in the same folder."""
    p = Path(path)
    return p.with_name(f"{p.stem}.corrected{p.suffix or '.yaml'}")


def write_corrected(path: str | Path, corrected: str) -> Path:
    """Write ``corrected`` next to ``path`` without overwriting anything: ``X.corrected.yaml``, or
    ``X.corrected.2.yaml`` ... when that exists with other content. Returns the file written (or the
    existing file that already holds exactly this text)."""
    original = Path(path).resolve()
    first = corrected_path(original)
    candidates = [first] + [first.with_name(f"{original.stem}.corrected.{n}{first.suffix}") for n in range(2, 1000)]
    for target in candidates:
        if target == original:
            continue
        try:
            with open(target, "x", encoding="utf-8") as fh:
                fh.write(corrected)
            return target
        except FileExistsError:
            if target.read_text(encoding="utf-8") == corrected:
                return target
    raise ConfigError(f"too many corrected copies next to {original}", hint="remove old *.corrected.* files")
