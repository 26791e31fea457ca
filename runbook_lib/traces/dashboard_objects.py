"""The ClickHouse objects the AgentOps API and dashboard read besides ``otel_traces``.

The real API's ``/v4`` trace list and project metrics call ``calculate_prompt_cost``,
``calculate_completion_cost`` and ``normalize_model_name``; those look prices up in the
``model_costs_dict`` dictionary over ``model_costs_source``. The span-count table is fed by a
materialized view on ``otel_traces``. Without these objects those routes answer 500
(``UNKNOWN_FUNCTION``). This module declares each object once (:data:`OBJECTS`) and renders its
``CREATE`` statement for a database; :func:`price_statements` seeds prices.

Prices come from LiteLLM's own price map, the JSON bundled in the installed ``litellm`` package
(read from the file, as ``LITELLM_LOCAL_MODEL_COST_MAP=True`` makes LiteLLM do, without importing
LiteLLM). Only undated model names are seeded, as upstream's seed migrations do, so a dated
response model such as ``gpt-4o-mini-2024-07-18`` gets no price from the dictionary (cost 0).

The cost functions name the dictionary without a database, so it resolves against the current
database of the query that calls them: run dashboard queries with ``database=otel_2``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError
from .schema import DATABASE, quote_string

__all__ = [
    "LITELLM_PRICE_FILE",
    "OBJECTS",
    "SEEDED_MODELS",
    "DashboardObject",
    "PriceRow",
    "SeededModel",
    "create_statements",
    "litellm_price_map",
    "litellm_version",
    "price_rows",
    "price_statements",
]

Kind = Literal["table", "dictionary", "function", "view"]

#: The price map LiteLLM ships inside its package (what ``LITELLM_LOCAL_MODEL_COST_MAP=True`` loads).
LITELLM_PRICE_FILE = "model_prices_and_context_window_backup.json"


@dataclass(frozen=True)
class DashboardObject:
    """One ClickHouse object: ``sql`` is a template with ``{db}`` for the database name."""

    kind: Kind
    name: str
    sql: str
    purpose: str

    def qualified(self, database: str = DATABASE) -> str:
        """``database.name`` for tables, dictionaries and views; functions are global, so just ``name``."""
        return self.name if self.kind == "function" else f"{database}.{self.name}"

    def create_sql(self, database: str = DATABASE) -> str:
        return self.sql.format(db=database)


def _cost_function(name: str, column: str) -> str:
    return (
        f"CREATE OR REPLACE FUNCTION {name} AS (tokens, model) -> if(\n"
        "    tokens > 0 AND model != '',\n"
        f"    round(toFloat64(tokens) / 1000 * dictGetOrDefault('model_costs_dict', '{column}',"
        " normalize_model_name(model), 0.), 7),\n"
        "    0.)"
    )


_PRICE_COLUMNS = "model String, prompt_cost_per_1k Float64, completion_cost_per_1k Float64"

#: Every object, in creation order (each only needs the ones before it, and ``{db}.otel_traces``).
OBJECTS: tuple[DashboardObject, ...] = (
    DashboardObject(
        "table", "model_costs_source",
        f"CREATE TABLE IF NOT EXISTS {{db}}.model_costs_source ({_PRICE_COLUMNS})\nENGINE = MergeTree ORDER BY model",
        "price per 1k prompt/completion tokens by model name, the dictionary's source",
    ),
    DashboardObject(
        "dictionary", "model_costs_dict",
        f"CREATE DICTIONARY IF NOT EXISTS {{db}}.model_costs_dict ({_PRICE_COLUMNS})\nPRIMARY KEY model\n"
        "SOURCE(CLICKHOUSE(DB '{db}' TABLE 'model_costs_source'))\nLIFETIME(0)\nLAYOUT(COMPLEX_KEY_HASHED())",
        "in-memory price lookup by model name, loaded once from model_costs_source (reload after seeding)",
    ),
    DashboardObject(
        "function", "normalize_model_name",
        "CREATE OR REPLACE FUNCTION normalize_model_name AS (model) -> multiIf(\n"
        "    lower(model) = 'sonar', 'perplexity/sonar',\n"
        "    lower(model) = 'sonar-pro', 'perplexity/sonar-pro',\n"
        "    lower(model))",
        "the dictionary key for a span's model: lower case, Perplexity's bare names prefixed",
    ),
    DashboardObject(
        "function", "calculate_prompt_cost", _cost_function("calculate_prompt_cost", "prompt_cost_per_1k"),
        "USD for prompt tokens of a model, 0 when tokens <= 0, model empty or not priced",
    ),
    DashboardObject(
        "function", "calculate_completion_cost",
        _cost_function("calculate_completion_cost", "completion_cost_per_1k"),
        "USD for completion tokens of a model, 0 when tokens <= 0, model empty or not priced",
    ),
    DashboardObject(
        "table", "trace_span_counts",
        "CREATE TABLE IF NOT EXISTS {db}.trace_span_counts (\n"
        "    project_id String, TraceId String, span_count_state AggregateFunction(count))\n"
        "ENGINE = AggregatingMergeTree ORDER BY (project_id, TraceId)",
        "span count per (project, trace) as aggregate states",
    ),
    DashboardObject(
        "view", "mv_trace_span_counts",
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.mv_trace_span_counts TO {db}.trace_span_counts AS\n"
        "SELECT ResourceAttributes['agentops.project.id'] AS project_id, TraceId, countState() AS span_count_state\n"
        "FROM {db}.otel_traces GROUP BY project_id, TraceId",
        "feeds trace_span_counts from every insert into otel_traces (rows inserted before it are not counted)",
    ),
)


def create_statements(database: str = DATABASE) -> list[str]:
    """``CREATE`` statements for every object in :data:`OBJECTS`, in order; idempotent.

    ``{database}.otel_traces`` must exist first (the materialized view reads it).
    """
    return [obj.create_sql(database) for obj in OBJECTS]


@dataclass(frozen=True)
class SeededModel:
    """A model name seeded into ``model_costs_source`` and the LiteLLM price-map key its price comes from."""

    name: str
    litellm_key: str


#: Of the models the sandbox uses (synthetic traces' request models), the undated names upstream's own seed
#: (``0003``/``0004``) prices, bare and with the provider prefix: so a stand-in ``current`` store covers
#: the same model strings as one provisioned from the checkout (``o3-mini`` and ``gemini-2.0-flash`` have
#: no row there either), and readiness reports the same gaps in both modes. LiteLLM 1.108.7 has no bare
#: Anthropic key for this model any more, so its price comes from a hosted entry at the same price.
#: ``acme-llm-7b`` stays unpriced on purpose; the proxy's ``fake-gpt`` is not in LiteLLM's map.
SEEDED_MODELS: tuple[SeededModel, ...] = (
    SeededModel("gpt-4o-mini", "gpt-4o-mini"),
    SeededModel("openai/gpt-4o-mini", "gpt-4o-mini"),
    SeededModel("gpt-4o", "gpt-4o"),
    SeededModel("openai/gpt-4o", "gpt-4o"),
    SeededModel("claude-3-5-sonnet", "vercel_ai_gateway/anthropic/claude-3-5-sonnet"),
    SeededModel("anthropic/claude-3-5-sonnet", "vercel_ai_gateway/anthropic/claude-3-5-sonnet"),
)


@dataclass(frozen=True)
class PriceRow:
    """One ``model_costs_source`` row (USD per 1000 tokens)."""

    model: str
    prompt_cost_per_1k: float
    completion_cost_per_1k: float


def _litellm_dir() -> Path:
    spec = importlib.util.find_spec("litellm")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the litellm package is not installed, so its price map cannot be read",
                          hint="install the sandbox extra: pip install 'agentops-runbooks[sandbox]'")
    return Path(next(iter(spec.submodule_search_locations)))


def litellm_version() -> str:
    """The installed LiteLLM's version (the price map's source version)."""
    return importlib.metadata.version("litellm")


def litellm_price_map() -> dict[str, Any]:
    """LiteLLM's bundled price map (``litellm/model_prices_and_context_window_backup.json``)."""
    path = _litellm_dir() / LITELLM_PRICE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read LiteLLM's price map {path}: {exc}",
                          hint="reinstall litellm (the sandbox extra pins its version)") from exc


def price_rows(models: Sequence[SeededModel] = SEEDED_MODELS,
               price_map: Mapping[str, Any] | None = None) -> list[PriceRow]:
    """Price rows for ``models``: LiteLLM's USD per token × 1000 (map read from the installed package by default)."""
    price_map = litellm_price_map() if price_map is None else price_map
    rows = []
    for m in models:
        entry = price_map.get(m.litellm_key)
        if not isinstance(entry, Mapping) or "input_cost_per_token" not in entry:
            raise ConfigError(f"LiteLLM's price map has no token prices for {m.litellm_key!r} (model {m.name!r})",
                              hint="pick another key of the same model in the map, or pass price_map")
        rows.append(PriceRow(m.name, round(float(entry["input_cost_per_token"]) * 1000, 12),
                             round(float(entry.get("output_cost_per_token", 0.0)) * 1000, 12)))
    return rows


def price_statements(database: str = DATABASE, rows: Sequence[PriceRow] | None = None) -> list[str]:
    """``INSERT`` of ``rows`` (default :func:`price_rows`) into ``model_costs_source``, then a dictionary reload."""
    rows = price_rows() if rows is None else rows
    if not rows:
        return []
    values = ",\n".join(f"({quote_string(r.model)}, {r.prompt_cost_per_1k!r}, {r.completion_cost_per_1k!r})"
                        for r in rows)
    return [
        f"INSERT INTO {database}.model_costs_source (model, prompt_cost_per_1k, completion_cost_per_1k) VALUES\n"
        + values,
        f"SYSTEM RELOAD DICTIONARY {database}.model_costs_dict",
    ]
