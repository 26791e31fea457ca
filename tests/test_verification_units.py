"""Verification logic on recorded evidence (no servers): logger classification, span checks, diagnoses."""

from __future__ import annotations

import json
import time

from runbook_lib.checks import Status
from runbook_lib.verification import (
    Preflight,
    RoundTrip,
    SentRequest,
    SpanSeen,
    classify_logger,
    diagnose,
    handler_status_from_active,
    latency_frame,
    verify_spans,
)


def request(kind: str, call_id: str, status: int = 200) -> SentRequest:
    now = time.time()
    return SentRequest(kind, 0, f"rv:{kind}:0", "fake-gpt", now - 0.2, now - 0.1, status, call_id,
                       None if kind == "failing" else f"chatcmpl-{call_id}")


def span(call_id: str, attrs: dict, status: str = "Ok", project: str = "p1") -> SpanSeen:
    return SpanSeen(call_id, "t" * 32, "s" * 16, "chat fake-gpt", "litellm", status, "", project,
                    {"gen_ai.request.model": "fake-gpt", **attrs}, time.time())


def by_id(checks):
    return {c.id: c for c in checks}


def test_logger_kinds():
    assert classify_logger(["ServiceLogging", "AgentOpsSelfHosted"]) == "selfhosted"
    assert classify_logger(["AgentOps", "AgentOpsSelfHosted"]) == "builtin_agentops"  # the cloud one wins
    assert classify_logger(["agentops"]) == "builtin_agentops"
    assert classify_logger(["OpenTelemetry"]) == "otel"
    assert classify_logger(["ServiceLogging"]) == "none"


def test_handler_status_is_read_from_active_callbacks():
    status = {"exporter": "http://c:4318/v1/traces", "delivered": 2}
    active = {"litellm.callbacks": ["<x object at 0x1>", "AgentOpsSelfHosted " + json.dumps(status)]}
    assert handler_status_from_active(active) == status
    assert handler_status_from_active({"litellm.callbacks": ["<x>"]}) is None


def test_spans_with_only_the_new_token_names_are_diagnosed():
    reqs = [request("plain", "a"), request("failing", "b", 429)]
    trip = RoundTrip("rv", reqs, deadline_s=5)
    trip.spans = {"a": span("a", {"gen_ai.usage.input_tokens": "10", "gen_ai.usage.output_tokens": "20"}),
                  "b": span("b", {}, status="Error")}
    checks = by_id(verify_spans(trip, model="fake-gpt", project_id="p1"))
    assert checks["roundtrip.arrival"].status is Status.PASS
    assert checks["roundtrip.tokens"].status is Status.FAIL
    assert checks["roundtrip.tokens"].evidence["new_names_only"] == ["a"]
    assert checks["roundtrip.cost"].status is Status.FAIL
    findings = diagnose(Preflight(logger_kind="otel"), trip, verification=list(checks.values()))
    assert [f.id for f in findings] == ["diagnosis.token_names"]


def test_wrong_status_and_project_are_reported():
    reqs = [request("plain", "a"), request("failing", "b", 429)]
    trip = RoundTrip("rv", reqs, deadline_s=5)
    tokens = {"gen_ai.usage.prompt_tokens": "10", "gen_ai.usage.completion_tokens": "20"}
    trip.spans = {"a": span("a", tokens, project="other"), "b": span("b", {}, status="Unset")}
    checks = by_id(verify_spans(trip, model="fake-gpt", project_id="p1"))
    assert checks["roundtrip.project"].status is Status.FAIL
    assert checks["roundtrip.status"].status is Status.FAIL
    assert checks["roundtrip.tokens"].status is Status.PASS
    assert checks["roundtrip.cost"].status is Status.PASS  # computable from the tokens


def test_missing_spans_with_no_logger_built():
    trip = RoundTrip("rv", [request("plain", "a")], deadline_s=5)
    checks = verify_spans(trip, model="fake-gpt")
    assert by_id(checks)["roundtrip.arrival"].status is Status.FAIL
    findings = diagnose(Preflight(logger_kind="none"), trip, verification=checks)
    assert findings[0].id == "diagnosis.no_logger" and "litellm_settings" in findings[0].remedy
    frame = latency_frame(trip)
    assert not frame["arrived"].any()


def test_delivered_but_not_stored_points_at_the_store():
    trip = RoundTrip("rv", [request("plain", "a")], deadline_s=5)
    status = {"delivered": 4, "failed": 0, "last_problem": None, "exporter": None}
    findings = diagnose(Preflight(logger_kind="selfhosted", handler_status=status), trip,
                        verification=verify_spans(trip, model="fake-gpt"))
    assert findings[0].id == "diagnosis.store_mismatch"


def test_a_failed_precondition_skips_what_depends_on_it():
    from runbook_lib.checks import Check
    from runbook_lib.runbook import Section
    from runbook_lib.verification import VerificationRunbook

    rb = VerificationRunbook(store=object())
    pre_checks = [Check.passed("proxy.reachable", "answers"), Check.passed("proxy.logger", "logger"),
                  Check.failed("proxy.model", "model", "'gpt-x' is not among ['fake-gpt']"),
                  Check.passed("trace_store.reachable", "store")]
    rb.pre = Preflight(checks=pre_checks, proxy_ok=True, logger_kind="selfhosted")
    rb.results["preflight"] = Section(pre_checks)  # the preflight as it came out; no proxy is asked again
    arrival = rb.run("arrival")
    assert [(c.id, c.status) for c in arrival.checks] == [("roundtrip.arrival", Status.SKIP)]
    assert arrival.checks[0].summary.startswith("skipped because proxy.model failed")
    assert [c.status for c in rb.run("diagnosis").checks] == [Status.SKIP]
