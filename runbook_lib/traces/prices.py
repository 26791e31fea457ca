"""Token prices from a kept source: LiteLLM's own price map (or tokencost's), a user's table first.

:func:`default_source` reads the price map bundled in the installed ``litellm`` package (via
:func:`~runbook_lib.traces.dashboard_objects.litellm_price_map`, without importing LiteLLM), else
``tokencost``'s (what AgentOps's collector bakes in). :class:`PriceBook` answers
:meth:`~PriceBook.price_for` with the rule that matched, so a report can say why a model got its
price. Rules, in order (the user's table is tried with all of them before the source):

- ``exact``: the model string is a key;
- ``case-insensitive``: its lower case is a key (lower-cased keys compared);
- ``provider prefix stripped``: ``openai/gpt-4o`` → ``gpt-4o``;
- ``provider-prefixed``: ``claude-3-5-sonnet`` → the one key ending in ``/claude-3-5-sonnet``
  (the shortest, then alphabetical, when several do);
- ``dated suffix stripped``: ``gpt-4o-mini-2024-07-18`` → ``gpt-4o-mini`` (``-YYYY-MM-DD``,
  ``-YYYYMMDD``, ``@YYYYMMDD``, ``-latest``), then the rules above on the result.

Prices are USD per 1000 tokens, the unit of ``model_costs_source``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ParameterError
from . import dashboard_objects

__all__ = [
    "PriceBook",
    "PriceMatch",
    "PriceSource",
    "SOURCES",
    "default_source",
    "litellm_source",
    "price_book",
    "price_for",
    "price_table_for",
    "source_from_map",
    "tokencost_source",
    "user_table",
]

_DATED = re.compile(r"(?:[-@](?:\d{4}-\d{2}-\d{2}|\d{8})|-latest)$")


@dataclass(frozen=True)
class PriceSource:
    """A named, versioned price table: key → (USD per 1k prompt tokens, USD per 1k completion tokens)."""

    name: str
    version: str
    prices: Mapping[str, tuple[float, float]]

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"


@dataclass(frozen=True)
class PriceMatch:
    """The price found for ``model``: the ``key`` it came from, the ``rule`` that matched, the source."""

    model: str
    key: str
    rule: str
    prompt_cost_per_1k: float
    completion_cost_per_1k: float
    source: str
    version: str

    def describe(self) -> str:
        via = "" if self.key == self.model else f" via {self.key!r}"
        return (f"{self.model}: {self.prompt_cost_per_1k:g} / {self.completion_cost_per_1k:g} USD per 1k tokens "
                f"({self.rule}{via}; {self.source} {self.version})")


def source_from_map(name: str, version: str, price_map: Mapping[str, Any]) -> PriceSource:
    """A :class:`PriceSource` from a LiteLLM-format map (``input_cost_per_token``/``output_cost_per_token``)."""
    prices: dict[str, tuple[float, float]] = {}
    for key, entry in price_map.items():
        if key == "sample_spec" or not isinstance(entry, Mapping) or "input_cost_per_token" not in entry:
            continue
        try:
            p = float(entry["input_cost_per_token"]) * 1000
            c = float(entry.get("output_cost_per_token") or 0.0) * 1000
        except (TypeError, ValueError):
            continue
        prices[key] = (round(p, 12), round(c, 12))
    return PriceSource(name, version, prices)


def litellm_source() -> PriceSource:
    """LiteLLM's bundled price map and the installed LiteLLM version."""
    return source_from_map("litellm", dashboard_objects.litellm_version(), dashboard_objects.litellm_price_map())


def tokencost_source() -> PriceSource:
    """``tokencost``'s price map (same format as LiteLLM's) and the installed tokencost version."""
    spec = importlib.util.find_spec("tokencost")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the tokencost package is not installed", hint="pip install tokencost, or use litellm")
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.glob("model_prices*.json"))
    if not files:
        raise ConfigError(f"tokencost at {folder} ships no model_prices*.json", hint="reinstall tokencost")
    try:
        data = json.loads(files[0].read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {files[0]}: {exc}", hint="reinstall tokencost") from None
    return source_from_map("tokencost", importlib.metadata.version("tokencost"), data)


#: Kept price sources, in the order :func:`default_source` tries them.
SOURCES: dict[str, Callable[[], PriceSource]] = {"litellm": litellm_source, "tokencost": tokencost_source}


def default_source(name: str | None = None) -> PriceSource:
    """The named source, or the first of :data:`SOURCES` that is installed."""
    if name is not None:
        if name not in SOURCES:
            raise ParameterError(f"unknown price source {name!r}", hint=f"use one of {', '.join(SOURCES)}")
        return SOURCES[name]()
    errors = []
    for loader in SOURCES.values():
        try:
            return loader()
        except ConfigError as exc:
            errors.append(exc.message)
    raise ConfigError("no price source is installed: " + "; ".join(errors),
                      hint="install litellm (the sandbox extra) or tokencost, or pass your own price table")


def user_table(table: Mapping[str, Any], *, name: str = "your table") -> PriceSource:
    """A user's price table as a source. Values: ``(prompt_per_1k, completion_per_1k)``,
    ``{"prompt_cost_per_1k": .., "completion_cost_per_1k": ..}``, or ``{"input": .., "output": ..}`` in USD
    per 1M tokens (the 30_trace_analytics table form)."""
    prices: dict[str, tuple[float, float]] = {}
    for model, value in table.items():
        try:
            if isinstance(value, Mapping) and "prompt_cost_per_1k" in value:
                pair = (float(value["prompt_cost_per_1k"]), float(value.get("completion_cost_per_1k", 0.0)))
            elif isinstance(value, Mapping) and "input" in value:
                pair = (float(value["input"]) / 1000, float(value.get("output", 0.0)) / 1000)
            else:
                p, c = value
                pair = (float(p), float(c))
        except (TypeError, ValueError):
            raise ParameterError(f"price table entry for {model!r} is not a price pair",
                                 hint="use (prompt_per_1k, completion_per_1k) or {'input': .., 'output': ..} "
                                      "per 1M tokens") from None
        if pair[0] < 0 or pair[1] < 0:
            raise ParameterError(f"price table entry for {model!r} is negative", hint="prices are USD >= 0")
        prices[str(model)] = pair
    return PriceSource(name, "user", prices)


@dataclass
class PriceBook:
    """Prices from ``source``, with ``user`` (a user's table) winning wherever it matches."""

    source: PriceSource
    user: PriceSource | None = None
    _lower: dict[int, dict[str, str]] = field(default_factory=dict, repr=False)

    def _lookup(self, src: PriceSource, model: str) -> tuple[str, str] | None:
        lower = self._lower.setdefault(id(src), {})
        if not lower:
            for key in src.prices:
                lower.setdefault(key.lower(), key)
        candidates = [(model, "exact")]
        if "/" in model:
            candidates.append((model.split("/", 1)[1], "provider prefix stripped"))
        for name, rule in candidates:
            if name in src.prices:
                return name, rule
            if name.lower() in lower:
                return lower[name.lower()], rule if rule != "exact" else "case-insensitive"
        if "/" not in model:
            suffix = "/" + model.lower()
            hosted = sorted((k for k in src.prices if k.lower().endswith(suffix)), key=lambda k: (len(k), k))
            if hosted:
                return hosted[0], "provider-prefixed"
        return None

    def price_for(self, model: str) -> PriceMatch | None:
        """The price of ``model`` and which rule found it, or None when no rule matches."""
        model = model.strip()
        if not model:
            return None
        tries = [(model, "")]
        undated = _DATED.sub("", model)
        if undated != model and undated:
            tries.append((undated, "dated suffix stripped"))
        for src in (s for s in (self.user, self.source) if s is not None):
            for name, extra in tries:
                found = self._lookup(src, name)
                if found:
                    key, rule = found
                    if extra:
                        rule = extra if rule == "exact" else f"{extra}, then {rule}"
                    p, c = src.prices[key]
                    return PriceMatch(model, key, rule, p, c, src.name, src.version)
        return None


def price_book(user_prices: Mapping[str, Any] | None = None, *, source: PriceSource | str | None = None
               ) -> PriceBook:
    """A :class:`PriceBook` over ``source`` (default :func:`default_source`) and the user's table."""
    src = source if isinstance(source, PriceSource) else default_source(source)
    return PriceBook(src, user_table(user_prices) if user_prices else None)


def price_for(model: str, *, user_prices: Mapping[str, Any] | None = None,
              source: PriceSource | str | None = None) -> PriceMatch | None:
    """One-off :meth:`PriceBook.price_for` (build a :func:`price_book` once for many models)."""
    return price_book(user_prices, source=source).price_for(model)


def price_table_for(models: Iterable[str], book: PriceBook | None = None) -> dict[str, dict[str, Any]]:
    """A 30_trace_analytics ``price_table`` (USD per 1M ``input``/``output`` tokens) for ``models``, from the
    book's source (default :func:`price_book`); each entry names its ``source`` and ``rule``. Models no rule
    prices are left out."""
    book = book or price_book()
    table: dict[str, dict[str, Any]] = {}
    for model in models:
        match = book.price_for(model)
        if match is not None:
            table[model] = {"input": round(match.prompt_cost_per_1k * 1000, 9),
                            "output": round(match.completion_cost_per_1k * 1000, 9),
                            "source": f"{match.source} {match.version}", "rule": match.rule}
    return table
