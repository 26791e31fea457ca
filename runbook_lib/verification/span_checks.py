"""Step 4: the checks over the spans a round trip found, one function per check, run in report order.

:func:`verify_spans` runs the arrival check, then (when at least one span arrived) every check of
:data:`SPAN_CHECKS`, each reading one :class:`MatchedSpans`.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..checks import Check, Severity
from .results import NEW_TOKEN_NAMES, PROMPT_TOKEN_NAMES, RoundTrip, SentRequest, SpanSeen

__all__ = ["SPAN_CHECKS", "MatchedSpans", "arrival_check", "verify_spans"]

_NO_SUCCESS = "no successful request's span arrived"


@dataclass(frozen=True)
class MatchedSpans:
    """A round trip's requests that got a call id, each with its span (``None`` when none arrived)."""

    trip: RoundTrip
    model: str
    project_id: str | None
    matched: tuple[tuple[SentRequest, SpanSeen | None], ...]

    @classmethod
    def of(cls, trip: RoundTrip, *, model: str, project_id: str | None = None) -> MatchedSpans:
        return cls(trip, model, project_id, tuple((r, trip.span_for(r)) for r in trip.requests if r.call_id))

    @property
    def arrived(self) -> list[tuple[SentRequest, SpanSeen]]:
        return [(r, s) for r, s in self.matched if s is not None]

    @property
    def missing(self) -> list[SentRequest]:
        return [r for r, s in self.matched if s is None]

    @property
    def succeeded(self) -> list[tuple[SentRequest, SpanSeen]]:
        """Arrived spans of the requests expected to succeed (plain, stream)."""
        return [(r, s) for r, s in self.arrived if r.expected_ok]


def _int_attr(attrs: Mapping[str, str], name: str) -> int | None:
    try:
        return int(float(attrs[name]))
    except (KeyError, ValueError, TypeError):
        return None


def arrival_check(spans: MatchedSpans) -> Check:
    """``roundtrip.arrival``: every request with a call id has its span in the trace store."""
    trip, matched, missing = spans.trip, spans.matched, spans.missing
    title = "Every request's span reached the trace store"
    if not matched:
        return Check.failed("roundtrip.arrival", title, "no request got a call id, nothing to look for",
                            "see roundtrip.requests")
    if missing:
        store_note = f"; the last store query failed: {trip.store_error}" if trip.store_error else ""
        return Check.failed(
            "roundtrip.arrival", title,
            f"{len(missing)} of {len(matched)} spans did not arrive within {round(trip.deadline_s, 1):g} s "
            f"({trip.polls} poll{'' if trip.polls == 1 else 's'}){store_note}",
            "see the diagnosis checks below", severity=Severity.CRITICAL,
            evidence={"missing": [{"kind": r.kind, "index": r.index, "call_id": r.call_id} for r in missing]})
    return Check.passed("roundtrip.arrival", title,
                        f"all {len(matched)} spans arrived ({trip.polls} polls, {trip.waited_s:.1f} s)")


def project_check(spans: MatchedSpans) -> Check:
    """``roundtrip.project``: every span carries the token's ``agentops.project.id``."""
    projects = {s.project_id for _, s in spans.arrived}
    title = "Spans are stored under the AgentOps project"
    if spans.project_id and projects != {spans.project_id}:
        return Check.failed("roundtrip.project", title,
                            f"spans carry project id(s) {sorted(projects)}, the token's project is {spans.project_id}",
                            "the collector stamps agentops.project.id from the JWT: check the key the proxy "
                            "uses (AGENTOPS_API_KEY) is this project's key",
                            evidence={"projects": sorted(projects)})
    if "" in projects:
        return Check.failed("roundtrip.project", title, "some spans have no agentops.project.id",
                            "the collector's resource processor must upsert agentops.project.id from the JWT")
    return Check.passed("roundtrip.project", title, f"project {', '.join(sorted(projects))}")


def model_check(spans: MatchedSpans) -> Check:
    """``roundtrip.model``: each span names its request's model (request, response or model group)."""
    title = "Spans name the requested model"
    wrong = []
    for r, s in spans.arrived:
        names = {s.attributes.get(k, "") for k in ("gen_ai.request.model", "gen_ai.response.model",
                                                    "litellm.model_group")}
        if r.model not in names and not any(n.endswith("/" + r.model) for n in names):
            wrong.append({"call_id": r.call_id, "requested": r.model, "span": sorted(n for n in names if n)})
    if wrong:
        return Check.failed("roundtrip.model", title, f"{len(wrong)} spans name another model", "",
                            evidence={"mismatches": wrong})
    return Check.passed("roundtrip.model", title, f"gen_ai.request.model matches ({spans.model})")


def token_names_check(spans: MatchedSpans) -> Check:
    """``roundtrip.tokens``: successful spans carry token counts under the names the AgentOps API reads."""
    title = "Token counts use the names the AgentOps API reads"
    succeeded = spans.succeeded
    if not succeeded:
        return Check.skipped("roundtrip.tokens", title, _NO_SUCCESS)
    lacking, new_only = [], []
    for r, s in succeeded:
        values = [_int_attr(s.attributes, n) for n in PROMPT_TOKEN_NAMES]
        if any(v is None or v <= 0 for v in values):
            lacking.append({"call_id": r.call_id, "kind": r.kind,
                            "token_attributes": sorted(k for k in s.attributes if k.startswith("gen_ai.usage."))})
            if any(n in s.attributes for n in NEW_TOKEN_NAMES):
                new_only.append(r.call_id)
    if lacking:
        cause = (" They carry gen_ai.usage.input_tokens/output_tokens only, which AgentOps ignores: the dashboard "
                 "shows 0 tokens and 0 cost." if new_only else "")
        return Check.failed(
            "roundtrip.tokens", title,
            f"{len(lacking)} of {len(succeeded)} spans lack gen_ai.usage.prompt_tokens/completion_tokens.{cause}",
            "export with the self-hosted handler (it writes both names), or copy the attributes in a collector "
            "transform processor", evidence={"spans": lacking, "new_names_only": new_only})
    first = succeeded[0][1].attributes
    example = (_int_attr(first, PROMPT_TOKEN_NAMES[0]), _int_attr(first, PROMPT_TOKEN_NAMES[1]))
    return Check.passed("roundtrip.tokens", title,
                        f"prompt/completion tokens present on all {len(succeeded)} spans, e.g. {example}")


def status_check(spans: MatchedSpans) -> Check:
    """``roundtrip.status``: failing requests' spans are ERROR, successful ones OK (Unset warns)."""
    title = "Span status: failures are ERROR, successes are not"
    status_rows, bad_status, unset = [], [], 0
    for r, s in spans.arrived:
        code = s.status_code.upper().replace("STATUS_CODE_", "")
        status_rows.append({"kind": r.kind, "call_id": r.call_id, "status": s.status_code})
        if r.expected_ok and code == "ERROR" or not r.expected_ok and code != "ERROR":
            bad_status.append(status_rows[-1])
        elif r.expected_ok and code != "OK":
            unset += 1
    if bad_status:
        return Check.failed("roundtrip.status", title, f"{len(bad_status)} spans have the wrong status",
                            "the callback must run on failures too: use litellm_settings.callbacks "
                            "(success_callback records successes only)", evidence={"spans": bad_status})
    if unset:
        return Check.warned("roundtrip.status", title,
                            f"{unset} successful spans have status Unset, which AgentOps counts as "
                            "indeterminate", "the self-hosted handler sets OK", evidence={"spans": status_rows})
    failing_seen = sum(1 for r, _ in spans.arrived if not r.expected_ok)
    note = f"{failing_seen} failing request(s) recorded as ERROR" if failing_seen else "no failing span arrived"
    return Check.passed("roundtrip.status", title, note, evidence={"spans": status_rows})


def cost_check(spans: MatchedSpans) -> Check:
    """``roundtrip.cost``: successful spans carry ``gen_ai.usage.total_cost`` or the tokens to compute it."""
    title = "Cost is present or computable"
    succeeded = spans.succeeded
    if not succeeded:
        return Check.skipped("roundtrip.cost", title, _NO_SUCCESS)
    costs, no_cost = [], []
    for r, s in succeeded:
        cost = s.attributes.get("gen_ai.usage.total_cost")
        if cost not in (None, ""):
            costs.append(float(cost))
        elif not all(_int_attr(s.attributes, n) for n in PROMPT_TOKEN_NAMES):
            no_cost.append(r.call_id)
    if no_cost:
        return Check.failed("roundtrip.cost", title,
                            f"{len(no_cost)} spans have neither gen_ai.usage.total_cost nor prompt/completion "
                            "tokens, so AgentOps shows cost 0", "see roundtrip.tokens",
                            evidence={"call_ids": no_cost})
    if costs:
        return Check.passed("roundtrip.cost", title,
                            f"gen_ai.usage.total_cost on {len(costs)} spans (total {sum(costs):.6f} USD)")
    return Check.passed("roundtrip.cost", title,
                        "no total_cost attribute; AgentOps computes it from prompt/completion tokens "
                        "and its model price table")


def latency_check(spans: MatchedSpans) -> Check:
    """``roundtrip.latency``: how long after each answer its span was first seen (always passes)."""
    latencies = [s.first_seen_at - r.finished_at for r, s in spans.arrived]
    return Check.passed(
        "roundtrip.latency", "Arrival latency (request answered -> span visible in the store)",
        f"median {statistics.median(latencies):.2f} s, max {max(latencies):.2f} s over {len(latencies)} spans",
        evidence={"latency_s": [round(x, 3) for x in latencies]})


#: The checks over the spans that arrived, in report order; each reads at least one arrived span.
SPAN_CHECKS: tuple[Callable[[MatchedSpans], Check], ...] = (
    project_check,
    model_check,
    token_names_check,
    status_check,
    cost_check,
    latency_check,
)


def verify_spans(trip: RoundTrip, *, model: str, project_id: str | None = None) -> list[Check]:
    """Checks over the spans that arrived: arrival first, then :data:`SPAN_CHECKS` in order when at least
    one span arrived (project, model, token names, status, cost, latency)."""
    spans = MatchedSpans.of(trip, model=model, project_id=project_id)
    checks = [arrival_check(spans)]
    if spans.arrived:
        checks += [check(spans) for check in SPAN_CHECKS]
    return checks
