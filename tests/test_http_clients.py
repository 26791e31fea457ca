"""Shared HTTP plumbing and the LiteLLM / AgentOps clients.

Transport failures, deadlines and streaming run against real sockets (local fake servers); status handling,
retries by status and error mapping, where a socket adds nothing, go through ``httpx.MockTransport``.
"""

from __future__ import annotations

import json
import pickle
import time

import httpx
import jwt
import pytest

from runbook_lib.clients import AgentOpsClient, LiteLLMClient, TokenInfo, collector_status_error, decode_jwt_claims
from runbook_lib.errors import RunbookError, ServiceError
from runbook_lib.http import container_host_note, display_url, make_client, read_json, request
from runbook_lib.secrets import redact


class Recorder:
    """An ``httpx.MockTransport`` answering each request with ``answer(request)``; keeps the requests."""

    def __init__(self, answer) -> None:
        self.requests: list[httpx.Request] = []
        self.transport = httpx.MockTransport(self._handle)
        self._answer = answer

    def _handle(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self._answer(request)


# -- transport failures -----------------------------------------------------------------------------


def test_closed_port_is_a_service_error_naming_the_port(closed_port_url):
    port = closed_port_url.rsplit(":", 1)[1]
    with make_client(closed_port_url, timeout_s=2) as client, pytest.raises(ServiceError) as err:
        request(client, "GET", "/health", service="AgentOps API")
    assert "connection refused" in err.value.message
    assert port in err.value.message
    assert "running" in err.value.hint and "port" in err.value.hint
    assert isinstance(err.value, RunbookError)


def test_dns_failure_explains_service_names(unresolvable_host):
    with make_client(f"http://{unresolvable_host}:8003", timeout_s=2) as client, pytest.raises(ServiceError) as err:
        request(client, "GET", "/health", service="AgentOps API")
    assert "does not resolve" in err.value.message
    assert unresolvable_host in err.value.message
    assert "compose" in err.value.hint and "host.docker.internal" in err.value.hint


def test_server_that_never_answers_gives_a_timeout_error(hanging_url):
    with make_client(hanging_url, timeout_s=0.5) as client, pytest.raises(ServiceError) as err:
        request(client, "GET", "/health", service="LiteLLM proxy")
    assert "accepted the connection but did not answer within 0.5 s" in err.value.message
    assert "hung" in err.value.hint


def test_timeouts_are_not_retried(hanging_url, monkeypatch):
    calls = []
    real = httpx.Client.send

    def counting(self, *a, **kw):
        calls.append(kw.get("timeout"))
        return real(self, *a, **kw)

    monkeypatch.setattr(httpx.Client, "send", counting)
    with make_client(hanging_url, timeout_s=0.3) as client, pytest.raises(ServiceError):
        request(client, "GET", "/x", service="svc", retries=3)
    assert len(calls) == 1


def test_https_to_a_plain_http_port_is_a_tls_error(fake_dashboard):
    url = fake_dashboard.url.replace("http://", "https://")
    with make_client(url, timeout_s=2) as client, pytest.raises(ServiceError) as err:
        request(client, "GET", "/", service="AgentOps dashboard")
    assert "TLS handshake failed" in err.value.message
    assert "http://" in err.value.hint


def test_get_is_retried_on_503_then_succeeds():
    answers = iter([503, 503, 200])
    mock = Recorder(lambda req: httpx.Response(next(answers), json={"ok": True}))
    with make_client("http://svc.test", timeout_s=5, transport=mock.transport) as client:
        response = request(client, "GET", "/health", service="svc", backoff_s=0.01)
    assert response.status_code == 200 and response.json() == {"ok": True}
    assert [(r.method, r.url.path) for r in mock.requests] == [("GET", "/health")] * 3


def test_get_gives_back_the_last_503_when_retries_run_out():
    mock = Recorder(lambda req: httpx.Response(503, json={"detail": "starting"}))
    with make_client("http://svc.test", timeout_s=5, transport=mock.transport) as client:
        response = request(client, "GET", "/health", service="svc", retries=2, backoff_s=0.01)
    assert response.status_code == 503 and response.json() == {"detail": "starting"}
    assert len(mock.requests) == 3


def test_post_is_never_retried():
    mock = Recorder(lambda req: httpx.Response(503, json={}))
    with make_client("http://svc.test", timeout_s=5, transport=mock.transport) as client:
        response = request(client, "POST", "/v3/auth/token", service="svc", json={}, backoff_s=0.01)
    assert response.status_code == 503
    assert len(mock.requests) == 1


def test_body_limit_ends_the_call_naming_the_limit():
    mock = Recorder(lambda req: httpx.Response(200, content=b"x" * 4096))
    with make_client("http://svc.test", timeout_s=5, transport=mock.transport) as client, \
            pytest.raises(ServiceError) as err:
        request(client, "GET", "/big", service="svc", max_body_bytes=1000)
    assert "body limit hit (more than 1,000 bytes" in err.value.message
    assert err.value.status_code == 200


def test_non_json_body_names_what_answered():
    mock = Recorder(lambda req: httpx.Response(200, headers={"Content-Type": "text/html"},
                                               content=b"<html>nginx welcome</html>"))
    with make_client("http://wrong-port.test", timeout_s=2, transport=mock.transport) as client:
        response = request(client, "GET", "/health", service="AgentOps API")
        with pytest.raises(ServiceError) as err:
            read_json(response, service="AgentOps API")
    assert "non-JSON body (text/html)" in err.value.message
    assert "nginx welcome" in err.value.message
    assert "base URL" in err.value.hint


def test_display_url_drops_credentials_and_query():
    assert display_url("http://user:pw123456@host:8000/path?key=abcdef#x") == "http://host:8000/path"


@pytest.mark.parametrize(
    ("host", "expected"),
    [("localhost", "host.docker.internal"), ("127.0.0.1", "host.docker.internal"),
     ("host.docker.internal", "only inside containers"), ("agentops-api", "compose service name"),
     ("api.example.com", None), ("10.1.2.3", None)],
)
def test_container_host_notes(host, expected):
    note = container_host_note(host)
    assert (note is None) if expected is None else (expected in note)


def test_messages_never_carry_the_authorization_header(closed_port_url, service_secrets):
    client = LiteLLMClient(closed_port_url, service_secrets["master_ref"], timeout_s=1)
    with pytest.raises(ServiceError) as err:
        client.readiness_details()
    assert service_secrets["master_key"] not in str(err.value)
    assert "Bearer" not in str(err.value)
    assert service_secrets["master_key"] not in repr(client)


# -- LiteLLM client ---------------------------------------------------------------------------------


def test_litellm_inspection_endpoints(fake_litellm, service_secrets):
    with LiteLLMClient(fake_litellm.url, service_secrets["master_ref"], timeout_s=5) as client:
        assert client.liveliness() == "I'm alive!"
        assert client.readiness()["status"] == "healthy"
        assert client.readiness_details()["success_callbacks"] == ["AgentOpsSelfHosted"]
        assert client.callbacks_list()["success_and_failure"] == ["AgentOpsSelfHosted"]
        assert client.active_callbacks()["num_callbacks"] == 1
        assert client.service_health("agentops")["status"] == "success"
        assert client.models() == ["fake-gpt"]
    # liveliness/readiness are sent without a key; protected ones with it
    by_path = {r.path: r.headers.get("authorization") for r in fake_litellm.server.requests}
    assert by_path["/health/liveliness"] is None
    assert by_path["/callbacks/list"] == f"Bearer {service_secrets['master_key']}"


def test_litellm_wrong_key_is_explained(fake_litellm, monkeypatch):
    monkeypatch.setenv("RB_TEST_WRONG_KEY", "sk-wrong-key-123456")
    with LiteLLMClient(fake_litellm.url, "env:RB_TEST_WRONG_KEY", timeout_s=5) as client, \
            pytest.raises(ServiceError) as err:
        client.callbacks_list()
    assert err.value.status_code == 401
    assert "master key was refused" in err.value.message
    assert "sk-wrong-key-123456" not in str(err.value)


def test_litellm_unregistered_service_is_a_400_with_hint(service_secrets):
    # LiteLLM 1.108's ProxyException body for /health/services?service=<a callback it does not run>
    mock = Recorder(lambda req: httpx.Response(400, json={"error": {
        "message": "{'error': 'Service=langfuse is not configured as a callback, add it to "
                   "litellm_settings.callbacks.'}", "code": "400"}}))
    with LiteLLMClient("http://proxy.test", service_secrets["master_ref"], timeout_s=5,
                       transport=mock.transport) as client, pytest.raises(ServiceError) as err:
        client.service_health("langfuse")
    assert err.value.status_code == 400
    assert "litellm_settings.callbacks" in err.value.hint
    (sent,) = mock.requests
    assert (sent.url.path, sent.url.params["service"]) == ("/health/services", "langfuse")
    assert sent.headers["authorization"] == f"Bearer {service_secrets['master_key']}"
    assert service_secrets["master_key"] not in str(err.value)


def test_chat_returns_ids_usage_and_sends_correlation_metadata(fake_litellm, service_secrets):
    with LiteLLMClient(fake_litellm.url, service_secrets["master_ref"], timeout_s=5) as client:
        result = client.chat("fake-gpt", "hi", metadata={"run": "r1"}, tags=["runbook", "t-1"])
    assert result.ok and result.status_code == 200
    assert result.response_id.startswith("chatcmpl-")
    assert len(result.call_id) == 36
    assert result.usage == {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}
    assert result.content == "Hello from the mock model"
    sent = fake_litellm.server.requests[-1].json()
    assert sent["metadata"] == {"run": "r1", "tags": ["runbook", "t-1"]}
    assert sent["messages"] == [{"role": "user", "content": "hi"}]


def test_chat_stream_collects_chunks_id_and_usage(fake_litellm, service_secrets):
    with LiteLLMClient(fake_litellm.url, service_secrets["master_ref"], timeout_s=5) as client:
        result = client.chat_stream("fake-gpt", "hi", tags=["s"])
    assert result.ok and result.streamed
    assert result.content == "Hello from the mock model"
    assert result.chunks == 9 + 1  # 3-character chunks plus the usage chunk
    assert result.response_id.startswith("chatcmpl-") and result.call_id
    assert result.usage["total_tokens"] == 30
    assert fake_litellm.server.requests[-1].json()["stream_options"] == {"include_usage": True}


def test_chat_http_error_is_a_result_not_an_exception(fake_litellm, service_secrets):
    fake_litellm.chat_status = 429
    with LiteLLMClient(fake_litellm.url, service_secrets["master_ref"], timeout_s=5) as client:
        result = client.chat("fake-gpt", "hi")
        streamed = client.chat_stream("fake-gpt", "hi")
    assert not result.ok and result.status_code == 429 and "RateLimitError" in result.error
    assert result.call_id
    assert not streamed.ok and streamed.status_code == 429


def test_chat_stream_against_hanging_server_is_bounded(hanging_url):
    with LiteLLMClient(hanging_url, None, timeout_s=0.3) as client, pytest.raises(ServiceError) as err:
        client.chat_stream("fake-gpt", "hi")
    assert "did not answer within 0.3 s" in err.value.message


# -- AgentOps client --------------------------------------------------------------------------------


def test_token_info_reports_facts_and_hides_the_token(fake_agentops, service_secrets):
    with AgentOpsClient(fake_agentops.url, service_secrets["api_key_ref"], timeout_s=5) as client:
        assert client.health() == {"message": "Server Up"}
        info = client.issue_token()
    assert info.project_id == fake_agentops.project_id
    assert info.prem_status == "enterprise"
    assert 29.9 < info.expires_in().total_seconds() / 86400 <= 30
    token = info.bearer()
    for text in (repr(info), str(info), str(info.to_dict()), f"{info}"):
        assert token not in text
        assert service_secrets["api_key"] not in text
    assert "token=<redacted>" in repr(info)
    assert "api_key" not in info.claims
    with pytest.raises(TypeError):
        pickle.dumps(info)
    assert redact(f"x {token} y") == "x [REDACTED] y"  # registered for redaction


def test_token_is_cached_and_refreshed_near_expiry(fake_agentops, service_secrets):
    with AgentOpsClient(fake_agentops.url, service_secrets["api_key_ref"], timeout_s=5) as client:
        first = client.token()
        assert client.token() is first
        assert fake_agentops.tokens_issued == 1
        fake_agentops.token_ttl_s = 60  # the next token would expire within the refresh margin
        client._token = TokenInfo(fake_agentops.make_token(ttl_s=60))
        renewed = client.token()
        assert renewed is not first and fake_agentops.tokens_issued == 2


def test_validate_token_and_public_trace(fake_agentops, service_secrets):
    with AgentOpsClient(fake_agentops.url, service_secrets["api_key_ref"], timeout_s=5) as client:
        verdict = client.validate_token()
        assert verdict["message"] == "JWT token is valid"
        assert verdict["project_id"] == fake_agentops.project_id
        assert "api_key" not in verdict
        trace = client.public_trace("ab" * 16)
        assert trace["trace_id"] == "ab" * 16
        with pytest.raises(ServiceError) as err:
            client.public_trace("0" * 32)
        assert err.value.status_code == 404 and "trace not found" in err.value.message
    auth = [r.headers.get("authorization", "") for r in fake_agentops.server.requests if r.method == "GET"]
    assert any(a.startswith("Bearer ey") for a in auth)


def test_validate_rejects_a_token_signed_with_another_secret(fake_agentops, service_secrets):
    other = jwt.encode({"exp": int(time.time()) + 60, "aud": "authenticated", "project_id": "p"},
                       "a-different-secret-of-at-least-32-chars!", algorithm="HS256")
    with AgentOpsClient(fake_agentops.url, service_secrets["api_key_ref"], timeout_s=5) as client, \
            pytest.raises(ServiceError) as err:
        client.validate_token(TokenInfo(other))
    assert err.value.status_code == 401
    assert "JWT_SECRET_KEY" in err.value.hint
    assert other not in str(err.value)


@pytest.mark.parametrize(
    ("status", "body", "in_message", "in_hint"),
    [(403, {"error": "Invalid API key"}, "not in the `projects` table", "copy the key"),
     (500, {"error": "Authentication failed"}, "HTTP 500", "10_migration"),
     (400, {"error": "Invalid API key format"}, "bad format", "API key")],
)
def test_token_errors_are_mapped_to_causes(service_secrets, status, body, in_message, in_hint):
    # the bodies the AgentOps API sends from POST /v3/auth/token for each refusal
    mock = Recorder(lambda req: httpx.Response(status, json=body))
    with AgentOpsClient("http://api.test", service_secrets["api_key_ref"], timeout_s=5,
                        transport=mock.transport) as client, pytest.raises(ServiceError) as err:
        client.issue_token()
    assert err.value.status_code == status
    assert in_message in err.value.message and in_hint in err.value.hint
    assert service_secrets["api_key"] not in str(err.value)
    (sent,) = mock.requests  # a POST: never retried
    assert (sent.method, sent.url.path) == ("POST", "/v3/auth/token")
    assert json.loads(sent.content) == {"api_key": service_secrets["api_key"]}


def test_malformed_key_gets_400_bad_format(fake_agentops, monkeypatch):
    monkeypatch.setenv("RB_TEST_BAD_KEY", "not-a-uuid-key")
    with AgentOpsClient(fake_agentops.url, "env:RB_TEST_BAD_KEY", timeout_s=5) as client, \
            pytest.raises(ServiceError) as err:
        client.issue_token()
    assert err.value.status_code == 400 and "bad format" in err.value.message
    assert "not-a-uuid-key" not in str(err.value)


def test_decode_jwt_claims_without_verifying():
    token = jwt.encode({"project_id": "p1", "exp": 1}, "whatever-secret-whatever-secret-32", algorithm="HS256")
    assert decode_jwt_claims(token) == {"project_id": "p1", "exp": 1}
    with pytest.raises(ServiceError) as err:
        decode_jwt_claims("abc.@@@.def")
    assert "abc" not in str(err.value)


def test_collector_401_means_jwt_secret_mismatch():
    err = collector_status_error(401, "http://127.0.0.1:4318/v1/traces")
    assert err.status_code == 401 and "JWT_SECRET" in err.hint and "JWT_SECRET_KEY" in err.hint
    assert collector_status_error(200, "http://127.0.0.1:4318/v1/traces") is None
