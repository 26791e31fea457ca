"""Span attributes as the dashboard shows them: dotted keys nested, a span type, an "is this an LLM span" test.

Nesting follows upstream's rules (``agentops/common/otel.py``): ``a.b.0.c`` becomes
``{"a": {"b": [{"c": …}]}}``; a numeric part below 10 under an object, a non-numeric part under a
list, or a path through a plain value drops that attribute; a list is started only by a ``0`` part;
a plain-string ``gen_ai.prompt`` becomes ``[{"content": …, "role": "user"}]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["LLM_ATTRIBUTES", "has_llm_attributes", "nest_attributes", "span_type"]

#: A span carrying any of these attributes gets span metrics in the trace detail.
LLM_ATTRIBUTES = (
    "gen_ai.completion", "gen_ai.prompt", "gen_ai.usage", "gen_ai.usage.prompt_tokens",
    "gen_ai.usage.completion_tokens", "gen_ai.usage.total_tokens", "gen_ai.usage.prompt_cost",
    "gen_ai.usage.completion_cost", "gen_ai.usage.total_cost", "gen_ai.usage.cache_read_input_tokens",
    "gen_ai.usage.reasoning_tokens", "ai.system", "ai.llm", "llm.request.model", "llm.response.model", "llm.system",
)
_SPAN_TYPES = {"gen_ai": "request", "agent": "agent", "tool": "tool"}


def has_llm_attributes(flat: Mapping[str, Any]) -> bool:
    return any(name in flat for name in LLM_ATTRIBUTES)


def _small_index(part: str) -> bool:
    return part.isdigit() and int(part) < 10


def _descend(node: Any, part: str, following: str) -> Any:
    """The child of ``node`` for ``part`` (created as needed), or None when the path cannot go on."""
    if isinstance(node, list):
        if not part.isdigit():
            return None
        index = int(part)
        while len(node) <= index:
            node.append([] if following.isdigit() else {})
        child = node[index]
    elif isinstance(node, dict):
        if _small_index(part):
            return None
        if part not in node:
            node[part] = [] if following == "0" else {}
        child = node[part]
    else:
        return None
    return child if isinstance(child, (dict, list)) else None


def _assign(node: Any, part: str, value: Any) -> None:
    if isinstance(node, list):
        if part.isdigit():
            index = int(part)
            node.extend([None] * (index + 1 - len(node)))
            node[index] = value
    elif isinstance(node, dict) and not _small_index(part):
        node[part] = value


def nest_attributes(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted attribute names turned into nested objects and lists, in the attributes' order."""
    result: dict[str, Any] = {}
    for path, value in flat.items():
        parts = path.split(".")
        node: Any = result
        for part, following in zip(parts[:-1], parts[1:], strict=True):
            node = _descend(node, part, following)
            if node is None:
                break
        else:
            _assign(node, parts[-1], value)
    gen_ai = result.get("gen_ai")
    if isinstance(gen_ai, dict) and isinstance(gen_ai.get("prompt"), str):
        gen_ai["prompt"] = [{"content": gen_ai["prompt"], "role": "user"}]
    return result


def _type_of(data: Any) -> str:
    if isinstance(data, dict):
        for key, child in data.items():
            if key in _SPAN_TYPES:
                return _SPAN_TYPES[key]
            found = _type_of(child)
            if found != "other":
                return found
    elif isinstance(data, list):
        for item in data:
            found = _type_of(item)
            if found != "other":
                return found
    return "other"


def span_type(nested: Mapping[str, Any]) -> str | None:
    """``request`` / ``agent`` / ``tool`` by the first such key met depth-first, ``other``; None without attributes."""
    return _type_of(nested) if nested else None
