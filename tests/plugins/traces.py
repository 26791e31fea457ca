"""Pytest fixtures for trace analytics.

- ``trace_data`` (session): a seeded synthetic dataset (pyarrow Table, otel_traces shape) over two
  projects and 7 days ending at :data:`TRACE_END`.
- ``trace_truth`` (session): the same rows flattened in plain Python (attribute dicts) into a pandas
  frame with the columns the independent computations need (see :func:`flatten_spans`).
- ``parquet_dump`` / ``jsonl_dump`` (session): the dataset written as dump files.
- ``dump_store`` (session): a :class:`ChdbFileStore` over ``parquet_dump``.
- ``make_store`` (function): ``make_store(rows_or_table)`` -> a :class:`ChdbFileStore` over a fresh
  Parquet dump of the given spans (hand-made rows via :func:`span_rows_table`).
- ``http_trace_store`` (session): the stand-in's ClickHouse-HTTP trace store process (from
  ``tests/plugins/agentops_standin.py``) loaded with ``trace_data``, with a
  :class:`ClickHouseHttpStore` client whose password comes from an ``env:`` reference.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from runbook_lib.traces import schema
from runbook_lib.traces.store import ChdbFileStore, ClickHouseHttpStore
from runbook_lib.traces.synthetic import generate_table, insert_traces, write_dump

TRACE_END = dt.datetime(2025, 6, 2, tzinfo=dt.timezone.utc)
TRACE_START = TRACE_END - dt.timedelta(days=7)
PROJECTS = ("proj-alpha", "proj-beta")
NS = 1_000_000_000


def flatten_spans(table: Any) -> pd.DataFrame:
    """Spans as plain Python values: one row per span, attribute maps as dicts, and the fields the
    analytics rules read, each parsed here independently of the library's SQL."""
    import pyarrow as pa

    data = table.select([c for c, _ in schema.COLUMNS[:15]]).to_pydict()
    ts = table.column("Timestamp").cast(pa.int64()).to_pylist()
    rows = []
    for i in range(table.num_rows):
        attrs = dict(data["SpanAttributes"][i] or [])
        res = dict(data["ResourceAttributes"][i] or [])
        rows.append({
            "ts_ns": ts[i], "trace": data["TraceId"][i], "span": data["SpanId"][i],
            "parent": data["ParentSpanId"][i], "name": data["SpanName"][i], "service": data["ServiceName"][i],
            "status_code": data["StatusCode"][i], "duration": int(data["Duration"][i]),
            "attrs": attrs, "project": res.get("agentops.project.id", ""),
        })
    df = pd.DataFrame(rows)
    a = df["attrs"]

    def get(key: str) -> pd.Series:
        return a.map(lambda d: d.get(key, ""))

    def num(key: str) -> pd.Series:
        return get(key).map(lambda v: int(v) if v.isdigit() else 0)

    def fnum(key: str) -> pd.Series:
        def conv(v: str) -> float:
            try:
                return float(v)
            except ValueError:
                return 0.0
        return get(key).map(conv)

    df["status"] = df["status_code"].str.upper()
    req, resp = get("gen_ai.request.model"), get("gen_ai.response.model")
    df["model"] = req.where(req != "", resp)
    df["cost_model"] = resp.where(resp != "", req)
    df["is_llm"] = df["model"] != ""
    old_p, old_c = get("gen_ai.usage.prompt_tokens"), get("gen_ai.usage.completion_tokens")
    new_p, new_c = get("gen_ai.usage.input_tokens"), get("gen_ai.usage.output_tokens")
    df["has_old"] = (old_p != "") | (old_c != "")
    df["has_new"] = (new_p != "") | (new_c != "")
    df["old_prompt"] = num("gen_ai.usage.prompt_tokens")
    df["old_completion"] = num("gen_ai.usage.completion_tokens")
    df["prompt"] = df["old_prompt"].where(old_p != "", num("gen_ai.usage.input_tokens"))
    df["completion"] = df["old_completion"].where(old_c != "", num("gen_ai.usage.output_tokens"))
    df["cache_read"] = num("gen_ai.usage.cache_read_input_tokens")
    df["reasoning"] = num("gen_ai.usage.reasoning_tokens")
    tot = get("gen_ai.usage.total_tokens")
    df["total"] = num("gen_ai.usage.total_tokens").where(
        tot != "", df["prompt"] + df["completion"] + df["cache_read"] + df["reasoning"])
    df["dash_total"] = num("gen_ai.usage.total_tokens").where(
        tot != "", df["old_prompt"] + df["old_completion"] + df["cache_read"] + df["reasoning"])
    df["total_cost_attr"] = get("gen_ai.usage.total_cost")
    df["prompt_cost_attr"] = get("gen_ai.usage.prompt_cost")
    df["completion_cost_attr"] = get("gen_ai.usage.completion_cost")
    df["stored"] = (df["total_cost_attr"] != "") | (df["prompt_cost_attr"] != "") | (df["completion_cost_attr"] != "")
    df["stored_cost"] = fnum("gen_ai.usage.total_cost").where(
        df["total_cost_attr"] != "", fnum("gen_ai.usage.prompt_cost") + fnum("gen_ai.usage.completion_cost"))
    df["tags"] = get("agentops.tags")
    df["day_ns"] = (df["ts_ns"] // (86400 * NS)) * 86400 * NS
    df["hour_ns"] = (df["ts_ns"] // (3600 * NS)) * 3600 * NS
    return df


def span_rows_table(rows: Sequence[Mapping[str, Any]]) -> Any:
    """A pyarrow Table in the otel_traces shape from hand-written span dicts.

    Keys: ``ts`` (datetime, UTC) or ``ts_ns``, ``trace``, ``span``, ``parent`` (default ""),
    ``name``, ``service``, ``status`` (StatusCode text), ``duration_ns``, ``attrs`` (dict),
    ``project`` (goes to ResourceAttributes['agentops.project.id'] unless None).
    """
    import pyarrow as pa

    ts_type = pa.timestamp("ns", tz="UTC")
    map_type = pa.map_(pa.string(), pa.string())

    def ns(r: Mapping[str, Any]) -> int:
        if "ts_ns" in r:
            return int(r["ts_ns"])
        t = r["ts"]
        delta = t - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
        return (delta.days * 86400 + delta.seconds) * NS + delta.microseconds * 1000

    res = [list(({"agentops.project.id": r["project"]} if r.get("project") is not None else {}).items())
           + [("service.name", r.get("service", "svc"))] for r in rows]
    cols = {
        "Timestamp": pa.array([ns(r) for r in rows], pa.int64()).cast(ts_type),
        "TraceId": [r.get("trace", "t1") for r in rows],
        "SpanId": [r.get("span", uuid.uuid4().hex[:16]) for r in rows],
        "ParentSpanId": [r.get("parent", "") for r in rows],
        "TraceState": ["" for _ in rows],
        "SpanName": [r.get("name", "span") for r in rows],
        "SpanKind": ["Internal" for _ in rows],
        "ServiceName": [r.get("service", "svc") for r in rows],
        "ResourceAttributes": pa.array(res, map_type),
        "ScopeName": ["test" for _ in rows],
        "ScopeVersion": ["1" for _ in rows],
        "SpanAttributes": pa.array([list((r.get("attrs") or {}).items()) for r in rows], map_type),
        "Duration": pa.array([int(r.get("duration_ns", 1_000_000)) for r in rows], pa.uint64()),
        "StatusCode": [r.get("status", "Unset") for r in rows],
        "StatusMessage": ["" for _ in rows],
        "Events.Timestamp": pa.array([[] for _ in rows], pa.list_(ts_type)),
        "Events.Name": pa.array([[] for _ in rows], pa.list_(pa.string())),
        "Events.Attributes": pa.array([[] for _ in rows], pa.list_(map_type)),
        "Links.TraceId": pa.array([[] for _ in rows], pa.list_(pa.string())),
        "Links.SpanId": pa.array([[] for _ in rows], pa.list_(pa.string())),
        "Links.TraceState": pa.array([[] for _ in rows], pa.list_(pa.string())),
        "Links.Attributes": pa.array([[] for _ in rows], pa.list_(map_type)),
    }
    return pa.table({k: (v if isinstance(v, (pa.Array, pa.ChunkedArray)) else pa.array(v, pa.string()))
                     for k, v in cols.items()})


@pytest.fixture(scope="session")
def trace_data() -> Any:
    return generate_table(3000, days=7, end=TRACE_END, seed=11, project_ids=PROJECTS)


@pytest.fixture(scope="session")
def trace_truth(trace_data: Any) -> pd.DataFrame:
    return flatten_spans(trace_data)


@pytest.fixture(scope="session")
def trace_dump_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("trace-dumps")


@pytest.fixture(scope="session")
def parquet_dump(trace_data: Any, trace_dump_dir: Path) -> Path:
    return write_dump(trace_data, trace_dump_dir / "otel_traces.parquet")


@pytest.fixture(scope="session")
def jsonl_dump(trace_data: Any, trace_dump_dir: Path) -> Path:
    return write_dump(trace_data, trace_dump_dir / "otel_traces.jsonl")


@pytest.fixture(scope="session")
def dump_store(parquet_dump: Path) -> Iterator[ChdbFileStore]:
    store = ChdbFileStore(parquet_dump)
    yield store
    store.close()


@pytest.fixture
def make_store(tmp_path: Path) -> Iterator[Callable[..., ChdbFileStore]]:
    opened: list[ChdbFileStore] = []

    def make(data: Any, fmt: str = "parquet") -> ChdbFileStore:
        table = span_rows_table(data) if isinstance(data, (list, tuple)) else data
        path = write_dump(table, tmp_path / f"spans-{uuid.uuid4().hex[:8]}.{fmt}")
        store = ChdbFileStore(path)
        opened.append(store)
        return store

    yield make
    for s in opened:
        s.close()


@pytest.fixture(scope="session")
def http_trace_store(request: pytest.FixtureRequest, trace_data: Any) -> Iterator[ClickHouseHttpStore]:
    """A stand-in trace store process of its own, with ``trace_data`` inserted over HTTP."""
    standin = request.getfixturevalue("start_trace_store")()
    env_name = "RUNBOOK_TEST_TRACE_STORE_PASSWORD"
    os.environ[env_name] = standin.password
    client = ClickHouseHttpStore(standin.query_url, standin.user, f"env:{env_name}")
    insert_traces(client, trace_data)
    from runbook_lib.traces import dashboard_objects  # the store as the sandbox's `current` level has it

    for sql in dashboard_objects.create_statements() + dashboard_objects.price_statements():
        client.execute(sql)
    client.standin = standin  # type: ignore[attr-defined]
    yield client
    client.close()


def tags_of(text: str) -> list[str]:
    """``agentops.tags`` as the analytics read it (JSON array, else comma-separated)."""
    try:
        value = json.loads(text)
        return [str(v) for v in value] if isinstance(value, list) else []
    except ValueError:
        return text.split(",") if text else []
