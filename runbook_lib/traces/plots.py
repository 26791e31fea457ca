"""Plots of the analytics tables (matplotlib, no pyplot state: safe under Agg and in papermill).

Each function takes the aggregate DataFrame of one table and returns a ``Figure`` with a title, axis
labels with units and a legend where there is more than one series. An empty table gives a figure
that says so.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = [
    "cost_by_model_per_day",
    "figure_png",
    "latency_percentiles",
    "requests_and_error_rate",
    "spans_per_trace_histogram",
    "token_distribution",
]

_PCTS = (("p50_ms", "p50"), ("p90_ms", "p90"), ("p95_ms", "p95"), ("p99_ms", "p99"))


def _figure(height: float = 4.2) -> Figure:
    return Figure(figsize=(9.5, height), layout="constrained")


def _empty(fig: Figure, title: str) -> Figure:
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.text(0.5, 0.5, "no data in the window", ha="center", va="center", transform=ax.transAxes, fontsize=12)
    ax.set_axis_off()
    return fig


def figure_png(fig: Figure, dpi: int = 90) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def latency_percentiles(llm_latency: pd.DataFrame, title: str = "LLM span latency percentiles by model") -> Figure:
    """Grouped bars: p50/p90/p95/p99 per model (log scale), max as a marker."""
    fig = _figure()
    if llm_latency.empty:
        return _empty(fig, title)
    df = llm_latency.reset_index(drop=True)
    ax = fig.add_subplot()
    x = np.arange(len(df))
    width = 0.8 / len(_PCTS)
    for i, (col, label) in enumerate(_PCTS):
        ax.bar(x + (i - (len(_PCTS) - 1) / 2) * width, df[col], width, label=label)
    ax.scatter(x, df["max_ms"], marker="_", s=300, color="black", label="max", zorder=3)
    ax.set_yscale("log")
    ax.set_xticks(x, [f"{m}\n(n={n:,})" for m, n in zip(df["model"], df["spans"], strict=True)], fontsize=8)
    ax.set_xlabel("model (request name)")
    ax.set_ylabel("latency (ms, log scale)")
    ax.set_title(title)
    ax.legend(title="percentile", fontsize=8, ncols=5)
    ax.grid(axis="y", alpha=0.3, which="both")
    return fig


def requests_and_error_rate(volume: pd.DataFrame, errors_over_time: pd.DataFrame,
                            title: str = "LLM requests and error rate over time") -> Figure:
    """Top: LLM spans and traces per period; bottom: error rate (%) per model per period."""
    fig = _figure(6.0)
    if volume.empty or int(volume["spans"].sum()) == 0:
        return _empty(fig, title)
    top, bottom = fig.subplots(2, 1, sharex=True)
    t = pd.to_datetime(volume["period_start_utc"])
    top.plot(t, volume["llm_spans"], marker=".", label="LLM spans")
    top.plot(t, volume["traces"], marker=".", label="traces")
    top.set_ylabel("count per period")
    top.set_title(title)
    top.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    top.grid(alpha=0.3)
    if not errors_over_time.empty:
        for model, g in errors_over_time.groupby("model", sort=True):
            bottom.plot(pd.to_datetime(g["period_start_utc"]), 100 * g["error_rate"], marker=".", label=str(model))
        bottom.legend(fontsize=7, title="model", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    bottom.set_ylabel("error rate (% of LLM spans)")
    bottom.set_xlabel("period start (UTC)")
    bottom.grid(alpha=0.3)
    for label in bottom.get_xticklabels():
        label.set_rotation(30)
        label.set_ha("right")
    return fig


def cost_by_model_per_day(cost: pd.DataFrame, title: str = "Cost by model per day") -> Figure:
    """Stacked bars of cost (USD) per UTC day by model; models with unpriced spans are marked *."""
    fig = _figure()
    if cost.empty:
        return _empty(fig, title)
    pivot = cost.pivot_table(index="day_utc", columns="model", values="cost_usd", aggfunc="sum", fill_value=0.0)
    unpriced = set(cost.loc[cost["unpriced_spans"] > 0, "model"])
    ax = fig.add_subplot()
    bottom = np.zeros(len(pivot))
    labels = [pd.Timestamp(d).strftime("%m-%d") for d in pivot.index]
    for model in pivot.columns:
        values = pivot[model].to_numpy()
        ax.bar(labels, values, bottom=bottom, label=f"{model} *" if model in unpriced else str(model))
        bottom += values
    ax.set_xlabel("day (UTC)")
    ax.set_ylabel("cost (USD)")
    ax.set_title(title + (" (* has spans without a price: cost incomplete)" if unpriced else ""))
    ax.legend(fontsize=7, title="model", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", alpha=0.3)
    return fig


def token_distribution(tokens: pd.DataFrame, title: str = "Tokens by model and kind") -> Figure:
    """Horizontal stacked bars: prompt, completion, cache-read and reasoning tokens per model."""
    fig = _figure()
    if tokens.empty:
        return _empty(fig, title)
    kinds = [("prompt_tokens", "prompt"), ("completion_tokens", "completion"),
             ("cache_read_tokens", "cache read"), ("reasoning_tokens", "reasoning")]
    per_model = tokens.groupby("model")[[k for k, _ in kinds]].sum().sort_values("prompt_tokens")
    ax = fig.add_subplot()
    left = np.zeros(len(per_model))
    for col, label in kinds:
        values = per_model[col].to_numpy(dtype=float) / 1e6
        ax.barh(per_model.index.astype(str), values, left=left, label=label)
        left += values
    ax.set_xlabel("tokens (millions)")
    ax.set_ylabel("model (request name)")
    ax.set_title(title)
    ax.legend(fontsize=8, title="token kind", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="x", alpha=0.3)
    return fig


def spans_per_trace_histogram(spans_per_trace: pd.DataFrame, title: str = "Spans per trace") -> Figure:
    """Bars: number of traces with n spans."""
    fig = _figure(3.8)
    if spans_per_trace.empty:
        return _empty(fig, title)
    ax = fig.add_subplot()
    ax.bar(spans_per_trace["spans_in_trace"], spans_per_trace["traces"], width=0.9, label="traces")
    ax.set_xlabel("spans in trace (count)")
    ax.set_ylabel("traces (count)")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    return fig
