"""Benchmark: notebook 30's tables pushed down to chDB vs. pulling every span into pandas, same run.

Generates 1,000,000 spans in 100,000 traces over 7 days (seeded), writes a Parquet dump, then

1. push-down (a fresh process): each table of the notebook as ClickHouse SQL on chDB over the dump,
   timed, with the process's peak RSS while that table ran;
2. pull-all baseline (another fresh process): ``SELECT *`` of every span through the same store into
   pandas (attributes flattened with pyarrow), then the same summaries with pandas; load time and
   per-summary time, peak RSS; results cross-checked against the push-down figures;
3. the notebook end to end through ``runbook_lib.runner.run_notebooks`` on the dump.

Targets (printed as PASS/FAIL, never asserted): each table < 3 s, peak memory < 1.5 GB, notebook
< 20 s.

    python benchmarks/bench_analytics.py [--traces 100000] [--spans 1000000] [--days 7]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TABLE_TARGET_S = 3.0
#: Tables computed in pandas from another table's aggregate query (no scan of their own).
SHARED = {"errors_over_time": "status", "cost": "tokens", "unpriced": "tokens", "dashboard": "tokens"}
MEMORY_TARGET_MB = 1536.0
NOTEBOOK_TARGET_S = 20.0
END = "2025-06-02T00:00:00+00:00"
START = "2025-05-26T00:00:00+00:00"


class PeakRss:
    """Samples this process's RSS every few ms; ``peak_mb()`` since the last ``reset()``."""

    def __init__(self, every_s: float = 0.005) -> None:
        self._peak = 0
        self._stop = threading.Event()
        self._every = every_s
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, self.rss())
            time.sleep(self._every)

    def reset(self) -> None:
        self._peak = self.rss()

    def peak_mb(self) -> float:
        self._peak = max(self._peak, self.rss())
        self.overall = max(getattr(self, "overall", 0), self._peak)
        return self._peak / 2**20

    def overall_mb(self) -> float:
        self.peak_mb()
        return self.overall / 2**20

    def stop(self) -> None:
        self._stop.set()


# --------------------------------------------------------------------------- workers (fresh processes)


def worker_pushdown(dump: str) -> dict[str, Any]:
    from runbook_lib.traces.analytics import TraceAnalytics, TraceFilters
    from runbook_lib.traces.store import ChdbFileStore

    mon = PeakRss()
    store = ChdbFileStore(dump)
    a = TraceAnalytics(store, TraceFilters.from_params(START, END), app_url="http://localhost:3000")
    steps = [("prices", lambda: a.resolved_prices), ("coverage", a.coverage), ("attributes", a.attributes),
             ("volume", a.volume), ("status", a.status), ("errors_over_time", a.errors_over_time),
             ("llm_latency", a.llm_latency), ("trace_latency", a.trace_latency), ("tokens", a.tokens),
             ("cost", a.cost), ("unpriced", a.unpriced), ("spans_per_trace", a.spans_per_trace),
             ("slowest_traces", lambda: a.slowest_traces(10)), ("costliest_traces", lambda: a.costliest_traces(10)),
             ("dashboard", a.dashboard_figures)]
    out: dict[str, Any] = {"tables": {}, "check": {}}
    for key, fn in steps:
        mon.reset()
        t0 = time.perf_counter()
        res = fn()
        out["tables"][key] = {"seconds": time.perf_counter() - t0, "peak_mb": mon.peak_mb()}
        frame = getattr(res, "frame", res)
        if key == "coverage":
            out["check"].update(spans=int(frame["spans"].iloc[0]), traces=int(frame["traces"].iloc[0]))
        elif key == "llm_latency":
            row = frame[frame["model"] == "(all models)"].iloc[0]
            out["check"].update(llm_p95_ms=float(row["p95_ms"]), llm_p99_ms=float(row["p99_ms"]))
        elif key == "dashboard":
            out["check"].update(cost=float(frame["o_cost"].iloc[0]), tokens=int(frame["o_total_tokens"].iloc[0]))
        elif key == "slowest_traces":
            out["check"]["slowest"] = frame["trace_id"].tolist()[:3]
    out["peak_mb"] = mon.overall_mb()
    store.close()
    return out


def _flatten(table: Any) -> Any:
    """The span columns the summaries need, attribute lookups vectorised with pyarrow."""
    import pyarrow as pa
    import pyarrow.compute as pc

    attrs = table.column("SpanAttributes")

    def get(key: str) -> Any:
        return pc.fill_null(pc.map_lookup(attrs, key, "first"), "")

    def num(key: str, kind: Any = None) -> Any:
        kind = kind or pa.int64()
        v = get(key)
        return pc.if_else(pc.equal(v, ""), pa.scalar(0, kind), pc.cast(pc.if_else(pc.equal(v, ""), "0", v), kind))

    import pandas as pd

    cols = {
        "ts": table.column("Timestamp").cast(pa.int64()), "trace": table.column("TraceId"),
        "duration": table.column("Duration").cast(pa.int64()), "status": pc.utf8_upper(table.column("StatusCode")),
        "req": get("gen_ai.request.model"), "resp": get("gen_ai.response.model"),
        "p_old": get("gen_ai.usage.prompt_tokens"), "c_old": get("gen_ai.usage.completion_tokens"),
        "p_new": num("gen_ai.usage.input_tokens"), "c_new": num("gen_ai.usage.output_tokens"),
        "p_old_n": num("gen_ai.usage.prompt_tokens"), "c_old_n": num("gen_ai.usage.completion_tokens"),
        "cache": num("gen_ai.usage.cache_read_input_tokens"), "reason": num("gen_ai.usage.reasoning_tokens"),
        "tot": get("gen_ai.usage.total_tokens"), "tot_n": num("gen_ai.usage.total_tokens"),
        "tc": get("gen_ai.usage.total_cost"), "tc_n": num("gen_ai.usage.total_cost", pa.float64()),
        "pc": get("gen_ai.usage.prompt_cost"), "pc_n": num("gen_ai.usage.prompt_cost", pa.float64()),
        "cc": get("gen_ai.usage.completion_cost"), "cc_n": num("gen_ai.usage.completion_cost", pa.float64()),
    }
    df = pd.DataFrame({k: v.to_numpy() if hasattr(v, "to_numpy") else v for k, v in cols.items()})
    keys = pd.Series(pa.chunked_array([c.keys for c in attrs.chunks]).to_numpy(zero_copy_only=False))
    return df, keys


def worker_pandas(dump: str) -> dict[str, Any]:
    import io

    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq

    from runbook_lib.traces import schema
    from runbook_lib.traces.analytics import TraceFilters, _ns
    from runbook_lib.traces.pricing import normalise_price_table, resolve_prices
    from runbook_lib.traces.store import ChdbFileStore

    mon = PeakRss()
    f = TraceFilters.from_params(START, END)
    out: dict[str, Any] = {"tables": {}, "check": {}}
    mon.reset()
    t0 = time.perf_counter()
    store = ChdbFileStore(dump)
    cols = ", ".join(f"`{c}`" for c, _ in schema.COLUMNS[:15])
    raw = store.query_bytes(f"SELECT {cols} FROM {schema.QUALIFIED} WHERE Timestamp >= "
                            "fromUnixTimestamp64Nano({s:Int64}) AND Timestamp < fromUnixTimestamp64Nano({e:Int64})",
                            {"s": _ns(f.start), "e": _ns(f.end)}, "Parquet")
    table = pq.read_table(io.BytesIO(raw))
    del raw
    df, keys = _flatten(table)
    del table
    out["load"] = {"seconds": time.perf_counter() - t0, "peak_mb": mon.peak_mb()}

    df["model"] = df["req"].where(df["req"] != "", df["resp"])
    df["cost_model"] = df["resp"].where(df["resp"] != "", df["req"])
    df["is_llm"] = df["model"] != ""
    df["prompt"] = np.where(df["p_old"] != "", df["p_old_n"], df["p_new"])
    df["completion"] = np.where(df["c_old"] != "", df["c_old_n"], df["c_new"])
    df["total"] = np.where(df["tot"] != "", df["tot_n"], df["prompt"] + df["completion"] + df["cache"] + df["reason"])
    df["day"] = df["ts"] // (86400 * 10**9)
    df["err"] = df["status"] == "ERROR"
    prices = resolve_prices(sorted(set(df.loc[df["is_llm"], "cost_model"])), normalise_price_table(None))
    p_in = df["cost_model"].map({m: p.input_per_token for m, p in prices.items()})
    p_out = df["cost_model"].map({m: p.output_per_token for m, p in prices.items()})
    stored = (df["tc"] != "") | (df["pc"] != "") | (df["cc"] != "")
    stored_cost = np.where(df["tc"] != "", df["tc_n"], df["pc_n"] + df["cc_n"])
    usage = (df["prompt"] + df["completion"]) > 0
    computed = ~stored & df["is_llm"] & usage & p_in.notna()
    df["cost"] = np.where(stored, stored_cost, np.where(computed, df["prompt"] * p_in.fillna(0)
                                                        + df["completion"] * p_out.fillna(0), 0.0))
    df["unpriced"] = ~stored & df["is_llm"] & usage & p_in.isna()
    df["end"] = df["ts"] + df["duration"]
    llm = df[df["is_llm"]]

    def q(values: Any) -> list[float]:
        v = np.sort(np.asarray(values))
        return [v[min(int(x * len(v)), len(v) - 1)] / 1e6 for x in (0.5, 0.9, 0.95, 0.99)] + [v[-1] / 1e6]

    def per_trace() -> pd.DataFrame:
        g = df.groupby("trace", sort=False)
        return pd.DataFrame({"start": g["ts"].min(), "end": g["end"].max(), "cost": g["cost"].sum(),
                             "spans": g.size()})

    summaries = {
        "coverage": lambda: (len(df), df["trace"].nunique(), int(df["is_llm"].sum())),
        "attributes": lambda: keys.value_counts(),
        "volume": lambda: df.groupby("day").agg(traces=("trace", "nunique"), spans=("ts", "size"),
                                                llm=("is_llm", "sum")),
        "status": lambda: df.groupby(df["model"].where(df["is_llm"], "(non-LLM)"))["status"].value_counts(),
        "errors_over_time": lambda: llm.groupby(["day", "model"])["err"].agg(["size", "sum"]),
        "llm_latency": lambda: {m: q(g["duration"]) for m, g in llm.groupby("model")} | {"all": q(llm["duration"])},
        "trace_latency": lambda: q((lambda t: t["end"] - t["start"])(per_trace())),
        "tokens": lambda: llm.groupby(["day", "model"])[["prompt", "completion", "cache", "reason", "total"]].sum(),
        "cost": lambda: df[df["is_llm"] | stored].groupby(["day", "model"])["cost"].sum(),
        "unpriced": lambda: df[df["unpriced"]].groupby("cost_model").size(),
        "spans_per_trace": lambda: df.groupby("trace").size().value_counts(),
        "slowest_traces": lambda: (lambda t: (t["end"] - t["start"]).nlargest(10))(per_trace()),
        "costliest_traces": lambda: per_trace()["cost"].nlargest(10),
        "dashboard": lambda: (df["total"].sum(), df["cost"].sum(), df["trace"].nunique()),
    }
    results = {}
    for key, fn in summaries.items():
        mon.reset()
        t0 = time.perf_counter()
        results[key] = fn()
        out["tables"][key] = {"seconds": time.perf_counter() - t0, "peak_mb": mon.peak_mb()}
    cov = results["coverage"]
    lat = results["llm_latency"]["all"]
    out["check"] = {"spans": int(cov[0]), "traces": int(cov[1]), "llm_p95_ms": float(lat[2]),
                    "llm_p99_ms": float(lat[3]), "cost": float(results["dashboard"][1]),
                    "tokens": int(results["dashboard"][0]),
                    "slowest": [str(x) for x in results["slowest_traces"].index[:3]]}
    out["peak_mb"] = mon.overall_mb()
    store.close()
    return out


# --------------------------------------------------------------------------- driver


def _run_worker(kind: str, dump: Path) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, "--worker", kind, "--dump", str(dump)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=100_000)
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--worker", choices=["pushdown", "pandas"])
    parser.add_argument("--dump")
    parser.add_argument("--skip-notebook", action="store_true")
    args = parser.parse_args()
    if args.worker:
        fn = worker_pushdown if args.worker == "pushdown" else worker_pandas
        print(json.dumps(fn(args.dump)))
        return 0

    from runbook_lib.traces.synthetic import generate_table, write_dump

    work = Path(tempfile.mkdtemp(prefix="bench-analytics-"))
    dump = work / "otel_traces.parquet"
    t0 = time.perf_counter()
    table = generate_table(args.traces, n_spans=args.spans, days=args.days, end=END, seed=42)
    t_gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    write_dump(table, dump)
    t_write = time.perf_counter() - t0
    del table
    print(f"data: {args.spans:,} spans in {args.traces:,} traces over {args.days:g} days; generated in "
          f"{t_gen:.2f} s, Parquet dump written in {t_write:.2f} s ({dump.stat().st_size / 2**20:.0f} MB)")

    push = _run_worker("pushdown", dump)
    pull = _run_worker("pandas", dump)

    print(f"\n{'table':<18}{'push-down s':>12}{'peak MB':>9}{'pandas s':>10}{'peak MB':>9}{'ratio':>8}  target")
    all_ok = True
    load = pull["load"]["seconds"]
    for key, p in push["tables"].items():
        b = pull["tables"].get(key)
        ok = p["seconds"] < TABLE_TARGET_S and p["peak_mb"] < MEMORY_TARGET_MB
        all_ok &= ok
        ratio = f"{b['seconds'] / p['seconds']:.2f}x" if b and p["seconds"] > 0 else "-"
        bs = f"{b['seconds']:.3f}" if b else "-"
        bm = f"{b['peak_mb']:.0f}" if b else "-"
        label = f"{key} *" if key in SHARED else key
        print(f"{label:<18}{p['seconds']:>12.3f}{p['peak_mb']:>9.0f}{bs:>10}{bm:>9}{ratio:>8}  {_verdict(ok)}")
    total_push = sum(p["seconds"] for p in push["tables"].values())
    total_pull = load + sum(b["seconds"] for b in pull["tables"].values())
    print(f"{'(pull all rows)':<18}{'':>12}{'':>9}{load:>10.3f}{pull['load']['peak_mb']:>9.0f}")
    print(f"{'total (peak)':<18}{total_push:>12.3f}{push['peak_mb']:>9.0f}{total_pull:>10.3f}"
          f"{pull['peak_mb']:>9.0f}{total_pull / total_push:>7.2f}x")
    print("* no scan of its own: derived in pandas from the aggregates of "
          + ", ".join(f"{k} <- {v}" for k, v in SHARED.items()) + " (that query's time is on its row)")
    mem_ok = push["peak_mb"] < MEMORY_TARGET_MB
    print(f"\npush-down peak memory {push['peak_mb']:.0f} MB vs pull-all {pull['peak_mb']:.0f} MB "
          f"({pull['peak_mb'] / push['peak_mb']:.2f}x): {_verdict(mem_ok)} (target < {MEMORY_TARGET_MB:.0f} MB)")
    agree = {k: (push["check"][k], pull["check"][k]) for k in push["check"]}
    same = all(abs(a - b) <= 1e-6 * max(1.0, abs(a)) if isinstance(a, float) else a == b for a, b in agree.values())
    print(f"push-down and pandas agree on spans, traces, p95/p99, tokens, cost, slowest traces: "
          f"{'yes' if same else 'NO: ' + json.dumps(agree)}")
    print(f"every table under {TABLE_TARGET_S:g} s and {MEMORY_TARGET_MB:.0f} MB: {_verdict(all_ok)}")

    if not args.skip_notebook:
        from runbook_lib.runner import run_notebooks

        t0 = time.perf_counter()
        record = run_notebooks(["30_trace_analytics"], {"dump_path": str(dump), "start": START, "end": END,
                                                        "export_dir": str(work / "export")},
                               out_dir=work / "runs")
        t_nb = time.perf_counter() - t0
        nb = record.notebooks[0]
        print(f"notebook 30_trace_analytics end to end through the runner: {t_nb:.2f} s (kernel run "
              f"{nb.duration_s:.2f} s), verdict {record.verdict}: {_verdict(t_nb < NOTEBOOK_TARGET_S)} "
              f"(target < {NOTEBOOK_TARGET_S:g} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
