"""Token prices for computing the cost of spans that carry no stored cost.

A price table maps a model name to USD per one million tokens::

    {"gpt-4o-mini": {"input": 0.15, "output": 0.60}, ...}

Model strings seen in spans (``gen_ai.response.model`` / ``gen_ai.request.model``) are matched to
a table key exactly, then case-insensitively, then with a provider prefix (``openai/``) and a release
suffix (``-2024-07-18``, ``-20241022``, ``-latest``) removed. Prices change: pass your own table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ParameterError

__all__ = ["DEFAULT_PRICES", "PRICES_AS_OF", "Price", "normalise_price_table", "resolve_price", "resolve_prices"]

#: When the default prices were taken from the providers' public price lists.
PRICES_AS_OF = "2025-06"

#: USD per 1M tokens (input = prompt, output = completion) for common models.
DEFAULT_PRICES: dict[str, dict[str, float]] = {
    "gpt-4o": {"input": 2.50, "output": 10.00},
    "gpt-4o-mini": {"input": 0.15, "output": 0.60},
    "gpt-4.1": {"input": 2.00, "output": 8.00},
    "gpt-4.1-mini": {"input": 0.40, "output": 1.60},
    "gpt-4.1-nano": {"input": 0.10, "output": 0.40},
    "gpt-3.5-turbo": {"input": 0.50, "output": 1.50},
    "o1": {"input": 15.00, "output": 60.00},
    "o3-mini": {"input": 1.10, "output": 4.40},
    "o4-mini": {"input": 1.10, "output": 4.40},
    "claude-3-5-sonnet": {"input": 3.00, "output": 15.00},
    "claude-3-7-sonnet": {"input": 3.00, "output": 15.00},
    "claude-sonnet-4": {"input": 3.00, "output": 15.00},
    "claude-3-5-haiku": {"input": 0.80, "output": 4.00},
    "claude-3-opus": {"input": 15.00, "output": 75.00},
    "gemini-1.5-flash": {"input": 0.075, "output": 0.30},
    "gemini-1.5-pro": {"input": 1.25, "output": 5.00},
    "gemini-2.0-flash": {"input": 0.10, "output": 0.40},
    "mistral-large-latest": {"input": 2.00, "output": 6.00},
}

_PREFIX = re.compile(r"^[A-Za-z0-9_.-]+/")
_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|latest)$")


@dataclass(frozen=True)
class Price:
    """USD per 1M tokens for one table key."""

    key: str
    input_per_million: float
    output_per_million: float

    @property
    def input_per_token(self) -> float:
        return self.input_per_million / 1e6

    @property
    def output_per_token(self) -> float:
        return self.output_per_million / 1e6


def normalise_price_table(table: Mapping[str, Any] | None) -> dict[str, Price]:
    """Validate a price table (``None`` -> the default table) and return ``{key: Price}``.

    Each entry is ``{"input": usd_per_1M, "output": usd_per_1M}`` (``prompt``/``completion`` are
    accepted too) or a two-item list ``[input, output]``. Bad entries raise ParameterError.
    """
    if table is None:
        table = DEFAULT_PRICES
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


def resolve_prices(models: Iterable[str], prices: Mapping[str, Price]) -> dict[str, Price]:
    """``{model string: Price}`` for the models that resolve; the others are left out."""
    resolved = {}
    for m in models:
        p = resolve_price(m, prices)
        if p is not None:
            resolved[m] = p
    return resolved
