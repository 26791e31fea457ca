"""verify_spans on hand-built round trips: every check's id, order, status, summary and evidence, pinned.

The values are what verify_spans gave before it was split into one function per check (span_checks.py).
"""

from __future__ import annotations

from runbook_lib.checks import Check, Severity, Status
from runbook_lib.verification import RoundTrip, SentRequest, SpanSeen, verify_spans
from runbook_lib.verification.span_checks import SPAN_CHECKS, MatchedSpans, arrival_check

TOKENS = {"gen_ai.usage.prompt_tokens": "10", "gen_ai.usage.completion_tokens": "20"}


def request(kind: str, index: int, call_id: str | None, model: str = "fake-gpt") -> SentRequest:
    return SentRequest(kind, index, f"rv:{kind}:{index}", model, 100.0, 101.0 + index,
                       429 if kind == "failing" else 200, call_id, None)


def span(call_id: str, attrs: dict, *, status: str = "Ok", project: str = "p1", seen_at: float = 102.5) -> SpanSeen:
    return SpanSeen(call_id, "t" * 32, "s" * 16, "chat", "litellm", status, "", project,
                    {"gen_ai.request.model": "fake-gpt", **attrs}, seen_at)


def rows(checks: list[Check]) -> list[tuple[str, Status, str]]:
    return [(c.id, c.status, c.summary) for c in checks]


def test_no_call_id_fails_arrival_and_stops():
    trip = RoundTrip("rv", [request("plain", 0, None)], deadline_s=5)
    checks = verify_spans(trip, model="fake-gpt")
    assert rows(checks) == [("roundtrip.arrival", Status.FAIL, "no request got a call id, nothing to look for")]
    assert checks[0].remedy == "see roundtrip.requests"


def test_nothing_arrived_gives_only_the_arrival_failure():
    trip = RoundTrip("rv", [request("plain", 0, "a"), request("failing", 1, "b")], deadline_s=2.5, polls=4,
                     store_error="connection refused")
    checks = verify_spans(trip, model="fake-gpt", project_id="p1")
    assert rows(checks) == [("roundtrip.arrival", Status.FAIL,
                             "2 of 2 spans did not arrive within 2.5 s (4 polls); "
                             "the last store query failed: connection refused")]
    assert checks[0].severity is Severity.CRITICAL
    assert checks[0].evidence == {"missing": [{"kind": "plain", "index": 0, "call_id": "a"},
                                              {"kind": "failing", "index": 1, "call_id": "b"}]}


def test_the_wait_is_said_to_a_tenth_of_a_second():
    """The wait is what was left of deadline_s when it began (4.98808 s of 5): said as 5 s, not 4.98808 s."""
    for left, said in ((4.98808, "5"), (28.1067, "28.1"), (0.04, "0")):
        trip = RoundTrip("rv", [request("plain", 0, "a")], deadline_s=left, polls=1)
        assert f"did not arrive within {said} s (1 poll)" in verify_spans(trip, model="m")[0].summary


def test_a_complete_round_trip_passes_every_check_in_order():
    reqs = [request("plain", 0, "a"), request("stream", 1, "b"), request("failing", 2, "c")]
    trip = RoundTrip("rv", reqs, deadline_s=30, polls=3, waited_s=1.25)
    trip.spans = {"a": span("a", {**TOKENS, "gen_ai.usage.total_cost": "0.0015"}, seen_at=101.5),
                  "b": span("b", TOKENS, status="STATUS_CODE_OK", seen_at=103.0),
                  "c": span("c", {}, status="Error", seen_at=104.0)}
    checks = verify_spans(trip, model="fake-gpt", project_id="p1")
    assert rows(checks) == [
        ("roundtrip.arrival", Status.PASS, "all 3 spans arrived (3 polls, 1.2 s)"),
        ("roundtrip.project", Status.PASS, "project p1"),
        ("roundtrip.model", Status.PASS, "gen_ai.request.model matches (fake-gpt)"),
        ("roundtrip.tokens", Status.PASS, "prompt/completion tokens present on all 2 spans, e.g. (10, 20)"),
        ("roundtrip.status", Status.PASS, "1 failing request(s) recorded as ERROR"),
        ("roundtrip.cost", Status.PASS, "gen_ai.usage.total_cost on 1 spans (total 0.001500 USD)"),
        ("roundtrip.latency", Status.PASS, "median 1.00 s, max 1.00 s over 3 spans"),
    ]
    by_id = {c.id: c for c in checks}
    assert by_id["roundtrip.status"].evidence == {"spans": [
        {"kind": "plain", "call_id": "a", "status": "Ok"},
        {"kind": "stream", "call_id": "b", "status": "STATUS_CODE_OK"},
        {"kind": "failing", "call_id": "c", "status": "Error"}]}
    assert by_id["roundtrip.latency"].evidence == {"latency_s": [0.5, 1.0, 1.0]}


def test_every_failure_at_once():
    reqs = [request("plain", 0, "a"), request("stream", 1, "b", model="other"), request("failing", 2, "c"),
            request("plain", 3, "d")]
    trip = RoundTrip("rv", reqs, deadline_s=5, polls=2)
    trip.spans = {"a": span("a", {"gen_ai.usage.input_tokens": "10", "gen_ai.usage.output_tokens": "20"},
                            project="p2"),
                  "b": span("b", {"gen_ai.usage.prompt_tokens": "0", "gen_ai.usage.completion_tokens": "3"},
                            status="Unset"),
                  "c": span("c", {}, status="Ok")}
    checks = verify_spans(trip, model="fake-gpt", project_id="p1")
    assert rows(checks) == [
        ("roundtrip.arrival", Status.FAIL, "1 of 4 spans did not arrive within 5 s (2 polls)"),
        ("roundtrip.project", Status.FAIL, "spans carry project id(s) ['p1', 'p2'], the token's project is p1"),
        ("roundtrip.model", Status.FAIL, "1 spans name another model"),
        ("roundtrip.tokens", Status.FAIL,
         "2 of 2 spans lack gen_ai.usage.prompt_tokens/completion_tokens. They carry gen_ai.usage.input_tokens/"
         "output_tokens only, which AgentOps ignores: the dashboard shows 0 tokens and 0 cost."),
        ("roundtrip.status", Status.FAIL, "1 spans have the wrong status"),
        ("roundtrip.cost", Status.FAIL,
         "2 spans have neither gen_ai.usage.total_cost nor prompt/completion tokens, so AgentOps shows cost 0"),
        ("roundtrip.latency", Status.PASS, "median 0.50 s, max 1.50 s over 3 spans"),
    ]
    by_id = {c.id: c for c in checks}
    assert by_id["roundtrip.project"].evidence == {"projects": ["p1", "p2"]}
    assert by_id["roundtrip.model"].evidence == {"mismatches": [
        {"call_id": "b", "requested": "other", "span": ["fake-gpt"]}]}
    assert by_id["roundtrip.tokens"].evidence == {
        "spans": [{"call_id": "a", "kind": "plain",
                   "token_attributes": ["gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"]},
                  {"call_id": "b", "kind": "stream",
                   "token_attributes": ["gen_ai.usage.completion_tokens", "gen_ai.usage.prompt_tokens"]}],
        "new_names_only": ["a"]}
    assert by_id["roundtrip.status"].evidence == {"spans": [{"kind": "failing", "call_id": "c", "status": "Ok"}]}
    assert by_id["roundtrip.cost"].evidence == {"call_ids": ["a", "b"]}


def test_unset_status_warns_and_only_failing_spans_skip_tokens_and_cost():
    trip = RoundTrip("rv", [request("plain", 0, "a")], deadline_s=5)
    trip.spans = {"a": span("a", {**TOKENS, "litellm.model_group": "openai/fake-gpt"}, status="Unset", project="")}
    checks = verify_spans(trip, model="fake-gpt")
    assert rows(checks)[1:5] == [
        ("roundtrip.project", Status.FAIL, "some spans have no agentops.project.id"),
        ("roundtrip.model", Status.PASS, "gen_ai.request.model matches (fake-gpt)"),
        ("roundtrip.tokens", Status.PASS, "prompt/completion tokens present on all 1 spans, e.g. (10, 20)"),
        ("roundtrip.status", Status.WARN,
         "1 successful spans have status Unset, which AgentOps counts as indeterminate"),
    ]
    assert checks[5].summary.startswith("no total_cost attribute; AgentOps computes it")

    failing_only = RoundTrip("rv", [request("failing", 0, "c")], deadline_s=5)
    failing_only.spans = {"c": span("c", {}, status="STATUS_CODE_ERROR")}
    checks = {c.id: c for c in verify_spans(failing_only, model="fake-gpt")}
    for check_id in ("roundtrip.tokens", "roundtrip.cost"):
        assert (checks[check_id].status, checks[check_id].summary) == (
            Status.SKIP, "no successful request's span arrived")
    assert checks["roundtrip.status"].summary == "1 failing request(s) recorded as ERROR"


def test_verify_spans_is_the_arrival_check_then_the_registry():
    trip = RoundTrip("rv", [request("plain", 0, "a")], deadline_s=5)
    trip.spans = {"a": span("a", TOKENS)}
    spans = MatchedSpans.of(trip, model="fake-gpt", project_id="p1")
    expected = [arrival_check(spans), *(check(spans) for check in SPAN_CHECKS)]
    assert verify_spans(trip, model="fake-gpt", project_id="p1") == expected
    assert [c.id for c in expected] == ["roundtrip.arrival", "roundtrip.project", "roundtrip.model",
                                        "roundtrip.tokens", "roundtrip.status", "roundtrip.cost", "roundtrip.latency"]
