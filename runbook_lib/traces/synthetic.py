"""Seeded synthetic traces in the ``otel_2.otel_traces`` row shape, for demos, tests and benchmarks.

Each trace is one root agent span (``<agent>.session``) with LLM and tool child spans run one after
another. LLM spans use several models with different prices, lognormal latencies, streaming,
errors (which carry no usage), prompt/completion tokens under the names AgentOps reads or, for
some models and a share of spans, only under ``input_tokens``/``output_tokens``; cache-read and
reasoning tokens; some spans carry a stored cost (SDK ``total_cost`` or collector
``prompt_cost``/``completion_cost``). One model (``acme-llm-7b``) has no price.

Everything is vectorised (numpy + pyarrow): a million spans take a few seconds. The same
``seed`` and ``end`` give the same rows.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import schema
from .pricing import normalise_price_table, resolve_price

if TYPE_CHECKING:
    import pyarrow as pa

    from .store import TraceStore

__all__ = [
    "DEFAULT_END",
    "DEFAULT_MODELS",
    "ModelProfile",
    "generate_table",
    "generate_traces",
    "insert_traces",
    "write_dump",
]

#: The list prices (USD per 1M tokens, mid-2025) the synthetic SDK and collector price spans with: made-up
#: history, not a price source (analytics prices with the user's table and a kept source).
LIST_PRICES: dict[str, dict[str, float]] = {
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

#: Default end of the generated history (fixed, so a seed alone reproduces the rows).
DEFAULT_END = dt.datetime(2025, 6, 2, tzinfo=dt.timezone.utc)
NS = 1_000_000_000


@dataclass(frozen=True)
class ModelProfile:
    """How one model behaves in the generated data."""

    request_model: str
    response_model: str
    system: str
    weight: float
    latency_median_ms: float
    latency_sigma: float
    error_rate: float
    new_token_names: bool = False  # usage only as gen_ai.usage.input_tokens/output_tokens
    reasoning: bool = False
    cache: bool = False


DEFAULT_MODELS: tuple[ModelProfile, ...] = (
    ModelProfile("gpt-4o-mini", "gpt-4o-mini-2024-07-18", "openai", 0.36, 650, 0.50, 0.010, cache=True),
    ModelProfile("gpt-4o", "gpt-4o-2024-08-06", "openai", 0.20, 1400, 0.55, 0.020, cache=True),
    ModelProfile("claude-3-5-sonnet", "claude-3-5-sonnet-20241022", "anthropic", 0.15, 1800, 0.50, 0.030,
                 cache=True),
    ModelProfile("o3-mini", "o3-mini-2025-01-31", "openai", 0.10, 4500, 0.70, 0.020, reasoning=True),
    ModelProfile("gemini-2.0-flash", "gemini-2.0-flash", "gemini", 0.13, 500, 0.40, 0.015, new_token_names=True),
    ModelProfile("acme-llm-7b", "acme-llm-7b", "self-hosted", 0.06, 300, 0.30, 0.050),
)

_AGENTS = (("support", "support-bot"), ("research", "research-agent"), ("billing", "billing-assistant"))
_TAG_SETS = ('["prod"]', '["prod", "v2"]', '["staging"]', '["prod", "eval"]', "[]")
_TOOLS = ("search", "lookup_order", "send_email", "calculator", "retrieve_docs")
_LLM_SPAN_NAME = {"openai": "openai.chat", "anthropic": "anthropic.messages.create",
                  "gemini": "gemini.generate_content", "self-hosted": "llm.completion"}
_ERRORS = ("RateLimitError: 429 Too Many Requests", "APITimeoutError: Request timed out",
           "BadRequestError: context length exceeded", "InternalServerError: 500")
#: Hour-of-day weights (UTC): a working-day curve.
_DIURNAL = np.array([0.3, 0.25, 0.2, 0.2, 0.25, 0.35, 0.5, 0.8, 1.1, 1.3, 1.4, 1.45,
                     1.4, 1.45, 1.5, 1.45, 1.35, 1.2, 1.0, 0.85, 0.7, 0.55, 0.45, 0.35])


def _hex_ids(rng: np.random.Generator, n: int, nbytes: int) -> pa.Array:
    import pyarrow as pa

    raw = rng.integers(0, 256, size=(n, nbytes), dtype=np.uint8)
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    out = np.empty((n, nbytes * 2), dtype=np.uint8)
    out[:, 0::2] = digits[raw >> 4]
    out[:, 1::2] = digits[raw & 15]
    data = pa.py_buffer(out.tobytes())
    offsets = pa.py_buffer((np.arange(n + 1, dtype=np.int32) * (nbytes * 2)).tobytes())
    return pa.Array.from_buffers(pa.string(), n, [None, offsets, data])


def _pick(names: Sequence[str], idx: np.ndarray) -> pa.Array:
    import pyarrow as pa

    return pa.array(list(names), type=pa.string()).take(pa.array(idx.astype(np.int64)))


def _num_str(values: np.ndarray) -> pa.Array:
    import pyarrow as pa

    return pa.array(values).cast(pa.string())


def _map_column(n: int, entries: list[tuple[str, np.ndarray, pa.Array]]) -> pa.Array:
    """A Map(String, String) column from (key, row mask, values for the masked rows) triples."""
    import pyarrow as pa

    rows, keys, values = [], [], []
    for k, (key, mask, vals) in enumerate(entries):
        idx = np.flatnonzero(mask)
        assert len(idx) == len(vals), key
        rows.append(idx)
        keys.append(np.full(len(idx), k, dtype=np.int32))
        values.append(vals)
    row = np.concatenate(rows)
    key_index = np.concatenate(keys)
    order = np.lexsort((key_index, row))
    counts = np.bincount(row, minlength=n)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    key_arr = pa.array([e[0] for e in entries], type=pa.string()).take(pa.array(key_index[order]))
    val_arr = pa.concat_arrays([v.cast(pa.string()) for v in values]).take(pa.array(order))
    return pa.MapArray.from_arrays(pa.array(offsets), key_arr, val_arr)


def generate_table(
    n_traces: int = 1000,
    *,
    n_spans: int | None = None,
    days: float = 7.0,
    end: dt.datetime | str | None = None,
    seed: int = 0,
    project_ids: Sequence[str] = ("demo-project",),
    models: Sequence[ModelProfile] = DEFAULT_MODELS,
    llm_share: float = 0.6,
    streaming_share: float = 0.3,
    new_names_share: float = 0.03,
    total_tokens_share: float = 0.5,
    sdk_cost_share: float = 0.10,
    collector_cost_share: float = 0.20,
) -> pa.Table:
    """Generate traces as a pyarrow Table with the otel_traces columns (no ``project_id``: it is
    MATERIALIZED upstream and comes from ``ResourceAttributes['agentops.project.id']``).

    ``n_spans`` (>= ``n_traces``) fixes the total span count exactly; otherwise each trace has
    1 + Poisson(5) spans. History covers ``days`` before ``end`` (default :data:`DEFAULT_END`;
    ``"now"`` for the current time).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if n_traces < 1:
        raise ValueError("n_traces must be at least 1")
    if end is None:
        end = DEFAULT_END
    elif isinstance(end, str):
        end = dt.datetime.now(dt.timezone.utc) if end == "now" else dt.datetime.fromisoformat(end)
    if end.tzinfo is None:
        end = end.replace(tzinfo=dt.timezone.utc)
    rng = np.random.default_rng(seed)
    T = int(n_traces)

    # --- trace shape: spans per trace (root + children)
    if n_spans is not None:
        if n_spans < T:
            raise ValueError("n_spans must be >= n_traces (every trace has a root span)")
        weights = rng.gamma(2.0, 1.0, T)
        counts = 1 + rng.multinomial(int(n_spans) - T, weights / weights.sum())
    else:
        counts = 1 + rng.poisson(5.0, T)
    N = int(counts.sum())
    trace_of = np.repeat(np.arange(T), counts)
    first = np.zeros(T, dtype=np.int64)
    np.cumsum(counts[:-1], out=first[1:])
    pos = np.arange(N) - first[trace_of]
    is_root = pos == 0
    u = rng.random(N)
    is_llm = ~is_root & (u < llm_share)
    is_tool = ~is_root & ~is_llm

    # --- per-trace attributes
    agent = rng.integers(0, len(_AGENTS), T)
    project = rng.integers(0, len(project_ids), T)
    tags = rng.integers(0, len(_TAG_SETS), T)
    mw = np.array([m.weight for m in models], dtype=float)
    primary = rng.choice(len(models), T, p=mw / mw.sum())
    span_model = primary[trace_of]
    switch = is_llm & (rng.random(N) < 0.15)
    span_model[switch] = rng.choice(len(models), int(switch.sum()), p=mw / mw.sum())

    # --- status
    err_rate = np.array([m.error_rate for m in models])[span_model]
    llm_err = is_llm & (rng.random(N) < err_rate)
    tool_err = is_tool & (rng.random(N) < 0.01)
    child_err = llm_err | tool_err
    trace_has_err = np.bincount(trace_of, weights=child_err, minlength=T) > 0
    r = rng.random(T)
    root_status = np.where(trace_has_err & (r < 0.5), 2, np.where(r < 0.7, 1, 0))  # 0 Unset 1 Ok 2 Error
    status = np.zeros(N, dtype=np.int64)
    status[is_llm] = 1
    status[child_err] = 2
    status[is_root] = root_status
    # --- durations (ns)
    med = np.array([m.latency_median_ms for m in models])[span_model]
    sig = np.array([m.latency_sigma for m in models])[span_model]
    streaming = is_llm & (rng.random(N) < streaming_share)
    dur_ms = np.where(is_llm, rng.lognormal(np.log(med), sig), rng.lognormal(np.log(40.0), 0.9))
    dur_ms = np.where(streaming, dur_ms * 1.3, dur_ms)
    dur_ms = np.where(child_err, dur_ms * rng.uniform(0.05, 0.5, N), dur_ms)
    dur = np.maximum((dur_ms * 1e6).astype(np.int64), 1000)
    gap = rng.integers(1_000_000, 20_000_000, N)
    step = np.where(is_root, 0, dur + gap)
    cum = np.cumsum(step)
    base = cum[first][trace_of]
    last = first + counts - 1
    child_total = cum[last] - cum[first]
    root_dur = np.where(counts > 1, child_total + 2_000_000, rng.integers(2_000_000, 9_000_000, T))
    dur[is_root] = root_dur

    # --- start times: a working-day curve over the days before `end`
    end_ns = int(end.timestamp() * NS)
    span_ns = int(days * 86400 * NS)
    start_ns = end_ns - span_ns
    day = rng.integers(0, max(int(np.ceil(days)), 1), T)
    hour = rng.choice(24, T, p=_DIURNAL / _DIURNAL.sum())
    t0 = start_ns + day * 86400 * NS + hour * 3600 * NS + rng.integers(0, 3600 * NS, T)
    t0 = np.where(t0 >= end_ns - 60 * NS, start_ns + (t0 - start_ns) % max(span_ns - 60 * NS, 1), t0)
    ts = t0[trace_of] + np.where(is_root, 0, cum - base - dur)

    # --- tokens and cost (LLM spans without an error carry usage)
    usage = is_llm & ~llm_err
    prompt = np.maximum(np.rint(rng.lognormal(np.log(900), 0.8, N)), 1).astype(np.int64)
    completion = np.maximum(np.rint(rng.lognormal(np.log(180), 0.9, N)), 1).astype(np.int64)
    has_cache = usage & np.array([m.cache for m in models])[span_model] & (rng.random(N) < 0.3)
    cache = np.floor(prompt * rng.uniform(0.1, 0.9, N)).astype(np.int64)
    has_reason = usage & np.array([m.reasoning for m in models])[span_model]
    reasoning = np.maximum(np.rint(rng.lognormal(np.log(600), 0.8, N)), 1).astype(np.int64)
    new_names = usage & (np.array([m.new_token_names for m in models])[span_model]
                         | (rng.random(N) < new_names_share))
    old_names = usage & ~new_names
    has_total = usage & (rng.random(N) < total_tokens_share)
    prices = normalise_price_table(LIST_PRICES)
    p_in = np.array([(p.input_per_token if (p := resolve_price(m.response_model, prices)) else -1.0)
                     for m in models])[span_model]
    p_out = np.array([(p.output_per_token if (p := resolve_price(m.response_model, prices)) else -1.0)
                      for m in models])[span_model]
    priced = p_in >= 0
    c = rng.random(N)
    sdk_cost = usage & priced & (c < sdk_cost_share)
    coll_cost = old_names & priced & ~sdk_cost & (c < sdk_cost_share + collector_cost_share)
    # stored costs differ a little from list prices (discounts, provider rounding)
    jitter = rng.uniform(0.9, 1.1, N)
    total_cost = (prompt * p_in + completion * p_out) * jitter
    prompt_cost = prompt * p_in
    completion_cost = completion * p_out

    # --- string columns
    m_req = [m.request_model for m in models]
    m_resp = [m.response_model for m in models]
    m_sys = [m.system for m in models]
    kind_idx = np.where(is_root, 0, np.where(is_llm, 1, 2))
    tool_idx = rng.integers(0, len(_TOOLS), N)
    agent_span = agent[trace_of]
    span_name = np.empty(N, dtype=object)
    span_name[is_root] = np.array([f"{a[0]}_agent.session" for a in _AGENTS], dtype=object)[agent_span[is_root]]
    span_name[is_llm] = np.array([_LLM_SPAN_NAME[s] for s in m_sys], dtype=object)[span_model[is_llm]]
    span_name[is_tool] = np.array([f"tool.{t}" for t in _TOOLS], dtype=object)[tool_idx[is_tool]]

    trace_ids = _hex_ids(rng, T, 16).take(pa.array(trace_of))
    span_ids = _hex_ids(rng, N, 8)
    root_ids = span_ids.take(pa.array(first[trace_of]))
    parent = pc.if_else(pa.array(is_root), pa.scalar(""), root_ids)
    proj_of_span = project[trace_of]

    resource = _map_column(N, [
        ("agentops.project.id", np.ones(N, bool), _pick(list(project_ids), proj_of_span)),
        ("service.name", np.ones(N, bool), _pick([a[1] for a in _AGENTS], agent_span)),
        ("telemetry.sdk.name", np.ones(N, bool), pa.array(np.full(N, "agentops", dtype=object))),
    ])
    sel = lambda mask, arr: arr[mask]  # noqa: E731
    attrs = _map_column(N, [
        ("agentops.span.kind", np.ones(N, bool), _pick(["session", "llm", "tool"], kind_idx)),
        ("agentops.tags", is_root, _pick(list(_TAG_SETS), tags[trace_of][is_root])),
        ("agent.name", is_root, _pick([f"{a[0]}_agent" for a in _AGENTS], agent_span[is_root])),
        ("gen_ai.system", is_llm, _pick(m_sys, span_model[is_llm])),
        ("gen_ai.request.model", is_llm, _pick(m_req, span_model[is_llm])),
        ("gen_ai.response.model", usage, _pick(m_resp, span_model[usage])),
        ("gen_ai.request.streaming", is_llm, _pick(["false", "true"], sel(is_llm, streaming).astype(int))),
        ("gen_ai.usage.prompt_tokens", old_names, _num_str(prompt[old_names])),
        ("gen_ai.usage.completion_tokens", old_names, _num_str(completion[old_names])),
        ("gen_ai.usage.input_tokens", new_names, _num_str(prompt[new_names])),
        ("gen_ai.usage.output_tokens", new_names, _num_str(completion[new_names])),
        ("gen_ai.usage.cache_read_input_tokens", has_cache, _num_str(cache[has_cache])),
        ("gen_ai.usage.reasoning_tokens", has_reason, _num_str(reasoning[has_reason])),
        ("gen_ai.usage.total_tokens", has_total, _num_str((prompt + completion)[has_total])),
        ("gen_ai.usage.total_cost", sdk_cost, _num_str(np.round(total_cost[sdk_cost], 9))),
        ("gen_ai.usage.prompt_cost", coll_cost, _num_str(np.round(prompt_cost[coll_cost], 9))),
        ("gen_ai.usage.completion_cost", coll_cost, _num_str(np.round(completion_cost[coll_cost], 9))),
        ("tool.name", is_tool, _pick(list(_TOOLS), tool_idx[is_tool])),
    ])
    status_msg = np.where(child_err | (status == 2), rng.integers(0, len(_ERRORS), N), -1)
    msg = _pick([""] + list(_ERRORS), status_msg + 1)

    empty_lists = pa.array(np.zeros(N + 1, dtype=np.int32))
    ts_type = pa.timestamp("ns", tz="UTC")
    map_type = pa.map_(pa.string(), pa.string())

    def empty(value_type: pa.DataType) -> pa.Array:
        return pa.ListArray.from_arrays(empty_lists, pa.array([], type=value_type))

    columns = {
        "Timestamp": pa.array(ts, type=pa.int64()).cast(ts_type),
        "TraceId": trace_ids,
        "SpanId": span_ids,
        "ParentSpanId": parent,
        "TraceState": pa.array(np.full(N, "", dtype=object), type=pa.string()),
        "SpanName": pa.array(span_name, type=pa.string()),
        "SpanKind": _pick(["Internal", "Client", "Internal"], kind_idx),
        "ServiceName": _pick([a[1] for a in _AGENTS], agent_span),
        "ResourceAttributes": resource,
        "ScopeName": pa.array(np.full(N, "agentops", dtype=object), type=pa.string()),
        "ScopeVersion": pa.array(np.full(N, "0.4.21", dtype=object), type=pa.string()),
        "SpanAttributes": attrs,
        "Duration": pa.array(dur.astype(np.uint64)),
        "StatusCode": _pick(["Unset", "Ok", "Error"], status),
        "StatusMessage": msg,
        "Events.Timestamp": empty(ts_type),
        "Events.Name": empty(pa.string()),
        "Events.Attributes": empty(map_type),
        "Links.TraceId": empty(pa.string()),
        "Links.SpanId": empty(pa.string()),
        "Links.TraceState": empty(pa.string()),
        "Links.Attributes": empty(map_type),
    }
    assert list(columns) == [c for c, _ in schema.COLUMNS]
    return pa.table(columns)


def generate_traces(n_traces: int = 1000, **kwargs: Any) -> pd.DataFrame:
    """:func:`generate_table` as a pandas DataFrame in the otel_traces row shape (maps and arrays
    as Arrow-backed columns, timestamps as UTC)."""
    import pyarrow as pa

    table = generate_table(n_traces, **kwargs)
    return table.to_pandas(types_mapper=lambda t: pd.ArrowDtype(t) if pa.types.is_nested(t) else None)


def _as_table(data: pd.DataFrame | pa.Table) -> pa.Table:
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    return pa.Table.from_pandas(data, preserve_index=False)


def _ns_text(ns: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ns // NS)) + f".{ns % NS:09d}"


def write_dump(data: pd.DataFrame | pa.Table, path: str | Path, fmt: str | None = None) -> Path:
    """Write spans as an otel_traces dump: Parquet (``.parquet``) or JSONEachRow (``.jsonl``),
    the way ``SELECT * FROM otel_2.otel_traces FORMAT ...`` exports them (no ``project_id``)."""
    import pyarrow.parquet as pq

    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    table = _as_table(data)
    table = table.select([c for c, _ in schema.COLUMNS if c in table.column_names])
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt in ("parquet", "pq"):
        pq.write_table(table, path, row_group_size=131072)
        return path
    if fmt not in ("jsonl", "json", "ndjson", "jsoneachrow"):
        raise ValueError(f"unknown dump format {fmt!r}: use parquet or jsonl")
    with path.open("w", encoding="utf-8") as fh:
        for chunk in _json_lines(table):
            fh.write(chunk)
    return path


def _json_lines(table: pa.Table, batch_rows: int = 65536) -> Iterator[str]:
    """JSONEachRow text of the rows, one chunk per batch (timestamps as UTC text, maps as objects)."""
    import pyarrow as pa

    for batch in table.to_batches(batch_rows):
        cols: dict[str, list[Any]] = {}
        for name in batch.schema.names:
            col = batch.column(name)
            if name == "Timestamp":
                cols[name] = [_ns_text(v) for v in col.cast(pa.int64()).to_pylist()]
            elif name == "Events.Timestamp":
                flat = pa.ListArray.from_arrays(col.offsets, col.values.cast(pa.int64()))
                cols[name] = [[_ns_text(x) for x in (row or [])] for row in flat.to_pylist()]
            else:
                cols[name] = col.to_pylist()
        lines = []
        for i in range(batch.num_rows):
            row: dict[str, Any] = {}
            for name, values in cols.items():
                v = values[i]
                if name in ("ResourceAttributes", "SpanAttributes"):
                    v = dict(v or [])
                elif name in ("Events.Attributes", "Links.Attributes"):
                    v = [dict(m or []) for m in (v or [])]
                row[name] = v
            lines.append(json.dumps(row, ensure_ascii=False) + "\n")
        yield "".join(lines)


def insert_traces(store: TraceStore, data: pd.DataFrame | pa.Table) -> int:
    """Insert spans into a store's ``otel_traces`` table (chDB session or ClickHouse over HTTP);
    returns the number of rows sent. ``project_id`` is left to the table's MATERIALIZED column."""
    import tempfile

    import pyarrow as pa
    import pyarrow.parquet as pq

    from .store import ChdbSessionStore, ClickHouseHttpStore

    table = _as_table(data)
    table = table.select([c for c, _ in schema.COLUMNS])
    if isinstance(store, ChdbSessionStore):
        with tempfile.TemporaryDirectory(prefix="runbook-insert-") as tmp:
            path = Path(tmp) / "spans.parquet"
            pq.write_table(table, path)
            store.insert_file(path)
        return table.num_rows
    if isinstance(store, ClickHouseHttpStore):
        # Parquet in the body, the statement in the URL: the form ClickHouse's HTTP interface takes for bulk data
        import io

        sql = f"INSERT INTO {schema.QUALIFIED} FORMAT Parquet"
        for batch in table.to_batches(max_chunksize=200_000):
            buffer = io.BytesIO()
            pq.write_table(pa.Table.from_batches([batch]), buffer)
            store.execute(sql, None, body=buffer.getvalue())
        return table.num_rows
    raise TypeError(f"cannot insert into {type(store).__name__}; write a dump with write_dump() instead")
