"""The SQL that reads the window: filters, each attribute decoded once, and the three scans.

Everything here is ClickHouse SQL against ``otel_2.otel_traces`` that a ClickHouse server (24.2 or later,
for ``groupArraySorted``; upstream's compose file runs 24.12), the sandbox store and embedded chDB run
unchanged (``ARRAY JOIN``, ``-State``/``-MergeIf``, ``quantilesExact``, ``sumMap``, ``groupArraySorted``: no
chDB-only function). Every value (window, project, models, service, span name, tag, prices, limits) is a
bound ``{name:Type}`` parameter.

* :func:`span_scan_sql`: one pass over the spans, grouped four ways at once (period x model x
  priced-as, period, model, whole window), holding every span-level figure: counts, status, token and
  cost parts, exact LLM latency quantiles and attribute-name counts. Needs no prices: cost is priced
  afterwards from the token sums (``costing.py``).
* :func:`trace_scan_sql`: one pass grouped by trace, then the traces grouped by model mix, by span
  count, by period and overall at once: distinct traces (per period, in the window, older than the
  free plan's cutoff), trace latency quantiles, the spans-per-trace histogram and the slowest and
  costliest traces (``groupArraySorted``: no window function, no sort of every trace). It needs prices
  (cost decides a ranking), so it runs after the span scan has named the models: two scans in all,
  because prices are matched to model names in Python.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import ParameterError
from . import schema
from .pricing import Price
from .window import TraceFilters, to_ns

__all__ = [
    "ATTRIBUTE_COLUMNS",
    "MASK_MODELS",
    "NO_LLM",
    "QUANTILES",
    "SPAN_SETS",
    "TOP_LISTS",
    "TRACE_DETAILS",
    "TRACE_SETS",
    "bucket_sql",
    "decode_floor_sql",
    "sample_sql",
    "span_scan_sql",
    "spans_cte",
    "trace_scan_sql",
    "where_clause",
]

#: Exact percentiles reported for every latency table (``quantilesExact``: no interpolation).
QUANTILES = (0.5, 0.9, 0.95, 0.99)
#: ``models_used`` of a trace without LLM spans.
NO_LLM = "(no LLM spans)"

#: Column alias -> the SpanAttributes key it holds; each key is looked up once per span.
ATTRIBUTE_COLUMNS: dict[str, str] = {
    "a_request_model": "gen_ai.request.model",
    "a_response_model": "gen_ai.response.model",
    "a_prompt_tokens": "gen_ai.usage.prompt_tokens",
    "a_completion_tokens": "gen_ai.usage.completion_tokens",
    "a_input_tokens": "gen_ai.usage.input_tokens",
    "a_output_tokens": "gen_ai.usage.output_tokens",
    "a_cache_read_tokens": "gen_ai.usage.cache_read_input_tokens",
    "a_reasoning_tokens": "gen_ai.usage.reasoning_tokens",
    "a_total_tokens": "gen_ai.usage.total_tokens",
    "a_total_cost": "gen_ai.usage.total_cost",
    "a_prompt_cost": "gen_ai.usage.prompt_cost",
    "a_completion_cost": "gen_ai.usage.completion_cost",
}

#: Grouping-set id (``grouping(period_start_utc, model, priced_as)``, 1 = column aggregated out) -> name.
SPAN_SETS = {0: "detail", 3: "period", 5: "model", 7: "window"}
#: Set id of a trace-scan row -> name (``slowest``/``costliest`` rows are cut from the ``all`` row's
#: top lists, see :func:`trace_scan_sql`).
TRACE_SETS = {1: "models_used", 2: "spans_in_trace", 3: "all", 4: "period"}


def _attr(key: str) -> str:
    return f"SpanAttributes[{schema.quote_string(key)}]"


_REQUEST = _attr("gen_ai.request.model")
_RESPONSE = _attr("gen_ai.response.model")
_MODEL = f"coalesce(nullIf({_REQUEST}, ''), nullIf({_RESPONSE}, ''), '')"
_TAGS = (f"if(isValidJSON({_attr('agentops.tags')}), JSONExtract({_attr('agentops.tags')}, 'Array(String)'), "
         f"splitByChar(',', {_attr('agentops.tags')}))")


def bucket_sql(bucket: str) -> str:
    """The period a span's start falls in: ``hour`` or ``day`` (UTC)."""
    if bucket == "hour":
        return "toStartOfHour(Timestamp, 'UTC')"
    if bucket == "day":
        return "toStartOfDay(Timestamp, 'UTC')"
    raise ParameterError(f"bucket must be 'hour' or 'day', not {bucket!r}")


def where_clause(filters: TraceFilters) -> tuple[str, dict[str, Any]]:
    """The WHERE condition selecting the filtered spans, and its bound parameters."""
    f = filters
    params: dict[str, Any] = {"start_ns": to_ns(f.start), "end_ns": to_ns(f.end)}
    base = ["Timestamp >= fromUnixTimestamp64Nano({start_ns:Int64})",
            "Timestamp < fromUnixTimestamp64Nano({end_ns:Int64})"]
    if f.project_id:
        base.append("project_id = {project_id:String}")
        params["project_id"] = f.project_id
    conds = list(base)
    if f.service_name:
        conds.append("ServiceName = {service_name:String}")
        params["service_name"] = f.service_name
    if f.span_name:
        conds.append("SpanName = {span_name:String}")
        params["span_name"] = f.span_name
    scope = " AND ".join(base)
    if f.tag:
        params["tag"] = f.tag
        conds.append(f"TraceId IN (SELECT TraceId FROM {schema.QUALIFIED} WHERE {scope} "
                     f"AND has({_TAGS}, {{tag:String}}))")
    if f.models:
        names = []
        for i, m in enumerate(f.models):
            params[f"model_{i}"] = m
            names.append(f"{{model_{i}:String}}")
        in_list = ", ".join(names)
        conds.append(f"TraceId IN (SELECT TraceId FROM {schema.QUALIFIED} WHERE {scope} AND "
                     f"({_REQUEST} IN ({in_list}) OR {_RESPONSE} IN ({in_list})))")
        conds.append(f"({_MODEL} = '' OR {_REQUEST} IN ({in_list}) OR {_RESPONSE} IN ({in_list}))")
    return " AND ".join(conds), params


#: Span columns derived from the decoded attributes; no prices involved.
_DERIVED = """
        upper(StatusCode) AS status,
        status = 'ERROR' AS is_error,
        coalesce(nullIf(a_request_model, ''), nullIf(a_response_model, ''), '') AS model,
        coalesce(nullIf(a_response_model, ''), nullIf(a_request_model, ''), '') AS cost_model,
        model != '' AS is_llm,
        toUInt64OrZero(a_prompt_tokens) AS old_prompt_tokens,
        toUInt64OrZero(a_completion_tokens) AS old_completion_tokens,
        (a_prompt_tokens != '' OR a_completion_tokens != '') AS has_old_names,
        (a_input_tokens != '' OR a_output_tokens != '') AS has_new_names,
        if(a_prompt_tokens != '', old_prompt_tokens, toUInt64OrZero(a_input_tokens)) AS prompt_tokens,
        if(a_completion_tokens != '', old_completion_tokens, toUInt64OrZero(a_output_tokens)) AS completion_tokens,
        toUInt64OrZero(a_cache_read_tokens) AS cache_read_tokens,
        toUInt64OrZero(a_reasoning_tokens) AS reasoning_tokens,
        a_total_tokens != '' AS has_total_tokens,
        if(has_total_tokens, toUInt64OrZero(a_total_tokens),
           prompt_tokens + completion_tokens + cache_read_tokens + reasoning_tokens) AS total_tokens,
        if(has_total_tokens, toUInt64OrZero(a_total_tokens),
           old_prompt_tokens + old_completion_tokens + cache_read_tokens + reasoning_tokens) AS dash_total_tokens,
        a_total_cost != '' AS has_total_cost,
        a_prompt_cost != '' AS has_prompt_cost,
        a_completion_cost != '' AS has_completion_cost,
        has_total_cost OR has_prompt_cost OR has_completion_cost AS cost_stored,
        if(has_total_cost, toFloat64OrZero(a_total_cost),
           toFloat64OrZero(a_prompt_cost) + toFloat64OrZero(a_completion_cost)) AS stored_cost,
        prompt_tokens + completion_tokens > 0 AS has_usage,
        is_llm AND NOT cost_stored AND has_usage AS needs_price,
        if(NOT has_total_cost AND NOT has_prompt_cost, old_prompt_tokens, 0) AS dash_prompt_to_price,
        if(NOT has_total_cost AND NOT has_completion_cost, old_completion_tokens, 0) AS dash_completion_to_price"""


def _price_columns(prices: Mapping[str, Price], params: dict[str, Any]) -> str:
    """``cost_basis`` and ``cost`` per span, the prices bound as parameters (matched on ``cost_model``)."""
    if prices:
        keys, ins, outs = [], [], []
        for i, (model, price) in enumerate(sorted(prices.items())):
            params[f"pm_{i}"] = model
            params[f"pin_{i}"] = price.input_per_token
            params[f"pout_{i}"] = price.output_per_token
            keys.append(f"{{pm_{i}:String}}")
            ins.append(f"{{pin_{i}:Float64}}")
            outs.append(f"{{pout_{i}:Float64}}")
        k = ", ".join(keys)
        price_in = f"transform(cost_model, [{k}], [{', '.join(ins)}], -1.)"
        price_out = f"transform(cost_model, [{k}], [{', '.join(outs)}], -1.)"
    else:
        price_in = price_out = "-1."
    return f""",
        {price_in} AS price_in,
        {price_out} AS price_out,
        multiIf(cost_stored, 'stored', NOT is_llm, '', NOT has_usage, 'no usage',
                price_in >= 0, 'computed', 'unpriced') AS cost_basis,
        multiIf(cost_stored, stored_cost, cost_basis = 'computed',
                prompt_tokens * price_in + completion_tokens * price_out, 0.) AS cost"""


def spans_cte(filters: TraceFilters, prices: Mapping[str, Price] | None = None) -> tuple[str, dict[str, Any]]:
    """``WITH spans AS (...)``: the filtered spans, each attribute decoded once into a column, with
    the derived columns (and ``cost``/``cost_basis`` when ``prices`` is given); and its parameters.
    ClickHouse reads only the columns a query uses."""
    where, params = where_clause(filters)
    decoded = ",\n        ".join(f"{_attr(key)} AS {alias}" for alias, key in ATTRIBUTE_COLUMNS.items())
    priced = _price_columns(prices, params) if prices is not None else ""
    sql = (f"WITH spans AS (\n    SELECT Timestamp, TraceId, SpanId, SpanName, ServiceName, Duration, SpanAttributes,\n"
           f"        {decoded},{_DERIVED}{priced}\n    FROM {schema.QUALIFIED}\n    WHERE {where}\n)\n")
    return sql, params


#: Span-level figures: (name, aggregate per (period, model, priced_as), how the grouping sets combine it).
#: ``sum``/``min``/``max`` re-aggregate the partial values; ``merge`` combines ``-State`` values exactly,
#: and only into the sets of :data:`_MERGED_INTO` (a merge copies the partial states: LLM durations would
#: otherwise be copied into every set, read or not). Distinct traces are counted by the trace scan, which
#: groups by trace anyway (here they cost a set of trace ids per partial row: ~400 MB at 10M spans).
_SPAN_FIGURES: tuple[tuple[str, str, str], ...] = (
    ("spans", "count()", "sum"),
    ("llm_spans", "countIf(is_llm)", "sum"),
    ("llm_errors", "countIf(is_llm AND is_error)", "sum"),
    ("success", "countIf(status = 'OK')", "sum"),
    ("fail", "countIf(status = 'ERROR')", "sum"),
    ("indeterminate", "countIf(status NOT IN ('OK', 'ERROR'))", "sum"),
    ("prompt", "sum(prompt_tokens)", "sum"),
    ("completion", "sum(completion_tokens)", "sum"),
    ("cache_read", "sum(cache_read_tokens)", "sum"),
    ("reasoning", "sum(reasoning_tokens)", "sum"),
    ("total", "sum(total_tokens)", "sum"),
    ("d_prompt", "sum(old_prompt_tokens)", "sum"),
    ("d_completion", "sum(old_completion_tokens)", "sum"),
    ("d_total", "sum(dash_total_tokens)", "sum"),
    ("n_old_names", "countIf(is_llm AND has_old_names)", "sum"),
    ("n_new_only", "countIf(is_llm AND has_new_names AND NOT has_old_names)", "sum"),
    ("n_no_tokens", "countIf(is_llm AND NOT has_old_names AND NOT has_new_names)", "sum"),
    ("n_stored", "countIf(cost_stored)", "sum"),
    ("stored_usd", "sumIf(stored_cost, cost_stored)", "sum"),
    ("n_needs_price", "countIf(needs_price)", "sum"),
    ("np_prompt", "sumIf(prompt_tokens, needs_price)", "sum"),
    ("np_completion", "sumIf(completion_tokens, needs_price)", "sum"),
    ("np_first_ns", "minIf(toUnixTimestamp64Nano(Timestamp), needs_price)", "min_nonzero"),
    ("np_last_ns", "maxIf(toUnixTimestamp64Nano(Timestamp), needs_price)", "max"),
    ("n_no_usage", "countIf(is_llm AND NOT cost_stored AND NOT has_usage)", "sum"),
    ("d_price_prompt", "sum(dash_prompt_to_price)", "sum"),
    ("d_price_completion", "sum(dash_completion_to_price)", "sum"),
    ("first_span_utc", "min(Timestamp)", "min"),
    ("last_span_utc", "max(Timestamp)", "max"),
    ("max_v", "maxIf(Duration, is_llm)", "max"),
    ("duration_sum", "sumIf(Duration, is_llm)", "sum"),
    ("services", "uniqExact(ServiceName)", "merge"),
    ("q", "quantilesExactIf({levels})(Duration, is_llm)", "merge"),
    ("attribute_counts", "sumMap(mapApply((k, v) -> (k, toUInt64(1)), SpanAttributes))", "merge"),
)
#: The sets each merged figure is read from (``shaping.py``); in every other set it is left empty.
_MERGED_INTO: dict[str, tuple[str, ...]] = {
    "services": ("window",),
    "q": ("model", "window"),
    "attribute_counts": ("window",),
}


def _state(expr: str) -> str:
    """``f(args)`` / ``f(params)(args)`` -> the same aggregate with the ``State`` combinator."""
    name, rest = expr.split("(", 1)
    return f"{name}State({rest}"


def _merge_if(expr: str, inner: str, condition: str) -> str:
    """The ``-MergeIf`` of ``expr``'s ``-State`` column ``inner``: merged where ``condition`` holds."""
    name, rest = expr.split("(", 1)
    params = "(" + rest.split(")(", 1)[0] + ")" if ")(" in rest else ""
    return f"{name}MergeIf{params}({inner}, {condition})"


def _set_ids(*names: str) -> str:
    ids = {v: k for k, v in SPAN_SETS.items()}
    return ", ".join(str(ids[n]) for n in names)


def span_scan_sql(filters: TraceFilters, bucket: str) -> tuple[str, dict[str, Any]]:
    """One pass over the spans: every span-level figure per (period, model, priced_as), combined
    into the sets (period, model, priced_as), (period), (model) and () over those few rows: each
    row is repeated once per set (``ARRAY JOIN``) and grouped by the set's columns, so an exact
    ``-State`` (distinct services, quantiles, attribute counts) is merged only into the sets that
    read it. ``grouping_set`` names each row's set (see :data:`SPAN_SETS`; a column a set does not
    group by holds its type's default); LLM latency is in ms."""
    cte, params = spans_cte(filters)
    levels = ", ".join(repr(q) for q in QUANTILES)
    inner, outer = [], []
    for name, expr, how in _SPAN_FIGURES:
        expr = expr.replace("{levels}", levels)
        if how == "merge":
            inner.append(f"{_state(expr)} AS i_{name}")
            outer.append(f"{_merge_if(expr, 'i_' + name, f'grp IN ({_set_ids(*_MERGED_INTO[name])})')} AS {name}")
        elif how == "min_nonzero":  # minIf gives 0 for a group without matching rows
            inner.append(f"{expr} AS i_{name}")
            outer.append(f"minIf(i_{name}, i_{name} > 0) AS {name}")
        else:
            inner.append(f"{expr} AS i_{name}")
            outer.append(f"{how}(i_{name}) AS {name}")
    # the window's LLM models: model is a key of the partial rows, so no distinct-count state is needed
    outer.append(f"uniqExactIf(i_model, i_llm_spans > 0 AND grp IN ({_set_ids('window')})) AS llm_models")
    q_cols = ", ".join(f"q[{i + 1}] / 1e6 AS p{int(round(q * 100))}_ms" for i, q in enumerate(QUANTILES))
    sets = ", ".join(map(str, SPAN_SETS))
    names = ", ".join(schema.quote_string(v) for v in SPAN_SETS.values())
    figures = ", ".join([n for n, _, _ in _SPAN_FIGURES if n not in ("q", "attribute_counts", "max_v",
                                                                         "first_span_utc", "last_span_utc")]
                        + ["llm_models"])
    with_period, with_model = _set_ids("detail", "period"), _set_ids("detail", "model")
    sql = cte + f"""SELECT transform(grp, [{sets}], [{names}], '') AS grouping_set,
    period_start_utc, model, priced_as, {figures},
    toTimeZone(first_span_utc, 'UTC') AS first_span_utc, toTimeZone(last_span_utc, 'UTC') AS last_span_utc,
    {q_cols}, max_v / 1e6 AS max_ms, if(llm_spans > 0, duration_sum / llm_spans / 1e6, nan) AS mean_ms,
    mapKeys(attribute_counts) AS attribute_names, mapValues(attribute_counts) AS attribute_spans
FROM (
    SELECT grp, if(grp IN ({with_period}), i_period, toDateTime(0, 'UTC')) AS period_start_utc,
        if(grp IN ({with_model}), i_model, '') AS model, if(grp = 0, i_priced_as, '') AS priced_as,
        {(','+chr(10)+'        ').join(outer)}
    FROM (
        SELECT {bucket_sql(bucket)} AS i_period, model AS i_model, cost_model AS i_priced_as,
            {(','+chr(10)+'            ').join(inner)}
        FROM spans
        GROUP BY i_period, i_model, i_priced_as
    )
    ARRAY JOIN [{sets}] AS grp
    GROUP BY grp, period_start_utc, model, priced_as
)"""
    return sql, params


_TRACE_NS = ("(max(toUnixTimestamp64Nano(Timestamp) + toInt64(Duration)) "
             "- min(toUnixTimestamp64Nano(Timestamp)))")
#: Up to this many LLM models, a trace's model mix is one UInt64 bit mask (bit i = the i-th listed model;
#: the top bit = a model missing from the list); with more, or no list, a set of names per trace.
MASK_MODELS = 63
_UNLISTED_BIT = 63
#: Per-trace details kept with each of the slowest and costliest traces (``t_models_used`` is decoded from
#: ``models_key``; ``start_ns`` becomes ``start_utc``).
TRACE_DETAILS = ("t_spans", "models_key", "start_ns", "duration_ms", "error_spans", "first_span_name", "service",
                 "tokens", "cost_usd", "s_stored", "s_computed", "s_unpriced")
#: The two top lists: name -> the key they rank by (largest first; ties by trace id).
TOP_LISTS = {"slowest": "trace_ns", "costliest": "cost_usd"}


def _models_used(models: Sequence[str] | None, params: dict[str, Any]) -> tuple[str, Callable[[str], str]]:
    """How a trace's model mix is aggregated (a grouping key) and how that key becomes the sorted,
    ``+``-joined names (:data:`NO_LLM` for none). With the window's LLM models listed (at most
    :data:`MASK_MODELS`), the key is a bit mask: 8 bytes per trace instead of a set of strings."""
    if models is None or len(models) > MASK_MODELS:
        key = "arrayStringConcat(arraySort(groupUniqArrayIf(model, is_llm)), '+')"
        return key, lambda k: f"if(empty({k}), {schema.quote_string(NO_LLM)}, {k})"
    names = []
    for i, m in enumerate(models):
        params[f"mu_{i}"] = m
        names.append(f"{{mu_{i}:String}}")
    listed = "[" + ", ".join(names) + "]"
    bits = "[" + ", ".join(f"toUInt64({1 << i})" for i in range(len(models))) + "]"
    key = f"groupBitOrIf(transform(model, {listed}, {bits}, toUInt64({1 << _UNLISTED_BIT})), is_llm)"

    def decode(k: str) -> str:
        picked = f"arrayFilter((m, i) -> bitTest({k}, i), {listed}, range({len(models)}))"
        mix = f"arrayStringConcat(arraySort({picked}), '+')"
        return f"if({k} = 0, {schema.quote_string(NO_LLM)}, {mix})"
    return key, decode


def trace_scan_sql(filters: TraceFilters, prices: Mapping[str, Price], top_n: int,
                   models: Sequence[str] | None = None, *, bucket: str | None = None,
                   free_cutoff_ns: int = 0) -> tuple[str, dict[str, Any]]:
    """One pass grouped by trace, then the traces grouped by model mix, by span count, by period (a
    trace counts in every ``bucket`` period a span of it starts in) and overall at once: distinct
    traces, traces with a span before ``free_cutoff_ns``, trace latency (exact quantiles) and the
    spans-per-trace histogram; the overall row also holds the ``top_n`` slowest and ``top_n`` costliest
    traces as arrays (``slowest_id``, ``slowest_<detail>``, ... in rank order, see :data:`TRACE_DETAILS`),
    kept by ``groupArraySorted``. Needs ``prices``: cost decides one ranking. ``models``: the window's LLM
    model names (from the span scan), so a trace's model mix is a bit mask; a row's ``unlisted_models`` is
    1 when a trace used a model missing from that list (then run again without ``models``)."""
    if int(top_n) < 1:
        raise ParameterError("top_n must be at least 1", hint="give top_n >= 1")
    cte, params = spans_cte(filters, prices)
    params["top_n"] = int(top_n)
    params["free_cutoff_ns"] = int(free_cutoff_ns)
    key, decode = _models_used(models, params)
    unlisted = f"bitTest(models_key, {_UNLISTED_BIT})" if models is not None and len(models) <= MASK_MODELS else "0"
    levels = ", ".join(repr(q) for q in QUANTILES)
    q_cols = ", ".join(f"q[{i + 1}] / 1e6 AS p{int(round(q * 100))}_ms" for i, q in enumerate(QUANTILES))
    sets = ", ".join(map(str, TRACE_SETS))
    names = ", ".join(schema.quote_string(v) for v in TRACE_SETS.values())
    ids = {v: k for k, v in TRACE_SETS.items()}
    zero = "toDateTime(0, 'UTC')"
    details = ", ".join(TRACE_DETAILS)
    tops, lists = [], []
    for name, rank_by in TOP_LISTS.items():
        # ascending (-rank key, TraceId): the largest first, ties by trace id; details ride along
        tops.append(f"groupArraySortedIf({{top_n:UInt32}})((-{rank_by}, TraceId, {details}), grp = {ids['all']}) "
                    f"AS {name}")
        lists.append(f"arrayMap(t -> t.2, {name}) AS {name}_id")
        for i, col in enumerate(TRACE_DETAILS):
            value = decode(f"t.{i + 3}") if col == "models_key" else f"t.{i + 3}"
            lists.append(f"arrayMap(t -> {value}, {name}) AS {name}_{'t_models_used' if col == 'models_key' else col}")
    per_trace_sets = ", ".join(f"({ids[n]}, {zero})" for n in ("models_used", "spans_in_trace", "all"))
    sql = cte + f"""SELECT transform(grp, [{sets}], [{names}], '') AS grouping_set,
    {decode('mix_key')} AS models_used, span_count AS spans_in_trace, period_start_utc, traces, traces_older_3d,
    {q_cols},
    max_v / 1e6 AS max_ms, mean_v / 1e6 AS mean_ms, {(','+chr(10)+'    ').join(lists)}, unlisted_models
FROM (
    SELECT grp, if(grp = {ids['models_used']}, models_key, {_key_default(models)}) AS mix_key,
        if(grp = {ids['spans_in_trace']}, spans_in_trace, 0) AS span_count, period AS period_start_utc,
        count() AS traces, countIf(start_ns < {{free_cutoff_ns:Int64}}) AS traces_older_3d,
        quantilesExact({levels})(trace_ns) AS q, max(trace_ns) AS max_v, avg(trace_ns) AS mean_v,
        {(','+chr(10)+'        ').join(tops)}, max({unlisted}) AS unlisted_models
    FROM (
        SELECT TraceId, {_TRACE_NS} AS trace_ns, count() AS spans_in_trace, {key} AS models_key,
            spans_in_trace AS t_spans, arrayDistinct(groupArray({bucket_sql(bucket or filters.bucket)})) AS periods,
            min(toUnixTimestamp64Nano(Timestamp)) AS start_ns, trace_ns / 1e6 AS duration_ms,
            countIf(is_error) AS error_spans, argMin(SpanName, Timestamp) AS first_span_name,
            argMin(ServiceName, Timestamp) AS service, sum(total_tokens) AS tokens, sum(cost) AS cost_usd,
            countIf(cost_basis = 'stored') AS s_stored, countIf(cost_basis = 'computed') AS s_computed,
            countIf(cost_basis = 'unpriced') AS s_unpriced
        FROM spans GROUP BY TraceId
    )
    ARRAY JOIN arrayConcat([{per_trace_sets}], arrayMap(p -> ({ids['period']}, p), periods)) AS set_and_period
    GROUP BY set_and_period.1 AS grp, set_and_period.2 AS period, mix_key, span_count
)"""
    return sql, params


def _key_default(models: Sequence[str] | None) -> str:
    """The model-mix key of a row outside the ``models_used`` set: 0 for a bit mask, '' for names."""
    return "0" if models is not None and len(models) <= MASK_MODELS else "''"


def decode_floor_sql(filters: TraceFilters) -> tuple[str, dict[str, Any]]:
    """One query that reads the window once with every attribute decoded and every derived column of
    the scans computed, summed without grouping: what each scan pays before it groups (a benchmark floor)."""
    cte, params = spans_cte(filters)
    derived = re.findall(r" AS (\w+)", _DERIVED)
    text = ("status", "model", "cost_model")
    sums = ", ".join(f"sum(toFloat64({c}))" for c in derived if c not in text)
    sql = cte + (f"SELECT count(), {sums}, {', '.join(f'max({c})' for c in text)}, max(TraceId), max(SpanName), "
                 "max(ServiceName), sum(Duration), sum(length(SpanAttributes)) FROM spans")
    return sql, params


def sample_sql(filters: TraceFilters, columns: list[str], limit: int | None) -> tuple[str, dict[str, Any]]:
    """Span rows of the window (earliest first), ``columns`` quoted, optionally limited."""
    where, params = where_clause(filters)
    cols = ", ".join(schema.quote_identifier(c) for c in columns)
    sql = f"SELECT {cols} FROM {schema.QUALIFIED} WHERE {where} ORDER BY Timestamp, SpanId"
    if limit is not None:
        sql += " LIMIT {limit:UInt32}"
        params["limit"] = int(limit)
    return sql, params
