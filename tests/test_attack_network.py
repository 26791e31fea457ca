"""Network faults under attack: every call ends within its stated bound and says which limit it hit.

Bounds are measured as elapsed time against the parameter, with slack for a loaded machine: without a
total deadline the drip servers below keep a call busy for minutes (one byte a second).
"""

from __future__ import annotations

import secrets
import time

import pytest

from runbook_lib.checks import Status
from runbook_lib.clients.litellm import LiteLLMClient
from runbook_lib.errors import ServiceError
from runbook_lib.http import make_client, request
from runbook_lib.setup.preflight import check_litellm

SLACK_S = 3.0


def _bounded(fn, timeout_s: float) -> tuple[BaseException | object, float]:
    start = time.monotonic()
    try:
        result: BaseException | object = fn()
    except BaseException as exc:  # noqa: BLE001 - the test inspects it
        result = exc
    elapsed = time.monotonic() - start
    assert elapsed < timeout_s * 1.5 + SLACK_S, f"took {elapsed:.1f} s with timeout_s={timeout_s}"
    return result, elapsed


@pytest.mark.parametrize("phase", ["headers", "body"])
def test_a_slow_drip_server_ends_at_the_total_deadline(drip_server, phase: str) -> None:
    url = drip_server(phase=phase, interval_s=0.4)
    timeout_s = 1.0 + secrets.randbelow(10) / 10

    def call() -> object:
        with make_client(url, timeout_s=timeout_s) as client:
            return request(client, "GET", "/v1/models", service="LiteLLM proxy")

    error, elapsed = _bounded(call, timeout_s)
    assert isinstance(error, ServiceError), error
    assert "total deadline hit" in error.message and f"{timeout_s:g} s" in error.message
    assert ("no complete response headers" if phase == "headers" else "body was still arriving") in error.message
    assert elapsed >= timeout_s * 0.9  # it did wait for the server, up to the deadline


def test_an_endless_body_hits_the_body_limit(flood_server) -> None:
    limit = (1 + secrets.randbelow(4)) * 256 * 1024

    def call() -> object:
        with make_client(flood_server, timeout_s=20) as client:
            return request(client, "GET", "/", service="AgentOps API", max_body_bytes=limit)

    error, _ = _bounded(call, 20)
    assert isinstance(error, ServiceError) and "body limit hit" in error.message and f"{limit:,}" in error.message


def test_tls_to_a_port_that_does_not_speak_tls_is_a_tls_failure(silent_tcp_url, fake_dashboard) -> None:
    timeout_s = 1.0 + secrets.randbelow(10) / 10
    for url in (silent_tcp_url.replace("http://", "https://"), fake_dashboard.url.replace("http://", "https://")):
        def call(url: str = url) -> object:
            with make_client(url, timeout_s=timeout_s) as client:
                return request(client, "GET", "/health", service="AgentOps API")

        error, _ = _bounded(call, timeout_s)
        assert isinstance(error, ServiceError), error
        assert "TLS handshake failed" in error.message, error.message
        assert "firewall" not in error.message + (error.hint or "")


def test_a_wrong_shape_answer_is_a_failed_check_naming_the_endpoint(wrong_shape_server) -> None:
    timeout_s = 2.0
    with LiteLLMClient(wrong_shape_server, None, timeout_s) as client:
        error, _ = _bounded(client.models, timeout_s)
    assert isinstance(error, ServiceError) and "/v1/models" in error.message and "unexpected shape" in error.message

    checks, _ = _bounded(lambda: check_litellm(wrong_shape_server, None, timeout_s=timeout_s), timeout_s * 6)
    by_id = {c.id: c for c in checks}
    assert by_id["litellm.models"].status in (Status.FAIL, Status.ERROR)
    assert "/v1/models" in by_id["litellm.models"].summary


def _jwt_shaped() -> str:
    import base64
    import json

    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256'})}.{part({'exp': int(time.time()) + 3600})}.{secrets.token_hex(16)}"


def test_agentops_client_answers_of_the_wrong_shape_are_service_errors(wrong_shape_server, monkeypatch) -> None:
    from runbook_lib.clients.agentops import AgentOpsClient, TokenInfo

    monkeypatch.setenv("RB_ATTACK_AO_KEY", "k-" + secrets.token_hex(12))
    with AgentOpsClient(wrong_shape_server, "env:RB_ATTACK_AO_KEY", timeout_s=2) as client:
        error, _ = _bounded(client.issue_token, 2)
        assert isinstance(error, ServiceError) and "/v3/auth/token" in error.message, error
        answer, _ = _bounded(lambda: client.validate_token(TokenInfo(_jwt_shaped())), 2)
        assert isinstance(answer, (dict, ServiceError)), answer  # never an AttributeError
        answer, _ = _bounded(lambda: client.public_trace(secrets.token_hex(16)), 2)
        assert isinstance(answer, (dict, ServiceError)), answer


@pytest.mark.parametrize("phase", ["headers", "body"])
def test_a_dripping_trace_store_ends_at_the_total_deadline(drip_server, phase: str) -> None:
    """The trace store client (20's arrival wait, 30's queries) has the same total deadline as every call."""
    from runbook_lib.errors import TraceStoreError
    from runbook_lib.traces.store import ClickHouseHttpStore

    url = drip_server(phase=phase, interval_s=0.4)
    timeout_s = 1.0 + secrets.randbelow(10) / 10
    store = ClickHouseHttpStore(url, "default", None, timeout_s=timeout_s)

    def call() -> object:
        try:
            return store.query_df("SELECT 1")
        finally:
            store.close()

    error, _ = _bounded(call, timeout_s)
    assert isinstance(error, TraceStoreError), error
    assert "total deadline hit" in error.message


def test_a_dripping_stream_ends_at_the_total_deadline(drip_server) -> None:
    """20's streaming requests: a proxy that sends its stream one byte at a time is cut off at timeout_s."""
    url = drip_server(phase="body", interval_s=0.4)
    timeout_s = 1.0 + secrets.randbelow(10) / 10
    client = LiteLLMClient(url, None, timeout_s=timeout_s)

    def call() -> object:
        try:
            return client.chat_stream("m", "hi")
        finally:
            client.close()

    error, elapsed = _bounded(call, timeout_s)
    assert isinstance(error, ServiceError), error
    assert "total deadline hit" in error.message and "body was still arriving" in error.message
    assert elapsed >= timeout_s * 0.9
