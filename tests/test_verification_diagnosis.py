"""Each broken wiring yields its own diagnosis, from evidence (real proxy, stand-in API and collector)."""

from __future__ import annotations

import secrets
import time

import pytest

from runbook_lib.checks import Status
from runbook_lib.clients.litellm import LiteLLMClient
from runbook_lib.verification import handler_status_from_active, run_verification

from .test_verification_roundtrip import by_id, store_client

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]

CLOUD_HOSTS = {"api.agentops.ai", "otlp.agentops.cloud", "otlp.agentops.ai"}


def verify(proxy, api, store, tmp_path_factory, *, deadline_s=8.0, per_kind=1):
    return run_verification(proxy.url, proxy.master_key_ref, "fake-gpt", store=store_client(store, tmp_path_factory),
                            agentops_api_url=api.url, agentops_api_key=proxy.api_key_ref,
                            requests_per_kind=per_kind, deadline_s=deadline_s)


def failed_ids(result):
    return {c.id for c in result.checks if c.status in (Status.FAIL, Status.ERROR)}


def round_trip_failures(result):
    """Failed checks of the round trip itself. The dashboard read-back (dashboard.*) is left out: these
    fixtures' API reads another store or issues 5 s tokens; the read-back has its own tests
    (test_dashboard_readback.py, the demo and the conformance suite)."""
    return {i for i in failed_ids(result) if not i.startswith("dashboard.")}


def test_callback_under_general_settings_builds_no_logger(agentops_api, trace_store, start_litellm_proxy,
                                                          tmp_path_factory):
    proxy = start_litellm_proxy("general_settings", api=agentops_api, store=trace_store)
    result = verify(proxy, agentops_api, trace_store, tmp_path_factory)
    checks = by_id(result.checks)
    assert checks["proxy.logger"].status is Status.FAIL
    assert "general_settings" in checks["proxy.logger"].summary
    assert "litellm_settings" in checks["proxy.logger"].remedy
    assert "diagnosis.no_logger" in checks
    assert checks["roundtrip.arrival"].status is Status.FAIL
    assert checks["agentops.token"].status is Status.PASS  # the AgentOps side is fine; the proxy is not


def test_builtin_agentops_callback_is_diagnosed_and_nothing_leaves_the_machine(
        agentops_api, trace_store, start_litellm_proxy, egress_trap, tmp_path_factory):
    before = len(egress_trap.attempts())
    proxy = start_litellm_proxy("builtin_agentops", api=agentops_api, store=trace_store)
    result = verify(proxy, agentops_api, trace_store, tmp_path_factory, deadline_s=10)
    checks = by_id(result.checks)
    assert checks["proxy.logger"].status is Status.FAIL
    assert checks["proxy.logger"].evidence["logger_kind"] == "builtin_agentops"
    assert "diagnosis.builtin_agentops_callback" in checks
    assert "agentops_selfhosted.handler" in checks["diagnosis.builtin_agentops_callback"].remedy
    # the built-in callback tried AgentOps' cloud; the trap refused it at 127.0.0.1
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not {"otlp.agentops.cloud"} & _hosts(egress_trap, before):
        time.sleep(0.5)
    hosts = _hosts(egress_trap, before)
    assert "api.agentops.ai" in hosts and "otlp.agentops.cloud" in hosts
    assert hosts <= CLOUD_HOSTS


def _hosts(trap, start):
    return {str(a["target"]).rsplit(":", 1)[0] for a in trap.attempts()[start:]}


def test_collector_with_another_jwt_secret_is_diagnosed(agentops_api, start_trace_store, start_litellm_proxy,
                                                        tmp_path_factory):
    other = tmp_path_factory.mktemp("secret") / "other_jwt"
    other.write_text("other-secret-" + secrets.token_urlsafe(24))
    other.chmod(0o600)
    store = start_trace_store(jwt_secret_file=other)
    proxy = start_litellm_proxy("selfhosted", api=agentops_api, store=store)
    result = verify(proxy, agentops_api, store, tmp_path_factory)
    checks = by_id(result.checks)
    assert checks["proxy.logger"].status is Status.PASS
    diag = checks["diagnosis.collector_rejects_token"]
    assert "secret" in diag.summary and "JWT_SECRET" in diag.remedy
    assert diag.evidence["collector_probe"]["status_code"] == 401
    assert diag.evidence["handler_status"]["reauth_on_401"] >= 1
    assert store.count() == 0


def test_collector_stopped_mid_run_is_diagnosed(agentops_api, start_trace_store, start_litellm_proxy,
                                                tmp_path_factory):
    from runbook_lib.sandbox.processes import stop_pid

    store = start_trace_store()
    proxy = start_litellm_proxy("selfhosted", api=agentops_api, store=store, shared_proxy=False)
    first = verify(proxy, agentops_api, store, tmp_path_factory, deadline_s=60)
    assert not round_trip_failures(first)
    assert stop_pid(store.pid)
    second = verify(proxy, agentops_api, store, tmp_path_factory, deadline_s=8)
    checks = by_id(second.checks)
    assert checks["trace_store.reachable"].status is Status.FAIL
    # no store query answered: arrival is unknown (a skip naming the store), the cause comes from the proxy
    assert checks["roundtrip.arrival"].status is Status.SKIP
    assert "because trace_store.reachable failed" in checks["roundtrip.arrival"].summary
    diag = checks["diagnosis.collector_unreachable"]
    assert "during the run" in diag.summary
    assert diag.evidence["handler_status"]["delivered"] >= 1
    proxy.process.stop()


@pytest.mark.slow
def test_expiring_tokens_are_refreshed_and_spans_keep_arriving(start_agentops_api, trace_store,
                                                              start_litellm_proxy, tmp_path_factory):
    """End to end with real expiry: the collector checks ``exp`` by its own clock, the handler runs in the proxy.

    The refresh rule itself is tested on a controlled clock (tests/test_wiring_handler.py); this one real wait
    proves the proxy-loaded handler renews before the real collector would refuse, with no 401 in between.
    """
    api = start_agentops_api("current", lifetime_s=5)
    proxy = start_litellm_proxy("selfhosted", api=api, store=trace_store)
    first = verify(proxy, api, trace_store, tmp_path_factory, deadline_s=60)
    with LiteLLMClient(proxy.url, proxy.master_key_ref) as client:
        expires_at = float(handler_status_from_active(client.active_callbacks())["token_expires_at"])
    # the collector checks exp by its own clock in another process: wait only until the handler's token is
    # past it (at most the 5 s lifetime, less the first round), so the next batch needs a new token
    time.sleep(max(0.0, expires_at + 0.5 - time.time()))
    second = verify(proxy, api, trace_store, tmp_path_factory, deadline_s=60)
    for result in (first, second):
        assert not round_trip_failures(result)
    with LiteLLMClient(proxy.url, proxy.master_key_ref) as client:
        status = handler_status_from_active(client.active_callbacks())
    assert status["token_fetches"] >= 2  # the start-up token, then a new one after the wait
    assert status["failed"] == 0
