"""Table shaping: each analytics table as a DataFrame, cut from the scans' small results.

Every function takes a :class:`~runbook_lib.traces.scan.WindowScan` and the display options
(``bucket``, ``top_n``) and returns ``(frame, notes)``. Nothing here queries the store directly: the
scans it reads run at most once each.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import pandas as pd

from .scan import WindowScan
from .scan_sql import NO_LLM

__all__ = [
    "ALL_MODELS",
    "ALL_TRACES",
    "DASHBOARD_ATTRIBUTES",
    "DASHBOARD_TOKEN_ATTRIBUTES",
    "IGNORED_TOKEN_ATTRIBUTES",
    "NON_LLM",
    "NO_LLM",
    "NO_MODEL",
    "Shaped",
    "attributes",
    "costliest_traces",
    "coverage",
    "cost",
    "dashboard_figures",
    "errors_over_time",
    "headline",
    "llm_latency",
    "prices",
    "reconciliation",
    "slowest_traces",
    "spans_per_trace",
    "status",
    "tokens",
    "trace_latency",
    "trace_url",
    "unpriced",
    "volume",
]

Shaped = tuple[pd.DataFrame, list[str]]

ALL_MODELS = "(all models)"
ALL_TRACES = "(all traces)"
NON_LLM = "(non-LLM spans)"
NO_MODEL = "(no model)"
_PERCENTILES = ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms")

#: Token attributes the AgentOps API reads, and the newer names it ignores.
DASHBOARD_TOKEN_ATTRIBUTES = ("gen_ai.usage.prompt_tokens", "gen_ai.usage.completion_tokens",
                              "gen_ai.usage.total_tokens", "gen_ai.usage.cache_read_input_tokens",
                              "gen_ai.usage.reasoning_tokens")
IGNORED_TOKEN_ATTRIBUTES = ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens")
#: Span attributes the AgentOps API reads (for the attributes table).
DASHBOARD_ATTRIBUTES = frozenset(DASHBOARD_TOKEN_ATTRIBUTES + (
    "gen_ai.response.model", "gen_ai.request.model", "gen_ai.usage.total_cost", "gen_ai.usage.prompt_cost",
    "gen_ai.usage.completion_cost", "agentops.tags"))


# --------------------------------------------------------------------------- span scan tables

def _window_row(scan: WindowScan, bucket: str | None = None) -> pd.Series | None:
    rows = scan.rows("window", bucket)
    if rows.empty or int(rows.loc[0, "spans"]) == 0:
        return None
    return rows.iloc[0]


def _coverage_values(scan: WindowScan, top_n: int | None = None) -> dict[str, Any]:
    """The window's span figures (span scan) with its distinct traces and the traces with a span older
    than the free plan's cutoff (trace scan, which groups by trace anyway)."""
    row = _window_row(scan)
    cols = ("spans", "traces", "llm_spans", "llm_errors", "first_span_utc", "last_span_utc", "services",
            "llm_models", "traces_older_3d")
    if row is None:
        return {c: (pd.NaT if c.endswith("_utc") else 0) for c in cols}
    whole = scan.trace_rows("all", top_n)
    traces = {c: (whole.loc[0, c] if len(whole) else 0) for c in ("traces", "traces_older_3d")}
    return {c: traces[c] if c in traces else row[c] for c in cols}


def coverage(scan: WindowScan, *, top_n: int | None = None, **_: Any) -> Shaped:
    values = _coverage_values(scan, top_n)
    values.pop("traces_older_3d")
    return pd.DataFrame([{"window": scan.filters.describe(), **values}]), []


def attributes(scan: WindowScan, **_: Any) -> Shaped:
    row = _window_row(scan)
    names = [] if row is None else [str(n) for n in row["attribute_names"]]
    counts = [] if row is None else [int(n) for n in row["attribute_spans"]]
    df = pd.DataFrame({"attribute": pd.Series(names, dtype=object), "spans": pd.Series(counts, dtype="uint64")})
    df = df.sort_values(["spans", "attribute"], ascending=[False, True], kind="stable").reset_index(drop=True)
    df["read_by_dashboard"] = df["attribute"].isin(DASHBOARD_ATTRIBUTES)
    df["ignored_token_name"] = df["attribute"].isin(IGNORED_TOKEN_ATTRIBUTES)
    return df, []


def _fill_periods(scan: WindowScan, df: pd.DataFrame, bucket: str, zero_cols: Sequence[str]) -> pd.DataFrame:
    freq = "h" if bucket == "hour" else "D"
    start = pd.Timestamp(scan.filters.start.replace(tzinfo=None)).floor(freq)
    end = pd.Timestamp(scan.filters.end.replace(tzinfo=None))
    periods = pd.date_range(start, end, freq=freq, inclusive="left")
    if len(periods) > 20000:  # an absurd window: do not invent rows
        return df
    full = pd.DataFrame({"period_start_utc": periods.astype("datetime64[ns]")})
    out = full.merge(df, on="period_start_utc", how="left")
    for c in zero_cols:
        out[c] = out[c].fillna(0).astype("int64")
    return out


def _rate(num: pd.Series, den: pd.Series) -> pd.Series:
    den = den.astype("float64")
    return (num.astype("float64") / den.where(den > 0)).astype("float64")


def volume(scan: WindowScan, *, bucket: str | None = None, top_n: int | None = None, **_: Any) -> Shaped:
    bucket = bucket or scan.filters.bucket
    rows = scan.rows("period", bucket).sort_values("period_start_utc")
    traces = scan.trace_rows("period", top_n, bucket)[["period_start_utc", "traces"]]
    rows = rows.merge(traces, on="period_start_utc", how="left")  # every period with a span has its trace
    cols = ["traces", "spans", "llm_spans", "llm_errors"]
    df = _fill_periods(scan, rows[["period_start_utc", *cols]].reset_index(drop=True), bucket, cols)
    df["llm_error_rate"] = _rate(df["llm_errors"], df["llm_spans"])
    return df, [f"period = {bucket}"]


def status(scan: WindowScan, **_: Any) -> Shaped:
    rows = scan.rows("model")
    df = pd.DataFrame({"model": rows["model"].where(rows["model"] != "", NON_LLM)})
    for c in ("spans", "success", "fail", "indeterminate"):
        df[c] = rows[c]
    df = df.sort_values(["spans", "model"], ascending=[False, True], kind="stable")
    df["error_rate"] = _rate(df["fail"], df["spans"])
    return df, []


def errors_over_time(scan: WindowScan, *, bucket: str | None = None, **_: Any) -> Shaped:
    bucket = bucket or scan.filters.bucket
    rows = scan.rows("detail", bucket)
    rows = rows[rows["model"] != ""]
    g = rows.groupby(["period_start_utc", "model"], sort=True)[["spans", "fail"]].sum().reset_index()
    df = pd.DataFrame({"period_start_utc": g["period_start_utc"], "model": g["model"], "llm_spans": g["spans"],
                       "errors": g["fail"]})
    df["error_rate"] = _rate(df["errors"], df["llm_spans"])
    return df, [f"period = {bucket}"]


def llm_latency(scan: WindowScan, **_: Any) -> Shaped:
    rows = scan.rows("model")
    rows = rows[rows["llm_spans"] > 0]
    per_model = pd.DataFrame({"model": rows["model"], "spans": rows["llm_spans"]})
    for c in _PERCENTILES:
        per_model[c] = rows[c]
    per_model = per_model.sort_values(["spans", "model"], ascending=[False, True], kind="stable")
    whole = _window_row(scan)
    if whole is not None and int(whole["llm_spans"]) > 0:
        total = pd.DataFrame([{"model": ALL_MODELS, "spans": whole["llm_spans"],
                               **{c: whole[c] for c in _PERCENTILES}}])
        per_model = pd.concat([per_model, total.astype(per_model.dtypes.to_dict())], ignore_index=True)
    return per_model, []


def _day_groups(scan: WindowScan) -> pd.DataFrame:
    """Detail rows with their UTC day and model group (``(no model)`` for spans without a model)."""
    rows = scan.rows("detail").copy()
    rows["day_utc"] = rows["period_start_utc"].dt.floor("D")
    rows["model_group"] = rows["model"].where(rows["model"] != "", NO_MODEL)
    return rows


def _token_names(old: int, new_only: int) -> str:
    if old and new_only:
        return "mixed"
    if old:
        return "prompt/completion"
    if new_only:
        return "input/output only"
    return "none"


def _basis(stored: int, computed: int, unpriced: int) -> str:
    if unpriced:
        return "incomplete (unpriced spans)"
    if stored and computed:
        return "mixed"
    if stored:
        return "stored"
    if computed:
        return "computed"
    return "none"


def tokens(scan: WindowScan, **_: Any) -> Shaped:
    u = _day_groups(scan)
    u = u[u["llm_spans"] > 0]
    df = (u.groupby(["day_utc", "model_group"], sort=True)[
        ["llm_spans", "prompt", "completion", "cache_read", "reasoning", "total", "n_old_names", "n_new_only",
         "n_no_tokens"]].sum().reset_index())
    df = df.rename(columns={"model_group": "model", "prompt": "prompt_tokens", "completion": "completion_tokens",
                            "cache_read": "cache_read_tokens", "reasoning": "reasoning_tokens",
                            "total": "total_tokens", "n_old_names": "spans_prompt_completion_names",
                            "n_new_only": "spans_input_output_names_only",
                            "n_no_tokens": "spans_without_token_counts"})
    df["token_names"] = [_token_names(o, n) for o, n in
                         zip(df["spans_prompt_completion_names"], df["spans_input_output_names_only"], strict=True)]
    return df, []


def cost(scan: WindowScan, **_: Any) -> Shaped:
    u = _day_groups(scan)
    u = u[u["cost_spans"] > 0]
    df = (u.groupby(["day_utc", "model_group"], sort=True)[
        ["cost_spans", "n_stored", "n_computed", "n_unpriced", "n_no_usage", "stored_usd", "computed_usd"]]
        .sum().reset_index())
    df = df.rename(columns={"model_group": "model", "cost_spans": "spans", "n_stored": "stored_spans",
                            "n_computed": "computed_spans", "n_unpriced": "unpriced_spans",
                            "n_no_usage": "no_usage_spans"})
    df["cost_usd"] = df["stored_usd"] + df["computed_usd"]
    df["basis"] = [_basis(s, c, n) for s, c, n in
                   zip(df["stored_spans"], df["computed_spans"], df["unpriced_spans"], strict=True)]
    seen = scan.models["priced_as"].nunique()
    sources = sorted({p.source for p in scan.resolved_prices.values()})
    return df, [f"prices: {len(scan.resolved_prices)} of {seen} models priced"
                + (f" (from {', '.join(sources)})" if sources else "")]


def unpriced(scan: WindowScan, **_: Any) -> Shaped:
    u = scan.rows("detail")
    u = u[u["n_unpriced"] > 0]
    g = u.groupby("priced_as", sort=True)
    df = pd.DataFrame({"spans": g["n_unpriced"].sum(), "prompt_tokens": g["np_prompt"].sum(),
                       "completion_tokens": g["np_completion"].sum(),
                       "first_seen_utc": pd.to_datetime(g["np_first_ns"].min(), unit="ns"),
                       "last_seen_utc": pd.to_datetime(g["np_last_ns"].max(), unit="ns")})
    df = df.reset_index().rename(columns={"priced_as": "model"})
    df = df.sort_values(["spans", "model"], ascending=[False, True], kind="stable")
    return df[["model", "spans", "prompt_tokens", "completion_tokens", "first_seen_utc", "last_seen_utc"]], []


def prices(scan: WindowScan, **_: Any) -> Shaped:
    rows = []
    for model in sorted(set(scan.models["priced_as"])):
        p = scan.resolved_prices.get(model)
        rows.append({"model": model, "price_key": p.key if p else None,
                     "input_usd_per_1m": p.input_per_million if p else None,
                     "output_usd_per_1m": p.output_per_million if p else None, "source": p.source if p else None})
    return pd.DataFrame(rows, columns=["model", "price_key", "input_usd_per_1m", "output_usd_per_1m", "source"]), []


def dashboard_figures(scan: WindowScan, top_n: int | None = None) -> pd.DataFrame:
    """One row: the figures by AgentOps's rules (``d_*``) and ours (``o_*``) over the same spans."""
    cov = _coverage_values(scan, top_n)
    u = scan.rows("detail")

    def total(col: str) -> Any:
        return u[col].sum() if len(u) else 0

    row = {
        "d_traces": int(cov["traces"]), "d_spans": int(cov["spans"]),
        "d_success": int(total("success")), "d_fail": int(total("fail")),
        "d_indeterminate": int(total("indeterminate")),
        "d_prompt": int(total("d_prompt")), "d_completion": int(total("d_completion")),
        "d_total_tokens": int(total("d_total")), "d_cost": float(total("d_cost")),
        "o_prompt": int(total("prompt")), "o_completion": int(total("completion")),
        "o_total_tokens": int(total("total")),
        "o_cost": float(total("stored_usd") + total("computed_usd")),
        "new_names_only_spans": int(total("n_new_only")), "unpriced_spans": int(total("n_unpriced")),
        "traces_older_3d": int(cov["traces_older_3d"]),
    }
    return pd.DataFrame([row])


def reconciliation(scan: WindowScan, *, top_n: int | None = None, **_: Any) -> Shaped:
    row = dashboard_figures(scan, top_n).iloc[0]
    new_only = int(row["new_names_only_spans"])
    unpriced_spans = int(row["unpriced_spans"])
    same = "same rule"
    names = (f"{new_only} LLM spans carry tokens only as input_tokens/output_tokens, which the dashboard "
             "ignores" if new_only else same)
    cost_note = []
    if new_only:
        cost_note.append(f"{new_only} spans with input/output token names cost 0 on the dashboard")
    if unpriced_spans:
        cost_note.append(f"{unpriced_spans} spans have no price (0 in both; listed in the unpriced table)")
    cost_note.append("dashboard prices come from its model_costs table, here stood in for by the price table")
    rows = [
        ("traces", row["d_traces"], row["d_traces"], same),
        ("spans", row["d_spans"], row["d_spans"], same),
        ("success spans (OK)", row["d_success"], row["d_success"], same),
        ("fail spans (ERROR)", row["d_fail"], row["d_fail"], same),
        ("indeterminate spans", row["d_indeterminate"], row["d_indeterminate"], same),
        ("prompt tokens", row["d_prompt"], row["o_prompt"], names),
        ("completion tokens", row["d_completion"], row["o_completion"], names),
        ("total tokens", row["d_total_tokens"], row["o_total_tokens"], names),
        ("total cost (USD)", float(row["d_cost"]), float(row["o_cost"]), "; ".join(cost_note)),
    ]
    df = pd.DataFrame(rows, columns=["figure", "dashboard_rule", "ours", "why_they_differ"])
    df["difference"] = [(o - d) for d, o in zip(df["dashboard_rule"], df["ours"], strict=True)]
    df = df[["figure", "dashboard_rule", "ours", "difference", "why_they_differ"]]
    notes = []
    if scan.filters.narrows_spans:
        notes.append("model/service/span/tag filters are applied here; the dashboard's project metrics "
                     "cannot apply them, so compare without those filters")
    if not scan.filters.project_id:
        notes.append("no project_id given: figures cover every project; the dashboard shows one project")
    return df, notes


def _first(df: pd.DataFrame, col: str) -> float:
    return float(df.iloc[0][col]) if len(df) else float("nan")


def headline(scan: WindowScan, *, top_n: int = 10, **_: Any) -> Shaped:
    cov = _coverage_values(scan, top_n)
    llm = llm_latency(scan)[0]
    trc = trace_latency(scan, top_n=top_n)[0]
    fig = dashboard_figures(scan, top_n).iloc[0]
    llm_all = llm[llm["model"] == ALL_MODELS]
    trc_all = trc[trc["models_used"] == ALL_TRACES]
    llm_spans = int(cov["llm_spans"])
    errors = int(cov["llm_errors"])
    row = {
        "traces": int(cov["traces"]), "spans": int(cov["spans"]), "llm_spans": llm_spans,
        "llm_error_rate": (errors / llm_spans) if llm_spans else float("nan"),
        "llm_p50_ms": _first(llm_all, "p50_ms"), "llm_p95_ms": _first(llm_all, "p95_ms"),
        "trace_p50_ms": _first(trc_all, "p50_ms"), "trace_p95_ms": _first(trc_all, "p95_ms"),
        "total_tokens": int(fig["o_total_tokens"]), "cost_usd": float(fig["o_cost"]),
        "unpriced_spans": int(fig["unpriced_spans"]),
    }
    return pd.DataFrame([row]), []


# --------------------------------------------------------------------------- trace scan tables

def _trace_rows(scan: WindowScan, grouping_set: str, top_n: int) -> pd.DataFrame:
    return scan.trace_rows(grouping_set, top_n)


def trace_latency(scan: WindowScan, *, top_n: int = 10, **_: Any) -> Shaped:
    rows = _trace_rows(scan, "models_used", top_n)
    df = rows[["models_used", "traces", *_PERCENTILES]]
    df = df.sort_values(["traces", "models_used"], ascending=[False, True], kind="stable")
    whole = _trace_rows(scan, "all", top_n)
    if len(whole) and int(whole.loc[0, "traces"]) > 0:
        total = whole[["models_used", "traces", *_PERCENTILES]].assign(models_used=ALL_TRACES)
        df = pd.concat([df, total], ignore_index=True)
    return df, []


def spans_per_trace(scan: WindowScan, *, top_n: int = 10, **_: Any) -> Shaped:
    rows = _trace_rows(scan, "spans_in_trace", top_n)
    return rows[["spans_in_trace", "traces"]].sort_values("spans_in_trace").reset_index(drop=True), []


def trace_url(app_url: str | None, trace_id: str) -> str | None:
    """The dashboard page of a trace (``{agentops_app_url}/traces?trace_id=...``)."""
    if not app_url:
        return None
    return f"{app_url.rstrip('/')}/traces?trace_id={quote(str(trace_id), safe='')}"


def _ranked(scan: WindowScan, ranking: str, rank_col: str, top_n: int, app_url: str | None) -> Shaped:
    rows = _trace_rows(scan, ranking, top_n)
    df = pd.DataFrame({
        "trace_id": rows[f"{ranking}_id"], "start_utc": rows["start_utc"], "duration_ms": rows["duration_ms"],
        "spans": rows["t_spans"], "error_spans": rows["error_spans"], "first_span_name": rows["first_span_name"],
        "service": rows["service"], "models_used": rows["t_models_used"], "tokens": rows["tokens"],
        "cost_usd": rows["cost_usd"],
        "cost_basis": [_basis(s, c, u) for s, c, u in zip(rows["s_stored"], rows["s_computed"], rows["s_unpriced"],
                                                          strict=True)],
    })
    df = df.sort_values([rank_col, "trace_id"], ascending=[False, True], kind="stable").reset_index(drop=True)
    df["dashboard_url"] = [trace_url(app_url, t) for t in df["trace_id"]]
    return df, []


def slowest_traces(scan: WindowScan, *, top_n: int = 10, app_url: str | None = None, **_: Any) -> Shaped:
    return _ranked(scan, "slowest", "duration_ms", top_n, app_url)


def costliest_traces(scan: WindowScan, *, top_n: int = 10, app_url: str | None = None, **_: Any) -> Shaped:
    return _ranked(scan, "costliest", "cost_usd", top_n, app_url)

