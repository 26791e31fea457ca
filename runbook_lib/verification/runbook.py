"""The 20_callback_verification runbook: preflight, tagged requests, span arrival, diagnosis.

The connection parameters (proxy, AgentOps API, trace store) are held once by the object; each
section reads them from there and from the sections before it.
"""

from __future__ import annotations

from typing import Any

from ..checks import Check
from ..errors import RunbookError
from ..runbook import Runbook, Section, failed_precondition, section, skipped_because
from ..secrets import SecretRef
from ..traces.dashboard_views import DashboardLogin
from .arrival import latency_frame, plot_latency, wait_for_spans
from .dashboard_readback import readback_section
from .deadline import Deadline
from .diagnosis import diagnose
from .preflight import preflight
from .requests import requests_check, send_requests
from .results import Preflight, RoundTrip, SentRequest
from .span_checks import verify_spans

__all__ = ["VerificationRunbook"]

_NO_PROXY = "_Skipped: the proxy did not answer (see the preflight)._"
#: What each later section needs from the preflight: a failed one skips the section, naming it.
#: (A trace store that failed the preflight is polled anyway, as it may come back; when no query ever
#: answered, the arrival check is a skip naming it. The diagnosis reads the proxy, so it still runs.)
_PRECONDITIONS = {
    "requests": ("proxy.reachable", "proxy.model"),
    "arrival": ("proxy.reachable", "proxy.model"),
    "diagnosis": ("proxy.reachable", "proxy.model"),
    "dashboard": ("proxy.reachable", "proxy.model"),
}
#: The checks a skipped section stands for (id, title).
_SKIPPED_CHECKS = {
    "requests": (("roundtrip.requests", "Requests went through the proxy as expected"),),
    "arrival": (("roundtrip.arrival", "Every request's span reached the trace store"),),
    "diagnosis": (("diagnosis", "Diagnosis"),),
    "dashboard": (("dashboard.trace", "the trace as the dashboard shows it"),),
}


class _LazyStore:
    """The runbook's trace store, built on first use (when the preflight reaches it)."""

    def __init__(self, runbook: VerificationRunbook) -> None:
        self._runbook = runbook

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runbook.trace_store(), name)


def _redacted(checks: list[Check]) -> list[Check]:
    """The checks with every known secret removed from every field (``to_dict`` redacts)."""
    return [Check.from_dict(c.to_dict()) for c in checks]


class VerificationRunbook(Runbook):
    """20_callback_verification: did a request through LiteLLM reach the self-hosted AgentOps trace store?

    Sections: ``preflight``, ``requests``, ``arrival``, ``diagnosis``, ``dashboard`` (a span of the run read
    back the way the dashboard reads it). ``store`` is a seam for a trace store client; by default one is
    built from ``trace_store_url``/``user``/``password``.
    """

    notebook = "20_callback_verification"

    def __init__(self, *, litellm_url: str = "http://127.0.0.1:4000",
                 litellm_master_key: str | SecretRef = "env:LITELLM_MASTER_KEY", model: str = "fake-gpt",
                 agentops_api_url: str | None = None,
                 agentops_api_key: str | SecretRef | None = "env:AGENTOPS_API_KEY",
                 trace_store_url: str = "http://127.0.0.1:8123", trace_store_user: str = "default",
                 trace_store_password: str | None = None, requests_per_kind: int = 2, deadline_s: float = 30.0,
                 dashboard_jwt_secret: str | SecretRef | None = None, dashboard_user_id: str | None = None,
                 dashboard_email: str | None = None, dashboard_password: str | SecretRef | None = None,
                 store: Any = None) -> None:
        super().__init__()
        self.litellm_url = litellm_url
        self.litellm_master_key = litellm_master_key
        self.model = model
        self.agentops_api_url = agentops_api_url or None
        # The key is only used together with the API URL (no URL: the token check is skipped).
        self.agentops_api_key = agentops_api_key if self.agentops_api_url else None
        self.requests_per_kind = requests_per_kind
        self.deadline_s = deadline_s
        self.dashboard_login = DashboardLogin(dashboard_jwt_secret or None, dashboard_user_id or None,
                                              dashboard_email or None, dashboard_password or None)
        self._store_params = (trace_store_url, trace_store_user, trace_store_password)
        self.store = store  # None: built by the preflight, its timeouts from what is left of deadline_s
        self.deadline = Deadline(deadline_s)
        self.pre: Preflight | None = None
        self.run_id: str | None = None
        self.sent: list[SentRequest] = []
        self.trip: RoundTrip | None = None
        self.verified: list[Check] = []

    def trace_store(self) -> Any:
        """The trace store client: the ``store`` seam, or one built now whose timeouts are what is left
        of ``deadline_s`` (so a hanging store cannot hold the notebook past it)."""
        if self.store is None:
            from ..traces.store import ClickHouseHttpStore

            url, user, password = self._store_params
            left = self.deadline.timeout(60.0)
            self.store = ClickHouseHttpStore(url, user, password, timeout_s=left)
        return self.store

    @property
    def proxy_ok(self) -> bool:
        return self.pre is not None and self.pre.proxy_ok

    def _blocked(self, name: str) -> Section | None:
        """The skipped section when a precondition of section ``name`` failed in the preflight."""
        cause = failed_precondition(self.pre.checks if self.pre else [], _PRECONDITIONS[name])
        return skipped_because(cause, *_SKIPPED_CHECKS[name]) if cause is not None else None

    @section("Preflight")
    def preflight(self) -> Section:
        """The proxy answers and has a logger built; the AgentOps token works; the trace store answers.

        ``deadline_s`` starts here and bounds the whole notebook: every later call's timeout is what is left."""
        self.deadline = Deadline(self.deadline_s)
        self.pre = preflight(self.litellm_url, self.litellm_master_key, self.model,
                             agentops_api_url=self.agentops_api_url, agentops_api_key=self.agentops_api_key,
                             store=_LazyStore(self), deadline=self.deadline)
        return Section(_redacted(list(self.pre.checks)))

    @section("Tagged requests")
    def requests(self) -> Section:
        """Plain, streaming and failing requests, each tagged with the run id."""
        self.result("preflight")
        if (blocked := self._blocked("requests")) is not None:
            return blocked
        pre = self.pre
        if pre is None or not pre.proxy_ok:  # as self.proxy_ok, spelled out so the type narrows
            return Section().note(_NO_PROXY)
        self.run_id, sent = send_requests(self.litellm_url, self.litellm_master_key, self.model,
                                          per_kind=self.requests_per_kind, failing_model=pre.failing_model,
                                          deadline=self.deadline)
        self.sent = list(sent)
        return Section(_redacted([requests_check(self.sent)]), title=f"Requests of run {self.run_id}")

    @section("What arrived")
    def arrival(self) -> Section:
        """Poll the store until every span arrived or the deadline passed; check what AgentOps reads."""
        self.result("preflight")
        if (blocked := self._blocked("arrival")) is not None:
            return blocked
        self.result("requests")
        pre = self.pre
        if pre is None or not pre.proxy_ok or self.run_id is None:
            return Section().note(_NO_PROXY)
        self.trip = wait_for_spans(self.trace_store(), self.sent, run_id=self.run_id,
                                   deadline_s=self.deadline.remaining())
        self.verified = verify_spans(self.trip, model=self.model, project_id=pre.project_id)
        store_down = failed_precondition(pre.checks, ("trace_store.reachable",))
        if store_down is not None and self.trip.store_error and not self.trip.spans:
            # no store query ever answered: whether the spans arrived is unknown, not a failure
            self.verified = skipped_because(store_down, *_SKIPPED_CHECKS["arrival"]).checks
        result = Section(_redacted(self.verified)).checks_here()
        result.table(latency_frame(self.trip), title="Arrival per request", formats={"latency_s": "seconds"})
        return result.figure(plot_latency(self.trip))

    @section("Diagnosis")
    def diagnosis(self) -> Section:
        """When spans are missing or incomplete, the cause from evidence."""
        self.result("preflight")
        if (blocked := self._blocked("diagnosis")) is not None:
            return blocked
        self.result("arrival")
        if self.trip is None or self.pre is None:  # a trip exists only after a preflight
            return Section().note(_NO_PROXY)
        findings = diagnose(self.pre, self.trip, litellm_url=self.litellm_url,
                            litellm_master_key=self.litellm_master_key, agentops_api_url=self.agentops_api_url,
                            agentops_api_key=self.agentops_api_key, verification=self.verified,
                            timeout_s=self.deadline.timeout(10.0))
        return Section(_redacted(list(findings)))

    def _arrived_trace_id(self) -> str | None:
        """The trace of the first answered plain (else any answered) request whose span arrived."""
        if self.trip is None:
            return None
        answered = [r for r in self.sent if r.expected_ok and r.behaved]
        for req in sorted(answered, key=lambda r: r.kind != "plain"):
            span = self.trip.span_for(req)
            if span is not None and span.trace_id:
                return span.trace_id
        return None

    @section("The trace in the dashboard")
    def dashboard(self) -> Section:
        """Read one arrived trace back as the dashboard does (``/v4/traces/detail`` with a session from
        dashboard_jwt_secret + dashboard_user_id or dashboard_email + dashboard_password, else the public
        API with the project key) and check it
        will show its model, tokens and a non-zero cost; when the cost would be 0, which link fails."""
        self.result("preflight")
        if (blocked := self._blocked("dashboard")) is not None:
            return blocked
        self.result("arrival")
        try:
            session = self.dashboard_login.open(self.agentops_api_url, timeout_s=self.deadline.timeout(10.0))
        except RunbookError as exc:
            return Section([Check.from_error("dashboard.session", "dashboard session", exc)])
        store = self.trace_store() if self.pre is not None and self.pre.store_ok else None
        return readback_section(self.agentops_api_url, self._arrived_trace_id(), api_key=self.agentops_api_key,
                                session=session, store=store, timeout_s=self.deadline.timeout(10.0))
