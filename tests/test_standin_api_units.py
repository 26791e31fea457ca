"""Pure parts of the stand-in API: attribute nesting, span type, price lookup, figure rules, histogram."""

from __future__ import annotations

import json
import sys
from decimal import Decimal

import pytest

from runbook_lib.sandbox.agentops_api.attributes import has_llm_attributes, nest_attributes, span_type
from runbook_lib.sandbox.agentops_api.figures import Row, TokenPrices, Totals, spans_per_trace

PRICES = {"gpt-4o": {"input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05},
          "perplexity/sonar": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06},
          "anthropic.claude-x": {"input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05}}


@pytest.mark.parametrize(("flat", "nested"), [
    ({"a.b.c": "1", "a.d": "2"}, {"a": {"b": {"c": "1"}, "d": "2"}}),
    ({"a.0.b": "x", "a.1.b": "y"}, {"a": [{"b": "x"}, {"b": "y"}]}),
    ({"a.1.b": "x"}, {"a": {}}),                      # a list only starts at 0; "1" under an object is dropped
    ({"a.12": "x"}, {"a": {"12": "x"}}),               # numbers from 10 up are plain keys
    ({"a": "v", "a.b": "w"}, {"a": "v"}),              # cannot go through a plain value
    ({"a.0": "x", "a.2": "z"}, {"a": ["x", None, "z"]}),
    ({"a.0": "x", "a.b": "y"}, {"a": ["x"]}),          # a name under a list is dropped
    ({"gen_ai.prompt": "hi"}, {"gen_ai": {"prompt": [{"content": "hi", "role": "user"}]}}),
])
def test_attributes_nest_by_upstreams_rules(flat: dict, nested: dict) -> None:
    assert nest_attributes(flat) == nested


def test_span_type_takes_the_first_known_key_depth_first() -> None:
    assert span_type({}) is None
    assert span_type({"agentops": {"span": {"kind": "x"}}, "agent": {"name": "a"}}) == "agent"
    assert span_type({"x": [{"tool": {}}], "gen_ai": {}}) == "tool"
    assert span_type({"llm": {"model": "m"}}) == "other"
    assert has_llm_attributes({"gen_ai.usage.total_cost": "1"}) and not has_llm_attributes({"gen_ai.system": "x"})


def test_token_prices_follow_tokencosts_lookup() -> None:
    prices = TokenPrices(PRICES)
    assert prices.cost("GPT-4o", 1000, "input") == Decimal("0.0025000")
    assert prices.cost("openai/gpt-4o", 10, "output") == Decimal("0.0001")       # last path segment
    assert prices.cost("sonar", 5, "input") == Decimal("0.000005")              # upstream's alias
    assert prices.cost("bedrock/anthropic.claude-x", 1, "output") == Decimal("0.000015")
    assert prices.cost("gpt-4o-2024-08-06", 1000, "input") == 0                  # no such key: 0, no error


def test_installed_prices_prefer_tokencosts_own_map(tmp_path, monkeypatch) -> None:
    package = tmp_path / "tokencost"
    package.mkdir()
    (package / "__init__.py").write_text("raise ImportError('read, not imported')\n")
    (package / "model_prices.json").write_text(json.dumps({"only-here": {"input_cost_per_token": 0.5}}))
    monkeypatch.delitem(sys.modules, "tokencost", raising=False)  # find_spec would answer from sys.modules
    monkeypatch.syspath_prepend(str(tmp_path))                   # this copy shadows any installed tokencost
    prices = TokenPrices.installed()
    assert "tokencost" not in sys.modules  # read, not imported (importing it raises)
    assert [str(prices.cost("only-here", 2, "input")), str(prices.cost("gpt-4o", 1000, "input"))] == ["1.0", "0"]


def test_row_rules_stored_figures_first() -> None:
    prices = TokenPrices(PRICES)
    row = Row("t", "ok", prompt_tokens=1000, completion_tokens=10, request_model="gpt-4o",
              stored_completion_cost=Decimal("0.5"), stored_total_tokens=3, prices=prices)
    assert row.success and row.total_tokens == 3
    assert (row.prompt_cost, row.completion_cost, row.total_cost) == (Decimal("0.0025000"), Decimal("0.5"),
                                                                     Decimal("0.5025000"))
    stored_total = Row("t", "Error", prompt_tokens=1, stored_total_cost=Decimal("9"), prices=prices)
    assert stored_total.fail and stored_total.total_cost == 9 and stored_total.prompt_cost == 0
    assert Row("t", "response", response_model="gpt-4o", request_model="x", prompt_tokens=1000,
               prices=prices).metrics()["prompt_cost"] == "0.0025000"
    with pytest.raises(ValueError):
        Row("t", "")


def test_totals_count_rows_and_average_per_trace() -> None:
    rows = [Row("a", "OK", prompt_tokens=2, stored_total_cost=Decimal("1")),
            Row("a", "UNSET", completion_tokens=3, stored_total_cost=Decimal("2")),
            Row("b", "ERROR", stored_total_cost=Decimal("3"))]
    totals = Totals(rows)
    m = totals.metrics()
    assert (m["span_count"], m["trace_count"], m["success_count"], m["fail_count"], m["indeterminate_count"]) == (
        3, 2, 1, 1, 1)
    assert (m["total_tokens"], m["total_cost"], m["average_cost_per_trace"]) == (5, "6.0000000", "3.0000000")


def test_spans_per_trace_histogram_matches_upstreams_buckets() -> None:
    # Counts from the sandbox's 200 seeded traces and the buckets the real API answered for them.
    counts = [2] * 4 + [3] * 19 + [4] * 27 + [5] * 35 + [6] * 41 + [7] * 26 + [8] * 22 + [9] * 16 + [10] * 4 + \
        [11] * 5 + [12] * 1
    assert spans_per_trace(counts) == {2: 4, 3: 19, 4: 27, 5: 35, 6: 41, 7: 26, 8: 22, 9: 16, 10: 4, 11: 5, 12: 1}
    assert spans_per_trace([1, 25, 40]) == {0: 1, 24: 1, 40: 1}
    assert spans_per_trace([]) == {}
