"""Token prices for computing the cost of spans that carry no stored cost.

A user's price table maps a model name to USD per one million tokens::

    {"gpt-4o-mini": {"input": 0.15, "output": 0.60}, ...}

Model strings seen in spans (``gen_ai.response.model`` / ``gen_ai.request.model``) are matched to
a table key exactly, then case-insensitively, then with a provider prefix (``openai/``) and a release
suffix (``-2024-07-18``, ``-20241022``, ``-latest``) removed. The user's table wins; a model it does not
price is looked up in a kept source (:func:`kept_source_lookup`: LiteLLM's bundled price map, else
tokencost's), so there is no hand-written default table to go stale.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, ParameterError

__all__ = ["Price", "PriceLookup", "kept_source_lookup", "normalise_price_table", "resolve_price", "resolve_prices"]

_PREFIX = re.compile(r"^[A-Za-z0-9_.-]+/")
_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|latest)$")


@dataclass(frozen=True)
class Price:
    """USD per 1M tokens for one table key."""

    key: str
    input_per_million: float
    output_per_million: float
    source: str = "your table"

    @property
    def input_per_token(self) -> float:
        return self.input_per_million / 1e6

    @property
    def output_per_token(self) -> float:
        return self.output_per_million / 1e6


def normalise_price_table(table: Mapping[str, Any] | None) -> dict[str, Price]:
    """Validate a user's price table (``None``: empty) and return ``{key: Price}``.

    Each entry is ``{"input": usd_per_1M, "output": usd_per_1M}`` (``prompt``/``completion`` are
    accepted too) or a two-item list ``[input, output]``. Bad entries raise ParameterError.
    """
    if table is None:
        return {}
    if not isinstance(table, Mapping):
        raise ParameterError("price_table must be a mapping of model -> {input, output} USD per 1M tokens",
                             hint='e.g. {"gpt-4o-mini": {"input": 0.15, "output": 0.60}}')
    prices: dict[str, Price] = {}
    for key, entry in table.items():
        try:
            if isinstance(entry, Mapping):
                inp = entry.get("input", entry.get("prompt"))
                out = entry.get("output", entry.get("completion"))
            else:
                inp, out = entry
            inp, out = float(inp), float(out)
            if inp < 0 or out < 0 or inp != inp or out != out:
                raise ValueError
        except (TypeError, ValueError):
            raise ParameterError(
                f"price_table entry for {str(key)!r} is not two non-negative numbers",
                hint='write it as {"input": USD per 1M prompt tokens, "output": USD per 1M completion tokens}',
            ) from None
        prices[str(key)] = Price(str(key), inp, out)
    return prices


def _candidates(model: str) -> list[str]:
    out = [model, model.lower()]
    stripped = _PREFIX.sub("", model.lower())
    out.append(stripped)
    for name in (model.lower(), stripped):
        out.append(_SUFFIX.sub("", name))
    seen: list[str] = []
    for c in out:
        if c and c not in seen:
            seen.append(c)
    return seen


def resolve_price(model: str, prices: Mapping[str, Price]) -> Price | None:
    """The price for a model string as it appears in spans, or ``None`` when the table lacks it."""
    if not model:
        return None
    lowered = {k.lower(): p for k, p in prices.items()}
    for cand in _candidates(model):
        if cand in prices:
            return prices[cand]
        if cand in lowered:
            return lowered[cand]
    return None


#: A price lookup for model strings the user's table does not price (``None``: unpriced).
PriceLookup = Callable[[str], "Price | None"]


def kept_source_lookup() -> PriceLookup | None:
    """Look models up in the kept price source (:func:`~runbook_lib.traces.prices.default_source`); each
    Price names its source and version. ``None`` when no source is installed."""
    from .prices import price_book

    try:
        book = price_book()
    except ConfigError:
        return None

    def lookup(model: str) -> Price | None:
        match = book.price_for(model)
        if match is None:
            return None
        return Price(match.key, round(match.prompt_cost_per_1k * 1000, 9),
                     round(match.completion_cost_per_1k * 1000, 9), f"{match.source} {match.version}")

    return lookup


def resolve_prices(models: Iterable[str], prices: Mapping[str, Price], *,
                   fallback: PriceLookup | None = None) -> dict[str, Price]:
    """``{model string: Price}`` for the models that resolve in ``prices`` (the user's table), else through
    ``fallback``; the others are left out."""
    resolved = {}
    for m in models:
        p = resolve_price(m, prices) or (fallback(m) if fallback is not None and m else None)
        if p is not None:
            resolved[m] = p
    return resolved
