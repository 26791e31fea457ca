"""Price lookups: each rule on a hand-made source, the real LiteLLM map, a user's table winning."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
from pathlib import Path

import pytest

from runbook_lib.errors import ConfigError, ParameterError
from runbook_lib.traces import prices

SOURCE = prices.PriceSource("hand", "1", {
    "gpt-4o-mini": (0.15, 0.6),
    "Mixed-Case-Model": (1.0, 2.0),
    "vercel/anthropic/claude-x": (3.0, 15.0),
    "bedrock/claude-x": (3.5, 16.0),
    "perplexity/sonar": (0.1, 0.4),
})


@pytest.mark.parametrize(("model", "key", "rule"), [
    ("gpt-4o-mini", "gpt-4o-mini", "exact"),
    ("GPT-4o-Mini", "gpt-4o-mini", "case-insensitive"),
    ("mixed-case-model", "Mixed-Case-Model", "case-insensitive"),
    ("openai/gpt-4o-mini", "gpt-4o-mini", "provider prefix stripped"),
    ("claude-x", "bedrock/claude-x", "provider-prefixed"),  # shortest of the hosted keys
    ("sonar", "perplexity/sonar", "provider-prefixed"),
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini", "dated suffix stripped"),
    ("gpt-4o-mini-20240718", "gpt-4o-mini", "dated suffix stripped"),
    ("gpt-4o-mini-latest", "gpt-4o-mini", "dated suffix stripped"),
    ("claude-x@20241022", "bedrock/claude-x", "dated suffix stripped, then provider-prefixed"),
    ("openai/gpt-4o-mini-2024-07-18", "gpt-4o-mini", "dated suffix stripped, then provider prefix stripped"),
])
def test_each_rule_names_itself(model, key, rule):
    match = prices.PriceBook(SOURCE).price_for(model)
    assert match is not None
    assert (match.key, match.rule, match.source, match.version) == (key, rule, "hand", "1")
    assert (match.prompt_cost_per_1k, match.completion_cost_per_1k) == SOURCE.prices[key]
    assert key in match.describe() or key == model


@pytest.mark.parametrize("model", ["", "  ", "acme-llm-7b", "gpt-4o-mini-2024", "other/claude-y"])
def test_no_rule_no_price(model):
    assert prices.PriceBook(SOURCE).price_for(model) is None


def test_user_table_wins_in_every_form():
    book = prices.PriceBook(SOURCE, prices.user_table({
        "gpt-4o-mini": (9.0, 9.5),
        "acme-llm-7b": {"prompt_cost_per_1k": 0.01, "completion_cost_per_1k": 0.02},
        "claude-x": {"input": 2000.0, "output": 4000.0},  # per 1M tokens
    }))
    m = book.price_for("gpt-4o-mini-2024-07-18")
    assert (m.source, m.version, m.prompt_cost_per_1k, m.rule) == ("your table", "user", 9.0, "dated suffix stripped")
    assert book.price_for("acme-llm-7b").completion_cost_per_1k == 0.02
    assert (book.price_for("claude-x").prompt_cost_per_1k, book.price_for("claude-x").source) == (2.0, "your table")
    assert book.price_for("sonar").source == "hand"  # not in the user's table: the source answers


@pytest.mark.parametrize("bad", [{"m": "cheap"}, {"m": (1.0,)}, {"m": (-1.0, 0.0)}])
def test_malformed_user_table_is_refused(bad):
    with pytest.raises(ParameterError):
        prices.user_table(bad)


def _bundled_litellm_map() -> dict:
    spec = importlib.util.find_spec("litellm")
    folder = Path(next(iter(spec.submodule_search_locations)))
    return json.loads((folder / "model_prices_and_context_window_backup.json").read_text())


def test_litellm_source_is_the_installed_packages_map():
    source = prices.default_source()
    raw = _bundled_litellm_map()
    assert (source.name, source.version) == ("litellm", importlib.metadata.version("litellm"))
    assert "sample_spec" not in source.prices
    book = prices.PriceBook(source)
    m = book.price_for("openai/gpt-4o-mini")
    assert m.key == "gpt-4o-mini" and m.rule == "provider prefix stripped"
    assert m.prompt_cost_per_1k == pytest.approx(raw["gpt-4o-mini"]["input_cost_per_token"] * 1000)
    assert m.completion_cost_per_1k == pytest.approx(raw["gpt-4o-mini"]["output_cost_per_token"] * 1000)
    # LiteLLM keeps dated OpenAI names as keys of their own
    assert book.price_for("gpt-4o-mini-2024-07-18").rule == "exact"
    assert prices.price_for("acme-llm-7b") is None


def test_unknown_or_missing_source_is_a_clear_error():
    with pytest.raises(ParameterError, match="unknown price source"):
        prices.default_source("nope")
    if importlib.util.find_spec("tokencost") is None:
        with pytest.raises(ConfigError, match="tokencost package is not installed"):
            prices.default_source("tokencost")


def test_price_table_for_30_trace_analytics_is_per_million_and_names_its_source():
    from runbook_lib.traces.pricing import normalise_price_table

    book = prices.PriceBook(SOURCE)
    table = prices.price_table_for(["gpt-4o-mini-2024-07-18", "claude-x", "acme-llm-7b"], book)
    assert set(table) == {"gpt-4o-mini-2024-07-18", "claude-x"}
    assert table["gpt-4o-mini-2024-07-18"] == {"input": 150.0, "output": 600.0, "source": "hand 1",
                                               "rule": "dated suffix stripped"}
    normalised = normalise_price_table({m: {"input": e["input"], "output": e["output"]} for m, e in table.items()})
    assert set(normalised) == set(table)
