"""Benchmark: sandbox cold start, round-trip verification per request, collector ingest rate.

Each figure is printed beside its floor measured in the same run:

- cold start of the whole sandbox (to every service answering) vs the LiteLLM proxy's own start-up
  (launch -> first answer of /health/liveliness), the slowest part and the floor of any stack with it;
- with ``AGENTOPS_SRC`` set (an AgentOps checkout): cold start in real mode (the upstream API) with the
  first build of its virtual environment (in a fresh cache folder) and with that build cached, each beside
  the stand-in's cold start;
- round-trip verification time per request (request sent through the proxy -> span visible in the trace
  store) vs a direct OTLP post of one span to the collector -> visible in the store (no proxy, no
  exporter batch delay);
- collector ingest rate in spans per second (batches of ``--batch`` spans posted as protobuf with a
  token, until the store counts them all).

    python benchmarks/bench_sandbox.py [--requests 3] [--spans 5000] [--batch 500] [--agentops-src PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from runbook_lib.clients.agentops import AgentOpsClient  # noqa: E402
from runbook_lib.sandbox import stack  # noqa: E402
from runbook_lib.traces.store import ClickHouseHttpStore  # noqa: E402
from runbook_lib.verification import latency_frame, run_verification  # noqa: E402


def export_request(n_spans: int, marker: str) -> bytes:
    """A protobuf ExportTraceServiceRequest with ``n_spans`` LLM-like spans tagged with ``marker``."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    def kv(key: str, value: object) -> KeyValue:
        if isinstance(value, int):
            return KeyValue(key=key, value=AnyValue(int_value=value))
        return KeyValue(key=key, value=AnyValue(string_value=str(value)))

    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", "bench"))
    ss = rs.scope_spans.add()
    ss.scope.name = "bench"
    now = time.time_ns()
    for i in range(n_spans):
        ss.spans.append(Span(
            trace_id=uuid.uuid4().bytes, span_id=uuid.uuid4().bytes[:8], name="chat fake-gpt",
            kind=Span.SPAN_KIND_CLIENT, start_time_unix_nano=now, end_time_unix_nano=now + 1_000_000,
            attributes=[kv("gen_ai.request.model", "fake-gpt"), kv("gen_ai.usage.prompt_tokens", 10),
                        kv("gen_ai.usage.completion_tokens", 20), kv("litellm.call_id", f"{marker}-{i}"),
                        kv("bench.marker", marker)],
        ))
    return request.SerializeToString()


def count_marker(store: ClickHouseHttpStore, marker: str) -> int:
    frame = store.query_df("SELECT count() AS n FROM otel_2.otel_traces WHERE SpanAttributes['bench.marker'] = "
                           "{m:String}", {"m": marker})
    return int(frame["n"].iloc[0])


def wait_count(store: ClickHouseHttpStore, marker: str, expected: int, deadline_s: float = 120.0) -> float:
    start = time.monotonic()
    while count_marker(store, marker) < expected:
        if time.monotonic() - start > deadline_s:
            raise SystemExit(f"only {count_marker(store, marker)} of {expected} spans arrived")
        time.sleep(0.02)
    return time.monotonic() - start


def real_mode_cold_starts(src: str, standin_s: float) -> None:
    """Cold start with the upstream API: first build (fresh cache) and cached, beside the stand-in's."""
    import subprocess

    from runbook_lib.sandbox.upstream_api import find_uv

    cache = Path(tempfile.mkdtemp(prefix="bench-upstream-cache-"))
    saved = {name: os.environ.get(name) for name in ("XDG_CACHE_HOME", "UV_CACHE_DIR")}
    # uv's own package cache stays where it is (it also follows XDG_CACHE_HOME): the first build is
    # "first" for the sandbox, not a download of every package
    uv_cache = subprocess.run([find_uv(), "cache", "dir"], capture_output=True, text=True, check=True).stdout.strip()
    os.environ["UV_CACHE_DIR"] = uv_cache
    os.environ["XDG_CACHE_HOME"] = str(cache)  # where build_venv keeps the venv: fresh for the first build
    try:
        for label in ("first build", "cached"):
            state_dir = Path(tempfile.mkdtemp(prefix="bench-sandbox-real-")) / ".sandbox"
            started = time.monotonic()
            state = stack.up(state_dir, "current", agentops_src=src)
            cold = time.monotonic() - started
            stack.down(state_dir, purge=True)
            build = state["timings"].get("upstream_venv", 0.0)
            print(f"cold start, real API ({label:11}): {cold:7.2f} s   vs stand-in {cold / standin_s:5.2f}x "
                  f"({cold - standin_s:+.2f} s; venv build {build:.2f} s, API to /health "
                  f"{state['timings']['agentops_api']:.2f} s)")
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        import shutil

        shutil.rmtree(cache, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3, help="requests per kind for the round trip")
    parser.add_argument("--spans", type=int, default=5000, help="spans for the ingest rate")
    parser.add_argument("--batch", type=int, default=500, help="spans per OTLP request")
    parser.add_argument("--direct", type=int, default=5, help="direct single-span posts (the floor)")
    parser.add_argument("--agentops-src", default=os.environ.get("AGENTOPS_SRC"),
                        help="AgentOps checkout for the real-mode cold starts (default: $AGENTOPS_SRC)")
    args = parser.parse_args()

    state_dir = Path(tempfile.mkdtemp(prefix="bench-sandbox-")) / ".sandbox"
    started = time.monotonic()
    state = stack.up(state_dir, "current")
    cold = time.monotonic() - started
    try:
        svc = state["services"]
        proxy_start = svc["litellm"]["startup_s"]
        print(f"cold start to all services ready : {cold:7.2f} s   (stand-in API)")
        print(f"  floor: LiteLLM proxy start-up  : {proxy_start:7.2f} s   ratio {cold / proxy_start:5.2f}x")
        print("  parts: " + ", ".join(f"{k} {v:.2f} s" for k, v in state["timings"].items() if k != "total_s"))

        files = state["secret_files"]
        store = ClickHouseHttpStore(svc["trace_store"]["url"], "default", f"file:{files['store_password']}")
        result = run_verification(svc["litellm"]["url"], f"file:{files['master_key']}", "fake-gpt", store=store,
                                  agentops_api_url=svc["agentops_api"]["url"],
                                  agentops_api_key=f"file:{files['api_key']}",
                                  requests_per_kind=args.requests, deadline_s=60)
        if not result.ok:
            raise SystemExit("round trip failed: " + "; ".join(c.summary for c in result.checks if not c.ok))
        frame = latency_frame(result.roundtrip)
        per_request = [float(x) for x in frame["latency_s"]]

        with AgentOpsClient(svc["agentops_api"]["url"], f"file:{files['api_key']}") as api:
            token = api.issue_token().bearer()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-protobuf"}
        direct = []
        with httpx.Client(timeout=30, trust_env=False) as client:
            for _ in range(args.direct):
                marker = uuid.uuid4().hex
                body = export_request(1, marker)
                t = time.monotonic()
                client.post(svc["trace_store"]["otlp_url"], content=body, headers=headers).raise_for_status()
                wait_count(store, marker, 1)
                direct.append(time.monotonic() - t)
            rt, floor = statistics.median(per_request), statistics.median(direct)
            print(f"round trip per request (median)  : {rt:7.3f} s over {len(per_request)} requests "
                  f"(max {max(per_request):.3f} s; includes the handler's 1 s batch delay)")
            print(f"  floor: direct OTLP post->stored: {floor:7.3f} s   ratio {rt / floor:5.1f}x")

            marker = uuid.uuid4().hex
            batches = [export_request(min(args.batch, args.spans - i), marker) for i in range(0, args.spans,
                                                                                              args.batch)]
            t = time.monotonic()
            for body in batches:
                client.post(svc["trace_store"]["otlp_url"], content=body, headers=headers).raise_for_status()
            posted = time.monotonic() - t
            wait_count(store, marker, args.spans)
            total = time.monotonic() - t
        print(f"collector ingest                 : {args.spans / total:9.0f} spans/s "
              f"({args.spans} spans in {len(batches)} requests, {total:.2f} s to stored; posting took "
              f"{posted:.2f} s)")
        store.close()
    finally:
        stack.down(state_dir, purge=True)
    if args.agentops_src:
        real_mode_cold_starts(args.agentops_src, cold)
    else:
        print("cold start, real API              : not run (set AGENTOPS_SRC to an AgentOps checkout)")


if __name__ == "__main__":
    main()
