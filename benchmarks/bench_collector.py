"""Collector ingest rate (spans/s) beside a direct chDB insert of the same rows, measured in one run.

- collector: protobuf ``ExportTraceServiceRequest`` batches POSTed over one keep-alive connection to a
  running ``trace_store_server`` (JWT check, decode, row building, JSONEachRow insert, all included);
- baseline (floor): the same rows inserted straight into a :class:`TraceStore` in this process, so the
  ratio shows what HTTP + OTLP decoding + auth cost on top of the engine's own insert.

Run: ``python benchmarks/bench_collector.py [--batches N] [--spans-per-batch M]``.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runbook_lib.sandbox import collector, jwt_hs256, processes  # noqa: E402
from runbook_lib.sandbox.trace_store_server import TraceStore  # noqa: E402


def build_batches(batches: int, spans_per_batch: int) -> list[bytes]:
    """Realistic LiteLLM-like spans: ~25 attributes each, one trace per batch."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    def kv(key: str, value: object) -> KeyValue:
        if isinstance(value, int):
            return KeyValue(key=key, value=AnyValue(int_value=value))
        return KeyValue(key=key, value=AnyValue(string_value=str(value)))

    now = time.time_ns()
    out = []
    for b in range(batches):
        request = ExportTraceServiceRequest()
        rs = request.resource_spans.add()
        rs.resource.attributes.extend([kv("service.name", "litellm"), kv("deployment.environment", "bench"),
                                       kv("telemetry.sdk.name", "opentelemetry"), kv("model_id", "mock")])
        ss = rs.scope_spans.add()
        ss.scope.name = "litellm"
        trace_id = uuid.uuid4().bytes
        for i in range(spans_per_batch):
            attrs = [kv("gen_ai.request.model", "mock-gpt"), kv("gen_ai.response.model", "mock-gpt"),
                     kv("gen_ai.usage.prompt_tokens", 12 + i), kv("gen_ai.usage.completion_tokens", 30),
                     kv("gen_ai.usage.total_tokens", 42 + i), kv("litellm.call_id", str(uuid.uuid4())),
                     kv("gen_ai.input.messages", '[{"role":"user","content":"' + "hello " * 20 + '"}]')]
            attrs += [kv(f"metadata.field_{k}", f"value-{k}-{b}") for k in range(18)]
            ss.spans.append(Span(trace_id=trace_id, span_id=secrets.token_bytes(8), name="litellm_request",
                                 kind=Span.SPAN_KIND_CLIENT, start_time_unix_nano=now + i,
                                 end_time_unix_nano=now + i + 1_000_000, attributes=attrs))
        out.append(request.SerializeToString())
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--spans-per-batch", type=int, default=100)
    args = parser.parse_args()
    bodies = build_batches(args.batches, args.spans_per_batch)
    total = args.batches * args.spans_per_batch
    secret = "bench-" + secrets.token_urlsafe(32)
    project_id = str(uuid.uuid4())

    with tempfile.TemporaryDirectory(prefix="bench-collector-") as tmp:
        work = Path(tmp)
        secret_file = work / "secret"
        secret_file.write_text(secret)
        secret_file.chmod(0o600)

        # Baseline: decode + insert of the same rows straight into chDB, in this process.
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        row_batches = [collector.request_to_rows(ExportTraceServiceRequest.FromString(body), project_id=project_id)
                       for body in bodies]
        store = TraceStore(work / "direct")
        store.insert_rows(row_batches[0])  # warm-up
        start = time.perf_counter()
        for rows in row_batches:
            store.insert_rows(rows)
        direct_s = time.perf_counter() - start
        store.close()

        otlp_port, http_port = processes.free_port(), processes.free_port()
        log = work / "store.log"
        proc = processes.spawn_module("runbook_lib.sandbox.trace_store_server", [
            "--otlp-port", str(otlp_port), "--http-port", str(http_port), "--data", str(work / "served"),
            "--jwt-secret-file", str(secret_file), "--log-level", "WARNING"], log_path=log)
        try:
            processes.wait_for_http(f"http://127.0.0.1:{http_port}/ping", process=proc, log_path=log, deadline_s=60)
            token = jwt_hs256.issue_token(secret, project_id=project_id, project_prem_status="enterprise",
                                          api_key=str(uuid.uuid4()))
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-protobuf"}
            with httpx.Client(headers=headers, timeout=60) as client:
                url = f"http://127.0.0.1:{otlp_port}/v1/traces"
                assert client.post(url, content=bodies[0]).status_code == 200  # warm-up
                start = time.perf_counter()
                for body in bodies:
                    response = client.post(url, content=body)
                    if response.status_code != 200:
                        raise SystemExit(f"collector answered {response.status_code}: {response.text}")
                collector_s = time.perf_counter() - start
                count = httpx.get(f"http://127.0.0.1:{http_port}/",
                                  params={"query": "SELECT count() FROM otel_2.otel_traces"}).text.strip()
        finally:
            processes.stop_pid(proc.pid)
        if int(count) != total + args.spans_per_batch:
            raise SystemExit(f"expected {total + args.spans_per_batch} rows, found {count}")

    direct_rate, collector_rate = total / direct_s, total / collector_s
    print(f"spans: {total} in {args.batches} protobuf batches of {args.spans_per_batch}")
    print(f"collector ingest (HTTP + auth + decode + insert): {collector_rate:10.0f} spans/s")
    print(f"baseline direct chDB insert of the same rows:      {direct_rate:10.0f} spans/s")
    print(f"ratio collector / baseline: {collector_rate / direct_rate:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
