"""The dashboard's figures, computed by the real API's rules (``agentops/api/models/span_metrics.py``).

A *row* is a span or a pre-aggregated trace. For each row: tokens default to 0; total tokens are the
stored ``total_tokens`` when the row has them, else prompt + completion + cache-read + reasoning;
prompt/completion cost are the stored ones when present, else a price lookup; total cost is the
stored total when present, else prompt + completion. Which stored figures a row carries depends on
the route, which is why the views disagree upstream: project metrics rows carry summed
prompt/completion costs (so their total ignores ``gen_ai.usage.total_cost``), trace-list rows carry a
summed ``total_cost`` (stored, else the cost functions' price).

The price lookup for spans without stored costs (and for the trace list's prompt/completion cost):
upstream uses the ``tokencost`` package (its own copy of LiteLLM's price map: model lower-cased, exact
key, else the part after the last ``/``; tokens × USD per token, unrounded). The stand-in applies the
same rule (:class:`TokenPrices`) to tokencost's own map when ``tokencost`` is installed, else to the map
bundled with the installed ``litellm``; then the figures differ where the two copies differ (LiteLLM
1.108.7 no longer has ``claude-3-5-sonnet-20241022`` or a bare ``gemini-2.0-flash``, tokencost 0.1.26 does).

Costs are formatted as upstream does: 7 decimals for span/trace metrics, 5 for project metrics.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

__all__ = ["Row", "TokenPrices", "Totals", "cost7", "span_row", "spans_per_trace"]

#: Model names upstream renames before its price lookup.
_ALIASES = {"sonar": "perplexity/sonar", "sonar-pro": "perplexity/sonar-pro"}


class TokenPrices:
    """USD per token by model, looked up by tokencost's rule in a LiteLLM-format price map."""

    def __init__(self, price_map: Mapping[str, Any]) -> None:
        self._map = {str(k): v for k, v in price_map.items() if isinstance(v, Mapping)}

    @classmethod
    def installed(cls) -> TokenPrices:
        """tokencost's own price map when that package is installed (upstream's source), else LiteLLM's
        bundled one, else none. Read from the packages' files, without importing them."""
        import importlib.util
        import json
        from pathlib import Path

        from ...errors import ConfigError
        from ...traces.dashboard_objects import litellm_price_map

        spec = importlib.util.find_spec("tokencost")
        if spec is not None and spec.submodule_search_locations:
            path = Path(next(iter(spec.submodule_search_locations))) / "model_prices.json"
            if path.is_file():
                return cls(json.loads(path.read_text(encoding="utf-8")))
        try:
            return cls(litellm_price_map())
        except ConfigError:
            return cls({})

    def _entry(self, model: str) -> Mapping[str, Any] | None:
        name = model.lower()
        if name in self._map:
            return self._map[name]
        rest = name.split("/", 1)[-1]
        if name.startswith("bedrock/") and rest.startswith("anthropic.") and rest in self._map:
            return self._map[rest]
        return self._map.get(name.rsplit("/", 1)[-1]) if "/" in name else None

    def cost(self, model: str, tokens: int, direction: str) -> Decimal:
        """``tokens`` × the model's price for ``direction`` (``input``/``output``); 0 when unknown."""
        entry = self._entry(_ALIASES.get(model, model))
        per_token = entry.get(f"{direction}_cost_per_token") if entry else None
        if not per_token:
            return Decimal(0)
        return Decimal(str(per_token)) * Decimal(tokens)


def cost7(value: Decimal) -> str:
    return f"{float(value):.7f}"


def _int(value: Any) -> int:
    return int(value or 0)


def _optional_int(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


def _optional_decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


@dataclass
class Row:
    """One span or pre-aggregated trace with the figures upstream derives from it."""

    trace_id: str
    status_code: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_read_input_tokens: int = 0
    reasoning_tokens: int = 0
    stored_total_tokens: int | None = None
    request_model: str | None = None
    response_model: str | None = None
    stored_prompt_cost: Decimal | None = None
    stored_completion_cost: Decimal | None = None
    stored_total_cost: Decimal | None = None
    prices: TokenPrices | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.status_code = str(self.status_code).upper()
        if not self.trace_id or not self.status_code:
            raise ValueError("Required field cannot be empty: trace_id/status_code")

    @property
    def success(self) -> bool:
        return self.status_code == "OK"

    @property
    def fail(self) -> bool:
        return self.status_code == "ERROR"

    @property
    def indeterminate(self) -> bool:
        return not (self.success or self.fail)

    @property
    def total_tokens(self) -> int:
        if self.stored_total_tokens is not None:
            return self.stored_total_tokens
        return self.prompt_tokens + self.completion_tokens + self.cache_read_input_tokens + self.reasoning_tokens

    @property
    def model_for_cost(self) -> str | None:
        return self.response_model or self.request_model or None

    def _price(self, tokens: int, direction: str) -> Decimal:
        model = self.model_for_cost
        if not model or self.prices is None:
            return Decimal(0)
        return self.prices.cost(model, tokens, direction)

    @property
    def prompt_cost(self) -> Decimal:
        if self.stored_prompt_cost is not None:
            return self.stored_prompt_cost
        return self._price(self.prompt_tokens, "input")

    @property
    def completion_cost(self) -> Decimal:
        if self.stored_completion_cost is not None:
            return self.stored_completion_cost
        return self._price(self.completion_tokens, "output")

    @property
    def total_cost(self) -> Decimal:
        if self.stored_total_cost is not None:
            return self.stored_total_cost
        return self.prompt_cost + self.completion_cost

    def metrics(self) -> dict[str, Any]:
        """``SpanMetricsResponse``."""
        total = self.total_tokens
        return {
            "total_tokens": total, "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens, "reasoning_tokens": self.reasoning_tokens,
            "success_tokens": total if self.success else 0, "fail_tokens": total if self.fail else 0,
            "indeterminate_tokens": total if self.indeterminate else 0,
            "prompt_cost": cost7(self.prompt_cost), "completion_cost": cost7(self.completion_cost),
            "total_cost": cost7(self.total_cost),
        }


def span_row(span: Mapping[str, Any], prices: TokenPrices | None) -> Row:
    """A span read by :mod:`store_queries` as a :class:`Row` (its attributes are the stored figures)."""
    attrs = span["span_attributes"]
    return Row(
        trace_id=span["trace_id"], status_code=span["status_code"],
        prompt_tokens=_int(attrs.get("gen_ai.usage.prompt_tokens")),
        completion_tokens=_int(attrs.get("gen_ai.usage.completion_tokens")),
        cache_read_input_tokens=_int(attrs.get("gen_ai.usage.cache_read_input_tokens")),
        reasoning_tokens=_int(attrs.get("gen_ai.usage.reasoning_tokens")),
        stored_total_tokens=_optional_int(attrs.get("gen_ai.usage.total_tokens", "")),
        request_model=attrs.get("gen_ai.request.model", ""), response_model=attrs.get("gen_ai.response.model", ""),
        stored_prompt_cost=_optional_decimal(attrs.get("gen_ai.usage.prompt_cost", "")),
        stored_completion_cost=_optional_decimal(attrs.get("gen_ai.usage.completion_cost", "")),
        stored_total_cost=_optional_decimal(attrs.get("gen_ai.usage.total_cost", "")),
        prices=prices,
    )


@dataclass
class Totals:
    """Sums over rows (``TraceMetricsMixin``): every row counts once toward span_count and the status counts."""

    rows: list[Row]
    span_count: int = 0
    trace_count: int = 0
    success_count: int = 0
    fail_count: int = 0
    indeterminate_count: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_read_input_tokens: int = 0
    reasoning_tokens: int = 0
    total_tokens: int = 0
    success_tokens: int = 0
    fail_tokens: int = 0
    prompt_cost: Decimal = Decimal(0)
    completion_cost: Decimal = Decimal(0)
    total_cost: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        for row in self.rows:
            self.add(row)
        self.span_count = len(self.rows)
        self.trace_count = len({r.trace_id for r in self.rows})

    def add(self, row: Row) -> None:
        if row.success:
            self.success_count += 1
        elif row.fail:
            self.fail_count += 1
        else:
            self.indeterminate_count += 1
        self.add_figures(row)

    def add_figures(self, row: Row) -> None:
        total = row.total_tokens
        self.total_tokens += total
        self.success_tokens += total if row.success else 0
        self.fail_tokens += total if row.fail else 0
        self.prompt_tokens += row.prompt_tokens
        self.completion_tokens += row.completion_tokens
        self.cache_read_input_tokens += row.cache_read_input_tokens
        self.reasoning_tokens += row.reasoning_tokens
        self.prompt_cost += row.prompt_cost
        self.completion_cost += row.completion_cost
        self.total_cost += row.total_cost

    @property
    def average_cost_per_trace(self) -> Decimal:
        return self.total_cost / self.trace_count if self.trace_count > 0 else Decimal(0)

    def metrics(self) -> dict[str, Any]:
        """``TraceMetricsResponse``."""
        return {
            "span_count": self.span_count, "trace_count": self.trace_count, "success_count": self.success_count,
            "fail_count": self.fail_count, "indeterminate_count": self.indeterminate_count,
            "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens, "reasoning_tokens": self.reasoning_tokens,
            "total_tokens": self.total_tokens, "prompt_cost": cost7(self.prompt_cost),
            "completion_cost": cost7(self.completion_cost),
            "average_cost_per_trace": cost7(self.average_cost_per_trace), "total_cost": cost7(self.total_cost),
        }


def spans_per_trace(counts: Iterable[int]) -> dict[int, int]:
    """Histogram of spans per trace: ten-ish equal buckets from 0, empty buckets left out."""
    per_count: dict[int, int] = {}
    for n in counts:
        per_count[n] = per_count.get(n, 0) + 1
    if not per_count:
        return {}
    top = max(per_count)
    step = max(1, top // 10)
    out: dict[int, int] = {}
    for start in range(0, top + step, step):
        hits = sum(c for n, c in per_count.items() if start <= n < start + step)
        if hits:
            out[start] = hits
    return out
