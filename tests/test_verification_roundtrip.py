"""The round trip through the real LiteLLM proxy, the stand-in AgentOps API and the sandbox trace store."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from runbook_lib.checks import Status
from runbook_lib.secrets import known_secrets
from runbook_lib.traces.store import ClickHouseHttpStore
from runbook_lib.verification import (
    PROMPT_TOKEN_NAMES,
    latency_frame,
    run_verification,
)

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]


def store_client(store, tmp_path_factory) -> ClickHouseHttpStore:
    path = tmp_path_factory.mktemp("pw") / "store_pw"
    path.write_text(store.password)
    path.chmod(0o600)
    return ClickHouseHttpStore(store.query_url, store.user, f"file:{path}")


@pytest.fixture(scope="module")
def wired(agentops_api, trace_store, start_litellm_proxy):
    return agentops_api, trace_store, start_litellm_proxy("selfhosted", api=agentops_api, store=trace_store)


def by_id(checks):
    return {c.id: c for c in checks}


def test_round_trip_passes_on_a_current_database(wired, tmp_path_factory):
    api, store, proxy = wired
    result = run_verification(proxy.url, proxy.master_key_ref, "fake-gpt", store=store_client(store, tmp_path_factory),
                              agentops_api_url=api.url, agentops_api_key=proxy.api_key_ref,
                              requests_per_kind=2, deadline_s=60)
    checks = by_id(result.checks)
    # the fixture's store is bare (only otel_traces): the read-back names what the dashboard lacks
    list_cost = checks["dashboard.list_cost"]
    assert list_cost.status is Status.FAIL and "store objects missing" in list_cost.summary
    assert checks["dashboard.cost"].status is Status.PASS  # the span carries LiteLLM's cost: the detail shows it
    assert [c.id for c in result.checks if not c.ok] == ["dashboard.list_cost"]
    assert checks["proxy.logger"].status is Status.PASS
    assert checks["agentops.token"].evidence["project_id"] == api.seed.project_id
    assert checks["roundtrip.arrival"].status is Status.PASS
    assert checks["diagnosis"].status is Status.PASS
    trip = result.roundtrip
    assert len(trip.requests) == 6 and not trip.missing
    for request in trip.requests:
        span = trip.span_for(request)
        assert span.project_id == api.seed.project_id
        if request.kind == "failing":
            assert span.status_code == "Error"
            assert request.status_code == 429
        else:
            assert span.status_code == "Ok"
            assert all(int(span.attributes[n]) > 0 for n in PROMPT_TOKEN_NAMES)
            assert float(span.attributes["gen_ai.usage.total_cost"]) > 0
            assert span.attributes["gen_ai.response.id"] == request.response_id
    frame = latency_frame(trip)
    assert frame["arrived"].all() and (frame["latency_s"] >= 0).all()


def test_no_secret_in_the_verification_result(wired, tmp_path_factory, litellm_master_key):
    api, store, proxy = wired
    result = run_verification(proxy.url, proxy.master_key_ref, "fake-gpt", store=store_client(store, tmp_path_factory),
                              agentops_api_url=api.url, agentops_api_key=proxy.api_key_ref, deadline_s=60)
    text = str(result.summary()) + repr(result.preflight)
    for secret in {litellm_master_key[0], api.seed.api_key, store.password, *known_secrets()}:
        assert secret not in text


def test_a_wrong_model_fails_the_request_check_with_the_served_models(wired, tmp_path_factory):
    api, store, proxy = wired
    result = run_verification(proxy.url, proxy.master_key_ref, "no-such-model-" + secrets.token_hex(3),
                              store=store_client(store, tmp_path_factory), deadline_s=5)
    checks = by_id(result.checks)
    assert checks["proxy.model"].status is Status.FAIL
    assert "fake-gpt" in checks["proxy.model"].evidence["models"]
    paste = checks["proxy.model"].remedy.split("`")[1]  # the command to paste names a model the proxy serves
    assert paste.startswith("runbook run 20_callback_verification -f params.yaml -p model ")
    assert paste.rsplit(" ", 1)[1] in checks["proxy.model"].evidence["models"]
    # Only the model is diagnosed: what depends on it is skipped, naming it, never a misleading fail.
    assert [c.id for c in result.checks if not c.ok] == ["proxy.model"]
    for check_id in ("roundtrip.requests", "roundtrip.arrival", "diagnosis"):
        assert checks[check_id].status is Status.SKIP
        assert "because proxy.model failed" in checks[check_id].summary
    assert checks["proxy.logger"].status is Status.PASS  # the wiring is fine and the report says so


def test_the_callback_module_is_installed_next_to_the_config(wired):
    _, _, proxy = wired
    config_dir = Path(proxy.process.config_path).parent
    assert (config_dir / "agentops_selfhosted.py").is_file()
    assert "agentops_selfhosted.handler" in proxy.process.config_path.read_text()
