"""The dashboard's ClickHouse objects (runbook_lib.traces.dashboard_objects) on embedded chDB.

chDB allows one session at a time, so each store is built, read into a :class:`Snapshot` and closed.
The upstream comparison applies the user's checkout (``AGENTOPS_SRC``) migrations 0001/0002 to a
second chDB session with the same price rows and compares objects and function results.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from runbook_lib.traces import schema
from runbook_lib.traces.dashboard_objects import (
    OBJECTS,
    SEEDED_MODELS,
    PriceRow,
    create_statements,
    litellm_price_map,
    litellm_version,
    price_rows,
    price_statements,
)

pytestmark = pytest.mark.sandbox
chdb_session = pytest.importorskip("chdb.session")

#: (tokens, model) probes: zero/negative tokens, empty model, case, provider prefix, dated and unpriced models.
PROBES: tuple[tuple[int, str], ...] = tuple(
    (tokens, model)
    for tokens in (0, -3, 1, 777, 1000, 123456)
    for model in ("gpt-4o-mini", "GPT-4o-Mini", "openai/gpt-4o-mini", "gpt-4o-mini-2024-07-18", "gpt-4o",
                  "claude-3-5-sonnet", "claude-3-5-sonnet-20241022", "gemini-2.0-flash", "o3-mini",
                  "acme-llm-7b", "sonar", "SONAR-PRO", "perplexity/sonar", "")
)
#: Hand-made rows added to the LiteLLM ones so the Perplexity renaming is exercised.
EXTRA_ROWS = (PriceRow("perplexity/sonar", 0.001, 0.002), PriceRow("perplexity/sonar-pro", 0.003, 0.015))


@dataclass
class Snapshot:
    """What a store holds after the objects were created and prices seeded."""

    tables: dict[str, str]  # name -> engine
    columns: dict[str, list[tuple[str, str]]]  # table/dictionary -> [(column, type)]
    dictionaries: dict[str, tuple[str, str, list[str]]]  # name -> (status, key, attribute names)
    functions: dict[str, tuple[str, ...]]  # name -> lambda parameters
    normalized: list[str]
    costs: list[tuple[float, float]]  # (prompt, completion) per probe
    span_counts: list[tuple[str, str, int]]


def _rows(session, sql: str) -> list[list[str]]:
    text = session.query(sql, "JSONCompact").bytes().decode()
    return json.loads(text)["data"] if text.strip() else []


def _lambda_params(create_query: str) -> tuple[str, ...]:
    head = create_query.split(" AS ", 1)[1].split("->", 1)[0]
    return tuple(p.strip() for p in head.strip().strip("()").split(","))


def build_snapshot(path: Path, statements: Iterable[str], rows: Sequence[PriceRow]) -> Snapshot:
    """Create a chDB store at ``path``, run ``statements`` then seed ``rows``, insert spans and read it back."""
    session = chdb_session.Session(str(path))
    try:
        for sql in [schema.create_database_sql(), schema.create_table_sql(), *statements,
                    *price_statements(rows=rows)]:
            session.query(sql)
        for batch in (("p1", "t1", 3), ("p1", "t2", 1), ("p2", "t1", 2), ("p1", "t1", 2)):
            project, trace, n = batch
            values = ",".join(f"(now64(9), '{trace}', 's{i}', map('agentops.project.id', '{project}'))"
                              for i in range(n))
            session.query(f"INSERT INTO {schema.QUALIFIED} (Timestamp, TraceId, SpanId, ResourceAttributes) "
                          f"VALUES {values}")
        session.query(f"USE {schema.DATABASE}")  # the cost functions name the dictionary unqualified
        names = ("model_costs_source", "model_costs_dict", "trace_span_counts", "mv_trace_span_counts")
        in_names = ",".join(f"'{n}'" for n in names)
        tables = dict(_rows(session, "SELECT name, engine FROM system.tables "
                                     f"WHERE database = '{schema.DATABASE}' AND name IN ({in_names})"))
        columns: dict[str, list[tuple[str, str]]] = {}
        for table, col, ctype in _rows(session, "SELECT table, name, type FROM system.columns "
                                                f"WHERE database = '{schema.DATABASE}' AND table IN ({in_names}) "
                                                "ORDER BY table, position"):
            columns.setdefault(table, []).append((col, ctype))
        dictionaries = {name: (status, key, attrs) for name, status, key, attrs in _rows(
            session, "SELECT name, status, arrayStringConcat(key.names, ','), attribute.names "
                     f"FROM system.dictionaries WHERE database = '{schema.DATABASE}'")}
        functions = {name: _lambda_params(create) for name, create in _rows(
            session, "SELECT name, create_query FROM system.functions WHERE origin = 'SQLUserDefined'")}
        probe_values = ",".join(f"({t}, {schema.quote_string(m)}, {i})" for i, (t, m) in enumerate(PROBES))
        probe_table = f"(SELECT * FROM values('tokens Int64, model String, i UInt32', {probe_values}))"
        normalized = [r[0] for r in _rows(session, f"SELECT normalize_model_name(model) FROM {probe_table} ORDER BY i")]
        costs = [(float(p), float(c)) for p, c in _rows(
            session, "SELECT calculate_prompt_cost(tokens, model), calculate_completion_cost(tokens, model) "
                     f"FROM {probe_table} ORDER BY i")]
        span_counts = [(p, t, int(n)) for p, t, n in _rows(
            session, "SELECT project_id, TraceId, countMerge(span_count_state) FROM trace_span_counts "
                     "GROUP BY project_id, TraceId ORDER BY project_id, TraceId")]
        return Snapshot(tables, columns, dictionaries, functions, normalized, costs, span_counts)
    finally:
        session.close()


@pytest.fixture(scope="module")
def seed_rows() -> list[PriceRow]:
    return [*price_rows(), *EXTRA_ROWS]


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory, seed_rows: list[PriceRow]) -> Snapshot:
    return build_snapshot(tmp_path_factory.mktemp("ours"), create_statements(), seed_rows)


def _expected_cost(tokens: int, model: str, rows: Sequence[PriceRow]) -> tuple[float, float]:
    if tokens <= 0 or model == "":
        return (0.0, 0.0)
    key = model.lower()
    key = {"sonar": "perplexity/sonar", "sonar-pro": "perplexity/sonar-pro"}.get(key, key)
    price = {r.model: r for r in rows}.get(key)
    if price is None:
        return (0.0, 0.0)
    # ClickHouse rounds a Float64 to 7 places as nearbyint(x * 1e7) / 1e7 (half to even)
    return tuple(round(tokens / 1000 * p * 1e7) / 1e7 for p in (price.prompt_cost_per_1k, price.completion_cost_per_1k))


def test_every_object_is_created_with_its_kind(ours: Snapshot) -> None:
    assert ours.tables == {"model_costs_source": "MergeTree", "model_costs_dict": "Dictionary",
                           "trace_span_counts": "AggregatingMergeTree", "mv_trace_span_counts": "MaterializedView"}
    functions = {o.name for o in OBJECTS if o.kind == "function"}
    assert functions <= set(ours.functions)
    assert ours.functions["calculate_prompt_cost"] == ("tokens", "model")
    assert ours.functions["normalize_model_name"] == ("model",)
    assert ours.columns["trace_span_counts"] == [("project_id", "String"), ("TraceId", "String"),
                                                  ("span_count_state", "AggregateFunction(count)")]


def test_dictionary_is_loaded_with_the_seeded_prices(ours: Snapshot) -> None:
    status, key, attrs = ours.dictionaries["model_costs_dict"]
    assert (status, key, attrs) == ("LOADED", "model", ["prompt_cost_per_1k", "completion_cost_per_1k"])


def test_function_results_follow_the_pricing_rules(ours: Snapshot, seed_rows: list[PriceRow]) -> None:
    for (tokens, model), got in zip(PROBES, ours.costs, strict=True):
        assert got == pytest.approx(_expected_cost(tokens, model, seed_rows), abs=1e-12), (tokens, model)
    assert ours.normalized[PROBES.index((0, "sonar"))] == "perplexity/sonar"
    assert ours.normalized[PROBES.index((0, "SONAR-PRO"))] == "perplexity/sonar-pro"
    assert ours.normalized[PROBES.index((0, "GPT-4o-Mini"))] == "gpt-4o-mini"
    assert any(cost != (0.0, 0.0) for cost in ours.costs)


def test_a_dated_response_model_gets_no_price(ours: Snapshot) -> None:
    for dated, undated in (("gpt-4o-mini-2024-07-18", "gpt-4o-mini"), ("claude-3-5-sonnet-20241022",
                                                                         "claude-3-5-sonnet")):
        assert ours.costs[PROBES.index((1000, dated))] == (0.0, 0.0)
        assert ours.costs[PROBES.index((1000, undated))][0] > 0
    assert not any(re.search(r"\d{4}-?\d{2}-?\d{2}$", m.name) for m in SEEDED_MODELS)


def test_the_view_counts_spans_per_project_and_trace(ours: Snapshot) -> None:
    assert ours.span_counts == [("p1", "t1", 5), ("p1", "t2", 1), ("p2", "t1", 2)]


def test_prices_are_litellms_own() -> None:
    import litellm  # LITELLM_LOCAL_MODEL_COST_MAP=True (tests/conftest.py): the bundled map, no network

    assert re.fullmatch(r"\d+\.\d+\.\d+.*", litellm_version())
    for seeded, row in zip(SEEDED_MODELS, price_rows(), strict=True):
        entry = litellm.model_cost[seeded.litellm_key]
        assert row.model == seeded.name
        assert row.prompt_cost_per_1k == pytest.approx(entry["input_cost_per_token"] * 1000, rel=1e-12)
        assert row.completion_cost_per_1k == pytest.approx(entry["output_cost_per_token"] * 1000, rel=1e-12)
    assert set(litellm.model_cost) <= set(litellm_price_map())  # LiteLLM loads this very file


def test_statements_render_for_another_database() -> None:
    statements = create_statements("otel_test")
    assert len(statements) == len(OBJECTS)
    assert all("otel_2" not in s for s in statements)
    assert "otel_test.model_costs_dict" in price_statements("otel_test", [PriceRow("m", 1.0, 2.0)])[1]
    assert price_statements(rows=[]) == []


@pytest.fixture(scope="module")
def theirs(agentops_src: Path, tmp_path_factory: pytest.TempPathFactory, seed_rows: list[PriceRow]) -> Snapshot:
    from runbook_lib.traces.clickhouse_migrations import read_plan

    statements = [s.sql for s in read_plan(agentops_src) if s.file.startswith(("0001", "0002"))]
    assert statements, f"no migrations 0001/0002 in {agentops_src}"
    return build_snapshot(tmp_path_factory.mktemp("theirs"), statements, seed_rows)


@pytest.mark.upstream
def test_objects_match_the_checkouts_migrations(ours: Snapshot, theirs: Snapshot) -> None:
    assert ours.tables == theirs.tables
    assert ours.columns == theirs.columns
    assert ours.dictionaries == theirs.dictionaries
    assert ours.functions == theirs.functions


@pytest.mark.upstream
def test_function_results_match_the_checkouts(ours: Snapshot, theirs: Snapshot) -> None:
    assert ours.normalized == theirs.normalized
    assert ours.costs == theirs.costs
    assert ours.span_counts == theirs.span_counts
