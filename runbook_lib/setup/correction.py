"""The corrected LiteLLM config: every remedy of the config lint applied at once, as a round trip.

The operator's file is edited in place in memory with ``ruamel.yaml`` (comments, key order, quoting
and blank lines survive); only what the remedies name changes:

* callback keys under ``general_settings`` move to ``litellm_settings`` (the only place read);
* the built-in ``agentops`` callback (and the handler listed as a success callback) becomes
  ``agentops_selfhosted.handler`` under ``litellm_settings.callbacks`` (success and failure); a config
  without it gets it added there;
* ``agentops_*`` keys are removed; a value naming another variable than the handler reads moves to
  ``environment_variables``;
* a literal or missing ``general_settings.master_key`` becomes ``os.environ/LITELLM_MASTER_KEY``.

The same function answers "what goes under litellm_settings" for the placement remedy, so a remedy
never contradicts the corrected config.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from ..wiring import CALLBACK_REFERENCE
from .config_lint import _as_list

__all__ = ["MASTER_KEY_REFERENCE", "corrected_callbacks", "corrected_document", "corrected_text", "round_trip_yaml"]

CALLBACK_KEYS = ("callbacks", "success_callback", "failure_callback")
BUILTIN_AGENTOPS = "agentops"
ENV_PREFIX = "os.environ/"
MASTER_KEY_REFERENCE = ENV_PREFIX + "LITELLM_MASTER_KEY"
AGENTOPS_KEY_TO_ENV = {"agentops_api_key": "AGENTOPS_API_KEY", "agentops_endpoint": "AGENTOPS_API_ENDPOINT"}


def round_trip_yaml() -> YAML:
    """A ruamel round-trip parser/dumper set up as hand-written LiteLLM configs are indented."""
    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.allow_duplicate_keys = True  # the lint reports duplicates; the correction keeps YAML's last value
    rt.width = 4096
    rt.indent(mapping=2, sequence=4, offset=2)
    return rt


def _merge(target: list[str], extra: list[str]) -> list[str]:
    return target + [e for e in extra if e not in target]


def _block_list(items: list[str]) -> CommentedSeq:
    seq = CommentedSeq(items)
    seq.fa.set_block_style()
    return seq


def _section(data: CommentedMap, name: str) -> CommentedMap | None:
    value = data.get(name)
    return value if isinstance(value, CommentedMap) else None


def corrected_document(data: CommentedMap) -> CommentedMap:
    """Apply every remedy to the round-trip document ``data`` in place; return it."""
    ls = _section(data, "litellm_settings")
    if ls is None:
        ls = CommentedMap()
        data["litellm_settings"] = ls
    gs = _section(data, "general_settings")

    lists = {k: _as_list(ls.get(k)) for k in CALLBACK_KEYS}
    if gs is not None:
        for key in CALLBACK_KEYS:
            if key in gs:
                lists[key] = _merge(lists[key], _as_list(gs.pop(key)))
    agentops_like = {BUILTIN_AGENTOPS, CALLBACK_REFERENCE}
    for key in CALLBACK_KEYS:  # one handler, under callbacks: also when none sent traces to AgentOps before
        lists[key] = [e for e in lists[key] if e not in agentops_like]
    lists["callbacks"] = _merge(lists["callbacks"], [CALLBACK_REFERENCE])
    for position, key in enumerate(k for k in CALLBACK_KEYS if lists[k] or k in ls):
        if not lists[key]:
            ls.pop(key, None)
        elif key in ls:
            if _as_list(ls[key]) != lists[key]:
                ls[key] = _block_list(lists[key])
        else:
            ls.insert(min(position, len(ls)), key, _block_list(lists[key]))

    env_block = _section(data, "environment_variables")
    moved: dict[str, Any] = {}
    for section in (ls, gs):
        if section is None:
            continue
        for key in [k for k in section if str(k).lower().startswith("agentops_")]:
            value = section.pop(key)
            target = AGENTOPS_KEY_TO_ENV.get(str(key).lower())
            if (target and value is not None and str(value) != ENV_PREFIX + target
                    and not (env_block is not None and target in env_block) and target not in moved):
                moved[target] = value
    if moved:
        if env_block is None:
            env_block = CommentedMap()
            data["environment_variables"] = env_block
        env_block.update(moved)

    if gs is None:
        gs = CommentedMap()
        data["general_settings"] = gs
    key = gs.get("master_key")
    if not (isinstance(key, str) and key.strip().startswith(ENV_PREFIX)):
        gs["master_key"] = MASTER_KEY_REFERENCE

    if not ls:
        data.pop("litellm_settings")
    return data


def _load(original_text: str | None, doc: Mapping[str, Any] | None) -> CommentedMap:
    rt = round_trip_yaml()
    text = original_text if original_text is not None else yaml.safe_dump(dict(doc or {}), sort_keys=False)
    data = rt.load(text)
    return data if isinstance(data, CommentedMap) else CommentedMap()


def corrected_text(original_text: str | None = None, *, doc: Mapping[str, Any] | None = None,
                   header: str = "") -> str:
    """The corrected config as text: ``original_text`` round-tripped (or ``doc`` when no text is
    given) with every remedy applied, ``header`` (comment lines) first."""
    data = corrected_document(_load(original_text, doc))
    out = io.StringIO()
    round_trip_yaml().dump(data, out)
    return header + _blocks_apart(out.getvalue())


def _blocks_apart(text: str) -> str:
    """A blank line before each top-level key that directly follows an indented line (a removed key
    can take the blank line that separated two blocks with it)."""
    lines, out = text.splitlines(keepends=True), list[str]()
    for line in lines:
        top_level_key = line[:1] not in (" ", "-", "#", "\n", "")
        if top_level_key and out and out[-1].startswith((" ", "-")):
            out.append("\n")
        out.append(line)
    return "".join(out)


def corrected_callbacks(doc: Mapping[str, Any]) -> dict[str, list[str]]:
    """The callback keys the corrected config has under ``litellm_settings`` (for remedies)."""
    fixed = corrected_document(_load(None, doc))
    ls = fixed.get("litellm_settings") or {}
    return {k: list(ls[k]) for k in CALLBACK_KEYS if k in ls}
